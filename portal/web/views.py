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
