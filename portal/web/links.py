"""Links that leave the portal (e-mails) and redirects that must stay inside it."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, url_for


def external_url(endpoint: str, **values) -> str:
    """Build an absolute link from the configured public address, never from the request."""
    adapter = current_app.url_map.bind("portal.invalid", script_name="/")
    path = adapter.build(endpoint, values, force_external=False)
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/") + path


def safe_next(target: str | None, default_endpoint: str = "web.home") -> str:
    """Return `target` if it is a path on this site, else the default page."""
    if target:
        parts = urlsplit(target)
        is_local_path = (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
            # No control characters: a line break in the Location header would be a 500.
            and not any(ord(character) < 0x20 or ord(character) == 0x7F for character in target)
        )
        if is_local_path:
            return target
    return url_for(default_endpoint)
