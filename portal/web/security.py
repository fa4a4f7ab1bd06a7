"""Headers every response carries, and the no-store rule for signed-in pages."""

from __future__ import annotations

from flask import Flask, request, session

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)


def install_security_hooks(app: Flask) -> None:
    """Add the security headers and cache rules to every response."""

    @app.after_request
    def add_security_headers(response):
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if app.config["PORTAL_ENV"] == "production":
            headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
        headers.add("Vary", "HX-Request")
        if _is_personal(response):
            headers["Cache-Control"] = "no-store"
            headers.add("Vary", "Cookie")
        return response


def _is_personal(response) -> bool:
    """Signed-in pages and anything that set a cookie must never be cached."""
    if request.endpoint == "static":
        return False
    # Read the session, not current_user: after a commit the user would be loaded again.
    signed_in = session.get("_user_id") is not None
    return bool(signed_in or response.headers.get("Set-Cookie"))
