"""Check-in at the door: staff scan the QR code of a participant's pass (or type its code), see
who it is, and check them in, which marks them present for the day (ASVS 4.1.1, 4.2.1)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.extensions import db
from portal.training.attendance import local_today
from portal.training.models import Attendance, Enrolment
from portal.training.services import check_in_url
from tests import factories
from tests.conftest import shown

URL = "/staff/training/check-in"


@pytest.fixture
def running(app):
    """A session that began yesterday and ends tomorrow (Morocco's clock)."""
    today = local_today()
    return factories.training_session(
        starts_on=today - timedelta(days=1), ends_on=today + timedelta(days=1)
    )


@pytest.fixture
def staff_client(login_as):
    client, _user = login_as("staff")
    return client


def enrolled(training, association, status="confirmed", code="K7QM2XPA", **fields):
    return factories.training_enrolment(
        training,
        association,
        status=status,
        registration_code=code if status != "waitlisted" else None,
        **fields,
    )


def marks_of(enrolment) -> list[tuple]:
    return list(
        db.session.execute(
            select(Attendance.day, Attendance.present).where(
                Attendance.enrolment_id == enrolment.id
            )
        )
    )


def events(action: str) -> int:
    return db.session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


def test_check_in_page_without_a_code_offers_a_field_to_type_it(staff_client):
    response = staff_client.get(URL)
    assert response.status_code == 200
    assert 'name="code"' in response.text
    assert shown("Registration code") in response.text


def test_the_qr_code_of_a_pass_opens_the_check_in_page_with_the_participant(
    staff_client, running, association
):
    """The pass's QR code encodes an absolute URL of this page: any phone camera opens it."""
    enrolment = enrolled(running, association, full_name="سلمى العلوي")
    url = check_in_url(enrolment.registration_code)
    assert url == f"https://shiraka.test{URL}?code=K7QM2XPA"
    response = staff_client.get(url.removeprefix("https://shiraka.test"))
    assert response.status_code == 200
    assert "سلمى العلوي" in response.text
    assert association.name_ar in response.text
    assert running.module.title_ar in response.text
    assert shown("Not yet today.") in response.text
    assert shown("Check in %(name)s", name="سلمى العلوي") in response.text


def test_a_typed_code_is_found_whatever_its_case_spaces_and_dashes(
    staff_client, running, association
):
    enrolled(running, association, full_name="Karim Idrissi")
    response = staff_client.get(URL, query_string={"code": " k7qm-2xpa "})
    assert response.status_code == 200
    assert "Karim Idrissi" in response.text


def test_an_unknown_code_says_no_participant_has_it(staff_client, running, association):
    enrolled(running, association)
    response = staff_client.get(URL, query_string={"code": "ZZZZ9999"})
    assert response.status_code == 404
    assert shown("No participant has this code.") in response.text
    assert 'name="code"' in response.text


def test_check_in_notes_the_time_marks_today_present_and_is_audited(
    staff_client, running, association
):
    enrolment = enrolled(running, association, full_name="Nadia Benali")
    before = utcnow()
    response = staff_client.post(URL, data={"code": "k7qm 2xpa"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(URL)
    db.session.expire_all()
    checked = db.session.get(Enrolment, enrolment.id)
    assert checked.checked_in_at >= before - timedelta(seconds=1)
    assert marks_of(enrolment) == [(local_today(), True)]
    assert events("training.checked_in") == 1
    page = staff_client.get(URL)
    assert "Nadia Benali" in page.text  # the flash names who was checked in


def test_a_second_check_in_the_same_day_is_harmless_and_says_when(
    staff_client, running, association
):
    enrolment = enrolled(running, association, full_name="Youssef Amrani")
    staff_client.post(URL, data={"code": "K7QM2XPA"})
    db.session.expire_all()
    first_time = db.session.get(Enrolment, enrolment.id).checked_in_at
    response = staff_client.post(URL, data={"code": "K7QM2XPA"}, follow_redirects=True)
    assert response.status_code == 200
    from flask_babel import force_locale, format_time

    from portal.timeutil import to_local

    with force_locale("ar"):
        hour = format_time(to_local(first_time), "HH:mm", rebase=False)
    assert (
        shown(
            "%(name)s was already checked in today at %(time)s.", name="Youssef Amrani", time=hour
        )
        in response.text
    )
    db.session.expire_all()
    assert db.session.get(Enrolment, enrolment.id).checked_in_at == first_time
    assert len(marks_of(enrolment)) == 1
    assert events("training.checked_in") == 1


def test_a_participant_checked_in_yesterday_is_checked_in_again_today(
    staff_client, running, association
):
    enrolment = enrolled(running, association, checked_in_at=utcnow() - timedelta(days=1))
    factories.training_attendance(enrolment, local_today() - timedelta(days=1))
    assert staff_client.post(URL, data={"code": "K7QM2XPA"}).status_code == 303
    assert sorted(marks_of(enrolment)) == [
        (local_today() - timedelta(days=1), True),
        (local_today(), True),
    ]


def test_check_in_with_an_unknown_code_is_refused_and_writes_nothing(
    staff_client, running, association
):
    enrolled(running, association)
    response = staff_client.post(URL, data={"code": "ABCD2345"})
    assert response.status_code == 422
    assert shown("No participant has this code.") in response.text
    assert db.session.scalar(select(func.count()).select_from(Attendance)) == 0
    assert events("training.checked_in") == 0


def test_check_in_without_a_code_asks_for_it(staff_client):
    response = staff_client.post(URL, data={"code": "  "})
    assert response.status_code == 422
    assert shown("Enter the registration code of the participant.") in response.text


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("cancelled", "This place was cancelled: %(name)s cannot be checked in."),
        ("waitlisted", "%(name)s is on the waitlist and has no confirmed place in this session."),
    ],
)
def test_check_in_of_a_place_that_is_not_confirmed_is_refused(
    staff_client, running, association, status, message
):
    enrolment = enrolled(running, association, status=status, full_name="Salma Tazi")
    code = "K7QM2XPA" if status != "waitlisted" else None
    if code is None:
        # A waitlisted participant has no code of their own yet: give one to reach the rule.
        enrolment.registration_code = "WAIT2345"
        db.session.commit()
        code = "WAIT2345"
    page = staff_client.get(URL, query_string={"code": code})
    assert shown(message, name="Salma Tazi") in page.text
    assert 'class="big-button"' not in page.text  # no check-in button
    response = staff_client.post(URL, data={"code": code})
    assert response.status_code == 422
    assert shown(message, name="Salma Tazi") in response.text
    db.session.expire_all()
    assert db.session.get(Enrolment, enrolment.id).checked_in_at is None
    assert marks_of(enrolment) == []


@pytest.mark.parametrize("days_from_today", [-10, 5])
def test_check_in_on_a_day_that_is_not_one_of_the_session_is_refused(
    staff_client, association, days_from_today
):
    first = local_today() + timedelta(days=days_from_today)
    training = factories.training_session(starts_on=first, ends_on=first + timedelta(days=2))
    enrolment = enrolled(training, association)
    response = staff_client.post(URL, data={"code": "K7QM2XPA"})
    assert response.status_code == 422
    assert (
        shown(
            "Today is not a day of this session: it runs from %(first)s to %(last)s.",
            first=training.starts_on.isoformat(),
            last=training.ends_on.isoformat(),
        )
        in response.text
    )
    db.session.expire_all()
    assert db.session.get(Enrolment, enrolment.id).checked_in_at is None
    assert marks_of(enrolment) == []


@pytest.mark.parametrize("method", ["get", "post"])
def test_only_staff_check_people_in(login_as, running, association, owner, method):
    enrolled(running, association)
    client, _user = login_as(user=owner)
    response = getattr(client, method)(
        URL, **({"data": {"code": "K7QM2XPA"}} if method == "post" else {})
    )
    assert response.status_code == 403
    assert marks_of(db.session.scalars(select(Enrolment)).one()) == []


def test_visitors_are_sent_to_sign_in(client):
    response = client.get(URL, query_string={"code": "K7QM2XPA"})
    assert response.status_code == 302
    assert "/account/sign-in" in response.headers["Location"]


def test_a_refusal_shows_the_participants_name_as_text(staff_client, running, association):
    """CHECKLIST S16: a name with markup stays inert in the refusal, on the page and after POST."""
    enrolled(running, association, status="cancelled", full_name="<img src=x onerror=alert(1)>")
    for response in (
        staff_client.get(URL, query_string={"code": "K7QM2XPA"}),
        staff_client.post(URL, data={"code": "K7QM2XPA"}),
    ):
        assert "<img src=x" not in response.text
        assert "&lt;img src=x onerror=alert(1)&gt;" in response.text
