"""Which language and time zone a request is answered in."""

from __future__ import annotations

from flask import current_app, request
from flask_login import current_user

LOCALE_COOKIE = "locale"


def supported(locale: str | None) -> bool:
    """Tell whether the portal has a catalogue for this locale."""
    return locale in current_app.config["LANGUAGES"]


def select_locale() -> str:
    """Use the signed-in user's choice, then the visitor's cookie, then the default."""
    if current_user and current_user.is_authenticated and supported(current_user.locale):
        return current_user.locale
    cookie = request.cookies.get(LOCALE_COOKIE)
    if supported(cookie):
        return cookie
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    """Show every time in the configured zone (Africa/Casablanca by default)."""
    return current_app.config["TIMEZONE"]


def text_direction(locale: str) -> str:
    """Return the writing direction of a locale."""
    return "rtl" if locale.split("_")[0] in {"ar", "he", "fa", "ur"} else "ltr"
