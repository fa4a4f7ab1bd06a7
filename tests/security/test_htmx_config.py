"""htmx is configured safely and the pages need nothing the Content-Security-Policy forbids:
no inline script or style, no script or stylesheet from another host (ASVS 14.2.3, 14.4.3)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from tests.security.conftest import ACTORS, ROUTES, client_as, request_as, tags_of
from tests.security.test_route_matrix import EXPECTED, expected_answer

# Sweeps every route through HTTP: run on PostgreSQL only in CI (see .ci/run).
pytestmark = pytest.mark.sweep

ROOT = Path(__file__).resolve().parents[2]
VENDOR = ROOT / "static" / "vendor"


def _page_actor(endpoint: str) -> str | None:
    """Who gets this page (200) as a full page; staff and admin pages are the fullest."""
    row = EXPECTED.get((endpoint, "GET"))
    if row is None:  # a route with no row fails in test_route_matrix, named there
        return None
    return next((a for a in reversed(ACTORS) if expected_answer(row, a, False) == 200), None)


PAGES = [
    endpoint
    for endpoint, method in ROUTES
    if method == "GET" and _page_actor(endpoint) is not None and endpoint != "web.health"
]


def inline_code_problems(html: str) -> list[str]:
    """List what a strict CSP would block or what loads from elsewhere."""
    problems = []
    for tag, attrs, text in tags_of(html):
        if tag == "script" and text.strip():
            problems.append(f"inline script: {text.strip()[:60]}")
        if tag == "script" and not attrs.get("src") and not text.strip():
            problems.append("script without src")
        if tag == "style":
            problems.append("<style> element")
        for name, value in attrs.items():
            if name == "style":
                problems.append(f"style attribute on <{tag}>: {value}")
            if name.startswith("on"):
                problems.append(f"event handler {name} on <{tag}>")
            if name.startswith("hx-on"):
                problems.append(f"{name} on <{tag}> (evaluated code)")
        source = attrs.get("src") if tag == "script" else None
        if tag == "link" and attrs.get("rel") in ("stylesheet", "preload", "modulepreload"):
            source = attrs.get("href")
        if source and re.match(r"^(https?:)?//", source):
            problems.append(f"<{tag}> loads from another host: {source}")
        if "javascript:" in " ".join(value or "" for value in attrs.values()).lower():
            problems.append(f"javascript: URL on <{tag}>")
    return problems


def _meta_htmx_config(html: str) -> dict:
    content = next(
        attrs["content"]
        for tag, attrs, _text in tags_of(html)
        if tag == "meta" and attrs.get("name") == "htmx-config"
    )
    return json.loads(content)


def test_htmx_config_meta_is_strict(app):
    """Self requests only, no eval, no injected styles, no history copies in localStorage."""
    html = client_as(app, None).get("/").get_data(as_text=True)
    config = _meta_htmx_config(html)
    assert config["selfRequestsOnly"] is True
    assert config["allowEval"] is False
    assert config["includeIndicatorStyles"] is False
    assert config["historyCacheSize"] == 0
    assert config.get("allowScriptTags") is False


@pytest.mark.parametrize("endpoint", PAGES)
def test_page_and_its_fragment_need_no_inline_code(app, world, endpoint):
    """Every page, full and as an htmx fragment, loads code and styles only from this site."""
    actor = _page_actor(endpoint)
    for htmx in (False, True):
        response = request_as(app, world, actor, endpoint, "GET", htmx)
        assert response.status_code == 200, (endpoint, htmx)
        if response.mimetype != "text/html":
            continue  # downloads (PDF, CSV, XLSX, files) are sent as attachments, not pages
        problems = inline_code_problems(response.get_data(as_text=True))
        assert not problems, (endpoint, htmx, problems)


@pytest.mark.parametrize("url", ["/no-such-page", "/account/sign-out"])
def test_error_pages_need_no_inline_code(app, url):
    response = client_as(app, None).get(url)
    assert response.status_code in (404, 405)
    assert not inline_code_problems(response.get_data(as_text=True))


def test_the_check_finds_inline_code():
    """The checker above is not blind: it reports what it is meant to catch."""
    page = (
        "<html><head><script>alert(1)</script><style>p{}</style>"
        '<script src="https://cdn.example/x.js"></script>'
        '<link rel="stylesheet" href="//cdn.example/x.css"></head>'
        '<body><p style="color:red" onclick="x()" hx-on:click="y()">'
        '<a href="javascript:z()">z</a></p></body></html>'
    )
    assert inline_code_problems(page) == [
        "inline script: alert(1)",
        "<style> element",
        "<script> loads from another host: https://cdn.example/x.js",
        "<link> loads from another host: //cdn.example/x.css",
        "style attribute on <p>: color:red",
        "event handler onclick on <p>",
        "hx-on:click on <p> (evaluated code)",
        "javascript: URL on <a>",
    ]


def _vendored() -> dict[str, str]:
    """file name -> sha256 from static/vendor/VERSIONS."""
    lines = (VENDOR / "VERSIONS").read_text().splitlines()
    rows = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    return {row[0]: row[-1] for row in rows}


def test_vendored_htmx_matches_its_recorded_checksum():
    """The htmx file served is byte for byte the pinned release (ASVS 14.2.4)."""
    files = _vendored()
    htmx_files = [name for name in files if name.startswith("htmx-")]
    assert htmx_files, "htmx is not listed in static/vendor/VERSIONS"
    for name in htmx_files:
        digest = hashlib.sha256((VENDOR / name).read_bytes()).hexdigest()
        assert digest == files[name], name


def test_pages_load_the_vendored_htmx(app):
    """The base page loads the htmx file whose checksum is recorded, from this site."""
    html = client_as(app, None).get("/").get_data(as_text=True)
    scripts = [attrs["src"] for tag, attrs, _ in tags_of(html) if tag == "script"]
    vendored = {f"/static/vendor/{name}" for name in _vendored()}
    assert vendored & set(scripts), scripts
