"""The demo programme: four modules, sessions in several regions and online, counters true."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.extensions import db
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
