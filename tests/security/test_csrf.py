"""CSRF on every state-changing route, for forms and htmx (CHECKLIST S09, S10; ASVS 4.2.2)."""

from __future__ import annotations

import json
import time
import types

import pytest
from sqlalchemy import func, select

from portal.extensions import db
from portal.organisations.models import Invitation, InvitationStatus
from tests.security.conftest import (
    ACTORS,
    ROUTES,
    client_as,
    tags_of,
    translated,
    url_of,
)
from tests.security.test_route_matrix import EXPECTED, LOGIN

# Sweeps every route through HTTP: run on PostgreSQL only in CI (see .ci/run).
pytestmark = pytest.mark.sweep

POSTS = [endpoint for endpoint, method in ROUTES if method == "POST"]
EXPIRED = "Your session has expired"
REFUSED = (LOGIN, 403, 404)


def _allowed_actor(endpoint: str) -> str:
    """An actor the route lets through (else one it lets reach the view), so that a 400 can only
    come from the token."""
    row = EXPECTED[(endpoint, "POST")]
    allowed = [actor for actor in reversed(ACTORS) if row[actor] not in REFUSED]
    return (allowed or [actor for actor in reversed(ACTORS) if row[actor] != LOGIN])[0]


def _row_counts() -> dict[str, int]:
    return {
        table.name: db.session.scalar(select(func.count()).select_from(table))
        for table in db.metadata.sorted_tables
    }


def _token_of(page_html: str) -> str:
    """The token htmx sends: the X-CSRFToken of hx-headers on <body>."""
    body = next(attrs for tag, attrs, _text in tags_of(page_html) if tag == "body")
    return json.loads(body["hx-headers"])["X-CSRFToken"]


def test_every_state_changing_route_is_in_the_check():
    assert POSTS, "no POST route found in the URL map"


@pytest.mark.parametrize("endpoint", POSTS)
@pytest.mark.parametrize("token", ["missing", "wrong", "another session's"])
def test_post_without_a_valid_token_is_refused_and_changes_nothing(app, world, endpoint, token):
    """No token, a forged one or another session's: 400 with the 'session expired' page in the
    user's language, and no row written (S09; ASVS 4.2.2, 13.2.3)."""
    user = world.users[_allowed_actor(endpoint)]
    client = client_as(app, user)
    url = url_of(app, world, endpoint, "POST")
    csrf = {
        "missing": False,
        "wrong": "wrong",
        "another session's": client_as(app, world.users["staff"]).csrf_token(),
    }[token]
    before = _row_counts()
    response = client.post(url, data={"next": "/plan"}, csrf=csrf)
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert translated(user.locale if user else "ar", EXPIRED) in body
    assert 'dir="rtl"' in body
    assert _row_counts() == before
    assert "locale=" not in response.headers.get("Set-Cookie", "")


def test_the_token_from_hx_headers_lets_an_htmx_post_through(app, world):
    """The X-CSRFToken header htmx copies from <body hx-headers> is accepted (S09)."""
    client = client_as(app, world.users["member_a"])
    members = f"/associations/{world.association_a.id}/members"
    token = _token_of(client.get(members).get_data(as_text=True))
    response = client.post(
        f"/associations/{world.association_a.id}/invitations/{world.invitation.id}/revoke",
        headers={"X-CSRFToken": token, "HX-Request": "true"},
        csrf=False,
    )
    assert response.status_code == 200
    assert "<html" not in response.get_data(as_text=True)
    status = db.session.scalar(
        select(Invitation.status).where(Invitation.id == world.invitation.id)
    )
    assert status == InvitationStatus.REVOKED


def test_the_form_field_token_lets_a_plain_post_through(app, world):
    """The csrf_token field of a rendered form is accepted without any header (S09)."""
    client = client_as(app, world.users["member_a"])
    page = client.get(f"/associations/{world.association_a.id}/members").get_data(as_text=True)
    form_token = next(
        attrs["value"]
        for tag, attrs, _text in tags_of(page)
        if tag == "input" and attrs.get("name") == "csrf_token"
    )
    response = client.post(
        f"/associations/{world.association_a.id}/invitations/{world.invitation.id}/revoke",
        data={"csrf_token": form_token},
        csrf=False,
    )
    assert response.status_code == 303
    status = db.session.scalar(
        select(Invitation.status).where(Invitation.id == world.invitation.id)
    )
    assert status == InvitationStatus.REVOKED


@pytest.mark.parametrize("locale", ["ar", "fr"])
def test_htmx_post_with_a_bad_token_gets_the_session_expired_fragment(app, world, locale):
    """htmx gets a 400 fragment for the alert region, in the user's language, never a silent
    loss (S09)."""
    owner = world.users["member_a"]
    owner.locale = locale
    db.session.commit()
    invitations = db.session.scalar(select(func.count()).select_from(Invitation))
    response = client_as(app, owner).post(
        f"/associations/{world.association_a.id}/members/invite",
        data={"email": "new@example.org", "role": "editor"},
        headers={"HX-Request": "true"},
        csrf="wrong",
    )
    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#htmx-alerts"
    body = response.get_data(as_text=True)
    assert "<html" not in body
    assert translated(locale, EXPIRED) in body
    assert translated(locale, "Reload the page") in body
    assert 'role="alert"' in body
    assert db.session.scalar(select(func.count()).select_from(Invitation)) == invitations


def test_csrf_tokens_do_not_expire_before_the_session(app):
    """A long form stays sendable: the token has no time limit of its own (S10)."""
    assert app.config["WTF_CSRF_TIME_LIMIT"] is None
    assert app.config["PERMANENT_SESSION_LIFETIME"] >= 3600


def test_a_form_sent_61_minutes_after_it_was_rendered_is_saved(app, world, monkeypatch):
    """Render the profile form, move the clock 61 minutes, submit: nothing is lost (S10)."""
    association = world.association_a
    client = client_as(app, world.users["member_a"])
    page = client.get(f"/associations/{association.id}/edit").get_data(as_text=True)
    fields = {}  # what a browser sends: inputs, textareas, and the selects' chosen options
    for tag, attrs, text in tags_of(page):
        if tag == "input" and attrs.get("name") and attrs.get("type") != "checkbox":
            fields[attrs["name"]] = attrs.get("value") or ""
        elif tag == "textarea":
            fields[attrs["name"]] = text.removeprefix("\n")
    fields.update(
        legal_form=association.legal_form,
        region=association.region.code,
        name_fr="Nom changé après une heure",
    )
    later = time.time() + 61 * 60
    monkeypatch.setattr("itsdangerous.timed.time", types.SimpleNamespace(time=lambda: later))
    response = client.post(f"/associations/{association.id}/edit", data=fields, csrf=False)
    assert response.status_code == 303, response.get_data(as_text=True)
    db.session.refresh(association)
    assert association.name_fr == "Nom changé après une heure"
