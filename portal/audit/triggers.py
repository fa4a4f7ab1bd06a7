"""Database triggers that make the audit trail append-only below the ORM too.

The ORM already refuses to change an audit event (portal.audit.models); these triggers also stop
a raw UPDATE or DELETE, from a script or a console. PostgreSQL's TRUNCATE is left to the owner
of the database (a restore or a test reset), as it fires no row trigger.
"""

from __future__ import annotations

POSTGRESQL_CREATE = (
    """
    CREATE OR REPLACE FUNCTION audit_event_is_append_only() RETURNS trigger AS $$
    BEGIN
        RAISE EXCEPTION 'audit events are append-only';
    END
    $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER audit_event_append_only
    BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_event_is_append_only()
    """,
)
POSTGRESQL_DROP = (
    "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
    "DROP FUNCTION IF EXISTS audit_event_is_append_only()",
)

SQLITE_CREATE = (
    """
    CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END
    """,
    """
    CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event
    BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END
    """,
)
SQLITE_DROP = (
    "DROP TRIGGER IF EXISTS audit_event_no_update",
    "DROP TRIGGER IF EXISTS audit_event_no_delete",
)


def create_statements(dialect: str) -> tuple[str, ...]:
    """Return the statements that install the triggers on this kind of database."""
    return POSTGRESQL_CREATE if dialect == "postgresql" else SQLITE_CREATE


def drop_statements(dialect: str) -> tuple[str, ...]:
    """Return the statements that remove the triggers from this kind of database."""
    return POSTGRESQL_DROP if dialect == "postgresql" else SQLITE_DROP
