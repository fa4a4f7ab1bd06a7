"""PDFs drawn by WeasyPrint from HTML (receipts, certificates), with the fonts and stylesheets of
static/ and nothing else: no page can make the renderer read another file or reach the network."""

from __future__ import annotations

from pathlib import Path

from flask import current_app


def static_folder() -> Path:
    return Path(current_app.static_folder).resolve()


def static_only_fetcher(folder: Path):
    """Return a WeasyPrint fetcher that reads files under `folder` and nothing else.

    The documents show text typed by users (names of associations, participants, files);
    autoescaping keeps it text, and this fetcher makes sure no address in a page can make the
    renderer read another local file or reach the network. A missing stylesheet or font stops
    the rendering instead of silently producing a PDF without its Arabic font.
    """
    from urllib.request import url2pathname

    from weasyprint.urls import URLFetcher

    class StaticOnlyFetcher(URLFetcher):
        def fetch(self, url, headers=None):
            if not url.startswith("file:"):
                raise ValueError(f"PDFs load nothing but local static files: {url}")
            path = Path(url2pathname(url.removeprefix("file:").split("?")[0])).resolve()
            if not path.is_relative_to(folder):
                raise ValueError(f"PDFs load nothing outside static/: {url}")
            return super().fetch(path.as_uri(), headers)

    return StaticOnlyFetcher(allowed_protocols={"file"}, fail_on_errors=True)


def html_to_pdf(html: str) -> bytes:
    """Render an HTML document whose links (stylesheets, fonts) are relative to static/."""
    # Imported here: WeasyPrint loads Pango and fonts, which pages that never print need not pay.
    from weasyprint import HTML

    folder = static_folder()
    document = HTML(
        string=html,
        # A directory URL ends with "/", so "css/receipt-pdf.css" resolves inside static/.
        base_url=folder.as_uri() + "/",
        url_fetcher=static_only_fetcher(folder),
    )
    return document.write_pdf()
