"""Checking uploaded documents: type by content, size limits, cleaned names (CHECKLIST S17)."""

from __future__ import annotations

import hashlib
import io
import struct
import tempfile
import zipfile
import zlib

import pytest
from flask_babel import force_locale, gettext
from werkzeug.datastructures import FileStorage

from portal.applications.uploads import (
    CONTENT_TYPES,
    MAX_NAME_LENGTH,
    CheckedUpload,
    UploadRefused,
    check_upload,
    clean_filename,
    sha256_of,
)
from portal.calls.models import DOCUMENT_TYPES
from portal.rules import RuleRefused

ALL_TYPES = list(DOCUMENT_TYPES)
LIMIT = 10 * 1024 * 1024

PDF = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n"
# A JPEG's start-of-image and JFIF header, then end-of-image.
JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
HTML = b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n"
SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script></svg>\n"
)


def png() -> bytes:
    """A 1x1 RGB PNG: signature, IHDR, IDAT and IEND chunks with their CRCs."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xc8\x1e\x1e")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def archive(entries: dict[str, str | bytes], *, stored: tuple[str, ...] = ()) -> bytes:
    """A zip with these entries, in this order; names in `stored` are not compressed."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in entries.items():
            method = zipfile.ZIP_STORED if name in stored else zipfile.ZIP_DEFLATED
            target.writestr(name, data, compress_type=method)
    return buffer.getvalue()


CONTENT_TYPES_XML = '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/"/>'
DOCX = archive(
    {
        "[Content_Types].xml": CONTENT_TYPES_XML,
        "_rels/.rels": "<Relationships/>",
        "word/document.xml": "<w:document/>",
    }
)
XLSX = archive(
    {
        "[Content_Types].xml": CONTENT_TYPES_XML,
        "_rels/.rels": "<Relationships/>",
        "xl/workbook.xml": "<workbook/>",
        "xl/worksheets/sheet1.xml": "<worksheet/>",
    }
)
ODT = archive(
    {
        "mimetype": "application/vnd.oasis.opendocument.text",
        "content.xml": "<office:document-content/>",
        "META-INF/manifest.xml": "<manifest:manifest/>",
    },
    stored=("mimetype",),
)
FILES = {"pdf": PDF, "docx": DOCX, "xlsx": XLSX, "odt": ODT, "jpeg": JPEG, "png": png()}


def check(content: bytes, name: str | None = "document.pdf", allowed=None, limit: int = LIMIT):
    return check_upload(name, io.BytesIO(content), ALL_TYPES if allowed is None else allowed, limit)


def refusal(content: bytes, name: str | None = "document.pdf", allowed=None, limit: int = LIMIT):
    with pytest.raises(UploadRefused) as caught:
        check(content, name, allowed, limit)
    return caught.value


def message_in(locale: str, error: RuleRefused) -> str:
    with force_locale(locale):
        return str(error.message)


def wrong_type_message(locale: str, accepted: str) -> str:
    with force_locale(locale):
        return gettext(
            "The file's content is not of an accepted type. Accepted types: %(types)s.",
            types=accepted,
        )


# --- type decided by content ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["statuts.pdf", "النظام الأساسي.pdf", "photo.png", "page.html"])
def test_html_file_is_refused_whatever_its_name(app, name):
    """ASVS 12.2.1; CHECKLIST S17: an HTML page renamed .pdf is refused by its content."""
    error = refusal(HTML, name)

    assert error.field == "file"
    for locale in ("ar", "fr"):
        expected = wrong_type_message(locale, "PDF, DOCX, XLSX, ODT, JPEG, PNG")
        assert message_in(locale, error) == expected


@pytest.mark.parametrize("name", ["rapport.pdf", "logo.png", "photo.jpg", "dessin.svg"])
def test_svg_with_script_is_refused_whatever_its_name(app, name):
    """ASVS 12.2.1; CHECKLIST S17: an SVG carrying a script is refused, even named .pdf or .png."""
    error = refusal(SVG, name)

    assert message_in("ar", error) == wrong_type_message("ar", "PDF, DOCX, XLSX, ODT, JPEG, PNG")


def test_browser_content_type_claim_is_ignored(app):
    """ASVS 12.2.1; CHECKLIST S17: a FileStorage claiming application/pdf for HTML is refused."""
    upload = FileStorage(io.BytesIO(HTML), filename="statuts.pdf", content_type="application/pdf")

    with pytest.raises(UploadRefused):
        check_upload(upload.filename, upload.stream, ["pdf"], LIMIT)


@pytest.mark.parametrize(
    ("kind", "name", "clean_name"),
    [
        ("pdf", "statuts.pdf", "statuts.pdf"),
        ("docx", "rapport d'activité.docx", "rapport d'activité.docx"),
        ("xlsx", "rapport financier.xlsx", "rapport financier.xlsx"),
        ("odt", "procès-verbal.odt", "procès-verbal.odt"),
        ("jpeg", "attestation.jpeg", "attestation.jpeg"),
        ("png", "attestation.png", "attestation.png"),
    ],
)
def test_each_document_type_is_accepted_by_its_content(kind, name, clean_name):
    """ASVS 12.2.1; CHECKLIST S17: real PDF, DOCX, XLSX, ODT, JPEG and PNG content is accepted."""
    checked = check(FILES[kind], name)

    assert checked == CheckedUpload(clean_name, CONTENT_TYPES[kind], kind)


@pytest.mark.parametrize("kind", ["docx", "xlsx", "odt"])
def test_office_document_with_no_name_gets_its_kind_from_the_archive(kind):
    """CHECKLIST S17: zip-based documents are told apart by their entries, not their name."""
    checked = check(FILES[kind], name="upload")

    assert (checked.kind, checked.clean_name) == (kind, f"upload.{kind}")


def test_docx_is_recognised_whatever_the_order_of_its_entries():
    """CHECKLIST S17: a docx whose [Content_Types].xml is not the first entry is still a docx."""
    content = archive({"word/document.xml": "<w:document/>", "[Content_Types].xml": "<Types/>"})

    assert check(content, "lettre.docx").kind == "docx"


@pytest.mark.parametrize(
    "content",
    [
        archive({"notes.txt": "hello"}),
        archive({"word/document.xml": "<w:document/>"}),
        archive({"mimetype": "application/zip", "content.xml": "<x/>"}, stored=("mimetype",)),
        archive(
            {
                "[Content_Types].xml": "<Types/>",
                "word/document.xml": "<w:document/>",
                "word/vbaProject.bin": b"\x00macro",
            }
        ),
        archive(
            {
                "[Content_Types].xml": "<Types/>",
                "word/document.xml": "<w:document/>",
                "xl/workbook.xml": "<workbook/>",
            }
        ),
        b"PK\x03\x04" + b"\x00" * 200,
    ],
    ids=[
        "plain-zip",
        "no-content-types",
        "other-opendocument",
        "macro-enabled",
        "both-word-and-excel",
        "broken-zip",
    ],
)
def test_zip_that_is_not_an_accepted_office_document_is_refused(app, content):
    """ASVS 12.2.1; CHECKLIST S17: a zip is accepted only as a docx, xlsx or odt without macros."""
    error = refusal(content, "rapport.docx")

    assert message_in("fr", error) == wrong_type_message("fr", "PDF, DOCX, XLSX, ODT, JPEG, PNG")


def test_pdf_named_docx_is_accepted_as_pdf_with_its_extension_rewritten():
    """CHECKLIST S17: the content decides; the name's extension is made to match it."""
    checked = check(PDF, "rapport.docx", allowed=["pdf", "docx"])

    assert checked == CheckedUpload("rapport.pdf", "application/pdf", "pdf")


def test_pdf_named_docx_is_refused_where_only_docx_is_allowed(app):
    """ASVS 12.2.1; CHECKLIST S17: a PDF is refused where the call asks for DOCX, and says so."""
    error = refusal(PDF, "rapport.docx", allowed=["docx"])

    for locale in ("ar", "fr"):
        with force_locale(locale):
            expected = gettext(
                "The file's content is %(kind)s, which is not accepted here. "
                "Accepted types: %(types)s.",
                kind="PDF",
                types="DOCX",
            )
        assert message_in(locale, error) == expected


def test_accepted_types_in_the_message_are_those_of_the_document(app):
    """CHECKLIST S17: the refusal lists only the types this document accepts."""
    error = refusal(HTML, allowed=["png", "pdf"])

    assert message_in("fr", error) == wrong_type_message("fr", "PDF, PNG")


def test_plain_text_is_refused(app):
    """ASVS 12.2.1: text that is not a document is refused."""
    error = refusal(b"Statuts de l'association\n", "statuts.pdf")

    assert message_in("ar", error) == wrong_type_message("ar", "PDF, DOCX, XLSX, ODT, JPEG, PNG")


def test_unknown_allowed_type_is_a_programming_error():
    """A document type outside DOCUMENT_TYPES, or none at all, is a bug, not a user error."""
    with pytest.raises(ValueError, match="allowed_types"):
        check(PDF, allowed=["pdf", "exe"])
    with pytest.raises(ValueError, match="allowed_types"):
        check(PDF, allowed=[])


def test_every_document_type_has_a_content_type():
    assert set(CONTENT_TYPES) == set(DOCUMENT_TYPES)


# --- sizes ----------------------------------------------------------------------------------


def test_file_one_byte_over_the_limit_is_refused_with_the_limit_in_megabytes(app):
    """ASVS 12.1.1; CHECKLIST S17: one byte over the document's limit is refused."""
    limit = 2 * 1024 * 1024
    content = PDF + b"%" * (limit + 1 - len(PDF))

    error = refusal(content, limit=limit)

    assert error.field == "file"
    for locale in ("ar", "fr"):
        with force_locale(locale):
            expected = gettext("The file is larger than %(limit)s MB.", limit="2")
        assert message_in(locale, error) == expected


def test_file_of_exactly_the_limit_is_accepted():
    """ASVS 12.1.1; CHECKLIST S17: the limit itself is allowed."""
    limit = 2 * 1024 * 1024
    content = PDF + b"%" * (limit - len(PDF))

    assert check(content, limit=limit).kind == "pdf"


def test_size_limit_is_checked_before_the_content(app):
    """ASVS 12.1.1: an oversized file is refused for its size even if its type is wrong too."""
    error = refusal(HTML + b" " * 3 * 1024 * 1024, limit=int(2.5 * 1024 * 1024))

    with force_locale("fr"):
        expected = gettext("The file is larger than %(limit)s MB.", limit="2.5")
    assert message_in("fr", error) == expected


def test_empty_file_is_refused(app):
    """ASVS 12.1.1; CHECKLIST S17: an empty file is refused with a clear message."""
    error = refusal(b"", "statuts.pdf")

    for locale in ("ar", "fr"):
        with force_locale(locale):
            expected = gettext("The file is empty.")
        assert message_in(locale, error) == expected


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "clean_name"),
    [
        ("../../x.pdf", "x.pdf"),
        ("..\\..\\x.pdf", "x.pdf"),
        ("C:\\x\\y.pdf", "y.pdf"),
        ("/etc/passwd", "passwd.pdf"),
        ("<script>.pdf", "script.pdf"),
        ('<img src=x onerror="alert(1)">.pdf', "img src=x onerror=alert(1).pdf"),
        ('a:b"c|d?e*f.pdf', "abcdef.pdf"),
        ("النظام الأساسي.pdf", "النظام الأساسي.pdf"),
        ("ⵜⴰⵎⴰⵡⴰⵙⵜ.pdf", "ⵜⴰⵎⴰⵡⴰⵙⵜ.pdf"),
        ("Procès-verbal de l'AG 2025.pdf", "Procès-verbal de l'AG 2025.pdf"),
        (".hidden.pdf", "hidden.pdf"),
        ("...pdf", "document.pdf"),
        ("  rapport \t\n  final  .pdf", "rapport final.pdf"),
        ("rap\x00port\x1b.pdf", "rapport.pdf"),
        ("facture\u202efdp.exe", "facturefdp.pdf"),
        ("statuts.PDF", "statuts.pdf"),
        ("statuts", "statuts.pdf"),
        ("statuts v1.2", "statuts v1.2.pdf"),
        ("statuts.exe", "statuts.pdf"),
        ("statuts.pdf.exe", "statuts.pdf.pdf"),
        ("", "document.pdf"),
        (None, "document.pdf"),
        ("../", "document.pdf"),
        ("<>.pdf", "document.pdf"),
    ],
)
def test_file_name_is_cleaned_and_kept_as_data(name, clean_name):
    """ASVS 12.3.1; CHECKLIST S17: paths and markup are dropped; Arabic and Tifinagh are kept."""
    assert check(PDF, name).clean_name == clean_name


def test_arabic_name_is_kept_in_composed_form():
    """CHECKLIST S17: a decomposed name (as some systems send it) is kept, composed (NFC)."""
    decomposed = "e\u0301tat des lieux.pdf"

    assert check(PDF, decomposed).clean_name == "\u00e9tat des lieux.pdf"


@pytest.mark.parametrize(
    ("kind", "name", "clean_name"),
    [
        ("jpeg", "photo.JPG", "photo.jpg"),
        ("jpeg", "photo.png", "photo.jpg"),
        ("png", "photo.jpg", "photo.png"),
        ("docx", "budget.xlsx", "budget.docx"),
        ("xlsx", "budget.ods", "budget.xlsx"),
        ("odt", "lettre.docx", "lettre.odt"),
    ],
)
def test_extension_follows_the_content(kind, name, clean_name):
    """CHECKLIST S17: the extension offered on download is that of the real type."""
    assert check(FILES[kind], name).clean_name == clean_name


def test_long_name_is_cut_to_150_characters_keeping_the_extension():
    """CHECKLIST S17: a very long Arabic name is shortened, its extension kept."""
    name = "تقرير الأنشطة السنوي " * 20 + ".pdf"

    clean_name = check(PDF, name).clean_name

    stem = clean_name.removesuffix(".pdf")
    assert MAX_NAME_LENGTH - 5 <= len(clean_name) <= MAX_NAME_LENGTH
    assert clean_name.endswith(".pdf")
    assert name.startswith(stem)
    assert stem == stem.strip()


def test_clean_filename_alone_gives_the_kind_default_extension():
    assert clean_filename("صورة", "jpeg") == "صورة.jpg"


# --- streams --------------------------------------------------------------------------------


def test_stream_is_left_at_the_start_after_checking():
    """The caller stores the stream right after the check: nothing must be skipped."""
    stream = io.BytesIO(DOCX)
    stream.seek(17)

    check_upload("rapport.docx", stream, ["docx"], LIMIT)

    assert stream.tell() == 0


def test_spooled_stream_from_a_large_form_upload_is_checked():
    """Werkzeug spools large uploads to a temporary file; those streams are checked the same."""
    with tempfile.SpooledTemporaryFile(max_size=64) as stream:
        stream.write(XLSX)
        stream.seek(0)
        upload = FileStorage(stream, filename="budget.xlsx")

        checked = check_upload(upload.filename, upload.stream, ["xlsx"], LIMIT)

    assert checked.kind == "xlsx"


def test_sha256_of_matches_hashlib_and_rewinds():
    content = PDF + b"%" * 200_000
    stream = io.BytesIO(content)
    stream.seek(10)

    assert sha256_of(stream) == hashlib.sha256(content).hexdigest()
    assert stream.tell() == 0


def test_upload_refused_is_a_rule_refusal_on_the_file_field():
    error = UploadRefused("message")

    assert isinstance(error, RuleRefused)
    assert error.field == "file"
