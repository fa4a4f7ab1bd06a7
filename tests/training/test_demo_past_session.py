"""The demo's past session: held a few weeks ago, attendance marked per day, certificates issued
to those who attended enough, and one verification code printed for visitors to try."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from portal.extensions import db
from portal.training.attendance import reaches_threshold, session_days
from portal.training.certificates import CODE_PATTERN
from portal.training.demo import PAST_SESSION, demo_certificate_code
from portal.training.models import (
    Attendance,
    Certificate,
    Enrolment,
    EnrolmentStatus,
    TrainingSession,
)
from tests.conftest import shown


def seed(app):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return result.output


def past_session() -> TrainingSession:
    return db.session.scalars(
        select(TrainingSession).where(TrainingSession.venue == PAST_SESSION["venue"])
    ).one()


def test_the_demo_holds_a_session_that_ended_a_few_weeks_ago_in_a_real_city(app):
    seed(app)
    training = past_session()
    ended_days_ago = (date.today() - training.ends_on).days
    assert 14 <= ended_days_ago <= 35
    assert 2 <= len(session_days(training)) <= 3
    assert training.city == "Tanger" and training.region.code == "tanger-tetouan-al-hoceima"
    confirmed = list(
        db.session.scalars(
            select(Enrolment).where(
                Enrolment.session_id == training.id,
                Enrolment.status == EnrolmentStatus.CONFIRMED,
            )
        )
    )
    assert 12 <= len(confirmed) <= 16
    assert training.seats_taken == len(confirmed) <= training.capacity
    assert len({enrolment.association_id for enrolment in confirmed}) >= 6
    assert {enrolment.locale for enrolment in confirmed} == {"ar", "fr"}


def test_attendance_is_marked_every_day_and_only_those_who_qualify_hold_a_certificate(app):
    seed(app)
    training = past_session()
    days = session_days(training)
    threshold = training.module.programme.attendance_threshold_percent
    enrolments = list(
        db.session.scalars(select(Enrolment).where(Enrolment.session_id == training.id))
    )
    holders = set(db.session.scalars(select(Certificate.enrolment_id)))
    qualified = not_qualified = 0
    for enrolment in enrolments:
        marks = dict(
            db.session.execute(
                select(Attendance.day, Attendance.present).where(
                    Attendance.enrolment_id == enrolment.id
                )
            ).all()
        )
        assert sorted(marks) == days  # every day marked, present or absent
        present = sum(marks.values())
        if reaches_threshold(present, len(days), threshold):
            qualified += 1
            assert enrolment.id in holders
        else:
            not_qualified += 1
            assert enrolment.id not in holders
        assert (enrolment.checked_in_at is not None) == (present > 0)
    assert qualified > not_qualified >= 2
    assert all(
        CODE_PATTERN.fullmatch(code) for code in db.session.scalars(select(Certificate.code))
    )


def test_seeding_again_adds_nothing_and_prints_the_same_verification_code(app):
    first = seed(app)
    counts = [
        db.session.scalar(select(func.count()).select_from(model))
        for model in (TrainingSession, Enrolment, Attendance, Certificate)
    ]
    second = seed(app)
    assert counts == [
        db.session.scalar(select(func.count()).select_from(model))
        for model in (TrainingSession, Enrolment, Attendance, Certificate)
    ]
    code = demo_certificate_code(1)
    line = f"Certificate verification code for the demo: {code}"
    assert line in first and line in second


def test_the_printed_code_is_confirmed_by_the_public_page(app, client):
    seed(app)
    code = demo_certificate_code(1)
    response = client.get(f"/certificates/{code}")
    assert response.status_code == 200
    assert shown("This certificate is valid.") in response.text
    holder = db.session.scalars(select(Certificate).where(Certificate.code == code)).one()
    assert holder.enrolment.full_name in response.text
