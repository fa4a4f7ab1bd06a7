"""Reading the PDFs the portal draws, with poppler's tools, as a person's PDF reader would."""

from __future__ import annotations

import subprocess
import unicodedata

# pdftotext marks right-to-left runs with embedding controls (U+202B ... U+202C): they are not
# part of the text and are removed. The Arabic comes out in logical (reading) order, so a name is
# searched as it is. (pdftotext may insert a space where two Arabic letters do not join, e.g.
# "مشاريع" can read "مشار يع": compare `squeezed` texts when that matters.)
BIDI_CONTROLS = dict.fromkeys(
    map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
)


def _run(tool: list[str], tmp_path, pdf: bytes, name: str, *after: str) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    command = [*tool, str(path), *after]
    return subprocess.run(command, check=True, capture_output=True, text=True).stdout


def pdf_text(tmp_path, pdf: bytes, name: str) -> str:
    """Return the PDF's text in reading order, laid out as on the page."""
    text = _run(["pdftotext", "-layout", "-enc", "UTF-8"], tmp_path, pdf, name, "-")
    return unicodedata.normalize("NFC", text).translate(BIDI_CONTROLS)


def pdf_info(tmp_path, pdf: bytes, name: str) -> str:
    """Return pdfinfo's account of the document (title, author, producer, pages)."""
    return _run(["pdfinfo"], tmp_path, pdf, f"{name}-info")


def pdf_fonts(tmp_path, pdf: bytes, name: str) -> list[list[str]]:
    """Return pdffonts' table: one row of columns per font."""
    lines = _run(["pdffonts"], tmp_path, pdf, f"{name}-fonts").splitlines()
    return [line.split() for line in lines[2:]]


def squeezed(text: str) -> str:
    return "".join(text.split())
