"""Security headers on every kind of response, and the production settings (CHECKLIST S15)."""

from __future__ import annotations

import pytest

from portal import create_app
from portal.config import ConfigurationError
from tests.security.conftest import client_as


def _fetch(app, world, kind: str):
    """Answer one response of each kind the portal sends."""
    if kind == "public page":
        return client_as(app, None).get("/")
    if kind == "signed-in page":
        return client_as(app, world.users["member_a"]).get("/account")
    if kind == "signed-in 404":
        return client_as(app, world.users["member_b"]).get(
            f"/associations/{world.association_a.id}"
        )
    if kind == "missing page":
        return client_as(app, None).get("/no-such-page")
    if kind == "static file":
        return client_as(app, None).get("/static/css/portal.css")
    if kind == "POST redirect":
        return client_as(app, None).post("/language/fr", data={"next": "/plan"})
    raise AssertionError(kind)


KINDS = (
    "public page",
    "signed-in page",
    "signed-in 404",
    "missing page",
    "static file",
    "POST redirect",
)
EXPECTED_STATUS = {
    "public page": 200,
    "signed-in page": 200,
    "signed-in 404": 404,
    "missing page": 404,
    "static file": 200,
    "POST redirect": 303,
}


@pytest.mark.parametrize("kind", KINDS)
def test_every_response_carries_the_security_headers(app, world, kind):
    """CSP without unsafe-inline/unsafe-eval and with frame-ancestors 'none', nosniff,
    Referrer-Policy, and Vary: HX-Request (S15; ASVS 14.4.3, 14.4.4, 14.4.5, 14.4.6)."""
    response = _fetch(app, world, kind)
    assert response.status_code == EXPECTED_STATUS[kind]
    csp = response.headers.get("Content-Security-Policy", "")
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp, csp
    assert directives.get("frame-ancestors") == ["'none'"], csp
    assert directives.get("script-src") == ["'self'"], csp
    assert directives.get("object-src") == ["'none'"], csp
    assert response.headers.get("X-Content-Type-Options") == "nosniff"
    assert response.headers.get("Referrer-Policy") in {
        "no-referrer",
        "same-origin",
        "strict-origin",
        "strict-origin-when-cross-origin",
    }
    vary = {value.strip().lower() for value in response.headers.get("Vary", "").split(",")}
    assert "hx-request" in vary, response.headers.get("Vary")
    assert "Strict-Transport-Security" not in response.headers


@pytest.mark.parametrize("kind", ["signed-in page", "signed-in 404"])
def test_signed_in_answers_are_never_cached(app, world, kind):
    """Pages for a signed-in user are sent with Cache-Control: no-store (S15; ASVS 8.2.1)."""
    response = _fetch(app, world, kind)
    assert "no-store" in response.headers.get("Cache-Control", "")


def test_public_static_files_may_be_cached(app, world):
    """A stylesheet is the same for everyone: no-store is kept for personal answers."""
    response = _fetch(app, world, "static file")
    assert "no-store" not in response.headers.get("Cache-Control", "")


def test_hsts_is_sent_in_production_only(app_factory):
    """Strict-Transport-Security in production, with a year or more (ASVS 9.1.1, 14.4.5)."""
    production = app_factory(
        PORTAL_ENV="production",
        PUBLIC_BASE_URL="https://x.example",
        ALLOW_SQLITE_IN_PRODUCTION=True,
        MAIL_SERVER="smtp.x.example",
        REDIS_URL="redis://127.0.0.1:6379/15",
    )
    response = production.test_client().get("/")
    assert response.status_code == 200
    hsts = response.headers.get("Strict-Transport-Security", "")
    max_age = int(hsts.split("max-age=")[1].split(";")[0])
    assert max_age >= 365 * 24 * 3600, hsts
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    """No SECRET_KEY in production: the portal does not start (ASVS 2.10.4, 14.1.3)."""
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))  # no instance/config.py, no key file
    with pytest.raises(ConfigurationError, match="SECRET_KEY"):
        create_app(
            {
                "PORTAL_ENV": "production",
                "DATABASE_URL": "postgresql://db.example/shiraka",
                "PUBLIC_BASE_URL": "https://x.example",
            }
        )
    assert not (tmp_path / "secret_key").exists(), "a key was generated instead of refusing"
