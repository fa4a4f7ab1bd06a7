"""QR codes drawn on the server: inline SVG for pages and PDFs, PNG data URIs for e-mails."""

from __future__ import annotations

import segno
from markupsafe import Markup


def qr_svg(data: str, *, scale: int = 4, title: str = "") -> Markup:
    """Return an inline <svg> of `data`'s QR code, dark on white, with an accessible title."""
    code = segno.make(data, error="m", micro=False)
    svg = code.svg_inline(scale=scale, dark="#111", light="#fff", title=title or None)
    # segno writes the markup and escapes the title; role="img" lets screen readers read it.
    return Markup(svg.replace("<svg ", '<svg role="img" ', 1))  # noqa: S704


def qr_png_data_uri(data: str, *, scale: int = 5) -> str:
    """Return a data: URI of `data`'s QR code as PNG, for e-mail clients that drop SVG."""
    return segno.make(data, error="m", micro=False).png_data_uri(scale=scale)
