"""The migrations build the schema the models describe, from empty, on the suite's database."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from portal.db import utcnow
from portal.extensions import db
from tests.conftest import _postgres_database, make_app


@pytest.fixture
def fresh_database_url(tmp_path):
    """A brand-new, empty database of the kind the suite runs on (SQLite file or PostgreSQL)."""
    base = os.environ.get("TEST_DATABASE_URL", "")
    if base.startswith("postgresql"):
        yield from _postgres_database(base)
    else:
        yield f"sqlite:///{tmp_path / 'fresh.sqlite3'}"


@pytest.fixture
def fresh_app(fresh_database_url, tmp_path):
    """An app on the empty database, with its app context pushed; its engine is disposed after."""
    app = make_app(fresh_database_url, tmp_path)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def head_revision(app) -> str:
    """Return the newest revision of the migration scripts."""
    config = app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_current_head()


def current_revision() -> str | None:
    """Return the revision the database is at."""
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def schema_differences() -> list:
    """Return what alembic autogenerate would change to make the database match the models."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        return compare_metadata(context, db.metadata)


def table_names() -> set[str]:
    """Return the tables present in the database."""
    return set(sa.inspect(db.engine).get_table_names())


def assert_audit_trail_is_append_only_in_the_database() -> None:
    """Autogenerate does not see triggers: check them by changing a row below the ORM."""
    audit_event = db.metadata.tables["audit_event"]
    with db.engine.begin() as connection:
        connection.execute(
            audit_event.insert().values(
                created_at=utcnow(), action="test.event", object_type="", details={}
            )
        )
    for statement in (audit_event.update().values(action="rewritten"), audit_event.delete()):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as c:
            c.execute(statement)
    with db.engine.connect() as connection:
        assert connection.scalars(sa.select(audit_event.c.action)).all() == ["test.event"]


def test_upgrade_from_an_empty_database_reaches_head_with_every_table(fresh_app):
    """An empty database is migrated to the newest revision, with one table per model."""
    assert table_names() == set()

    upgrade()

    assert current_revision() == head_revision(fresh_app)
    assert table_names() == set(db.metadata.tables) | {"alembic_version"}
    assert_audit_trail_is_append_only_in_the_database()


def test_migrated_database_has_no_difference_from_the_models(fresh_app):
    """Autogenerate finds nothing to change: the migrations and the models agree."""
    upgrade()

    assert schema_differences() == []


def test_downgrade_to_base_then_upgrade_again_rebuilds_the_same_schema(fresh_app):
    """Every migration can be undone and redone; the schema still matches the models and the
    audit trail's triggers are back."""
    upgrade()

    downgrade(revision="base")

    assert current_revision() is None
    assert table_names() <= {"alembic_version"}

    upgrade()

    assert current_revision() == head_revision(fresh_app)
    assert schema_differences() == []
    assert_audit_trail_is_append_only_in_the_database()
