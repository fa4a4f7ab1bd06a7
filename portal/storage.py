"""Where uploaded files live: one small interface, and a local-directory implementation.

Files are stored under a random key, never under the name the user gave; the name is kept as
data in the database. A shared object store can replace `LocalFileStore` by implementing
`FileStore` and being put in `app.extensions["file_store"]`.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol

from flask import current_app

CHUNK_SIZE = 64 * 1024
FILE_MODE = 0o640
DIRECTORY_MODE = 0o750
_KEY = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True)
class StoredFile:
    """What the store kept: its key, and the sha256 (hex) and size in bytes of the content."""

    key: str
    sha256: str
    size: int


class FileTooLarge(Exception):
    """The stream went past `max_size` bytes; nothing was kept."""

    def __init__(self, max_size: int):
        super().__init__(f"file larger than {max_size} bytes")
        self.max_size = max_size


class InvalidKey(ValueError):
    """A key that the store never hands out (not 32 lowercase hex digits)."""


class FileStore(Protocol):
    def save(self, stream: BinaryIO, *, max_size: int | None = None) -> StoredFile:
        """Keep the stream's content from its current position to its end."""
        ...

    def open(self, key: str) -> BinaryIO:
        """The stored content, opened for binary reading; FileNotFoundError if absent."""
        ...

    def delete(self, key: str) -> None:
        """Forget the content; no error if it is already gone."""
        ...


def check_key(key: str) -> str:
    """Return `key` if it is one the store could have made, else raise InvalidKey."""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidKey(f"invalid storage key: {key!r}")
    return key


class LocalFileStore:
    """Files in one directory, each named by a random 128-bit hex key."""

    def __init__(self, root: Path | str):
        self.root = Path(root)

    def save(self, stream: BinaryIO, *, max_size: int | None = None) -> StoredFile:
        """Stream into a temporary file beside the final one, hashing as it goes, then rename.

        Raises FileTooLarge as soon as more than `max_size` bytes were read, leaving no file.
        """
        return self._write(secrets.token_hex(16), stream, max_size)

    def put(self, key: str, stream: BinaryIO) -> StoredFile:
        """Keep the stream's content under a key given by the caller (a restore from backup)."""
        return self._write(check_key(key), stream, None)

    def keys(self) -> list[str]:
        """Return the key of every stored file, sorted (temporary files are left out)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if _KEY.fullmatch(p.name) and p.is_file())

    def _write(self, key: str, stream: BinaryIO, max_size: int | None) -> StoredFile:
        self.root.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
        descriptor, name = tempfile.mkstemp(dir=self.root, prefix=".upload-", suffix=".part")
        temporary = Path(name)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(descriptor, "wb") as target:
                os.fchmod(target.fileno(), FILE_MODE)
                while chunk := stream.read(CHUNK_SIZE):
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise FileTooLarge(max_size)
                    digest.update(chunk)
                    target.write(chunk)
                target.flush()
                os.fsync(target.fileno())
            temporary.replace(self.root / key)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return StoredFile(key=key, sha256=digest.hexdigest(), size=size)

    def path(self, key: str) -> Path:
        """The file's path on disk (for send_file); the key is checked first."""
        return self.root / check_key(key)

    def open(self, key: str) -> BinaryIO:
        return self.path(key).open("rb")

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)


def file_store() -> FileStore:
    """The current app's store: the one in app.extensions["file_store"], else UPLOAD_DIR."""
    store = current_app.extensions.get("file_store")
    if store is None:
        store = LocalFileStore(Path(current_app.config["UPLOAD_DIR"]))
    return store
