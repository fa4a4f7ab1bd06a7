"""Staff build a call in the browser: forms, refusals shown with 422, audit events, and only
staff and admins may reach these pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from flask import url_for
from sqlalchemy import select

from portal.calls import services
from portal.calls.models import (
    Call,
    CallStatus,
    Criterion,
    DeadlineExtension,
    Lot,
    ManualCheck,
    RequiredDocument,
)
from portal.db import utcnow
from portal.extensions import db
from portal.timeutil import to_local
from tests.calls.helpers import (
    audit_actions,
    count,
    form_shown,
    shown,
    text_of,
    ticked_boxes,
)
from tests.conftest import sign_in
from tests.factories import AssociationFactory

FROZEN = (
    "Applications were already submitted to this call: its lots, criteria, documents and "
    "eligibility rules can no longer change. Create a new version of the call instead."
)


def call_form(**overrides) -> dict:
    """What the call form sends: times as typed on Morocco's clock."""
    data = {
        "code": "AAP-FORM",
        "title_ar": "طلب عروض",
        "title_fr": "Appel à projets",
        "description_ar": "وصف",
        "description_fr": "Description",
        "opens_at": "2027-01-10T09:00",
        "closes_at": "2027-02-15T23:59",
        "results_expected_at": "",
        "budget_total": "1000000",
        "min_amount": "0",
        "max_amount": "300000",
        "min_cofunding_percent": "10",
        "max_duration_months": "12",
        "min_years_since_founding": "2",
        "max_applications_per_association": "1",
        "max_budget_lines": "60",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def limits_form(**overrides) -> dict:
    values = {
        "context": 600,
        "objectives": 300,
        "activities": 800,
        "expected_results": 400,
        "indicators": 300,
        "sustainability": 400,
    }
    values.update(overrides)
    return {f"words-{name}": str(value) for name, value in values.items()}


@pytest.fixture
def staff(app, staff_user):
    return sign_in(app.test_client(), staff_user)


# --- who may build calls ---------------------------------------------------------------------

STAFF_PAGES = [
    ("GET", "calls.staff_list", {}),
    ("GET", "calls.create", {}),
    ("GET", "calls.overview", {}),
    ("GET", "calls.edit", {}),
    ("GET", "calls.add_part", {"kind": "lots"}),
    ("GET", "calls.edit_part", {"kind": "criteria"}),
    ("GET", "calls.extensions", {}),
    ("POST", "calls.publish", {}),
    ("POST", "calls.close", {}),
    ("POST", "calls.archive", {}),
    ("POST", "calls.new_version", {}),
    ("POST", "calls.remove_part", {"kind": "documents"}),
]
PART_IDS = {"lots": "lots", "criteria": "criteria", "documents": "documents"}


def _url(endpoint: str, values: dict, call: Call) -> str:
    arguments = (
        {"call_id": call.id, **values}
        if endpoint not in ("calls.staff_list", "calls.create")
        else {}
    )
    if endpoint in ("calls.edit_part", "calls.remove_part"):
        arguments["part_id"] = getattr(call, values["kind"])[0].id
    return url_for(endpoint, **arguments)


@pytest.mark.parametrize(
    ("method", "endpoint", "values"), STAFF_PAGES, ids=[p[1] for p in STAFF_PAGES]
)
def test_applicants_are_refused_and_visitors_sent_to_sign_in(
    login_as, client, draft, method, endpoint, values
):
    """Only staff and admins build calls (CHECKLIST S01, S02; ASVS 4.1.1, 4.1.3)."""
    applicant, _ = login_as("applicant")
    url = _url(endpoint, values, draft)
    events = audit_actions()

    as_applicant = applicant.open(url, method=method)
    as_visitor = client.open(url, method=method)

    assert as_applicant.status_code == 403
    assert as_visitor.status_code == 302
    assert urlsplit(as_visitor.headers["Location"]).path == url_for("accounts.sign_in")
    assert audit_actions() == events
    assert db.session.get(Call, draft.id).status == CallStatus.DRAFT


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_and_admins_reach_the_call_pages(login_as, draft, role):
    client, _ = login_as(role)
    for method, endpoint, values in STAFF_PAGES:
        if method == "GET":
            assert client.get(_url(endpoint, values, draft)).status_code == 200, endpoint


# --- creating and editing the call -----------------------------------------------------------


def test_staff_create_a_draft_call_with_times_read_on_moroccos_clock(staff, staff_user):
    response = staff.post(url_for("calls.create"), data=call_form())

    call = db.session.scalar(select(Call))
    assert response.status_code == 303
    assert response.headers["Location"] == url_for("calls.overview", call_id=call.id)
    assert call.status == CallStatus.DRAFT
    # 10 January is UTC+1; 15 February 2027 is in Ramadan, UTC+0.
    assert call.opens_at == datetime(2027, 1, 10, 8, 0, tzinfo=UTC)
    assert call.closes_at == datetime(2027, 2, 15, 23, 59, tzinfo=UTC)
    assert (call.min_amount, call.max_amount) == (0, 300_000)
    assert audit_actions() == ["call.created"]


def ours(message: str, **values):
    """A message of the portal's catalogue, as the reader will see it."""
    return lambda: shown(message, **values)


def wtforms(message: str):
    """One of WTForms' own messages, from its catalogue."""
    return lambda: form_shown(message)


AMOUNT_RANGE = ours(
    "Enter a whole number of dirhams from %(min)s to %(max)s.", min=0, max="1,000,000,000"
)
BAD_CALL_VALUES = {
    "no title": ("title_fr", "", wtforms("This field is required.")),
    "huge amount": ("max_amount", "1000000000000", AMOUNT_RANGE),
    "negative amount": ("max_amount", "-5", AMOUNT_RANGE),
    "no budget": ("budget_total", "", ours("Enter an amount in dirhams.")),
    "amount in words": ("max_amount", "trois cents", wtforms("Not a valid integer value.")),
    "share over 100": (
        "min_cofunding_percent",
        "150",
        ours("Enter a number from %(min)s to %(max)s.", min=0, max=100),
    ),
    "code with spaces": ("code", "AAP 2026/1", ours("Use letters, digits and -")),
    "date typed by hand": ("closes_at", "15/02/2027", wtforms("Not a valid datetime value.")),
}


@pytest.mark.parametrize(
    ("field", "value", "message"), BAD_CALL_VALUES.values(), ids=BAD_CALL_VALUES.keys()
)
def test_a_bad_value_shows_the_form_again_with_its_message_and_writes_nothing(
    staff, field, value, message
):
    response = staff.post(url_for("calls.create"), data=call_form(**{field: value}))

    assert response.status_code == 422
    page = text_of(response)
    assert f'id="{field}-error"' in page
    assert message() in page.split(f'id="{field}-error">', 1)[1].split("</p>", 1)[0]
    assert count(Call) == 0
    assert audit_actions() == []


def test_a_refusal_of_the_rules_is_shown_beside_its_field(staff):
    response = staff.post(url_for("calls.create"), data=call_form(max_amount="2000000"))

    assert response.status_code == 422
    assert shown("The maximum amount cannot exceed the call's budget.") in text_of(response)
    assert count(Call) == 0


def test_the_edit_form_shows_times_on_moroccos_clock(staff, draft):
    draft.closes_at = datetime(2027, 1, 20, 22, 59, tzinfo=UTC)
    db.session.commit()

    page = staff.get(url_for("calls.edit", call_id=draft.id)).get_data(as_text=True)

    assert 'value="2027-01-20T23:59"' in page


def test_staff_change_the_call_and_its_word_limits(staff, draft):
    data = call_form(code=draft.code, title_fr="Titre changé") | limits_form(context=900)

    response = staff.post(url_for("calls.edit", call_id=draft.id), data=data)

    assert response.status_code == 303
    db.session.expire_all()
    assert (draft.title_fr, draft.word_limits["context"]) == ("Titre changé", 900)
    assert audit_actions()[-1] == "call.updated"


def test_word_limits_out_of_range_are_refused(staff, draft):
    data = call_form(code=draft.code) | limits_form(activities=5)

    response = staff.post(url_for("calls.edit", call_id=draft.id), data=data)

    assert response.status_code == 422
    assert shown("Enter a number from %(min)s to %(max)s.", min=20, max=5000) in text_of(response)
    db.session.expire_all()
    assert draft.word_limits["activities"] == 800


def test_a_frozen_call_refuses_new_rules_through_the_form(staff, draft):
    draft.frozen_at = utcnow()
    db.session.commit()
    events = audit_actions()
    data = call_form(code=draft.code, min_years_since_founding="7") | limits_form()

    response = staff.post(url_for("calls.edit", call_id=draft.id), data=data)

    assert response.status_code == 422
    assert shown(FROZEN) in text_of(response)
    db.session.expire_all()
    assert draft.min_years_since_founding == 2
    assert audit_actions() == events


def test_a_frozen_call_takes_a_corrected_title_when_its_times_are_sent_back_unchanged(staff, draft):
    """The form shows minutes: a stored time with seconds must not read as a change of rule."""
    draft.closes_at = draft.closes_at.replace(second=42)
    draft.frozen_at = utcnow()
    db.session.commit()
    form = staff.get(url_for("calls.edit", call_id=draft.id))
    local = {
        name: to_local(getattr(draft, name)).strftime("%Y-%m-%dT%H:%M")
        for name in ("opens_at", "closes_at", "results_expected_at")
    }
    values = {name: str(getattr(draft, name)) for name in services.RULE_FIELDS}
    data = call_form(code=draft.code, title_fr="Titre corrigé", **local, **values) | limits_form()

    response = staff.post(url_for("calls.edit", call_id=draft.id), data=data)

    assert form.status_code == 200
    assert response.status_code == 303, text_of(response)
    db.session.expire_all()
    assert draft.title_fr == "Titre corrigé"
    assert draft.closes_at.second == 42


# --- lots, criteria, documents, manual checks ------------------------------------------------

PART_FORMS = {
    "lots": (
        Lot,
        {
            "title_ar": "حصة",
            "title_fr": "Lot",
            "budget": "100000",
            "axis_codes": ["axis-2", "axis-3"],
            "project_numbers": ["22"],
        },
    ),
    "criteria": (
        Criterion,
        {"title_ar": "معيار", "title_fr": "Critère", "weight": "10", "max_score": "10"},
    ),
    "documents": (
        RequiredDocument,
        {
            "code": "bank",
            "name_ar": "شهادة",
            "name_fr": "Attestation",
            "mandatory": "y",
            "allowed_types": ["pdf", "png"],
            "max_size_mb": "5",
        },
    ),
    "checks": (ManualCheck, {"text_ar": "قاعدة", "text_fr": "Règle"}),
}


@pytest.mark.parametrize("kind", PART_FORMS)
def test_staff_add_each_part_of_a_call(staff, draft, kind):
    model, data = PART_FORMS[kind]
    before = count(model)

    page = staff.get(url_for("calls.add_part", call_id=draft.id, kind=kind))
    response = staff.post(url_for("calls.add_part", call_id=draft.id, kind=kind), data=data)

    assert page.status_code == 200
    assert response.status_code == 303
    assert response.headers["Location"] == url_for("calls.overview", call_id=draft.id, _anchor=kind)
    assert count(model) == before + 1
    assert audit_actions()[-1].startswith("call.")


def test_a_new_lot_keeps_the_axes_and_projects_ticked(staff, draft):
    staff.post(url_for("calls.add_part", call_id=draft.id, kind="lots"), data=PART_FORMS["lots"][1])

    lot = db.session.scalars(select(Lot).order_by(Lot.id.desc())).first()
    assert [axis.code for axis in lot.axes] == ["axis-2", "axis-3"]
    assert [project.number for project in lot.plan_projects] == [22]


def test_a_lot_without_an_axis_is_refused_with_its_message(staff, draft):
    data = dict(PART_FORMS["lots"][1], axis_codes=[])

    response = staff.post(url_for("calls.add_part", call_id=draft.id, kind="lots"), data=data)

    assert response.status_code == 422
    assert shown("Choose at least one axis.") in text_of(response)
    assert count(Lot) == 1


def test_the_edit_form_of_a_lot_shows_its_ticked_axes_and_projects(staff, draft):
    lot = draft.lots[0]

    page = staff.get(url_for("calls.edit_part", call_id=draft.id, kind="lots", part_id=lot.id))

    assert ticked_boxes(page) == {("axis_codes", "axis-1"), ("project_numbers", "21")}


def test_staff_change_a_criterion(staff, draft):
    criterion = draft.criteria[0]
    data = {
        "title_ar": "الملاءمة",
        "title_fr": "Pertinence du projet",
        "weight": "55",
        "max_score": "20",
    }

    response = staff.post(
        url_for("calls.edit_part", call_id=draft.id, kind="criteria", part_id=criterion.id),
        data=data,
    )

    assert response.status_code == 303
    db.session.expire_all()
    assert (criterion.title_fr, criterion.weight, criterion.max_score) == (
        "Pertinence du projet",
        55,
        20,
    )


def test_staff_remove_a_part(staff, draft):
    check = draft.manual_checks[0]

    response = staff.post(
        url_for("calls.remove_part", call_id=draft.id, kind="checks", part_id=check.id)
    )

    assert response.status_code == 303
    assert count(ManualCheck) == 0
    assert audit_actions()[-1] == "call.part_removed"


def test_a_part_of_another_call_is_not_found(staff, staff_user, draft):
    other = services.create_call(
        db.session, {"code": "OTHER", "title_ar": "ب", "title_fr": "B"}, actor=staff_user
    )
    db.session.commit()
    lot = draft.lots[0]

    edit = staff.get(url_for("calls.edit_part", call_id=other.id, kind="lots", part_id=lot.id))
    remove = staff.post(url_for("calls.remove_part", call_id=other.id, kind="lots", part_id=lot.id))
    wrong_kind = staff.get(
        url_for("calls.edit_part", call_id=draft.id, kind="criteria", part_id=lot.id + 1000)
    )

    assert (edit.status_code, remove.status_code, wrong_kind.status_code) == (404, 404, 404)
    assert count(Lot) == 1


def test_an_unknown_kind_of_part_is_not_found(staff, draft):
    assert staff.get(f"/staff/calls/{draft.id}/budgets/new").status_code == 404


@pytest.mark.parametrize("kind", PART_FORMS)
def test_adding_to_a_frozen_call_is_refused_with_the_clear_message(staff, draft, kind):
    model, data = PART_FORMS[kind]
    draft.frozen_at = utcnow()
    db.session.commit()
    before, events = count(model), audit_actions()

    response = staff.post(url_for("calls.add_part", call_id=draft.id, kind=kind), data=data)

    assert response.status_code == 422
    assert shown(FROZEN) in text_of(response)
    assert count(model) == before
    assert audit_actions() == events


@pytest.mark.parametrize("kind", ["lots", "criteria", "documents", "checks"])
def test_changing_or_removing_a_part_of_a_frozen_call_is_refused(staff, draft, kind):
    model, data = PART_FORMS[kind]
    part = getattr(draft, "manual_checks" if kind == "checks" else kind)[0]
    draft.frozen_at = utcnow()
    db.session.commit()
    events = audit_actions()

    change = staff.post(
        url_for("calls.edit_part", call_id=draft.id, kind=kind, part_id=part.id), data=data
    )
    remove = staff.post(url_for("calls.remove_part", call_id=draft.id, kind=kind, part_id=part.id))

    assert (change.status_code, remove.status_code) == (422, 422)
    assert shown(FROZEN) in text_of(change)
    assert shown(FROZEN) in text_of(remove)
    assert db.session.get(model, part.id) is not None
    assert audit_actions() == events


def test_the_overview_of_a_frozen_call_offers_no_change_to_its_parts(staff, draft):
    draft.frozen_at = utcnow()
    db.session.commit()

    page = text_of(staff.get(url_for("calls.overview", call_id=draft.id)))

    assert shown(FROZEN) in page
    assert url_for("calls.add_part", call_id=draft.id, kind="lots") not in page
    assert "/remove" not in page
    assert url_for("calls.new_version", call_id=draft.id) in page


# --- the overview and the life cycle ---------------------------------------------------------


def test_the_overview_shows_times_with_their_offset_and_the_weights_total(staff, draft):
    draft.closes_at = datetime(2027, 2, 15, 23, 59, tzinfo=UTC)
    draft.opens_at = datetime(2027, 1, 10, 8, 0, tzinfo=UTC)
    db.session.commit()

    page = text_of(staff.get(url_for("calls.overview", call_id=draft.id)))

    assert "(UTC+00:00)" in page and "(UTC+01:00)" in page
    assert "23:59" in page and "09:00" in page
    assert "100 / 100" in page
    assert 'status-verified">100 / 100' in page


def test_the_overview_highlights_weights_that_do_not_add_up_to_100(staff, draft, staff_user):
    services.remove_part(db.session, draft, draft.criteria[1], actor=staff_user)
    db.session.commit()

    page = text_of(staff.get(url_for("calls.overview", call_id=draft.id)))

    assert 'status-rejected">60 / 100' in page
    assert shown("The weights must add up to 100.") in page
    assert shown("Criteria weights that add up to 100 (now %(total)d).", total=60) in page


def test_publishing_an_incomplete_call_is_refused_with_what_is_missing(staff, staff_user):
    call = services.create_call(
        db.session, {"code": "BARE", "title_ar": "أ", "title_fr": "A"}, actor=staff_user
    )
    db.session.commit()
    events = audit_actions()

    response = staff.post(url_for("calls.publish", call_id=call.id))

    assert response.status_code == 422
    page = text_of(response)
    assert shown("The call cannot be published yet.") in page
    for item in services.missing_for_publication(call):
        assert item in page
    assert shown("At least one lot.") in page
    db.session.expire_all()
    assert call.status == CallStatus.DRAFT
    assert audit_actions() == events


def test_staff_publish_close_and_archive_a_call(staff, draft):
    steps = [
        ("calls.publish", CallStatus.PUBLISHED),
        ("calls.close", CallStatus.CLOSED),
        ("calls.archive", CallStatus.ARCHIVED),
    ]
    for endpoint, status in steps:
        response = staff.post(url_for(endpoint, call_id=draft.id))
        assert response.status_code == 303, endpoint
        db.session.expire_all()
        assert draft.status == status
    assert audit_actions()[-3:] == ["call.published", "call.closed", "call.archived"]


@pytest.mark.parametrize("endpoint", ["calls.close", "calls.archive"])
def test_an_illegal_change_of_status_is_refused_on_the_overview(staff, draft, endpoint):
    """R11 through the pages."""
    events = audit_actions()

    response = staff.post(url_for(endpoint, call_id=draft.id))

    assert response.status_code == 422
    assert shown("This change of status is not possible.") in text_of(response)
    db.session.expire_all()
    assert draft.status == CallStatus.DRAFT
    assert audit_actions() == events


def test_a_state_change_without_its_csrf_token_is_refused(staff, draft):
    """CHECKLIST S09; ASVS 4.2.2."""
    response = staff.post(url_for("calls.publish", call_id=draft.id), csrf=False)

    assert response.status_code == 400
    db.session.expire_all()
    assert draft.status == CallStatus.DRAFT


def test_staff_make_a_new_version_and_land_on_it(staff, draft):
    response = staff.post(url_for("calls.new_version", call_id=draft.id))

    copy = db.session.scalar(select(Call).where(Call.previous_version_id == draft.id))
    assert response.status_code == 303
    assert response.headers["Location"] == url_for("calls.overview", call_id=copy.id)
    assert copy.status == CallStatus.DRAFT


# --- deadline extensions ---------------------------------------------------------------------


@pytest.fixture
def published(draft, staff_user):
    services.publish_call(db.session, draft, actor=staff_user)
    db.session.commit()
    return draft


def _extension_form(association, call, **overrides) -> dict:
    until = to_local(call.closes_at + timedelta(days=2))
    data = {
        "association_id": str(association.id),
        "until": until.strftime("%Y-%m-%dT%H:%M"),
        "reason": "Panne d'électricité signalée le jour de la date limite",
    }
    data.update(overrides)
    return data


def test_staff_grant_an_extension_and_see_it_listed(staff, published):
    association = AssociationFactory(name_ar="جمعية الأمل")

    response = staff.post(
        url_for("calls.extensions", call_id=published.id),
        data=_extension_form(association, published),
    )
    page = text_of(staff.get(url_for("calls.extensions", call_id=published.id)))

    assert response.status_code == 303
    assert count(DeadlineExtension) == 1
    assert audit_actions()[-1] == "call.extension_granted"
    assert "جمعية الأمل" in page
    assert "Panne d'électricité signalée le jour de la date limite" in page


BAD_EXTENSIONS = {
    "no reason": ("reason", "", wtforms("This field is required.")),
    "before the deadline": (
        "until",
        "2020-01-01T10:00",
        ours("The extension must end after the call's deadline."),
    ),
    "unknown association": ("association_id", "999999", wtforms("Not a valid choice.")),
}


@pytest.mark.parametrize(
    ("field", "value", "message"), BAD_EXTENSIONS.values(), ids=BAD_EXTENSIONS.keys()
)
def test_a_bad_extension_is_refused_with_its_message(staff, published, field, value, message):
    association = AssociationFactory()
    events = audit_actions()
    data = _extension_form(association, published, **{field: value})

    response = staff.post(url_for("calls.extensions", call_id=published.id), data=data)

    assert response.status_code == 422
    assert message() in text_of(response)
    assert count(DeadlineExtension) == 0
    assert audit_actions() == events
