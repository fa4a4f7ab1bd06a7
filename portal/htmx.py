"""Helpers for answering htmx requests with the same templates full pages use."""

from __future__ import annotations

from flask import Response, make_response, render_template, request


def is_htmx() -> bool:
    """Tell whether the current request was sent by htmx (and is not a history restore)."""
    return (
        request.headers.get("HX-Request") == "true"
        and request.headers.get("HX-History-Restore-Request") != "true"
    )


def render_page_or_fragment(page_template: str, fragment_template: str, /, **context) -> str:
    """Render the full page, or only its fragment when htmx asked for it."""
    return render_template(fragment_template if is_htmx() else page_template, **context)


def hx_redirect(url: str) -> Response:
    """Send htmx to another page (a plain request gets an ordinary redirect)."""
    if is_htmx():
        response = make_response("", 204)
        response.headers["HX-Redirect"] = url
        return response
    response = make_response("", 303)
    response.headers["Location"] = url
    return response


def retarget(response: Response, target: str, swap: str = "innerHTML") -> Response:
    """Swap this response into another region of the page than the one that asked."""
    response.headers["HX-Retarget"] = target
    response.headers["HX-Reswap"] = swap
    return response
