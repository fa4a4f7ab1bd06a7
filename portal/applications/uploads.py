"""Checking an uploaded document before it is stored: size, type by content, a clean name.

The type is decided by the bytes (libmagic, and for office files the zip's own entries), never
by the file name or the browser's content type. The name is cleaned to be kept as data and sent
back as `download_name`; it is never used as a path (files are stored under a random key).
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

import magic
from flask_babel import lazy_gettext as _l

from portal.calls.models import DOCUMENT_TYPES
from portal.rules import RuleRefused

SNIFF_BYTES = 8 * 1024
CHUNK_SIZE = 64 * 1024
MAX_NAME_LENGTH = 150
MEGABYTE = 1024 * 1024
# An office document is a zip archive. Its entries may expand to at most this much in all, and,
# past a megabyte, to at most this many times their compressed size; beyond either, or with more
# entries than this, the file is a "zip bomb" that would exhaust the memory or the disk of
# whoever opens it. Only the sizes the archive declares are read: nothing is expanded.
MAX_EXPANDED_BYTES = 256 * MEGABYTE
MAX_COMPRESSION_RATIO = 100
MAX_ARCHIVE_ENTRIES = 5_000

CONTENT_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "odt": "application/vnd.oasis.opendocument.text",
    "jpeg": "image/jpeg",
    "png": "image/png",
}
# Extensions each kind may keep; the first is the one given when the name has another.
EXTENSIONS = {
    "pdf": ("pdf",),
    "docx": ("docx",),
    "xlsx": ("xlsx",),
    "odt": ("odt",),
    "jpeg": ("jpg", "jpeg"),
    "png": ("png",),
}
LABELS = {"pdf": "PDF", "docx": "DOCX", "xlsx": "XLSX", "odt": "ODT", "jpeg": "JPEG", "png": "PNG"}

# Kinds libmagic alone decides; zip-based kinds are decided by the archive's entries.
_MAGIC_KINDS = {"application/pdf": "pdf", "image/jpeg": "jpeg", "image/png": "png"}
_ZIP_SIGNATURE = b"PK\x03\x04"
_ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    RuntimeError,  # encrypted entry
    NotImplementedError,  # unsupported compression
    ValueError,
    KeyError,
)

_MARKUP = re.compile(r'[<>:"/\\|?*]')
_SPACES = re.compile(r"\s+")
_EXTENSION = re.compile(r"[A-Za-z0-9]{0,4}[A-Za-z][A-Za-z0-9]{0,4}")
_DROPPED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Cn"}


class UploadRefused(RuleRefused):
    """An upload refused by size or type; the message is shown next to the file field."""

    def __init__(self, message, field: str | None = "file"):
        super().__init__(message, field)


@dataclass(frozen=True)
class CheckedUpload:
    """An accepted upload: its cleaned name, its real content type and its kind code."""

    clean_name: str
    content_type: str
    kind: str


def check_upload(
    filename: str | None, stream: BinaryIO, allowed_types: list[str], max_bytes: int
) -> CheckedUpload:
    """Accept `stream` if it is not empty, at most `max_bytes`, and of an allowed kind.

    `allowed_types` holds kind codes from DOCUMENT_TYPES. The stream must be seekable (a
    Werkzeug FileStorage or its stream); it is left at position 0. Raises UploadRefused.
    """
    unknown = set(allowed_types) - set(DOCUMENT_TYPES)
    if unknown or not allowed_types:
        raise ValueError(f"allowed_types must be a non-empty subset of {DOCUMENT_TYPES}")
    size = stream_size(stream)
    if size == 0:
        raise UploadRefused(_l("The file is empty."))
    if size > max_bytes:
        raise UploadRefused(
            _l("The file is larger than %(limit)s MB.", limit=format_megabytes(max_bytes))
        )
    kind = sniff_kind(stream)
    if kind not in allowed_types:
        accepted = ", ".join(LABELS[code] for code in DOCUMENT_TYPES if code in allowed_types)
        if kind is None:
            message = _l(
                "The file's content is not of an accepted type. Accepted types: %(types)s.",
                types=accepted,
            )
        else:
            message = _l(
                "The file's content is %(kind)s, which is not accepted here. "
                "Accepted types: %(types)s.",
                kind=LABELS[kind],
                types=accepted,
            )
        raise UploadRefused(message)
    return CheckedUpload(
        clean_name=clean_filename(filename, kind),
        content_type=CONTENT_TYPES[kind],
        kind=kind,
    )


def stream_size(stream: BinaryIO) -> int:
    """The stream's length in bytes; leaves it at position 0."""
    stream.seek(0, os.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    return size


def format_megabytes(size: int) -> str:
    """A byte count as megabytes for messages: 10485760 -> "10", 2621440 -> "2.5"."""
    return f"{size / MEGABYTE:.1f}".removesuffix(".0")


def sniff_kind(stream: BinaryIO) -> str | None:
    """The document kind the content is (a DOCUMENT_TYPES code), or None; rewinds the stream."""
    stream.seek(0)
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    mime = magic.from_buffer(head, mime=True)
    if head.startswith(_ZIP_SIGNATURE) or mime == "application/zip":
        return _zip_kind(stream)
    kind = _MAGIC_KINDS.get(mime)
    # libmagic calls a file a PDF when "%PDF-" appears anywhere near its start, so an HTML
    # page carrying it passes; a real PDF begins with it.
    if kind == "pdf" and not head.lstrip().startswith(b"%PDF-"):
        return None
    return kind


def _zip_kind(stream: BinaryIO) -> str | None:
    """docx, xlsx or odt from the archive's entries; None for any other or a broken zip.

    Macro-enabled office files (a vbaProject.bin inside) are refused; an archive that would
    expand to an unreasonable size raises UploadRefused.
    """
    try:
        with zipfile.ZipFile(stream) as archive:
            _refuse_zip_bomb(archive.infolist())
            names = set(archive.namelist())
            if any(name.lower().endswith("vbaproject.bin") for name in names):
                return None
            kinds = set()
            if "[Content_Types].xml" in names:
                if "word/document.xml" in names:
                    kinds.add("docx")
                if "xl/workbook.xml" in names:
                    kinds.add("xlsx")
            if "mimetype" in names and "content.xml" in names:
                entry = archive.getinfo("mimetype")
                # Read a few bytes at most: an entry's declared size may lie about what it holds.
                with archive.open(entry) as mimetype:
                    head = mimetype.read(len(_ODT_MIMETYPE) + 2)
                if entry.file_size <= 100 and head.strip() == _ODT_MIMETYPE:
                    kinds.add("odt")
    except _ZIP_ERRORS:
        return None
    finally:
        stream.seek(0)
    return kinds.pop() if len(kinds) == 1 else None


def _refuse_zip_bomb(entries: list[zipfile.ZipInfo]) -> None:
    """Refuse an archive whose declared entries would expand to an unreasonable size."""
    expanded = sum(entry.file_size for entry in entries)
    compressed = sum(entry.compress_size for entry in entries)
    if (
        len(entries) > MAX_ARCHIVE_ENTRIES
        or expanded > MAX_EXPANDED_BYTES
        or (expanded > MEGABYTE and expanded > MAX_COMPRESSION_RATIO * max(compressed, 1))
    ):
        raise UploadRefused(
            _l("The file's compressed content would expand to an unreasonable size.")
        )


def clean_filename(filename: str | None, kind: str) -> str:
    """A name safe to keep as data and to offer as download_name, ending in the kind's extension.

    Keeps letters of every script (Arabic, Tifinagh ...); drops any directory part, control and
    formatting characters (bidi overrides included), the characters <>:"/\\|?* and leading dots;
    collapses whitespace; at most MAX_NAME_LENGTH characters; "document.<ext>" when nothing is left.
    """
    name = unicodedata.normalize("NFC", filename or "")
    name = "".join(ch for ch in name if unicodedata.category(ch) not in _DROPPED_CATEGORIES)
    name = re.split(r"[/\\]", name)[-1]
    name = _SPACES.sub(" ", _MARKUP.sub("", name)).strip()
    stem, dot, extension = name.rpartition(".")
    if not dot or not _EXTENSION.fullmatch(extension):
        stem, extension = name, ""
    extensions = EXTENSIONS[kind]
    extension = extension.lower() if extension.lower() in extensions else extensions[0]
    stem = stem.strip(" .")[: MAX_NAME_LENGTH - len(extension) - 1].rstrip(" .")
    return f"{stem or 'document'}.{extension}"


def sha256_of(stream: BinaryIO) -> str:
    """The hex sha256 of the whole stream; leaves it at position 0."""
    stream.seek(0)
    digest = hashlib.sha256()
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
    stream.seek(0)
    return digest.hexdigest()
