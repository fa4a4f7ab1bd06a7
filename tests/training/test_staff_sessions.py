"""Staff build the programme, its modules and sessions: every change audited, bad inputs refused
with a clear message (422) and nothing written, the capacity never below the seats taken."""

from __future__ import annotations

from datetime import UTC, datetime, time
from html import escape

import pytest
from flask import url_for
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.training.models import Module, Programme, SessionStatus, TrainingSession
from tests.conftest import shown

SESSION_FORM = {
    "status": "published",
    "language": "fr",
    "starts_on": "2026-03-02",
    "ends_on": "2026-03-04",
    "daily_start": "09:00",
    "daily_end": "16:30",
    "region_code": "fes-meknes",
    "city": "Fès",
    "venue": "Centre régional",
    "capacity": "20",
    "enrolment_opens_at": "2026-02-01T09:00",
    # During Ramadan 2026 Morocco's clock is UTC+0; outside it, UTC+1.
    "enrolment_closes_at": "2026-02-25T18:00",
    "per_association_cap": "2",
    "verified_only": "y",
    "eligible_regions": ["fes-meknes", "oriental"],
    "eligible_fields": ["womens-rights"],
}


def in_arabic(text: str, **variables) -> str:
    """Return a message as the Arabic catalogue renders it (English until translated)."""
    with force_locale("ar"):
        return gettext(text, **variables)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _events(action: str) -> int:
    return db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


@pytest.fixture
def staff(login_as):
    return login_as("staff")[0]


def test_staff_create_a_programme_and_the_change_is_audited(staff):
    response = staff.post(
        url_for("training.edit_programme"),
        data={"title_ar": "برنامج", "title_fr": "Programme", "attendance_threshold_percent": "75"},
    )

    programme = db.session.scalar(select(Programme))
    assert response.status_code == 303
    assert (programme.title_fr, programme.attendance_threshold_percent) == ("Programme", 75)
    assert _events("training.programme_created") == 1


@pytest.mark.parametrize("threshold", ["0", "101", "", "eighty"])
def test_an_attendance_threshold_outside_1_to_100_is_refused_and_nothing_written(staff, threshold):
    response = staff.post(
        url_for("training.edit_programme"),
        data={
            "title_ar": "برنامج",
            "title_fr": "Programme",
            "attendance_threshold_percent": threshold,
        },
    )

    assert response.status_code == 422
    assert shown("Please correct the fields marked below.") in response.get_data(as_text=True)
    assert _count(Programme) == 0


def test_staff_change_a_programme_and_the_before_and_after_are_audited(staff, make_module):
    programme = make_module().programme
    response = staff.post(
        url_for("training.edit_programme", programme_id=programme.id),
        data={
            "title_ar": programme.title_ar,
            "title_fr": "Nouveau titre",
            "attendance_threshold_percent": "90",
        },
    )

    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "training.programme_changed")
    )
    assert response.status_code == 303
    assert event.details["changes"]["title_fr"] == ["Programme de formation", "Nouveau titre"]


def test_staff_add_a_module_to_a_programme(staff, make_module):
    programme = make_module().programme
    response = staff.post(
        url_for("training.edit_module", programme_id=programme.id),
        data={"position": "2", "title_ar": "هيئات المعاهدات", "title_fr": "Organes de traités"},
    )

    assert response.status_code == 303
    assert _count(Module) == 2
    assert _events("training.module_created") == 1


def test_a_module_without_a_title_is_refused_and_nothing_written(staff, make_module):
    programme = make_module().programme
    response = staff.post(
        url_for("training.edit_module", programme_id=programme.id),
        data={"position": "2", "title_ar": "", "title_fr": ""},
    )

    assert response.status_code == 422
    assert _count(Module) == 1


def test_staff_create_a_session_with_enrolment_times_read_on_moroccos_clock(staff, make_module):
    module = make_module()
    response = staff.post(url_for("training.edit_session", module_id=module.id), data=SESSION_FORM)

    session = db.session.scalar(select(TrainingSession))
    assert response.status_code == 303, response.get_data(as_text=True)
    assert (session.daily_start, session.daily_end) == (time(9), time(16, 30))
    assert session.region.code == "fes-meknes" and session.status == SessionStatus.PUBLISHED
    # 1 February 2026 is before Ramadan (UTC+1); 25 February falls in it (UTC+0).
    assert session.enrolment_opens_at.replace(tzinfo=UTC) == datetime(2026, 2, 1, 8, tzinfo=UTC)
    assert session.enrolment_closes_at.replace(tzinfo=UTC) == datetime(2026, 2, 25, 18, tzinfo=UTC)
    assert session.eligible_regions == ["fes-meknes", "oriental"]
    assert _events("training.session_created") == 1


def test_an_online_session_needs_no_place_and_keeps_none(staff, make_module):
    module = make_module()
    data = {**SESSION_FORM, "online": "y", "region_code": "", "venue": "ignored"}
    response = staff.post(url_for("training.edit_session", module_id=module.id), data=data)

    session = db.session.scalar(select(TrainingSession))
    assert response.status_code == 303
    assert (session.online, session.region_id, session.city, session.venue) == (True, None, "", "")


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"region_code": ""}, "region_code", "Choose the region of the venue, or tick “online”."),
        ({"venue": ""}, "venue", "Enter the venue, or tick “online”."),
        ({"ends_on": "2026-03-01"}, "ends_on", "The last day cannot be before the first day."),
        ({"daily_end": "08:00"}, "daily_end", "Each day must end after it starts."),
        (
            {"enrolment_closes_at": "2026-01-31T09:00"},
            "enrolment_closes_at",
            "Enrolment must close after it opens.",
        ),
        ({"region_code": "atlantis"}, "region_code", None),
        ({"eligible_fields": ["astrology"]}, "eligible_fields", None),
        ({"capacity": "0"}, "capacity", None),
        ({"per_association_cap": "0"}, "per_association_cap", None),
        ({"enrolment_opens_at": "tomorrow"}, "enrolment_opens_at", None),
    ],
)
def test_a_bad_session_input_is_refused_beside_its_field_and_nothing_written(
    staff, make_module, changes, field, message
):
    module = make_module()
    response = staff.post(
        url_for("training.edit_session", module_id=module.id), data={**SESSION_FORM, **changes}
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error"' in page
    if message:
        assert escape(in_arabic(message)) in page
    assert _count(TrainingSession) == 0
    assert _events("training.session_created") == 0


def test_the_capacity_cannot_drop_below_the_seats_already_taken(staff, make_session):
    session = make_session(capacity=20)
    session.seats_taken = 12
    db.session.commit()

    response = staff.post(
        url_for("training.edit_session", session_id=session.id),
        data={**SESSION_FORM, "capacity": "10"},
    )

    db.session.expire_all()
    assert response.status_code == 422
    assert escape(
        in_arabic("%(taken)s seats are already taken: the capacity cannot be lower.", taken=12)
    ) in (response.get_data(as_text=True))
    assert (session.capacity, session.language) == (20, "ar")  # nothing written
    assert _events("training.session_changed") == 0


def test_the_capacity_may_drop_to_the_seats_already_taken(staff, make_session):
    session = make_session(capacity=20)
    session.seats_taken = 12
    db.session.commit()

    response = staff.post(
        url_for("training.edit_session", session_id=session.id),
        data={**SESSION_FORM, "capacity": "12"},
    )

    db.session.expire_all()
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "training.session_changed")
    )
    assert response.status_code == 303
    assert session.capacity == 12 and session.seats_left == 0
    assert event.details["changes"]["capacity"] == [20, 12]


def test_a_session_with_confirmed_participants_cannot_be_cancelled_here(staff, make_session):
    session = make_session()
    session.seats_taken = 1
    db.session.commit()

    response = staff.post(
        url_for("training.edit_session", session_id=session.id),
        data={**SESSION_FORM, "status": "cancelled"},
    )

    db.session.expire_all()
    assert response.status_code == 422
    assert 'id="status-error"' in response.get_data(as_text=True)
    assert session.status == SessionStatus.PUBLISHED


def test_the_edit_form_shows_the_enrolment_window_on_moroccos_clock(staff, make_session):
    session = make_session(
        enrolment_opens_at=datetime(2026, 2, 1, 8, tzinfo=UTC),
        enrolment_closes_at=datetime(2026, 2, 25, 18, tzinfo=UTC),
    )

    page = staff.get(url_for("training.edit_session", session_id=session.id)).get_data(as_text=True)

    assert 'value="2026-02-01T09:00"' in page
    assert 'value="2026-02-25T18:00"' in page


def test_the_staff_list_shows_seats_taken_over_capacity(staff, make_session):
    session = make_session(capacity=20)
    session.seats_taken = 7
    db.session.commit()

    page = staff.get(url_for("training.staff_sessions")).get_data(as_text=True)

    assert "7 / 20" in page
    assert "L&#39;Examen périodique universel" in page or "الاستعراض الدوري الشامل" in page


@pytest.mark.parametrize("endpoint", ["training.staff_sessions", "training.edit_programme"])
def test_applicants_cannot_reach_the_staff_pages(login_as, endpoint):
    applicant, _ = login_as("applicant")

    assert applicant.get(url_for(endpoint)).status_code == 403


def test_an_applicant_cannot_change_a_session(login_as, make_session):
    session = make_session()
    applicant, _ = login_as("applicant")

    response = applicant.post(
        url_for("training.edit_session", session_id=session.id), data=SESSION_FORM
    )

    assert response.status_code == 403
    assert _events("training.session_changed") == 0
