"""The database itself refuses to change or remove an audit event (CHECKLIST R13)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from portal.audit.services import record_event
from tests import factories


@pytest.fixture
def recorded_event(session):
    user = factories.UserFactory()
    event = record_event(session, user, "account.test_event", user, note="kept")
    session.commit()
    return event


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_event SET action = 'rewritten' WHERE id = :id",
        "DELETE FROM audit_event WHERE id = :id",
    ],
)
def test_raw_sql_cannot_change_an_audit_event(db, session, recorded_event, statement):
    """ASVS 7.3.3: audit records are protected from modification, even below the ORM."""
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(sa.text(statement), {"id": recorded_event.id})
    session.expire_all()
    row = session.execute(
        sa.text("SELECT action, details FROM audit_event WHERE id = :id"),
        {"id": recorded_event.id},
    ).one()
    assert row.action == "account.test_event"
