"""Backups: `flask backup create` writes the database and the uploaded files into one archive,
`flask backup restore` puts them back into an empty database (CHECKLIST R14: same rows, every
attachment's sha256 matches; ASVS 4.0.3 V8.1.6: backups are made and can be restored)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import stat
import tarfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from sqlalchemy import select

from portal import backup
from portal.accounts.models import User
from portal.applications import services
from portal.applications.models import Application, Attachment
from portal.audit.models import AuditEvent
from portal.calls.models import Call
from portal.extensions import db
from portal.storage import LocalFileStore, file_store
from tests import factories
from tests.applications.conftest import fill_completely
from tests.conftest import _postgres_database, make_app

ON_POSTGRES = os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql")
DIALECT = "postgresql" if ON_POSTGRES else "sqlite"


# --- builders -------------------------------------------------------------------------------


@pytest.fixture
def world(app, session):
    """A submitted application and a draft, each with its uploaded statutes, their audit trail
    and e-mails, and a call that names a later call as its previous version (its row must be
    restored after the row it refers to)."""
    call = factories.published_call()
    applications = []
    for title in ("مشروع الأمل", "Projet Tanmia"):
        owner = factories.UserFactory()
        association = factories.AssociationFactory(owner=owner)
        application = services.start_application(session, call, association, actor=owner)
        session.commit()
        fill_completely(session, application, owner)
        version = {"title_ar": services.field_version(application, "title_ar")}
        services.save_fields(session, application, {"title_ar": title}, version, actor=owner)
        session.commit()
        applications.append((application, owner))
    submitted, owner = applications[0]
    services.submit_application(session, submitted, actor=owner)
    session.commit()
    later = factories.published_call()
    call.previous_version_id = later.id
    session.commit()
    return [application for application, _owner in applications]


@contextlib.contextmanager
def database(kind: str, tmp_path: Path, name: str):
    """Yield the URL of a new, empty database: PostgreSQL (a throw-away one) or a SQLite file."""
    if kind == "postgresql":
        created = _postgres_database(os.environ["TEST_DATABASE_URL"])
        try:
            yield next(created)
        finally:
            created.close()
    else:
        yield f"sqlite:///{tmp_path / f'{name}.sqlite3'}"


@contextlib.contextmanager
def fresh_app(url: str, tmp_path: Path, *, migrated: bool = True):
    """An app on that database (migrated to head unless told), with its own upload store, its
    app context pushed; its connections are closed after."""
    app = make_app(url, tmp_path)
    with app.app_context():
        if migrated:
            upgrade()
        try:
            yield app
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def _target_app(migrated, tmp_path_factory):
    """One migrated database per test module for the restores, beside the suite's own: building
    the schema through the migrations takes seconds on PostgreSQL."""
    directory = tmp_path_factory.mktemp("target")
    with database(DIALECT, directory, "target") as url:
        app = make_app(url, directory)
        with app.app_context():
            upgrade()
            db.session.remove()
        yield app
        with app.app_context():
            db.engine.dispose()


@pytest.fixture
def target(_target_app, app):
    """The app of the restores' database, migrated and empty, with an empty upload store (push
    its app context to use it); emptied again after the test."""
    yield _target_app
    with _target_app.app_context():
        if not is_empty():
            db.session.remove()
            with db.engine.connect() as connection:
                connection.begin()
                if DIALECT == "sqlite":
                    connection.exec_driver_sql("BEGIN IMMEDIATE")
                backup.empty_tables(connection, db.metadata.sorted_tables)
                connection.commit()
    shutil.rmtree(_target_app.config["UPLOAD_DIR"], ignore_errors=True)


def run(app, *args: str):
    """Run `flask --app portal <args>` on this app; return click's result."""
    return app.test_cli_runner().invoke(args=list(args))


def back_up(app, directory: Path) -> Path:
    result = run(app, "backup", "create", str(directory))
    assert result.exit_code == 0, result.output
    (archive,) = directory.glob("shiraka-*.tar.gz")
    return archive


def restore(app, archive: Path, *options: str):
    # End the test's own transaction first: on PostgreSQL a restore with --force truncates
    # the tables, which waits for every transaction that read them.
    db.session.close()
    result = run(app, "backup", "restore", str(archive), *options)
    db.session.expire_all()
    return result


# --- what the databases hold ----------------------------------------------------------------


def applications() -> list[tuple]:
    query = select(Application.id, Application.title_ar, Application.title_fr, Application.status)
    return list(db.session.execute(query.order_by(Application.id)))


def attachments() -> list[tuple]:
    """(id, storage key, sha256, the stored file's own sha256 and bytes) of every attachment."""
    store = file_store()
    rows = db.session.execute(
        select(Attachment.id, Attachment.storage_key, Attachment.sha256).order_by(Attachment.id)
    )
    listed = []
    for attachment_id, key, sha256 in rows:
        content = store.path(key).read_bytes()
        listed.append((attachment_id, key, sha256, hashlib.sha256(content).hexdigest(), content))
    return listed


def audit_trail() -> list[tuple]:
    columns = AuditEvent.__table__.columns
    return [tuple(row) for row in db.session.execute(select(*columns).order_by(AuditEvent.id))]


def snapshot() -> dict:
    return {
        "applications": applications(),
        "attachments": attachments(),
        "audit": audit_trail(),
    }


def table_hashes(app, directory: Path) -> dict[str, str]:
    """Back the database up again and return the sha256 of each table's dump."""
    manifest = backup.read_manifest(back_up(app, directory))
    return {name: entry["sha256"] for name, entry in manifest["tables"].items()}


def is_empty() -> bool:
    return all(
        not db.session.scalar(select(sa.exists(select(1).select_from(table))))
        for table in db.metadata.sorted_tables
    )


def rewritten(archive: Path, target: Path, change) -> Path:
    """Copy the archive member by member, passing each (name, bytes) through `change`, which
    returns the new bytes, or None to leave the member out."""
    with tarfile.open(archive, "r:gz") as source, tarfile.open(target, "w:gz") as out:
        for member in source.getmembers():
            data = change(member.name, source.extractfile(member).read())
            if data is None:
                continue
            info = tarfile.TarInfo(member.name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
    return target


# --- round trips ----------------------------------------------------------------------------


def test_a_backup_restored_into_an_empty_database_holds_the_same_rows_and_files(
    app, world, tmp_path, target
):
    """R14: same applications, attachments (hashes and bytes) and audit trail; every table's
    dump is identical, byte for byte, when the restored database is backed up in turn."""
    before = snapshot()
    assert len(before["attachments"]) == 2 and len(before["audit"]) > 2
    archive = back_up(app, tmp_path / "backups")
    original = backup.read_manifest(archive)

    with target.app_context():
        result = restore(target, archive)

        assert result.exit_code == 0, result.output
        assert "restored:" in result.output
        assert snapshot() == before
        again = table_hashes(target, tmp_path / "again")
        assert again == {name: entry["sha256"] for name, entry in original["tables"].items()}


def test_the_archive_lists_every_table_and_file_with_its_hash_and_is_private(app, world, tmp_path):
    archive = back_up(app, tmp_path / "backups")
    manifest = backup.read_manifest(archive)
    keys = LocalFileStore(app.config["UPLOAD_DIR"]).keys()

    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert manifest["schema_revision"] == backup.schema_head()
    assert archive.name.endswith(f"-{manifest['schema_revision']}.tar.gz")
    assert set(manifest["tables"]) == {table.name for table in db.metadata.sorted_tables}
    assert manifest["tables"]["application"]["rows"] == 2
    assert manifest["tables"]["attachment"]["rows"] == 2
    assert manifest["tables"]["audit_event"]["rows"] == len(audit_trail())
    assert sorted(manifest["files"]) == keys and len(keys) == 2
    for key, entry in manifest["files"].items():
        content = Path(app.config["UPLOAD_DIR"], key).read_bytes()
        assert entry == {"size": len(content), "sha256": hashlib.sha256(content).hexdigest()}
    with tarfile.open(archive, "r:gz") as tar:
        names = tar.getnames()
        dump = tar.extractfile("tables/application.jsonl").read().decode("utf-8")
    assert names[0] == "manifest.json"
    assert "مشروع الأمل" in dump, "Arabic is written as such, not escaped"
    assert '"status":"SUBMITTED"' in dump


def test_ids_continue_after_the_restored_rows(app, world, tmp_path, target):
    """PostgreSQL sequences are moved past the restored ids: the next row does not collide."""
    archive = back_up(app, tmp_path / "backups")
    largest_user = db.session.scalar(select(sa.func.max(User.id)))
    largest_event = db.session.scalar(select(sa.func.max(AuditEvent.id)))

    with target.app_context():
        assert restore(target, archive).exit_code == 0
        user = factories.UserFactory()
        event = AuditEvent(action="test.after_restore", object_type="user", object_id=user.id)
        db.session.add(event)
        db.session.commit()

        assert (user.id, event.id) == (largest_user + 1, largest_event + 1)


@pytest.mark.skipif(not ON_POSTGRES, reason="needs TEST_DATABASE_URL on PostgreSQL")
def test_a_postgresql_backup_restores_into_sqlite_and_back(app, world, tmp_path, target):
    """The dump is independent of the database: PostgreSQL → SQLite → PostgreSQL keeps every
    table's dump identical."""
    before = snapshot()
    archive = back_up(app, tmp_path / "from-postgresql")
    original = {name: e["sha256"] for name, e in backup.read_manifest(archive)["tables"].items()}

    with fresh_app(f"sqlite:///{tmp_path / 'copy.sqlite3'}", tmp_path / "sqlite") as on_sqlite:
        assert restore(on_sqlite, archive).exit_code == 0
        assert snapshot() == before
        from_sqlite = back_up(on_sqlite, tmp_path / "from-sqlite")
    with target.app_context():
        assert restore(target, from_sqlite).exit_code == 0
        assert snapshot() == before
        assert table_hashes(target, tmp_path / "again") == original


def test_verify_checks_an_archive_without_touching_anything(app, world, tmp_path):
    archive = back_up(app, tmp_path / "backups")

    result = run(app, "backup", "verify", str(archive))

    assert result.exit_code == 0, result.output
    assert result.output.startswith("intact: ")
    assert "2 files" in result.output


# --- refusals -------------------------------------------------------------------------------


def retitled(name: str, data: bytes) -> bytes:
    if name != "tables/application.jsonl":
        return data
    return data.replace("مشروع الأمل".encode(), "مشروع آخر".encode())


def file_grown(name: str, data: bytes) -> bytes:
    return data + b"%" if name.startswith("files/") else data


def first_event_dropped(name: str, data: bytes) -> bytes:
    if name != "tables/audit_event.jsonl":
        return data
    return b"".join(data.splitlines(keepends=True)[1:])


def file_left_out(name: str, data: bytes) -> bytes | None:
    return None if name.startswith("files/") else data


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (retitled, "tables/application.jsonl does not match the sha256 in its manifest"),
        (file_grown, "does not match the sha256 in its manifest"),
        (first_event_dropped, "tables/audit_event.jsonl does not match the sha256"),
        (file_left_out, "The archive is incomplete: files/"),
    ],
)
def test_a_tampered_archive_is_refused_and_nothing_is_restored(
    app, world, tmp_path, target, change, message
):
    archive = rewritten(back_up(app, tmp_path / "b"), tmp_path / "tampered.tar.gz", change)

    with target.app_context():
        result = restore(target, archive)
        verified = run(target, "backup", "verify", str(archive))

        assert result.exit_code == 1, result.output
        assert message in result.output
        assert "Nothing was restored." in result.output
        assert verified.exit_code == 1 and message in verified.output
        assert is_empty()
        assert LocalFileStore(target.config["UPLOAD_DIR"]).keys() == []


def test_a_restore_that_fails_midway_leaves_nothing_behind(app, world, tmp_path, target):
    """One transaction: when the database refuses a row (here, accounts left out of a
    consistent archive, so their associations' members point nowhere), no row and no file stays."""

    def without_accounts(name: str, data: bytes) -> bytes:
        if name == "tables/user_account.jsonl":
            return b""
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        empty = hashlib.sha256(b"").hexdigest()
        manifest["tables"]["user_account"] = {"rows": 0, "sha256": empty}
        return json.dumps(manifest).encode()

    archive = rewritten(back_up(app, tmp_path / "b"), tmp_path / "broken.tar.gz", without_accounts)

    with target.app_context():
        result = restore(target, archive)

        assert result.exit_code == 1, result.output
        assert "The database refused the rows of " in result.output
        assert "Nothing was restored." in result.output
        assert is_empty()
        assert LocalFileStore(target.config["UPLOAD_DIR"]).keys() == []


def test_an_archive_of_another_schema_revision_is_refused(app, world, tmp_path, target):
    def older(name: str, data: bytes) -> bytes:
        if name != "manifest.json":
            return data
        manifest = json.loads(data)
        manifest["schema_revision"] = "0001_foundation"
        return json.dumps(manifest).encode()

    archive = rewritten(back_up(app, tmp_path / "b"), tmp_path / "old.tar.gz", older)

    with target.app_context():
        result = restore(target, archive)

        assert result.exit_code == 1
        assert "made at schema revision 0001_foundation" in result.output
        assert f"this code is at {backup.schema_head()}" in result.output
        assert is_empty()


def test_a_database_that_is_not_empty_is_refused_without_force(app, world, tmp_path):
    archive = back_up(app, tmp_path / "b")
    factories.UserFactory()
    before = snapshot()

    result = restore(app, archive)

    assert result.exit_code == 1
    assert "The target database is not empty" in result.output
    assert "--force" in result.output
    assert snapshot() == before


def test_force_replaces_everything_and_keeps_the_audit_trail_append_only(app, world, tmp_path):
    before = snapshot()
    archive = back_up(app, tmp_path / "b")
    extra = factories.UserFactory(email="added-after-the-backup@example.org")
    db.session.add(AuditEvent(action="test.after_backup", object_type="user", object_id=extra.id))
    db.session.commit()

    result = restore(app, archive, "--force")

    assert result.exit_code == 0, result.output
    assert snapshot() == before
    assert (
        db.session.scalar(select(User).where(User.email == "added-after-the-backup@example.org"))
        is None
    )
    with pytest.raises(sa.exc.DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(sa.text("UPDATE audit_event SET action = 'changed'"))


def test_a_database_without_the_schema_is_refused(app, world, tmp_path):
    archive = back_up(app, tmp_path / "b")

    # The check reads alembic_version the same way on both databases: a SQLite file is enough.
    with fresh_app(
        f"sqlite:///{tmp_path / 'bare.sqlite3'}", tmp_path / "bare", migrated=False
    ) as bare:
        result = restore(bare, archive)

    assert result.exit_code == 1
    assert "schema revision none" in result.output
    assert "run `flask db upgrade` on it first" in result.output


def test_a_file_that_is_not_a_backup_is_refused(app, tmp_path):
    not_a_backup = tmp_path / "notes.tar.gz"
    not_a_backup.write_bytes(b"hello")

    result = restore(app, not_a_backup)

    assert result.exit_code == 1
    assert "is not a backup archive" in result.output


def test_a_calls_table_restored_in_any_order_of_reference(app, world, tmp_path, target):
    """The first call names a later one as its previous version: the restore puts the later one
    in first rather than failing on the foreign key."""
    first = db.session.scalar(select(Call).order_by(Call.id).limit(1))
    assert first.previous_version_id > first.id
    archive = back_up(app, tmp_path / "b")

    with target.app_context():
        assert restore(target, archive).exit_code == 0
        restored = db.session.scalar(select(Call).order_by(Call.id).limit(1))
        assert restored.previous_version_id == first.previous_version_id
