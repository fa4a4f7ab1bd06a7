"""Error pages in the visitor's language; htmx requests get a message in the page's alert region."""

from __future__ import annotations

import logging

from flask import Flask, make_response, render_template, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.htmx import is_htmx, retarget

log = logging.getLogger("portal.security")

HANDLED = (400, 401, 403, 404, 405, 413, 429, 500)

TITLES = {
    400: _l("The request could not be understood"),
    401: _l("Please sign in"),
    403: _l("You do not have access to this page"),
    404: _l("Page not found"),
    405: _l("This action is not possible here"),
    413: _l("The file is too large"),
    429: _l("Too many attempts"),
    500: _l("Something went wrong on our side"),
}
TEXTS = {
    400: _l("Check what you sent and try again."),
    401: _l("Sign in to continue."),
    403: _l("If you think you should have access, contact the portal's staff."),
    404: _l("The address may be mistyped, or the page was moved or is not yours to see."),
    405: _l("Go back to the previous page and use the buttons it offers."),
    413: _l("What you sent is larger than the portal accepts. Send a smaller file."),
    429: _l("Wait a few minutes, then try again."),
    500: _l("The error was recorded. Try again in a moment; nothing you saved before is lost."),
}
EXPIRED_TITLE = _l("Your session has expired")
EXPIRED_TEXT = _l(
    "For your security the form could not be sent. Reload the page and send it again."
)


def error_title(code: int, session_expired: bool = False) -> str:
    """Return the heading shown for an HTTP error, in the visitor's language."""
    return str(EXPIRED_TITLE if session_expired else TITLES.get(code, TITLES[500]))


def error_text(code: int, session_expired: bool = False) -> str:
    """Return the explanation shown for an HTTP error, in the visitor's language."""
    return str(EXPIRED_TEXT if session_expired else TEXTS.get(code, TEXTS[500]))


def install_error_handlers(app: Flask) -> None:
    """Register one handler for every HTTP error the portal answers with a page."""
    app.jinja_env.globals.update(error_title=error_title, error_text=error_text)

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        log.warning("csrf failure on %s %s: %s", request.method, request.path, error.description)
        return render_error(400, session_expired=True)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = error.code or 500
        if code in (403, 404):
            log_denial(code)
        if code not in HANDLED:
            return error
        response = render_error(code)
        if code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(InternalServerError)
    def server_error(error):
        return render_error(500)


def log_denial(code: int) -> None:
    """Record a refused request: status, user, endpoint and the ids it asked for."""
    user = current_user.get_id() if current_user and current_user.is_authenticated else "-"
    log.info(
        "denied %s user=%s endpoint=%s args=%s",
        code,
        user,
        request.endpoint,
        dict(request.view_args or {}),
    )


def render_error(code: int, *, session_expired: bool = False):
    """Render the error page, or its alert fragment for htmx."""
    context = {"code": code, "session_expired": session_expired}
    if is_htmx():
        response = make_response(render_template("errors/_alert.html", **context), code)
        return retarget(response, "#htmx-alerts")
    return make_response(render_template("errors/error.html", **context), code)
