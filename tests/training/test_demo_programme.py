"""The demo programme: four modules, sessions in several regions and online, counters true."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from portal.accounts.models import User
from portal.extensions import db
from portal.organisations.models import Membership
from portal.training.models import Enrolment, EnrolmentStatus, Programme, TrainingSession


def test_seed_demo_creates_the_programme_once_with_true_seat_counters(app):
    runner = app.test_cli_runner()

    first = runner.invoke(args=["seed-demo"])
    second = runner.invoke(args=["seed-demo"])
    db.session.expire_all()

    assert (first.exit_code, second.exit_code) == (0, 0), second.output
    assert "Demo training programme created (4 modules)." in first.output
    assert db.session.scalar(select(func.count()).select_from(Programme)) == 1
    sessions = list(db.session.scalars(select(TrainingSession)))
    assert any(session.online for session in sessions)
    assert len({session.region_id for session in sessions if session.region_id}) >= 4
    assert any(session.seats_left <= 2 for session in sessions)  # some nearly full
    for session in sessions:
        confirmed = db.session.scalar(
            select(func.count()).where(
                Enrolment.session_id == session.id, Enrolment.status == EnrolmentStatus.CONFIRMED
            )
        )
        assert session.seats_taken == confirmed <= session.capacity


def test_the_demo_applicant_can_enrol_in_every_coming_session(app):
    """The demo association took part in the past session only: whoever tries the demo as its
    member finds its cap free in every coming session."""
    app.test_cli_runner().invoke(args=["seed-demo"])
    association_id = db.session.scalar(
        select(Membership.association_id)
        .join(User, User.id == Membership.user_id)
        .where(User.email == "applicant@demo.shiraka.ma")
    )

    held = db.session.execute(
        select(TrainingSession.starts_on, func.count(Enrolment.id))
        .join(Enrolment, Enrolment.session_id == TrainingSession.id)
        .where(Enrolment.association_id == association_id)
        .group_by(TrainingSession.id, TrainingSession.starts_on)
    ).all()

    assert held, "the demo association took part in the past session"
    assert all(starts_on < date.today() for starts_on, _count in held)
