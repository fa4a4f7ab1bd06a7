"""Error pages in the visitor's language; htmx requests get a message in the page's alert region."""

from __future__ import annotations

import logging

from flask import Flask, make_response, render_template, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from portal.htmx import is_htmx, retarget

log = logging.getLogger("portal.security")

HANDLED = (400, 401, 403, 404, 405, 413, 429, 500)


def install_error_handlers(app: Flask) -> None:
    """Register one handler for every HTTP error the portal answers with a page."""

    @app.errorhandler(CSRFError)
    def csrf_failed(error):
        log.warning("csrf failure on %s %s: %s", request.method, request.path, error.description)
        return render_error(400, session_expired=True)

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        code = error.code or 500
        if code in (403, 404):
            _log_denial(code)
        if code not in HANDLED:
            return error
        response = render_error(code)
        if code == 405 and hasattr(error, "valid_methods") and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    @app.errorhandler(InternalServerError)
    def server_error(error):
        return render_error(500)


def _log_denial(code: int) -> None:
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
