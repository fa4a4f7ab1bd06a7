"""How long a signed-in session lasts: it ends after SESSION_IDLE_MINUTES without a request, and
SESSION_ABSOLUTE_HOURS after the sign-in however busy it is (ASVS 3.3.2).

The session cookie holds both times, signed with it, so no request reads the database for them.
The next request after the limit lands on sign-in, which brings the user back to the same page.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, flash, redirect, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import logout_user

from portal.accounts import bp
from portal.db import utcnow
from portal.htmx import hx_redirect, is_htmx
from portal.web.links import safe_next

SIGNED_IN_AT_KEY = "signed_in_at"
LAST_SEEN_KEY = "last_seen_at"
# The idle limit counts in minutes: last-seen is written again at most once a minute.
LAST_SEEN_STEP = 60
# Static files and the load balancer's check neither end a session nor keep it alive.
UNTIMED_ENDPOINTS = frozenset({"static", "web.health"})


def now() -> int:
    """Return the current time in whole seconds since the epoch."""
    return int(utcnow().timestamp())


def stamp_new_session() -> None:
    """Record that the session begins now (its sign-in time and its last request)."""
    session[SIGNED_IN_AT_KEY] = session[LAST_SEEN_KEY] = now()


@bp.before_app_request
def end_expired_session():
    """End a signed-in session past its idle or absolute limit and send it to sign-in; otherwise
    note the request as activity."""
    if request.endpoint in UNTIMED_ENDPOINTS or session.get("_user_id") is None:
        return None
    moment = now()
    signed_in_at = session.get(SIGNED_IN_AT_KEY)
    last_seen = session.get(LAST_SEEN_KEY)
    if not isinstance(signed_in_at, int) or not isinstance(last_seen, int):
        # A session opened without its times (before they were kept) counts from now.
        stamp_new_session()
        return None
    config = current_app.config
    if moment - signed_in_at > config["SESSION_ABSOLUTE_HOURS"] * 3600:
        return _end_session(idle=False)
    if moment - last_seen > config["SESSION_IDLE_MINUTES"] * 60:
        return _end_session(idle=True)
    if moment - last_seen >= LAST_SEEN_STEP:
        session[LAST_SEEN_KEY] = moment
    return None


def _end_session(*, idle: bool):
    """Sign out, say why, and send the browser (or htmx) to sign-in, back here afterwards."""
    target = url_for("accounts.sign_in", next=_page_to_come_back_to())
    logout_user()
    session.clear()
    # Signed out first, so the message is in the language of the sign-in page that shows it.
    flash(_why_it_ended(idle), "warning")
    if is_htmx() or request.method != "GET":
        return hx_redirect(target)
    return redirect(target)


def _why_it_ended(idle: bool) -> str:
    config = current_app.config
    if idle:
        minutes = config["SESSION_IDLE_MINUTES"]
        return _(
            "Your session ended after %(duration)s without activity. Sign in again.",
            duration=ngettext("%(num)d minute", "%(num)d minutes", minutes),
        )
    hours = config["SESSION_ABSOLUTE_HOURS"]
    return _(
        "Your session ended after %(duration)s. Sign in again.",
        duration=ngettext("%(num)d hour", "%(num)d hours", hours),
    )


def _page_to_come_back_to() -> str | None:
    """Return the local page to open after signing in again: this one for a page, the page the
    user was on for htmx and forms (their own URL may answer only a POST or a fragment)."""
    if request.method == "GET" and not is_htmx():
        return request.full_path.rstrip("?")
    page = urlsplit(request.headers.get("HX-Current-URL") or request.referrer or "")
    if page.netloc != request.host:
        return None
    local = page.path + (f"?{page.query}" if page.query else "")
    return local if safe_next(local) == local else None
