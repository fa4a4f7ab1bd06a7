"""Registering and editing an association's profile."""

from __future__ import annotations

import logging
from datetime import date, timedelta

import pytest
from markupsafe import escape
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.organisations.models import Association, AssociationStatus, MemberRole, Membership
from tests.factories import AssociationFactory, UserFactory, add_member
from tests.organisations.helpers import audit_actions, count, shown, text_of


def the_association(registration_number: str) -> Association:
    db.session.expire_all()
    return db.session.scalar(
        select(Association).where(Association.registration_number == registration_number)
    )


# --- registration ---------------------------------------------------------------------------


def test_verified_user_registers_an_association_and_becomes_its_owner(login_as, profile_form):
    client, user = login_as("applicant")

    response = client.post("/associations/new", data=profile_form)

    association = the_association("AG-2014-0093")
    assert response.status_code == 303
    assert response.location == f"/associations/{association.id}"
    assert association.status == AssociationStatus.PENDING
    assert association.name_ar == profile_form["name_ar"]
    assert association.name_fr == profile_form["name_fr"]
    assert association.acronym == "AADDH"
    assert association.founded_on == date(2014, 6, 21)
    assert association.region.code == "souss-massa"
    assert association.email == "contact@annour.example.ma"
    assert association.phone == "+212 528 00 00 00"
    assert association.website == "https://annour.example.ma"
    assert association.fields_of_work == ["womens-rights", "un-mechanisms"]
    assert association.target_groups == ["women", "children"]
    assert association.description_fr == profile_form["description_fr"]
    assert [(m.user_id, m.role) for m in association.memberships] == [(user.id, MemberRole.OWNER)]
    event = db.session.scalar(select(AuditEvent))
    assert (event.action, event.actor_id, event.object_type, event.object_id) == (
        "association.created",
        user.id,
        "association",
        association.id,
    )
    page = client.get(response.location)
    assert shown("The association is registered and awaits verification.") in text_of(page)
    assert shown("Awaiting verification") in text_of(page)


def test_unverified_user_cannot_register_an_association(login_as, profile_form):
    client, _user = login_as("applicant", email_verified_at=None)

    response = client.post("/associations/new", data=profile_form)

    assert response.status_code == 302
    assert response.location == "/account"
    page = client.get(response.location)
    expected = shown("Confirm your e-mail address before registering an association.")
    assert expected in text_of(page)
    assert count(Association) == 0
    assert count(Membership) == 0
    assert audit_actions() == []


@pytest.mark.parametrize(
    "submitted",
    ["RB 2011 0457", "rb 2011 0457", "  Rb  2011   0457 "],
    ids=["same", "other-case", "other-spaces"],
)
def test_registration_number_already_registered_is_refused(login_as, profile_form, submitted):
    """CHECKLIST issue 3: duplicate registration number, clear message, nothing written."""
    AssociationFactory(registration_number="RB 2011 0457")
    client, _user = login_as("applicant")
    profile_form["registration_number"] = submitted

    response = client.post("/associations/new", data=profile_form)

    assert response.status_code == 422
    expected = shown("An association with this registration number is already registered.")
    assert expected in text_of(response)
    assert count(Association) == 1
    assert count(Membership) == 0
    assert audit_actions() == []


def test_region_outside_the_twelve_is_refused(login_as, profile_form):
    client, _user = login_as("applicant")
    profile_form["region"] = "atlantis"

    response = client.post("/associations/new", data=profile_form)

    assert response.status_code == 422
    assert shown("Choose one of Morocco's 12 regions.") in text_of(response)
    assert count(Association) == 0
    assert audit_actions() == []


def test_region_message_follows_the_users_language(login_as, profile_form):
    client, _user = login_as("applicant", locale="fr")
    profile_form["region"] = "atlantis"

    response = client.post("/associations/new", data=profile_form)

    assert response.status_code == 422
    assert 'lang="fr"' in text_of(response)
    assert shown("Choose one of Morocco's 12 regions.", "fr") in text_of(response)
    assert count(Association) == 0


def test_founding_date_in_the_future_is_refused(login_as, profile_form):
    client, _user = login_as("applicant")
    profile_form["founded_on"] = (date.today() + timedelta(days=2)).isoformat()

    response = client.post("/associations/new", data=profile_form)

    assert response.status_code == 422
    assert shown("The founding date cannot be in the future.") in text_of(response)
    assert count(Association) == 0
    assert audit_actions() == []


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("fields_of_work", "bank-robbery", "Choose fields of work from the list."),
        ("target_groups", "shareholders", "Choose target groups from the list."),
    ],
)
def test_choice_outside_the_list_is_refused(login_as, profile_form, field, value, message):
    client, _user = login_as("applicant")
    profile_form[field] = [profile_form[field][0], value]

    response = client.post("/associations/new", data=profile_form)

    assert response.status_code == 422
    assert shown(message) in text_of(response)
    assert count(Association) == 0
    assert audit_actions() == []


def test_status_owner_and_association_id_in_the_form_are_ignored(login_as, profile_form):
    """CHECKLIST S08; ASVS 4.0.3 V5.1.2 (mass assignment): the form lists the fields one sets."""
    other = UserFactory()
    existing = AssociationFactory(owner=other)
    client, user = login_as("applicant")
    profile_form |= {
        "status": "verified",
        "status_reason": "trust me",
        "association_id": str(existing.id),
        "id": str(existing.id),
        "owner": str(other.id),
        "owner_id": str(other.id),
        "region_id": "1",
    }

    response = client.post("/associations/new", data=profile_form)

    assert response.status_code == 303
    association = the_association("AG-2014-0093")
    assert association.id != existing.id
    assert association.status == AssociationStatus.PENDING
    assert association.status_reason == ""
    assert association.region.code == "souss-massa"
    assert [(m.user_id, m.role) for m in association.memberships] == [(user.id, MemberRole.OWNER)]
    assert count(Membership, Membership.association_id == existing.id) == 1


def test_status_in_the_edit_form_is_ignored(login_as, profile_form):
    """CHECKLIST S08: an owner cannot verify their own association through the edit form."""
    client, user = login_as("applicant")
    association = AssociationFactory(owner=user, status=AssociationStatus.PENDING)
    profile_form |= {"status": "verified", "association_id": "999"}

    response = client.post(f"/associations/{association.id}/edit", data=profile_form)

    assert response.status_code == 303
    db.session.expire_all()
    assert association.status == AssociationStatus.PENDING
    assert association.name_fr == profile_form["name_fr"]


# --- editing --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "editor"])
def test_owner_and_editor_can_edit_the_profile(login_as, profile_form, role):
    client, user = login_as("applicant")
    association = AssociationFactory(owner=UserFactory())
    add_member(association, user, role)
    profile_form["city"] = "Taroudant"

    form_page = client.get(f"/associations/{association.id}/edit")
    response = client.post(f"/associations/{association.id}/edit", data=profile_form)

    assert form_page.status_code == 200
    assert response.status_code == 303
    db.session.expire_all()
    assert association.city == "Taroudant"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "association.updated"))
    assert event.actor_id == user.id
    assert "city" in event.details["fields"]


def test_viewer_sees_the_profile_but_cannot_edit_it(login_as, profile_form):
    """ASVS 4.0.3 V4.1.3: the edit page is hidden (404) from a viewer, as from a stranger."""
    client, user = login_as("applicant")
    association = AssociationFactory(owner=UserFactory(), city="Rabat")
    add_member(association, user, "viewer")

    detail = client.get(f"/associations/{association.id}")
    form_page = client.get(f"/associations/{association.id}/edit")
    profile_form["city"] = "Taroudant"
    response = client.post(f"/associations/{association.id}/edit", data=profile_form)

    assert detail.status_code == 200
    assert f"/associations/{association.id}/edit" not in detail.text
    assert form_page.status_code == 404
    assert response.status_code == 404
    db.session.expire_all()
    assert association.city == "Rabat"
    assert "association.updated" not in audit_actions()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/associations/{id}"),
        ("GET", "/associations/{id}/edit"),
        ("POST", "/associations/{id}/edit"),
        ("GET", "/associations/{id}/members"),
        ("POST", "/associations/{id}/members/invite"),
        ("POST", "/associations/{id}/members/{membership}/role"),
        ("POST", "/associations/{id}/members/{membership}/remove"),
    ],
)
def test_member_of_another_association_gets_not_found(login_as, profile_form, caplog, method, path):
    """CHECKLIST S03; ASVS 4.0.3 V4.2.1: another association's id answers 404, shows nothing."""
    owner_of_a = UserFactory(full_name="Propriétaire Secret", email="secret-owner@a.example")
    association_a = AssociationFactory(
        owner=owner_of_a,
        name_ar="جمعية سرية",
        name_fr="Association Secrète",
        registration_number="SECRET-A-0001",
        city="Oujda",
    )
    membership = association_a.memberships[0]
    client, user_b = login_as("applicant")
    AssociationFactory(owner=user_b)
    url = path.format(id=association_a.id, membership=membership.id)
    data = profile_form | {"email": "x@example.org", "role": "owner"}

    with caplog.at_level(logging.INFO, logger="portal.security"):
        response = client.open(url, method=method, data=data if method == "POST" else None)

    assert response.status_code == 404
    for secret in ("جمعية سرية", "Secrète", "SECRET-A-0001", "Oujda", "secret-owner", "Secret"):
        assert secret not in text_of(response)
    assert any(
        "denied 404" in record.getMessage() and f"user={user_b.get_id()}" in record.getMessage()
        for record in caplog.records
    )
    db.session.expire_all()
    assert association_a.city == "Oujda"
    assert [(m.user_id, m.role) for m in association_a.memberships] == [
        (owner_of_a.id, MemberRole.OWNER)
    ]
    assert audit_actions() == []


def test_editing_a_rejected_association_sends_it_back_to_verification(login_as, profile_form):
    client, user = login_as("applicant")
    association = AssociationFactory(
        owner=user,
        status=AssociationStatus.REJECTED,
        status_reason="The receipt is illegible.",
        registration_number="AG-2014-0093",
    )
    profile_form["address"] = "7, rue Tarik Ibn Ziad"

    response = client.post(f"/associations/{association.id}/edit", data=profile_form)

    assert response.status_code == 303
    db.session.expire_all()
    assert association.status == AssociationStatus.PENDING
    assert association.status_changed_by_id == user.id
    page = client.get(f"/associations/{association.id}")
    assert shown("Awaiting verification") in text_of(page)
    assert shown("Rejected") not in text_of(page)


@pytest.mark.parametrize(
    "payload",
    ["<script>alert(1)</script>", "{{7*7}}", '<a hx-get="/staff/associations">x</a>'],
    ids=["script", "template", "htmx"],
)
def test_markup_in_the_name_is_shown_as_text(login_as, profile_form, payload):
    """CHECKLIST S16; ASVS 4.0.3 V5.3.3: names are escaped and never evaluated as templates."""
    client, _user = login_as("applicant")
    profile_form["name_ar"] = f"جمعية {payload}"
    profile_form["name_fr"] = f"Association {payload}"

    created = client.post("/associations/new", data=profile_form)
    association = the_association("AG-2014-0093")
    staff_client, _staff = login_as("staff")
    pages = [
        client.get(created.location),
        client.get(f"/associations/{association.id}/edit"),
        client.get(f"/associations/{association.id}/members"),
        staff_client.get("/staff/associations"),
        staff_client.get(f"/staff/associations/{association.id}/verification"),
    ]

    assert association.name_fr == f"Association {payload}"
    for page in pages:
        assert page.status_code == 200
        assert str(escape(payload)) in page.text
        if "<" in payload:
            assert payload not in page.text
