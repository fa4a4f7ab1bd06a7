"""Home page, language switcher and health check."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request
from flask_babel import refresh
from flask_login import current_user

from portal.extensions import db
from portal.forms import EmptyForm
from portal.web import bp
from portal.web.i18n import LOCALE_COOKIE, supported
from portal.web.links import safe_next


@bp.get("/")
def home():
    """Show what the portal offers."""
    from portal.strategy.services import list_axes

    return render_template("web/home.html", axes=list_axes(db.session))


@bp.post("/language/<locale>")
def switch_language(locale: str):
    """Remember the chosen language in a cookie (and on the account when signed in)."""
    if not supported(locale) or not EmptyForm().validate_on_submit():
        return redirect(safe_next(request.form.get("next")))
    if current_user.is_authenticated:
        current_user.locale = locale
        db.session.commit()
    refresh()
    response = redirect(safe_next(request.form.get("next")), 303)
    response.set_cookie(
        LOCALE_COOKIE,
        locale,
        max_age=365 * 24 * 3600,
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response


@bp.get("/health")
def health():
    """Answer the load balancer: the database is reachable."""
    db.session.execute(db.text("SELECT 1"))
    return {"status": "ok"}


HTMX_CONFIG = {
    "selfRequestsOnly": True,
    "allowEval": False,
    "allowScriptTags": False,
    "includeIndicatorStyles": False,
    "historyCacheSize": 0,
    "refreshOnHistoryMiss": True,
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "[45]..", "swap": True, "error": True},
    ],
}
LOCALE_NAMES = {"ar": "العربية", "fr": "Français"}


@bp.app_context_processor
def layout_context() -> dict:
    """Give every template its language, direction, the other language and the policy."""
    from flask_babel import get_locale

    from portal.auth.policy import may
    from portal.web.i18n import text_direction

    locale = str(get_locale())
    other = next(code for code in current_app.config["LANGUAGES"] if code != locale)
    return {
        "locale": locale,
        "direction": text_direction(locale),
        "other_locale": other,
        "other_locale_name": LOCALE_NAMES.get(other, other),
        "may": may,
        "htmx_config": HTMX_CONFIG,
    }
