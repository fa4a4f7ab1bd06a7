"""Backups: the whole database and the uploaded files in one .tar.gz, and their restore.

An archive holds, in this order:

    manifest.json          format, schema revision, and for each table its row count and the
                           sha256 of its dump, for each file its size and sha256
    tables/<table>.jsonl   every row of the table as one JSON object per line, by primary key
    files/<key>            every file of the upload store, under its storage key

The dump is independent of the database: dates and times are ISO 8601 text, workflow states
their stored names, so a PostgreSQL backup restores into SQLite and back. It is read in one
transaction (REPEATABLE READ, read only, on PostgreSQL; one read transaction on SQLite), so the
rows agree with each other. A restore checks every hash before it writes anything, then writes
every row in one transaction, parents before children.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import os
import re
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import BinaryIO

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import REGCLASS
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.types import TypeDecorator

from portal.audit import triggers
from portal.storage import LocalFileStore

log = logging.getLogger("portal.backup")

FORMAT = "shiraka-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
BATCH = 1000
CHUNK = 1024 * 1024
ARCHIVE_MODE = 0o600  # the archive holds personal data and password hashes
_TABLE_MEMBER = re.compile(r"tables/([a-z0-9_]+)\.jsonl")
_FILE_MEMBER = re.compile(r"files/([0-9a-f]{32})")


class BackupError(Exception):
    """A backup or a restore cannot go on; the message says why and what to do."""


@dataclass(frozen=True)
class Summary:
    """What an archive holds: rows per table and the number of files."""

    path: Path
    schema_revision: str
    rows: dict[str, int]
    files: int

    def describe(self) -> str:
        """Return one line for the command's output."""
        return (
            f"{self.path}: schema {self.schema_revision}, {sum(self.rows.values())} rows in "
            f"{len(self.rows)} tables, {self.files} files"
        )


# --- values: dialect-independent JSON -------------------------------------------------------


def _kind(column: sa.Column) -> type:
    """Return the SQLAlchemy type class that decides how a column's values are written."""
    column_type = column.type
    if isinstance(column_type, TypeDecorator):
        column_type = column_type.impl_instance
    for kind in (sa.Enum, sa.DateTime, sa.Date, sa.Time, sa.Float, sa.Numeric, sa.LargeBinary):
        if isinstance(column_type, kind):
            return kind
    return object


def _encode(value):
    """Write what json cannot: times as ISO 8601, decimals as text, bytes as base64."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot write {type(value).__name__} to a backup")


_DECODERS = {
    sa.DateTime: datetime.fromisoformat,
    sa.Date: date.fromisoformat,
    sa.Time: time.fromisoformat,
    sa.Numeric: Decimal,
    sa.LargeBinary: base64.b64decode,
}


def _decoders(table: sa.Table) -> dict[str, object]:
    return {
        column.name: _DECODERS[_kind(column)]
        for column in table.columns
        if _kind(column) in _DECODERS
    }


def _select_all(table: sa.Table) -> sa.Select:
    """Every row by primary key; workflow states read as the text stored, not as Python enums."""
    columns = [
        sa.type_coerce(column, sa.String()).label(column.name)
        if _kind(column) is sa.Enum
        else column
        for column in table.columns
    ]
    return sa.select(*columns).order_by(*table.primary_key.columns)


# --- the schema -----------------------------------------------------------------------------


def schema_head() -> str:
    """Return the newest revision of the migration scripts the code carries."""
    from alembic.script import ScriptDirectory
    from flask import current_app

    config = current_app.extensions["migrate"].migrate.get_config()
    return ScriptDirectory.from_config(config).get_current_head()


def _revision(connection: Connection) -> str | None:
    if not sa.inspect(connection).has_table("alembic_version"):
        return None
    return connection.scalar(sa.text("SELECT version_num FROM alembic_version"))


def _tables() -> list[sa.Table]:
    """Every table the code knows, parents before children."""
    from portal.extensions import db

    return list(db.metadata.sorted_tables)


def _check_known_tables(connection: Connection, tables: list[sa.Table]) -> None:
    present = set(sa.inspect(connection).get_table_names())
    unknown = sorted(present - {table.name for table in tables} - {"alembic_version"})
    if unknown:
        raise BackupError(
            f"The database holds tables the code does not know ({', '.join(unknown)}): their "
            "rows would be left out. Back up with the code that made them."
        )


# --- creating an archive --------------------------------------------------------------------


def _begin_snapshot(engine: Engine) -> Connection:
    """Open a connection whose reads all see one state of the database."""
    if engine.dialect.name == "postgresql":
        connection = engine.connect().execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )
        connection.begin()
        return connection
    connection = engine.connect()
    connection.begin()
    # pysqlite opens no transaction for a SELECT: without BEGIN each read sees its own state.
    connection.exec_driver_sql("BEGIN")
    return connection


def _dump_table(connection: Connection, table: sa.Table, target: Path) -> tuple[int, str]:
    """Write the table's rows as JSON lines; return the row count and the file's sha256."""
    digest = hashlib.sha256()
    rows = 0
    with target.open("wb") as out:
        result = connection.execute(_select_all(table).execution_options(yield_per=BATCH))
        for row in result.mappings():
            line = json.dumps(dict(row), ensure_ascii=False, separators=(",", ":"), default=_encode)
            data = line.encode("utf-8") + b"\n"
            digest.update(data)
            out.write(data)
            rows += 1
    return rows, digest.hexdigest()


def _hash_file(path: Path) -> tuple[int, str]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def _local_store(store) -> LocalFileStore:
    if not isinstance(store, LocalFileStore):
        raise BackupError(
            f"The upload store is a {type(store).__name__}, not a local directory: back its "
            "files up with the store's own tools."
        )
    return store


def _member(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o600
    return info


def create_backup(engine: Engine, store, directory: Path, *, now: datetime | None = None):
    """Write an archive of every table and every uploaded file into `directory`; return its
    Summary. The archive appears under its final name only once complete."""
    store = _local_store(store)
    now = now or datetime.now(UTC)
    tables = _tables()
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="shiraka-backup-") as scratch:
        connection = _begin_snapshot(engine)
        try:
            _check_known_tables(connection, tables)
            revision = _revision(connection)
            if revision is None:
                raise BackupError("The database has no schema: run `flask db upgrade` first.")
            table_entries = {}
            for table in tables:
                rows, sha256 = _dump_table(connection, table, Path(scratch) / table.name)
                table_entries[table.name] = {"rows": rows, "sha256": sha256}
            # Files are listed while the snapshot is open: a file stored later belongs to rows
            # the snapshot does not hold either.
            keys = store.keys()
        finally:
            connection.rollback()
            connection.close()
        file_entries = {}
        for key in keys:
            size, sha256 = _hash_file(store.path(key))
            file_entries[key] = {"size": size, "sha256": sha256}
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "created_at": now.isoformat(),
            "database": engine.dialect.name,
            "schema_revision": revision,
            "tables": table_entries,
            "files": file_entries,
        }
        name = f"shiraka-{now:%Y%m%dT%H%M%SZ}-{revision}.tar.gz"
        final = directory / name
        partial = directory / f".{name}.part"
        try:
            _write_archive(partial, manifest, Path(scratch), store, now.timestamp())
            partial.replace(final)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    summary = Summary(
        final, revision, {t: e["rows"] for t, e in table_entries.items()}, len(file_entries)
    )
    log.info("backup written: %s", summary.describe())
    return summary


class _HashingReader(io.RawIOBase):
    """Reads a file for tarfile while hashing what it reads."""

    def __init__(self, source: BinaryIO):
        self.source = source
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        self.digest.update(data)
        return data


def _write_archive(path: Path, manifest: dict, scratch: Path, store, mtime: float) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, ARCHIVE_MODE)
    with os.fdopen(descriptor, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as tar:
        data = json.dumps(manifest, ensure_ascii=False, indent=2).encode("utf-8")
        tar.addfile(_member(MANIFEST, len(data), mtime), io.BytesIO(data))
        for table in manifest["tables"]:
            dump = scratch / table
            with dump.open("rb") as source:
                tar.addfile(_member(f"tables/{table}.jsonl", dump.stat().st_size, mtime), source)
        for key, entry in manifest["files"].items():
            with store.open(key) as source:
                reader = _HashingReader(source)
                tar.addfile(_member(f"files/{key}", entry["size"], mtime), reader)
            if reader.digest.hexdigest() != entry["sha256"]:
                raise BackupError(f"The stored file {key} changed while it was being backed up.")
        raw.flush()
        os.fsync(raw.fileno())


# --- reading an archive ---------------------------------------------------------------------


def _open(archive: Path) -> tarfile.TarFile:
    try:
        return tarfile.open(archive, mode="r|gz")
    except (OSError, tarfile.TarError) as error:
        raise BackupError(f"{archive} is not a backup archive (.tar.gz): {error}") from error


def _members(tar: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, BinaryIO]]:
    """Yield each member with its content, refusing links, folders and unexpected names."""
    seen = set()
    try:
        for member in tar:
            if not member.isfile():
                raise BackupError(f"The archive holds {member.name}, which is not a plain file.")
            if member.name in seen:
                raise BackupError(f"The archive holds {member.name} twice.")
            seen.add(member.name)
            yield member, tar.extractfile(member)
    except (OSError, EOFError, tarfile.TarError) as error:
        raise BackupError(f"The archive is damaged: {error}") from error


def read_manifest(archive: Path) -> dict:
    """Return the archive's manifest (its first member), checked for shape and format."""
    with _open(archive) as tar:
        for member, content in _members(tar):
            if member.name != MANIFEST:
                break
            try:
                manifest = json.loads(content.read())
            except ValueError as error:
                raise BackupError(f"The archive's manifest is not valid JSON: {error}") from error
            if (
                not isinstance(manifest, dict)
                or manifest.get("format") != FORMAT
                or not isinstance(manifest.get("tables"), dict)
                or not isinstance(manifest.get("files"), dict)
            ):
                break
            if manifest.get("format_version") != FORMAT_VERSION:
                raise BackupError(
                    f"The archive is in backup format {manifest.get('format_version')}; this "
                    f"code reads format {FORMAT_VERSION}."
                )
            return manifest
    raise BackupError(f"{archive} is not a Shiraka backup: it does not start with its manifest.")


def _expected(manifest: dict) -> dict[str, dict]:
    """Map every member name the manifest announces to its entry."""
    expected = {f"tables/{name}.jsonl": entry for name, entry in manifest["tables"].items()}
    expected.update({f"files/{key}": entry for key, entry in manifest["files"].items()})
    for name in expected:
        if not (_TABLE_MEMBER.fullmatch(name) or _FILE_MEMBER.fullmatch(name)):
            raise BackupError(f"The manifest names an unexpected member {name!r}.")
    return expected


def verify_archive(archive: Path) -> Summary:
    """Check every table dump and file of the archive against its manifest, writing nothing."""
    manifest = read_manifest(archive)
    expected = _expected(manifest)
    found = set()
    with _open(archive) as tar:
        for member, content in _members(tar):
            if member.name == MANIFEST:
                continue
            entry = expected.get(member.name)
            if entry is None:
                raise BackupError(f"The archive holds {member.name}, which its manifest omits.")
            digest = hashlib.sha256()
            lines = 0
            while chunk := content.read(CHUNK):
                digest.update(chunk)
                lines += chunk.count(b"\n")
            if digest.hexdigest() != entry["sha256"]:
                raise BackupError(
                    f"The archive is damaged or was altered: {member.name} does not match the "
                    "sha256 in its manifest. Nothing was restored."
                )
            if member.name.startswith("tables/") and lines != entry["rows"]:
                raise BackupError(
                    f"The archive is damaged or was altered: {member.name} holds {lines} rows, "
                    f"its manifest says {entry['rows']}. Nothing was restored."
                )
            found.add(member.name)
    missing = sorted(set(expected) - found)
    if missing:
        raise BackupError(
            f"The archive is incomplete: {', '.join(missing[:5])} "
            f"{'and more ' if len(missing) > 5 else ''}missing. Nothing was restored."
        )
    rows = {name: entry["rows"] for name, entry in manifest["tables"].items()}
    return Summary(Path(archive), manifest["schema_revision"], rows, len(manifest["files"]))


# --- restoring ------------------------------------------------------------------------------


def _filled_tables(connection: Connection, tables: list[sa.Table]) -> list[str]:
    return [
        table.name
        for table in tables
        if connection.scalar(sa.select(sa.exists(sa.select(1).select_from(table))))
    ]


def _check_target(connection: Connection, tables, head: str, force: bool) -> None:
    revision = _revision(connection)
    if revision != head:
        raise BackupError(
            f"The target database is at schema revision {revision or 'none'}, not the code's "
            f"{head}: run `flask db upgrade` on it first."
        )
    filled = _filled_tables(connection, tables)
    if filled and not force:
        shown = ", ".join(filled[:5]) + (", …" if len(filled) > 5 else "")
        raise BackupError(
            f"The target database is not empty ({len(filled)} tables hold rows: {shown}). "
            "Restore into an empty database, or pass --force to replace everything it holds."
        )


def empty_tables(connection: Connection, tables: list[sa.Table]) -> None:
    """Empty every table of the schema, inside the caller's transaction (restore --force)."""
    dialect = connection.dialect.name
    if dialect == "postgresql":
        quote = connection.dialect.identifier_preparer.quote
        names = ", ".join(quote(table.name) for table in tables)
        # TRUNCATE fires no row trigger: the audit trail's append-only guard stays in place.
        connection.exec_driver_sql(f"TRUNCATE {names} CASCADE")
        return
    for statement in triggers.drop_statements(dialect):
        connection.exec_driver_sql(statement)
    for table in reversed(tables):
        connection.execute(table.delete())
    for statement in triggers.create_statements(dialect):
        connection.exec_driver_sql(statement)


def _rows(path: Path, table: sa.Table) -> Iterator[dict]:
    decoders = _decoders(table)
    names = {column.name for column in table.columns}
    with path.open("rb") as source:
        for line in source:
            row = json.loads(line)
            if set(row) != names:
                raise BackupError(
                    f"The rows of {table.name} in the archive do not have the columns the code "
                    "expects; was it made by another version?"
                )
            for name, decode in decoders.items():
                if row[name] is not None:
                    row[name] = decode(row[name])
            yield row


def _parents_first(table: sa.Table, rows: list[dict]) -> list[dict]:
    """Order the rows of a table that refers to itself so each comes after the row it names."""
    links = [
        (fk.parent.name, fk.column.name) for fk in table.foreign_keys if fk.column.table is table
    ]
    placed: dict[str, set] = {target: set() for _, target in links}
    ordered, waiting = [], rows
    while waiting:
        ready = [
            row
            for row in waiting
            if all(row[source] is None or row[source] in placed[target] for source, target in links)
        ]
        if not ready:
            raise BackupError(f"The rows of {table.name} refer to each other in a loop.")
        for row in ready:
            for _, target in links:
                placed[target].add(row[target])
        ordered += ready
        ready_ids = {id(row) for row in ready}
        waiting = [row for row in waiting if id(row) not in ready_ids]
    return ordered


def _insert(connection: Connection, table: sa.Table, path: Path) -> int:
    rows = _rows(path, table)
    if any(fk.column.table is table for fk in table.foreign_keys):
        rows = iter(_parents_first(table, list(rows)))
    count = 0
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == BATCH:
            connection.execute(table.insert(), batch)
            count += len(batch)
            batch = []
    if batch:
        connection.execute(table.insert(), batch)
        count += len(batch)
    return count


def _reset_sequences(connection: Connection, tables: list[sa.Table]) -> None:
    """Move each PostgreSQL id sequence past the largest id restored."""
    if connection.dialect.name != "postgresql":
        return  # SQLite takes the next rowid from the rows themselves
    quote = connection.dialect.identifier_preparer.quote
    for table in tables:
        for column in table.primary_key.columns:
            sequence = connection.scalar(
                sa.text("SELECT pg_get_serial_sequence(:table, :column)"),
                {"table": quote(table.name), "column": column.name},
            )
            if sequence:
                following = sa.func.coalesce(sa.func.max(column), 0) + 1
                regclass = sa.cast(sa.literal(sequence), REGCLASS)
                connection.execute(sa.select(sa.func.setval(regclass, following, False)))


def _begin_restore(engine: Engine) -> Connection:
    connection = engine.connect()
    connection.begin()
    if engine.dialect.name == "sqlite":
        # pysqlite would run the trigger DDL of --force outside any transaction: open one first,
        # and take the write lock now rather than halfway.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    return connection


def restore_backup(engine: Engine, store, archive: Path, *, head: str, force: bool = False):
    """Restore every row and file of the archive; return its Summary.

    Refuses, before writing anything, an archive of another schema revision, one whose content
    does not match its manifest, and a target database that is not empty (unless `force`).
    """
    store = _local_store(store)
    archive = Path(archive)
    manifest = read_manifest(archive)
    if manifest["schema_revision"] != head:
        raise BackupError(
            f"The archive was made at schema revision {manifest['schema_revision']}; this code "
            f"is at {head}. Restore it with the code of that revision, then upgrade."
        )
    tables = _tables()
    if set(manifest["tables"]) != {table.name for table in tables}:
        raise BackupError("The archive's tables are not the ones this code knows.")
    with engine.connect() as connection:
        _check_target(connection, tables, head, force)
    summary = verify_archive(archive)

    created: list[str] = []
    with tempfile.TemporaryDirectory(prefix="shiraka-restore-") as scratch:
        connection = _begin_restore(engine)
        try:
            _check_target(connection, tables, head, force)
            _unpack(archive, manifest, Path(scratch), store, created)
            if force:
                empty_tables(connection, tables)
            for table in tables:
                _restore_table(connection, table, Path(scratch) / table.name, manifest)
            _reset_sequences(connection, tables)
            connection.commit()
        except BaseException:
            connection.rollback()
            for key in created:
                store.delete(key)
            raise
        finally:
            connection.close()
    log.info("backup restored: %s", summary.describe())
    return summary


def _restore_table(connection: Connection, table: sa.Table, dump: Path, manifest: dict) -> None:
    try:
        restored = _insert(connection, table, dump)
    except sa.exc.DBAPIError as error:
        reason = str(error.orig).strip().splitlines()[0]
        raise BackupError(
            f"The database refused the rows of {table.name} ({reason}). Nothing was restored."
        ) from error
    if restored != manifest["tables"][table.name]["rows"]:
        raise BackupError(f"{table.name}: {restored} rows restored, not as announced.")


def _unpack(archive: Path, manifest: dict, scratch: Path, store, created: list[str]) -> None:
    """Put the table dumps in `scratch` and the files in the store, checking each hash again
    (the archive could have changed since it was verified). Keys created are added to
    `created`, so that a failed restore can take them back."""
    expected = _expected(manifest)
    present = set(store.keys())
    with _open(archive) as tar:
        for member, content in _members(tar):
            if member.name == MANIFEST:
                continue
            entry = expected.get(member.name)
            if entry is None:
                raise BackupError(f"The archive holds {member.name}, which its manifest omits.")
            if table := _TABLE_MEMBER.fullmatch(member.name):
                digest = hashlib.sha256()
                with (scratch / table.group(1)).open("wb") as out:
                    while chunk := content.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                actual = digest.hexdigest()
            else:
                key = _FILE_MEMBER.fullmatch(member.name).group(1)
                if key not in present:
                    created.append(key)
                actual = store.put(key, content).sha256
            if actual != entry["sha256"]:
                raise BackupError(
                    f"The archive changed during the restore: {member.name} no longer matches "
                    "its manifest. Nothing was restored."
                )
