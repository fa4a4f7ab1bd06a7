"""Storing uploaded files by random key, with their sha256 and size (CHECKLIST S17)."""

from __future__ import annotations

import hashlib
import io
import re
import stat
from pathlib import Path

import pytest

from portal.storage import (
    CHUNK_SIZE,
    FileTooLarge,
    InvalidKey,
    LocalFileStore,
    StoredFile,
    file_store,
)

CONTENT = "النظام الأساسي للجمعية\n".encode() * 10_000


class CountingStream(io.RawIOBase):
    """A non-seekable stream of `size` bytes that records how much was read from it."""

    def __init__(self, size: int, fail_after: int | None = None):
        self.remaining = size
        self.read_so_far = 0
        self.fail_after = fail_after

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        if self.fail_after is not None and self.read_so_far >= self.fail_after:
            raise ConnectionResetError("client went away")
        size = self.remaining if size < 0 else min(size, self.remaining)
        self.remaining -= size
        self.read_so_far += size
        return b"x" * size


def files_in(root: Path) -> list[Path]:
    return sorted(root.iterdir()) if root.exists() else []


@pytest.fixture
def store(tmp_path):
    return LocalFileStore(tmp_path / "uploads")


def test_file_is_stored_under_a_random_hex_key_not_its_name(store):
    """ASVS 12.3.1, 12.4.1; CHECKLIST S17: the stored file's name is a random key."""
    first = store.save(io.BytesIO(CONTENT))
    second = store.save(io.BytesIO(CONTENT))

    assert re.fullmatch(r"[0-9a-f]{32}", first.key)
    assert first.key != second.key
    assert files_in(store.root) == sorted([store.root / first.key, store.root / second.key])
    with store.open(first.key) as stored:
        assert stored.read() == CONTENT


def test_sha256_and_size_are_those_of_the_bytes(store):
    """CHECKLIST S17: the sha256 given for the receipt is that of the stored bytes."""
    stored = store.save(io.BytesIO(CONTENT))

    assert stored == StoredFile(stored.key, hashlib.sha256(CONTENT).hexdigest(), len(CONTENT))
    assert hashlib.sha256(store.path(stored.key).read_bytes()).hexdigest() == stored.sha256


def test_save_reads_from_the_current_position(store):
    stream = io.BytesIO(b"skip" + CONTENT)
    stream.seek(4)

    stored = store.save(stream)

    assert stored.size == len(CONTENT)
    assert store.path(stored.key).read_bytes() == CONTENT


def test_stored_file_is_readable_by_owner_and_group_only(store):
    """ASVS 12.4.1: stored files have limited permissions (0640), whatever the umask."""
    stored = store.save(io.BytesIO(CONTENT))

    assert stat.S_IMODE(store.path(stored.key).stat().st_mode) == 0o640


def test_stream_over_the_limit_is_refused_as_it_comes_and_leaves_no_file(store):
    """ASVS 12.1.1; CHECKLIST S17: one byte over max_size stops the copy and keeps nothing."""
    limit = 1024 * 1024
    stream = CountingStream(50 * limit)

    with pytest.raises(FileTooLarge) as caught:
        store.save(stream, max_size=limit)

    assert caught.value.max_size == limit
    assert stream.read_so_far <= limit + CHUNK_SIZE
    assert files_in(store.root) == []


def test_stream_one_byte_over_the_limit_is_refused(store):
    """CHECKLIST S17: the limit is exact."""
    with pytest.raises(FileTooLarge):
        store.save(CountingStream(1000 + 1), max_size=1000)

    assert files_in(store.root) == []


def test_stream_of_exactly_the_limit_is_kept(store):
    stored = store.save(CountingStream(1000), max_size=1000)

    assert stored.size == 1000
    assert files_in(store.root) == [store.root / stored.key]


def test_upload_broken_off_midway_leaves_no_file(store):
    """A client that disconnects during the copy leaves no partial file behind."""
    with pytest.raises(ConnectionResetError):
        store.save(CountingStream(10 * CHUNK_SIZE, fail_after=3 * CHUNK_SIZE))

    assert files_in(store.root) == []


@pytest.mark.parametrize(
    "key",
    [
        "../x",
        "../../etc/passwd",
        "/etc/passwd",
        "0123456789abcdef0123456789abcdef/../../x",
        "0123456789ABCDEF0123456789ABCDEF",
        "0123456789abcdef0123456789abcdeg",
        "0123456789abcdef0123456789abcde",
        "0123456789abcdef0123456789abcdef0",
        "0123456789abcdef0123456789abcdef\n",
        "0123456789abcdef\x000123456789abcdef",
        "",
        "statuts.pdf",
    ],
)
def test_keys_the_store_never_makes_are_refused(store, key):
    """ASVS 12.3.1; CHECKLIST S17: open, path and delete accept only 32 lowercase hex digits."""
    outside = store.root.parent / "x"
    outside.write_bytes(b"secret")

    with pytest.raises(InvalidKey):
        store.open(key)
    with pytest.raises(InvalidKey):
        store.path(key)
    with pytest.raises(InvalidKey):
        store.delete(key)
    assert outside.exists()


def test_opening_a_key_that_was_never_stored_raises_file_not_found(store):
    with pytest.raises(FileNotFoundError):
        store.open("0123456789abcdef0123456789abcdef")


def test_delete_removes_the_file_and_may_be_repeated(store):
    stored = store.save(io.BytesIO(CONTENT))

    store.delete(stored.key)
    store.delete(stored.key)

    assert files_in(store.root) == []


def test_file_store_writes_to_the_configured_upload_directory(app):
    """ASVS 12.4.1: files go to UPLOAD_DIR (instance/uploads by default), outside static/."""
    store = file_store()
    stored = store.save(io.BytesIO(CONTENT))

    upload_dir = Path(app.config["UPLOAD_DIR"])
    assert isinstance(store, LocalFileStore)
    assert (upload_dir / stored.key).read_bytes() == CONTENT


def test_file_store_can_be_replaced_by_another_implementation(app, tmp_path):
    """A shared object store replaces the local one through app.extensions["file_store"]."""
    other = LocalFileStore(tmp_path / "elsewhere")
    app.extensions["file_store"] = other

    assert file_store() is other
