"""Helpers shared by the account tests: translated messages, row counts, the outbox."""

from __future__ import annotations

import re

from flask_babel import force_locale, gettext
from markupsafe import escape
from sqlalchemy import func, select

from portal.accounts.models import User
from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.notifications.models import OutboxMessage

LINK = re.compile(r"https?://\S+")


def translated(locale: str, text: str, **values) -> str:
    """Return `text` as the portal shows it in `locale`."""
    with force_locale(locale):
        return gettext(text, **values)


def shows(response, text: str) -> bool:
    """Tell whether the page shows this text (HTML-escaped as templates escape it)."""
    return str(escape(text)) in response.get_data(as_text=True)


def row_counts() -> dict[str, int]:
    """Count the rows a refused account request must not have written."""
    db.session.expire_all()
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (User, AuditEvent, OutboxMessage)
    }


def outbox(recipient: str | None = None) -> list[OutboxMessage]:
    """Return the queued messages, oldest first, optionally for one recipient."""
    db.session.expire_all()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if recipient is not None:
        query = query.where(OutboxMessage.recipient == recipient)
    return list(db.session.scalars(query))


def link_in(message: OutboxMessage) -> str:
    """Return the one link of an e-mail's text body."""
    links = LINK.findall(message.body_text)
    assert len(links) == 1, message.body_text
    return links[0]


def path_of(link: str, base: str = "https://shiraka.test") -> str:
    """Turn an e-mailed link into the path the test client requests."""
    assert link.startswith(base + "/"), link
    return link.removeprefix(base)


def events(action: str) -> list[AuditEvent]:
    """Return the audit events with this action, oldest first."""
    db.session.expire_all()
    query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    return list(db.session.scalars(query))


def fresh(obj):
    """Reload an object from the database after a request changed it."""
    db.session.expire_all()
    return db.session.get(type(obj), obj.id)


def post_with_host(client, host: str, url: str, **kwargs):
    """POST as if the browser had sent `Host: host`, carrying this client's session along.

    The test client only sends cookies to the host they were set for, so the session cookie
    (and the CSRF secret in it) is copied to the forged host first.
    """
    token = client.csrf_token()
    cookie = client.get_cookie("session")
    client.set_cookie("session", cookie.value, domain=host)
    return client.post(url, headers={"Host": host}, csrf=token, **kwargs)


def is_signed_in(client) -> bool:
    """Tell whether the client's session opens the account page."""
    return client.get("/account").status_code == 200


def main_of(response, *typed: str) -> str:
    """Return the page's main region without its CSRF token and with typed addresses blanked."""
    body = response.get_data(as_text=True)
    main = re.search(r"<main.*</main>", body, re.S).group(0)
    main = re.sub(r'name="csrf_token" [^>]*>', "CSRF", main)
    for text in typed:
        main = main.replace(text, "TYPED")
    return main


# The settings of a production install (SQLite allowed so the suite runs on both databases;
# being the single-machine mode, it needs no REDIS_URL).
PRODUCTION = {
    "PORTAL_ENV": "production",
    "PUBLIC_BASE_URL": "https://x.example",
    "ALLOW_SQLITE_IN_PRODUCTION": True,
    "MAIL_SERVER": "smtp.x.example",
    # Required in production on PostgreSQL; never reached, as the tests turn rate limits off.
    "REDIS_URL": "redis://127.0.0.1:6379/15",
}


def altered(token: str) -> str:
    """Change one character of a token's signature.

    The first character is changed, not the last: the last base64 character of a signature
    carries unused bits, so some changes to it decode to the same bytes and still verify.
    """
    payload, signature = token.rsplit(".", 1)
    first = "A" if signature[0] != "A" else "B"
    return f"{payload}.{first}{signature[1:]}"
