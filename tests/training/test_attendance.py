"""The roster: staff mark who was present each day, one box at a time with htmx or the whole
table at once without JavaScript, and see each person's and the session's attendance rate."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.training.attendance import local_today, percent, reaches_threshold
from portal.training.models import Attendance
from tests import factories
from tests.conftest import shown, shown_plural
from tests.training.conftest import verified_association


@pytest.fixture
def running(app):
    """A three-day session: yesterday, today and tomorrow (Morocco's clock)."""
    today = local_today()
    return factories.training_session(
        starts_on=today - timedelta(days=1), ends_on=today + timedelta(days=1)
    )


@pytest.fixture
def staff_client(login_as, staff):
    client, _user = login_as(user=staff)
    return client


def roster_url(training) -> str:
    return f"/staff/training/sessions/{training.id}/roster"


def attendance_url(training) -> str:
    return f"/staff/training/sessions/{training.id}/attendance"


def key(enrolment, day) -> str:
    return f"{enrolment.id}:{day.isoformat()}"


def row_of(page: str, enrolment) -> str:
    return re.search(rf'<tr id="attendance-row-{enrolment.id}">.*?</tr>', page, re.S).group(0)


def marks() -> set[tuple]:
    return set(
        db.session.execute(select(Attendance.enrolment_id, Attendance.day, Attendance.present))
    )


def audit_count() -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "training.attendance_marked")
    )


def test_rates_are_whole_percentages_and_the_threshold_is_exact():
    assert percent(2, 3) == 66
    assert percent(0, 0) == 0
    assert reaches_threshold(4, 5, 80)
    assert not reaches_threshold(2, 3, 80)
    assert reaches_threshold(2, 3, 66)
    assert not reaches_threshold(0, 0, 80)


def test_the_roster_lists_confirmed_participants_with_a_box_per_day(
    staff_client, running, association
):
    today = local_today()
    present = factories.training_enrolment(
        running, association, full_name="Nadia Benali", role="منسقة", registration_code="AAAA2222"
    )
    absent = factories.training_enrolment(
        running, association, full_name="Karim Idrissi", sex="male", registration_code="BBBB3333"
    )
    factories.training_enrolment(running, association, status="waitlisted", full_name="Waiting")
    factories.training_enrolment(running, association, status="cancelled", full_name="Gone")
    factories.training_attendance(present, today - timedelta(days=1))
    factories.training_attendance(present, today)
    factories.training_attendance(absent, today, present=False)

    response = staff_client.get(roster_url(running))
    assert response.status_code == 200
    text = response.text
    for value in ("Nadia Benali", "Karim Idrissi", "منسقة", "AAAA2222", association.name_ar):
        assert value in text
    assert shown("Female") in text and shown("Male") in text
    assert "Waiting" not in text and "Gone" not in text
    # Yesterday and today may be marked; tomorrow not yet.
    assert f'value="{key(present, today - timedelta(days=1))}" checked' in text
    assert f'value="{key(present, today)}" checked' in text
    assert f'value="{key(absent, today)}"' in text
    assert f'value="{key(absent, today)}" checked' not in text
    assert f'value="{key(present, today + timedelta(days=1))}"' not in text
    assert text.count("disabled") >= 2
    # Rates: 2 of 3 days, 0 of 3; the session: 2 of 6 marks; days: 1, 1, 0 present of 2.
    assert "66%" in row_of(text, present)
    assert "0%" in row_of(text, absent)
    totals = re.search(r'<tr id="attendance-totals".*?</tr>', text, re.S).group(0)
    assert totals.count("1 / 2") == 2 and "0 / 2" in totals and "33%" in totals


def test_a_box_ticked_with_htmx_saves_that_day_and_returns_the_row_with_its_rate(
    staff_client, running, association
):
    enrolment = factories.training_enrolment(running, association, full_name="Salma Tazi")
    today = local_today()
    response = staff_client.post(
        attendance_url(running),
        data={
            "enrolment_id": str(enrolment.id),
            "day": today.isoformat(),
            "present": key(enrolment, today),
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.text.lstrip().startswith(f'<tr id="attendance-row-{enrolment.id}">')
    assert "Salma Tazi" in response.text and "33%" in response.text
    assert 'id="attendance-totals" hx-swap-oob="true"' in response.text
    assert "<html" not in response.text
    assert marks() == {(enrolment.id, today, True)}
    assert audit_count() == 1


def test_a_box_unticked_with_htmx_marks_the_day_absent(staff_client, running, association):
    enrolment = factories.training_enrolment(running, association)
    today = local_today()
    factories.training_attendance(enrolment, today)
    response = staff_client.post(
        attendance_url(running),
        data={"enrolment_id": str(enrolment.id), "day": today.isoformat()},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert "0%" in response.text
    db.session.expire_all()
    assert marks() == {(enrolment.id, today, False)}


def test_without_javascript_the_whole_roster_is_saved_at_once(staff_client, running, association):
    first = factories.training_enrolment(running, association)
    second = factories.training_enrolment(running, association)
    today, yesterday = local_today(), local_today() - timedelta(days=1)
    factories.training_attendance(second, yesterday)
    shown_cells = [
        f"{key(first, yesterday)}:0",
        f"{key(first, today)}:0",
        f"{key(second, yesterday)}:1",
        f"{key(second, today)}:0",
    ]
    response = staff_client.post(
        attendance_url(running),
        data={"cell": shown_cells, "present": [key(first, yesterday), key(first, today)]},
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(roster_url(running))
    db.session.expire_all()
    assert marks() == {
        (first.id, yesterday, True),
        (first.id, today, True),
        (second.id, yesterday, False),
    }
    assert audit_count() == 1  # one event per save, listing the three changes
    event = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "training.attendance_marked")
    ).one()
    assert len(event.details["changes"]) == 3
    page = staff_client.get(roster_url(running))
    assert (
        shown_plural(
            "Attendance is saved: %(num)d mark changed.",
            "Attendance is saved: %(num)d marks changed.",
            3,
        ).replace("%(num)d", "3")
        in page.text
    )


def test_a_saved_roster_does_not_undo_a_check_in_made_after_it_was_opened(
    staff_client, running, association
):
    """The page sends what it showed: only boxes changed on it are saved."""
    enrolment = factories.training_enrolment(running, association)
    other = factories.training_enrolment(running, association)
    today = local_today()
    factories.training_attendance(enrolment, today)  # checked in at the door meanwhile
    response = staff_client.post(
        attendance_url(running),
        data={
            "cell": [f"{key(enrolment, today)}:0", f"{key(other, today)}:0"],
            "present": [key(other, today)],
        },
    )
    assert response.status_code == 303
    db.session.expire_all()
    assert marks() == {(enrolment.id, today, True), (other.id, today, True)}


def test_a_roster_saved_without_changes_says_so_and_writes_nothing(
    staff_client, running, association
):
    enrolment = factories.training_enrolment(running, association)
    response = staff_client.post(
        attendance_url(running),
        data={"cell": [f"{key(enrolment, local_today())}:0"]},
        follow_redirects=True,
    )
    assert shown("Nothing changed in the attendance.") in response.text
    assert marks() == set()
    assert audit_count() == 0


def _refused(client, training, data, message, *, htmx=False):
    response = client.post(
        attendance_url(training), data=data, headers={"HX-Request": "true"} if htmx else {}
    )
    assert response.status_code == 422
    assert shown(message) in response.text
    assert marks() == set()
    assert audit_count() == 0
    return response


@pytest.mark.parametrize("htmx", [False, True])
def test_a_day_outside_the_session_is_refused(staff_client, running, association, htmx):
    enrolment = factories.training_enrolment(running, association)
    day = running.starts_on - timedelta(days=1)
    data = {
        "enrolment_id": str(enrolment.id),
        "day": day.isoformat(),
        "present": key(enrolment, day),
    }
    response = _refused(
        staff_client, running, data, "This day is not one of the session's days.", htmx=htmx
    )
    if htmx:  # the row comes back as it is stored, the refusal in the alert region
        assert f'<tr id="attendance-row-{enrolment.id}">' in response.text
        assert 'id="htmx-alerts"' in response.text


def test_a_malformed_day_is_refused(staff_client, running, association):
    enrolment = factories.training_enrolment(running, association)
    data = {
        "enrolment_id": str(enrolment.id),
        "day": "yesterday",
        "present": f"{enrolment.id}:yesterday",
    }
    _refused(staff_client, running, data, "This day is not one of the session's days.")


@pytest.mark.parametrize("htmx", [False, True])
def test_a_day_to_come_is_refused(staff_client, running, association, htmx):
    enrolment = factories.training_enrolment(running, association)
    day = local_today() + timedelta(days=1)
    data = {
        "enrolment_id": str(enrolment.id),
        "day": day.isoformat(),
        "present": key(enrolment, day),
    }
    _refused(
        staff_client,
        running,
        data,
        "Attendance cannot be marked for a day that has not come yet.",
        htmx=htmx,
    )


def test_a_day_to_come_is_refused_in_the_whole_roster_too(staff_client, running, association):
    enrolment = factories.training_enrolment(running, association)
    tomorrow = local_today() + timedelta(days=1)
    data = {"cell": [f"{key(enrolment, tomorrow)}:0"], "present": [key(enrolment, tomorrow)]}
    _refused(
        staff_client, running, data, "Attendance cannot be marked for a day that has not come yet."
    )


def test_an_enrolment_of_another_session_is_refused(staff_client, running, association):
    other_session = factories.training_session(starts_on=running.starts_on, ends_on=running.ends_on)
    stranger = factories.training_enrolment(other_session, association)
    today = local_today()
    data = {
        "enrolment_id": str(stranger.id),
        "day": today.isoformat(),
        "present": key(stranger, today),
    }
    _refused(staff_client, running, data, "This participant is not enrolled in this session.")


@pytest.mark.parametrize("status", ["cancelled", "waitlisted"])
def test_a_place_that_is_not_confirmed_is_refused(staff_client, running, association, status):
    enrolment = factories.training_enrolment(
        running, association, status=status, full_name="Hassan Alaoui"
    )
    today = local_today()
    data = {"cell": [f"{key(enrolment, today)}:0"], "present": [key(enrolment, today)]}
    response = staff_client.post(attendance_url(running), data=data)
    assert response.status_code == 422
    assert (
        shown(
            "%(name)s has no confirmed place: attendance is marked only for confirmed "
            "participants.",
            name="Hassan Alaoui",
        )
        in response.text
    )
    assert marks() == set()


def test_a_tampered_roster_is_refused(staff_client, running, association):
    _refused(
        staff_client,
        running,
        {"cell": ["not-a-cell"]},
        "This attendance sheet is not valid: reload the page.",
    )


def test_a_refusal_shows_the_name_as_text(staff_client, running, association):
    """CHECKLIST S16: a participant's name with markup stays inert in a refusal."""
    enrolment = factories.training_enrolment(
        running, association, status="cancelled", full_name="<img src=x onerror=alert(1)>"
    )
    today = local_today()
    data = {"cell": [f"{key(enrolment, today)}:0"], "present": [key(enrolment, today)]}
    response = staff_client.post(attendance_url(running), data=data)
    assert response.status_code == 422
    assert "<img src=x" not in response.text
    assert "&lt;img src=x onerror=alert(1)&gt;" in response.text


@pytest.mark.parametrize("method", ["get", "post"])
def test_only_staff_see_and_mark_the_roster(login_as, running, association, owner, method):
    enrolment = factories.training_enrolment(running, association)
    client, _user = login_as(user=owner)
    url = roster_url(running) if method == "get" else attendance_url(running)
    data = {
        "cell": [f"{key(enrolment, local_today())}:0"],
        "present": [key(enrolment, local_today())],
    }
    response = client.get(url) if method == "get" else client.post(url, data=data)
    assert response.status_code == 403
    assert marks() == set()


def test_the_roster_of_a_session_that_does_not_exist_is_not_found(staff_client):
    assert staff_client.get("/staff/training/sessions/999999/roster").status_code == 404


def _fill(training, count: int) -> None:
    """Confirmed participants from several associations, each present on the first day."""
    for number in range(count):
        association, _owner = verified_association()
        enrolment = factories.training_enrolment(training, association)
        factories.training_attendance(enrolment, training.starts_on, present=number % 3 != 0)
    factories.training_certificate(enrolment)


def test_the_roster_reads_a_fixed_number_of_queries_whatever_its_size(
    staff_client, running, count_queries
):
    """CHECKLIST P01: 3 participants or 20, the same number of SQL statements."""
    _fill(running, 3)
    with count_queries() as small:
        assert staff_client.get(roster_url(running)).status_code == 200
    _fill(running, 17)
    with count_queries() as large:
        response = staff_client.get(roster_url(running))
    assert response.status_code == 200
    assert response.text.count('<tr id="attendance-row-') == 20
    assert large.count == small.count <= 10


def test_an_htmx_box_reads_a_fixed_number_of_queries(
    staff_client, running, association, count_queries
):
    _fill(running, 3)
    enrolment = factories.training_enrolment(running, association)
    today = local_today()
    data = {
        "enrolment_id": str(enrolment.id),
        "day": today.isoformat(),
        "present": key(enrolment, today),
    }
    with count_queries() as small:
        staff_client.post(attendance_url(running), data=data, headers={"HX-Request": "true"})
    _fill(running, 17)
    data.pop("present")
    with count_queries() as large:
        staff_client.post(attendance_url(running), data=data, headers={"HX-Request": "true"})
    assert large.count == small.count
