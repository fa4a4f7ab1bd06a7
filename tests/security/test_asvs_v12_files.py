"""Files and resources (OWASP ASVS 4.0.3 V12.1.1-12.1.3, 12.2.1, 12.3.1-12.3.3, 12.5.2,
12.6.1; CHECKLIST S15, S17): polyglots, zip bombs inside office documents, path tricks and
double extensions in names, content types the browser lies about, the number of files a report
and a document take, and how stored files are named and served.

Files are never used as paths nor run: a name is data (12.3.1-12.3.3: no name reaches the file
system, which only sees random keys, and nothing uploaded is ever executed or included), and no
uploaded file is fetched from a URL the user gives (12.6.1: the portal takes no such URL).

Proved elsewhere, and not repeated here (tests/applications/test_uploads.py unless said):
- the type is read from the content: HTML or SVG renamed .pdf/.png, plain text, a zip that is
  not an accepted office document, a macro-enabled one, a FileStorage claiming application/pdf;
- the size: one byte over the document's limit, exactly the limit, the size checked first, an
  empty file; over the portal's 25 MB request limit (tests/applications/test_bad_inputs.py);
- names: ../../x.pdf, ..\\..\\x.pdf, C:\\x\\y.pdf, /etc/passwd, markup, control characters and a
  right-to-left override, hidden and dotted names, Arabic and Tifinagh kept (NFC), 150 characters;
- through the application's upload: the name cleaned and the file stored under a random key, the
  download sent as an attachment with nosniff and a sandboxing CSP
  (tests/applications/test_bad_inputs.py);
- the stored files' keys are checked before any path is built (tests/applications/test_storage.py);
- every URL fetched while drawing a PDF is refused outside static/ (12.6.1, SSRF):
  tests/applications/test_receipts.py::test_receipt_pdf_renderer_reads_only_files_under_static.
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import struct
import time
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select
from werkzeug.datastructures import FileStorage

from portal.applications.models import Attachment
from portal.applications.uploads import (
    MAX_ARCHIVE_ENTRIES,
    MAX_EXPANDED_BYTES,
    MEGABYTE,
    UploadRefused,
    check_upload,
)
from portal.calls.models import DOCUMENT_TYPES
from tests import factories
from tests.applications.test_uploads import CONTENT_TYPES_XML, DOCX, JPEG, PDF, archive, png
from tests.security.conftest import client_as

ALL_TYPES = list(DOCUMENT_TYPES)
LIMIT = 10 * MEGABYTE
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>\n"
# A Windows program and a Linux one: their first bytes are all a type check needs to see.
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 48 + b"PE\x00\x00"
ELF = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00\x01\x00\x00\x00" + b"\x00" * 40
BOMB_MESSAGE = "The file's compressed content would expand to an unreasonable size."
WRONG_TYPE = "The file's content is not of an accepted type. Accepted types: %(types)s."


def check(content: bytes, name: str = "document.pdf", allowed=None, content_type=None):
    upload = FileStorage(io.BytesIO(content), filename=name, content_type=content_type)
    return check_upload(upload.filename, upload.stream, allowed or ALL_TYPES, LIMIT)


def refusal(content: bytes, name: str = "document.pdf", allowed=None, content_type=None):
    with pytest.raises(UploadRefused) as caught:
        check(content, name, allowed, content_type)
    return caught.value


def message_in(locale: str, error) -> str:
    with force_locale(locale):
        return str(error.message)


def expected(locale: str, message: str, **variables) -> str:
    with force_locale(locale):
        return gettext(message, **variables)


def office(extra: dict[str, bytes], *, kind: str = "docx") -> dict[str, bytes]:
    main = {"docx": "word/document.xml", "xlsx": "xl/workbook.xml"}[kind]
    return {
        "[Content_Types].xml": CONTENT_TYPES_XML.encode(),
        "_rels/.rels": b"<Relationships/>",
        main: b"<document/>",
        **extra,
    }


def streamed_zip(entries: dict[str, tuple[bytes, int]]) -> bytes:
    """A zip whose entries are `chunk` repeated `times`, compressed as they are written: a real
    bomb of hundreds of megabytes built without holding them in memory."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for name, (chunk, times) in entries.items():
            with target.open(name, "w", force_zip64=True) as entry:
                for _ in range(times):
                    entry.write(chunk)
    return buffer.getvalue()


# --- polyglots: one file, two readings ------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        pytest.param(PDF + HTML, "pdf", id="pdf-header-html-body"),
        pytest.param(b"%PDF-1.4\n" + HTML + PDF, "pdf", id="pdf-wrapping-html"),
        pytest.param(PDF + DOCX, "pdf", id="pdf-that-is-also-a-zip"),
        pytest.param(JPEG + HTML, "jpeg", id="jpeg-that-is-also-html"),
        pytest.param(png() + HTML, "png", id="png-that-is-also-html"),
    ],
)
def test_a_polyglot_is_only_ever_the_type_its_first_bytes_say(content, kind):
    """ASVS 12.2.1: a file that is two things at once is accepted only as the document type its
    header says, named and served as that type (never as HTML: see the download tests)."""
    checked = check(content, "page.html")

    assert (checked.kind, checked.clean_name) == (kind, f"page.{'jpg' if kind == 'jpeg' else kind}")


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b"GIF89a\x01\x00\x01\x00\x00\x00\x00;" + HTML, id="gif-that-is-also-html"),
        pytest.param(HTML + PDF, id="html-with-a-pdf-after-it"),
        pytest.param(b"\xef\xbb\xbf" + HTML + b"%PDF-1.4", id="html-with-a-byte-order-mark"),
        pytest.param(b"<!-- %PDF-1.4 -->" + HTML, id="html-disguised-by-a-comment"),
        pytest.param(b"<html>%PDF-1.4\n" + HTML, id="html-carrying-a-pdf-header"),
        pytest.param(DOCX[:-22] + HTML, id="zip-whose-directory-is-html"),
    ],
)
def test_a_polyglot_that_opens_as_anything_else_is_refused(app, content):
    """ASVS 12.2.1: HTML dressed with another type's bytes, or a GIF (never accepted), is
    refused with the list of the types accepted."""
    error = refusal(content, "statuts.pdf")

    assert message_in("ar", error) == expected(
        "ar", WRONG_TYPE, types="PDF, DOCX, XLSX, ODT, JPEG, PNG"
    )


# --- zip bombs inside office documents ------------------------------------------------------


def test_an_office_document_expanding_past_the_limit_is_refused_without_being_expanded(app):
    """ASVS 12.1.2: a docx of a few hundred kilobytes whose entry expands to 300 MB is refused
    from the sizes its directory declares: quickly, in little memory, in Arabic and French."""
    bomb = streamed_zip(
        {
            "[Content_Types].xml": (CONTENT_TYPES_XML.encode(), 1),
            "word/document.xml": (b"\0" * MEGABYTE, 300),
        }
    )
    assert len(bomb) < 2 * MEGABYTE and 300 * MEGABYTE > MAX_EXPANDED_BYTES

    tracemalloc.start()
    started = time.perf_counter()
    try:
        error = refusal(bomb, "rapport.docx")
        elapsed = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert error.field == "file"
    for locale in ("ar", "fr"):
        assert message_in(locale, error) == expected(locale, BOMB_MESSAGE)
    assert message_in("ar", error) != BOMB_MESSAGE
    assert peak < 16 * MEGABYTE, peak
    assert elapsed < 5, elapsed


def test_an_office_document_compressed_more_than_a_hundred_times_is_refused(app):
    """ASVS 12.1.2: 20 MB of repeated bytes in 20 kB is a bomb, though under the size limit."""
    bomb = streamed_zip(
        {
            "[Content_Types].xml": (CONTENT_TYPES_XML.encode(), 1),
            "xl/workbook.xml": (b"<workbook/>", 1),
            "xl/worksheets/sheet1.xml": (b"<row/>" * 1024, 20 * 170),
        }
    )

    error = refusal(bomb, "budget.xlsx")

    assert message_in("fr", error) == expected("fr", BOMB_MESSAGE)


def test_an_archive_of_too_many_entries_is_refused(app):
    """ASVS 12.1.2: thousands of empty entries cost the reader without weighing anything."""
    entries = office({f"word/media/{number}.xml": b"" for number in range(MAX_ARCHIVE_ENTRIES)})

    error = refusal(archive(entries), "rapport.docx")

    assert message_in("ar", error) == expected("ar", BOMB_MESSAGE)


def test_a_real_document_with_a_large_photo_is_not_taken_for_a_bomb():
    """A docx holding a 3 MB photo (which does not compress) and a long text is accepted."""
    photo = random.Random(7).randbytes(3 * MEGABYTE)
    text = "فقرة من تقرير الأنشطة السنوي للجمعية. ".encode() * 20_000
    content = archive(
        office({"word/media/photo.jpg": photo, "word/document.xml": text}),
        stored=("word/media/photo.jpg",),
    )

    assert check(content, "rapport.docx").kind == "docx"


def _forged_mimetype_odt(expanded: int) -> bytes:
    """An ODT whose "mimetype" entry says it holds the 39 bytes of the type, but whose deflated
    data goes on to expand to `expanded` bytes: its declared size lies."""
    mimetype = b"application/vnd.oasis.opendocument.text"
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = packer.compress(mimetype)
    for _ in range(expanded // MEGABYTE):
        data += packer.compress(b"\0" * MEGABYTE)
    data += packer.flush()
    crc = zlib.crc32(mimetype)
    name = b"mimetype"
    local = struct.pack(
        "<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(data), len(mimetype), len(name), 0
    )
    rest = archive({"content.xml": "<office:document-content/>", "META-INF/manifest.xml": "<m/>"})
    first = local + name + data
    # Shift the rest's offsets by the forged entry placed before it, and list it first.
    with zipfile.ZipFile(io.BytesIO(rest)) as source:
        entries = source.infolist()
        directory_start = source.start_dir
    central = (
        struct.pack(
            "<4sHHHHHHIIIHHHHHII",
            b"PK\x01\x02",
            20,
            20,
            0,
            8,
            0,
            0,
            crc,
            len(data),
            len(mimetype),
            len(name),
            0,
            0,
            0,
            0,
            0,
            0,
        )
        + name
    )
    others = bytearray(rest[directory_start : rest.rfind(b"PK\x05\x06")])
    position = 0
    for entry in entries:
        start = others.index(b"PK\x01\x02", position)
        offset = struct.unpack_from("<I", others, start + 42)[0]
        struct.pack_into("<I", others, start + 42, offset + len(first))
        position = start + 46 + len(entry.filename)
    directory = central + bytes(others)
    end = struct.pack(
        "<4sHHHHIIH",
        b"PK\x05\x06",
        0,
        0,
        len(entries) + 1,
        len(entries) + 1,
        len(directory),
        len(first) + directory_start,
        0,
    )
    return first + rest[:directory_start] + directory + end


def test_an_entry_that_lies_about_its_size_is_never_expanded(app):
    """ASVS 12.1.2: the type check reads a few bytes of an ODT's "mimetype" entry, whatever it
    says it holds: 64 MB hidden behind a declared 39 bytes are never inflated in memory."""
    forged = _forged_mimetype_odt(64 * MEGABYTE)
    with zipfile.ZipFile(io.BytesIO(forged)) as opened:
        assert opened.getinfo("mimetype").file_size == 39
        with opened.open("mimetype") as entry:
            assert entry.read(39) == b"application/vnd.oasis.opendocument.text"

    tracemalloc.start()
    try:
        with contextlib.suppress(UploadRefused):
            check(forged, "lettre.odt")
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert peak < 16 * MEGABYTE, peak


# --- names: paths, dots, overrides, double extensions ---------------------------------------


@pytest.mark.parametrize(
    ("name", "clean_name"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("/etc/passwd.pdf", "passwd.pdf"),
        ("..\\..\\windows\\win.ini.pdf", "win.ini.pdf"),
        ("\\\\server\\share\\statuts.pdf", "statuts.pdf"),
        ("file:///etc/passwd.pdf", "passwd.pdf"),
        ("statuts.pdf\x00.exe", "statuts.pdf.pdf"),
        ("\x00", "document.pdf"),
        ("\u202eexe.pdf", "exe.pdf"),
        ("\u202efdp.exe", "fdp.pdf"),
        ("..", "document.pdf"),
        (".", "document.pdf"),
        ("....", "document.pdf"),
        (". . .pdf", "document.pdf"),
        ("%2e%2e%2fstatuts.pdf", "%2e%2e%2fstatuts.pdf"),
        ("report.pdf.exe", "report.pdf.pdf"),
        ("report.php.pdf", "report.php.pdf"),
        ("report.html.pdf", "report.html.pdf"),
        ("report.pdf;.html", "report.pdf;.pdf"),
        ("report.pdf%00.html", "report.pdf%00.pdf"),
        ("report.PdF", "report.pdf"),
    ],
)
def test_a_name_never_holds_a_path_an_override_or_a_misleading_extension(name, clean_name):
    """ASVS 12.3.1, 12.3.2: the name kept (and offered on download) has no directory part, no
    control or override character, and ends with the extension of the content's real type."""
    assert check(PDF, name).clean_name == clean_name


@pytest.mark.parametrize(
    ("content", "name"),
    [
        pytest.param(HTML, "report.html.pdf", id="html-named-html-pdf"),
        pytest.param(HTML, "report.pdf", id="html-named-pdf"),
        pytest.param(EXE, "report.pdf.exe", id="exe-named-pdf-exe"),
        pytest.param(EXE, "report.pdf", id="exe-named-pdf"),
        pytest.param(ELF, "report.pdf", id="elf-named-pdf"),
        pytest.param(b"<?php system($_GET['c']); ?>", "report.php.pdf", id="php-named-pdf"),
    ],
)
@pytest.mark.parametrize("claimed", ["application/pdf", "image/png", None])
def test_content_the_browser_calls_a_pdf_is_refused_when_it_is_not_one(app, content, name, claimed):
    """ASVS 12.2.1: whatever type the browser claims and whatever the name, HTML, a Windows or
    Linux program or a script is refused by its content."""
    error = refusal(content, name, content_type=claimed)

    assert message_in("fr", error) == expected(
        "fr", WRONG_TYPE, types="PDF, DOCX, XLSX, ODT, JPEG, PNG"
    )


# --- through the portal: stored under a random key, served as an inert attachment -----------


def upload(client, application, content: bytes, name: str, content_type="application/pdf"):
    document = application.call.documents[0]
    return client.post(
        f"/applications/{application.id}/documents/{document.id}",
        data={"file": (io.BytesIO(content), name, content_type)},
        content_type="multipart/form-data",
    )


def stored_files(app) -> list[Path]:
    root = Path(app.config["UPLOAD_DIR"])
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


def test_the_disk_name_is_random_whatever_the_name_sent(app, draft, session):
    """ASVS 12.3.1, 12.5.1: the same path-like name sent twice is stored under two random keys,
    in the upload folder itself, and kept as data only."""
    client, application = draft
    name = "../../../etc/cron.d/statuts.pdf"

    for _ in range(2):
        assert upload(client, application, PDF, name).status_code == 303

    attachments = list(session.scalars(select(Attachment).order_by(Attachment.id)))
    keys = [attachment.storage_key for attachment in attachments]
    assert len(set(keys)) == 2
    assert all(re.fullmatch(r"[0-9a-f]{32}", key) for key in keys)
    assert {attachment.original_name for attachment in attachments} == {"statuts.pdf"}
    root = Path(app.config["UPLOAD_DIR"]).resolve()
    assert stored_files(app) == sorted(root / key for key in keys)


def test_a_polyglot_uploaded_as_html_is_served_as_an_inert_pdf_attachment(app, draft, session):
    """ASVS 12.2.1, 12.5.2, 14.4.2: a PDF with HTML after its header, sent as text/html under a
    .html name, is stored as a PDF and served only as a download, never rendered as a page."""
    client, application = draft

    assert upload(client, application, PDF + HTML, "page.html", "text/html").status_code == 303
    attachment = session.scalar(select(Attachment))
    response = client.get(f"/applications/{application.id}/attachments/{attachment.id}")

    assert (attachment.original_name, attachment.content_type) == ("page.pdf", "application/pdf")
    assert response.mimetype == "application/pdf"
    assert_inert_download(response)
    assert re.search(r'filename="?page\.pdf"?$', response.headers["Content-Disposition"])


def test_an_arabic_name_is_offered_encoded_and_cannot_break_the_header(app, draft, session):
    """ASVS 12.5.2: an Arabic name is offered as RFC 6266 filename* with an ASCII fallback; a
    stored name holding a quote and a semicolon (never made by the upload, which drops quotes
    and line breaks, but data all the same) stays one value: it cannot name another file."""
    from werkzeug.http import parse_options_header

    client, application = draft
    assert upload(client, application, PDF, "النظام الأساسي.pdf").status_code == 303
    attachment = session.scalar(select(Attachment))
    url = f"/applications/{application.id}/attachments/{attachment.id}"

    arabic = client.get(url).headers["Content-Disposition"]
    attachment.original_name = 'a"; filename=evil.exe; x=".pdf'
    session.commit()
    hostile = client.get(url).headers["Content-Disposition"]

    assert "filename*=UTF-8''%D8%A7%D9%84%D9%86%D8%B8%D8%A7%D9%85" in arabic
    kind, options = parse_options_header(hostile)
    assert (kind, options["filename"]) == ("attachment", 'a"; filename=evil.exe; x=".pdf')


@pytest.mark.parametrize(
    ("content", "name", "claimed"),
    [
        pytest.param(HTML, "statuts.pdf", "application/pdf", id="html"),
        pytest.param(EXE, "statuts.pdf", "application/pdf", id="exe"),
        pytest.param(ELF, "statuts.pdf", "application/pdf", id="elf"),
        pytest.param(
            streamed_zip(
                {
                    "[Content_Types].xml": (b"<Types/>", 1),
                    "word/document.xml": (b"\0" * MEGABYTE, 20),
                }
            ),
            "statuts.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            id="zip-bomb",
        ),
    ],
)
def test_a_lying_upload_is_refused_beside_the_field_and_leaves_no_file(
    app, draft, session, content, name, claimed
):
    """ASVS 12.1.2, 12.2.1: through the real form, refused with 422 and its message; no row, no
    file left in the upload folder (temporary ones included)."""
    client, application = draft
    document = application.call.documents[0]
    document.allowed_types = ["pdf", "docx"]
    session.commit()

    response = upload(client, application, content, name, claimed)

    assert response.status_code == 422
    assert session.scalar(select(Attachment)) is None
    assert stored_files(app) == []


# --- every route that sends an uploaded file ------------------------------------------------


def assert_inert_download(response) -> None:
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    csp = response.headers["Content-Security-Policy"]
    assert "sandbox" in csp and "default-src 'none'" in csp, csp


def test_every_route_sending_an_uploaded_file_sends_an_inert_attachment(app, world, login_as):
    """ASVS 12.5.2, 14.4.2 (CHECKLIST S15, S17): the application's documents (to its members
    and to its evaluator), a report's files and the committee's minutes are each sent as an
    attachment, with nosniff and a sandboxing CSP."""
    application = world.application
    attachment = application.attachments[0]
    funding = world.funding
    call = factories.closed_call()
    staff, _user = login_as("staff")
    minutes = staff.post(
        f"/staff/calls/{call.id}/committee/minutes",
        data={"minutes": (io.BytesIO(PDF), "pv.pdf")},
        content_type="multipart/form-data",
    )
    assert minutes.status_code == 303

    downloads = {
        "applications.download": client_as(app, world.users["member_a"]).get(
            f"/applications/{application.id}/attachments/{attachment.id}"
        ),
        "review.review_document": client_as(app, world.users["evaluator"]).get(
            f"/reviews/{world.review.id}/documents/{attachment.id}"
        ),
        "actions.report_file": client_as(app, world.users["member_a"]).get(
            f"/actions/{funding.action.id}/reports/{funding.report.id}"
            f"/files/{funding.report_file.id}"
        ),
        "results.minutes": staff.get(f"/staff/calls/{call.id}/committee/minutes"),
    }

    for endpoint, response in downloads.items():
        assert response.status_code == 200, endpoint
        assert_inert_download(response)


def test_a_report_takes_twenty_files_and_refuses_the_next_leaving_nothing_on_disk(app, login_as):
    """ASVS 12.1.3: the number of files an association may send with a report is capped; the
    file over the cap is refused beside the file field and not kept."""
    from portal.actions.models import ReportAttachment
    from portal.actions.reports import MAX_ATTACHMENTS
    from portal.extensions import db
    from tests.actions.support import action_with_indicators, due_report
    from tests.conftest import shown

    client, user = login_as("applicant")
    action = action_with_indicators(factories.AssociationFactory(owner=user))
    report = due_report(action)
    url = f"/actions/{action.id}/reports/{report.id}/files"

    def send(number: int):
        return client.post(
            url,
            data={"file": (io.BytesIO(PDF), f"facture-{number}.pdf")},
            content_type="multipart/form-data",
        )

    assert all(send(number).status_code == 303 for number in range(MAX_ATTACHMENTS))
    files = stored_files(app)
    refused = send(MAX_ATTACHMENTS)

    assert refused.status_code == 422
    assert shown("At most %(n)d files per report.", n=MAX_ATTACHMENTS) in refused.text
    assert len(files) == MAX_ATTACHMENTS and stored_files(app) == files
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ReportAttachment)) == MAX_ATTACHMENTS


def test_a_document_keeps_twenty_files_and_refuses_the_next_leaving_the_current_one(
    app, draft, session
):
    """ASVS 12.1.3: replacing a document keeps the earlier files as history, up to a cap per
    document; the file over the cap is refused beside the field, not kept, and the current file
    stays the one sent last."""
    from portal.applications.services import MAX_FILES_PER_DOCUMENT
    from tests.conftest import shown

    client, application = draft
    sent = [upload(client, application, PDF, f"statuts-{n}.pdf") for n in range(20)]
    assert MAX_FILES_PER_DOCUMENT == 20
    assert all(response.status_code == 303 for response in sent)
    files = stored_files(app)

    refused = upload(client, application, PDF, "statuts-21.pdf")

    assert refused.status_code == 422
    message = shown(
        "This document has been sent %(n)d times, the most one application keeps. "
        "Write to the programme's staff if it must change again.",
        n=MAX_FILES_PER_DOCUMENT,
    )
    assert message in refused.text
    assert len(files) == MAX_FILES_PER_DOCUMENT and stored_files(app) == files
    session.expire_all()
    current = session.scalars(select(Attachment).where(Attachment.replaced_at.is_(None))).all()
    assert [attachment.original_name for attachment in current] == ["statuts-19.pdf"]
    assert session.scalar(select(func.count()).select_from(Attachment)) == 20
