"""Submission receipts: reference, content fingerprint, HMAC signature, public check, PDF.

ASVS 4.0.3 V6.2 (approved algorithms: HMAC-SHA256 with the server's key), V6.4.1 (the key is a
setting, never in code), V11.1.4 (the public check is rate-limited).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import re
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask_babel import force_locale, format_date, gettext
from sqlalchemy import update

from portal.applications.models import Application, Submission
from portal.applications.receipts import (
    canonical_json,
    content_digest,
    receipt_key,
    receipt_reference,
    render_receipt_pdf,
    seal_receipt,
    sign_receipt,
    verify_receipt,
)
from portal.calls.models import Call, RequiredDocument
from portal.pdf import static_only_fetcher
from portal.web.errors import error_title
from tests import factories
from tests.pdf import pdf_fonts, pdf_text, squeezed

NAME_AR = "جمعية الأمل لحقوق الإنسان"
NAME_FR = "Association Espoir pour les droits humains ⵜⴰⵎⴰⵢⵏⵓⵜ"  # Tifinagh too (CHECKLIST R15)
# 5 March 2026 falls in Ramadan 2026: Morocco is on UTC+00:00. 20 May 2026 is on UTC+01:00.
IN_RAMADAN = datetime(2026, 3, 5, 14, 7, 9, 123456, tzinfo=UTC)
OUTSIDE_RAMADAN = datetime(2026, 5, 20, 10, 0, 0, tzinfo=UTC)
CONTENT = {
    "title_ar": "تعزيز قدرات الجمعيات في مجال التقارير الموازية",
    "title_fr": "Renforcer les capacités des associations",
    "language": "ar",
    "budget_lines": [{"category": "training", "quantity": 3, "unit_cost": 12000}],
    "regions": ["souss-massa", "rabat-sale-kenitra"],
}
ATTACHMENTS = [
    {"document": "statutes", "name": "النظام الأساسي.pdf", "sha256": "a1" * 32},
    {"document": "bank", "name": "attestation-rib.pdf", "sha256": "b2" * 32},
]


def make_submission(
    session,
    *,
    submitted_at: datetime = IN_RAMADAN,
    content: dict | None = None,
    attachment_hashes: list[dict] | None = None,
) -> Submission:
    """Build a call, an application and one sealed submission, as the submit service would."""
    owner = factories.UserFactory()
    association = factories.AssociationFactory(owner=owner, name_ar=NAME_AR, name_fr=NAME_FR)
    call = Call(
        code=f"AAP-2026-{uuid.uuid4().hex[:6]}",
        title_ar="طلب مشاريع 2026 لفائدة جمعيات حقوق الإنسان",
        title_fr="Appel à projets 2026 pour les associations des droits humains",
        documents=[
            RequiredDocument(code="statutes", name_ar="النظام الأساسي", name_fr="Statuts"),
            RequiredDocument(
                code="bank", name_ar="شهادة بنكية", name_fr="Attestation bancaire", position=2
            ),
        ],
    )
    application = Application(
        call=call, association=association, created_by_id=owner.id, title_ar="مشروع"
    )
    submission = Submission(
        application=application,
        number=1,
        # The reference is made from the id: a placeholder until the row is flushed.
        reference=f"pending-{uuid.uuid4().hex[:20]}",
        submitted_at=submitted_at,
        submitted_by_id=owner.id,
        application_version=1,
        content=CONTENT if content is None else content,
        content_sha256="",
        attachment_hashes=ATTACHMENTS if attachment_hashes is None else attachment_hashes,
        signature="",
    )
    session.add(submission)
    session.flush()
    seal_receipt(submission)
    session.commit()
    return submission


def signed(**changes) -> str:
    """Sign a fixed receipt, with some of its parts changed."""
    parts = {
        "secret_key": "k" * 32,
        "reference": "SHK-2026-000123",
        "submitted_at": IN_RAMADAN,
        "content_sha256": "c" * 64,
        "attachment_hashes": [dict(item) for item in ATTACHMENTS],
    }
    parts.update(changes)
    return sign_receipt(**parts)


def check(client, reference: str, signature: str):
    return client.get(
        "/receipts/check", query_string={"reference": reference, "signature": signature}
    )


def page_text(response) -> str:
    """Return the page's HTML with entities decoded, to compare with plain strings."""
    return html.unescape(response.get_data(as_text=True))


def result_box(body: str) -> str:
    """Return the verdict shown on the check page (the message box above the form)."""
    found = re.search(r'<div class="message message-(?:success|error)".*?</div>', body, re.S)
    assert found, "the check page shows no verdict"
    return found.group(0)


# --- reference and fingerprint --------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "submission_id", "expected"),
    [
        (2026, 123, "SHK-2026-000123"),
        (2026, 1, "SHK-2026-000001"),
        (2027, 999999, "SHK-2027-999999"),
        (2027, 1234567, "SHK-2027-1234567"),
    ],
)
def test_reference_is_prefix_year_and_zero_padded_number(year, submission_id, expected):
    assert receipt_reference(year, submission_id) == expected


def test_reference_year_is_the_moroccan_year_of_the_submission(app, session):
    """23:30 UTC on 31 December 2026 is already 2027 in Casablanca (UTC+01:00)."""
    submission = make_submission(session, submitted_at=datetime(2026, 12, 31, 23, 30, tzinfo=UTC))
    assert submission.reference == f"SHK-2027-{submission.id:06d}"


def test_canonical_json_is_the_same_whatever_the_key_order():
    first = {"b": 1, "a": {"y": [1, 2, {"q": 1, "p": 2}], "x": "نص"}}
    second = {"a": {"x": "نص", "y": [1, 2, {"p": 2, "q": 1}]}, "b": 1}
    assert canonical_json(first) == canonical_json(second)
    assert canonical_json(first) == '{"a":{"x":"نص","y":[1,2,{"p":2,"q":1}]},"b":1}'.encode()
    assert content_digest(first) == content_digest(second)


def test_canonical_json_keeps_arabic_as_utf8_without_escapes():
    encoded = canonical_json({"title_ar": "حقوق الإنسان"})
    assert encoded == '{"title_ar":"حقوق الإنسان"}'.encode()
    assert b"\\u" not in encoded


def test_content_digest_is_sha256_of_the_canonical_json():
    assert content_digest(CONTENT) == hashlib.sha256(canonical_json(CONTENT)).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", content_digest(CONTENT))


def test_content_digest_survives_a_round_trip_through_the_database(app, session):
    """The JSON column gives back the same fingerprint on SQLite and PostgreSQL."""
    submission = make_submission(session)
    session.expire_all()
    stored = session.get(Submission, submission.id)
    assert content_digest(stored.content) == stored.content_sha256 == content_digest(CONTENT)


def test_receipt_of_content_with_integer_keys_and_tuples_verifies_after_a_reload(app, session):
    """The fingerprint is taken of the content as the JSON column gives it back."""
    content = {"beneficiaries": {2: 5, 10: 3}, "regions": ("souss-massa", "oriental")}
    submission = make_submission(session, content=content)
    reference, signature = submission.reference, submission.signature
    session.expire_all()
    assert verify_receipt(session, reference, signature) is not None


def test_canonical_json_refuses_values_json_cannot_represent_exactly():
    with pytest.raises(ValueError):
        canonical_json({"amount": float("nan")})


# --- signature ------------------------------------------------------------------------------


def test_signature_is_hmac_sha256_of_the_receipt_and_is_stable():
    """V6.2.2: an approved MAC, keyed by the server's secret."""
    assert signed() == signed()
    assert re.fullmatch(r"[0-9a-f]{64}", signed())
    assert signed() != hashlib.sha256(b"").hexdigest()


def _other_attachment_hash():
    items = [dict(item) for item in ATTACHMENTS]
    items[1]["sha256"] = "b3" + "b2" * 31
    return items


def _other_attachment_name():
    items = [dict(item) for item in ATTACHMENTS]
    items[0]["name"] = "النظام الأساسي (2).pdf"
    return items


@pytest.mark.parametrize(
    "changes",
    [
        pytest.param({"reference": "SHK-2026-000124"}, id="reference"),
        pytest.param({"submitted_at": IN_RAMADAN + timedelta(seconds=1)}, id="time"),
        pytest.param({"submitted_at": IN_RAMADAN + timedelta(microseconds=1)}, id="time-1us"),
        pytest.param({"content_sha256": "d" + "c" * 63}, id="content-hash"),
        pytest.param({"attachment_hashes": _other_attachment_hash()}, id="attachment-hash"),
        pytest.param({"attachment_hashes": _other_attachment_name()}, id="attachment-name"),
        pytest.param({"attachment_hashes": ATTACHMENTS[:1]}, id="attachment-removed"),
        pytest.param({"attachment_hashes": ATTACHMENTS[::-1]}, id="attachments-reordered"),
        pytest.param({"secret_key": "j" * 32}, id="key"),
    ],
)
def test_signature_changes_when_any_signed_part_changes(changes):
    original = signed()
    assert not hmac.compare_digest(signed(**changes), original)


def test_signature_reads_the_time_as_an_instant_not_a_wall_clock():
    """The same instant written in Casablanca time signs the same; a naive time is refused."""
    from zoneinfo import ZoneInfo

    local = IN_RAMADAN.astimezone(ZoneInfo("Africa/Casablanca"))
    assert signed(submitted_at=local) == signed()
    with pytest.raises(ValueError):
        signed(submitted_at=IN_RAMADAN.replace(tzinfo=None))


def test_receipts_are_signed_with_receipt_key_when_set_else_secret_key(app):
    """V6.4.1: the key comes from settings; RECEIPT_KEY lets SECRET_KEY rotate on its own."""
    assert receipt_key() == app.config["SECRET_KEY"]
    app.config["RECEIPT_KEY"] = "a-separate-receipt-key"
    assert receipt_key() == "a-separate-receipt-key"


# --- verification ---------------------------------------------------------------------------


def test_a_genuine_receipt_is_verified(app, session):
    submission = make_submission(session)
    assert verify_receipt(session, submission.reference, submission.signature) == submission


def test_a_receipt_copied_with_spaces_line_breaks_and_other_case_is_verified(app, session):
    submission = make_submission(session)
    signature = submission.signature.upper()
    copied = f" {signature[:32]}\n{signature[32:]} "
    assert verify_receipt(session, f" {submission.reference.lower()} ", copied) == submission


def test_verification_answers_none_for_an_unknown_reference(app, session):
    submission = make_submission(session)
    unknown = receipt_reference(2026, submission.id + 1)
    assert verify_receipt(session, unknown, submission.signature) is None


def test_verification_answers_none_for_a_wrong_signature(app, session):
    submission = make_submission(session)
    wrong = ("0" if submission.signature[0] != "0" else "1") + submission.signature[1:]
    assert verify_receipt(session, submission.reference, wrong) is None


@pytest.mark.parametrize("signature", ["", "abc", "g" * 64, "a" * 63, "a" * 65])
def test_verification_answers_none_for_a_malformed_signature(app, session, signature):
    submission = make_submission(session)
    assert verify_receipt(session, submission.reference, signature) is None


def test_rotating_the_receipt_key_voids_the_check_of_older_receipts(app, session):
    submission = make_submission(session)
    app.config["RECEIPT_KEY"] = "a-new-key-after-rotation"
    assert verify_receipt(session, submission.reference, submission.signature) is None


@pytest.mark.parametrize(
    "column",
    ["content", "content_sha256", "submitted_at", "attachment_hashes", "signature", "reference"],
)
def test_a_row_altered_in_the_database_no_longer_verifies(app, session, column):
    """What the receipt proves is recomputed from the stored row, not read from it."""
    submission = make_submission(session)
    reference, signature = submission.reference, submission.signature
    assert verify_receipt(session, reference, signature) is not None
    altered = {
        "content": {**CONTENT, "title_fr": "Un autre titre"},
        "content_sha256": content_digest({**CONTENT, "title_fr": "Un autre titre"}),
        "submitted_at": submission.submitted_at - timedelta(days=2),
        "attachment_hashes": _other_attachment_hash(),
        "signature": "f" * 64,
        "reference": receipt_reference(2026, submission.id + 500),
    }[column]
    session.execute(
        update(Submission).where(Submission.id == submission.id).values({column: altered})
    )
    session.commit()
    session.expire_all()
    assert verify_receipt(session, reference, signature) is None


def test_an_altered_row_cannot_be_passed_off_with_the_altered_signature(app, session):
    """A new content with its own hash: the signature still fails without the key."""
    submission = make_submission(session)
    forged = {**CONTENT, "title_fr": "Autre"}
    forged_hash = content_digest(forged)
    forged_signature = sign_receipt(
        "not-the-server-key",
        submission.reference,
        submission.submitted_at,
        forged_hash,
        submission.attachment_hashes,
    )
    session.execute(
        update(Submission)
        .where(Submission.id == submission.id)
        .values(content=forged, content_sha256=forged_hash, signature=forged_signature)
    )
    session.commit()
    session.expire_all()
    assert verify_receipt(session, submission.reference, forged_signature) is None


# --- the public check page ------------------------------------------------------------------


def test_check_page_shows_an_empty_form_to_a_visitor(app, client):
    response = client.get("/receipts/check")
    assert response.status_code == 200
    body = page_text(response)
    with force_locale("ar"):
        assert gettext("Check a submission receipt") in body
    assert 'name="reference"' in body and 'name="signature"' in body
    assert 'method="get"' in body
    assert "message-success" not in body and "message-error" not in body


def test_check_page_confirms_a_genuine_receipt_in_arabic(app, client, session):
    submission = make_submission(session, submitted_at=IN_RAMADAN)
    response = check(client, submission.reference, submission.signature)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    body = page_text(response)
    verdict = result_box(body)
    with force_locale("ar"):
        assert gettext("This receipt is genuine.") in verdict
        local_date = format_date(IN_RAMADAN, "long")
    assert '<html lang="ar" dir="rtl">' in body
    assert NAME_AR in verdict
    assert local_date in verdict
    assert "14:07:09" in verdict and "(UTC+00:00)" in verdict  # Ramadan: Morocco on UTC+0
    assert submission.content_sha256 in verdict
    # The receipt itself follows: reference, documents and their fingerprints, signature.
    assert submission.reference in body and submission.signature in body
    for item in ATTACHMENTS:
        assert item["name"] in body and item["sha256"] in body
    with force_locale("ar"):
        assert gettext("This receipt is not valid.") not in body


def test_check_page_confirms_a_genuine_receipt_in_french(app, client, session):
    submission = make_submission(session, submitted_at=OUTSIDE_RAMADAN)
    client.set_cookie("locale", "fr")
    response = check(client, submission.reference, submission.signature)
    assert response.status_code == 200
    body = page_text(response)
    verdict = result_box(body)
    with force_locale("fr"):
        assert gettext("This receipt is genuine.") in verdict
        local_date = format_date(OUTSIDE_RAMADAN, "long")
    assert '<html lang="fr" dir="ltr">' in body
    assert NAME_FR in verdict
    assert local_date in verdict
    assert "11:00:00" in verdict and "(UTC+01:00)" in verdict  # 10:00 UTC is 11:00 in Rabat
    assert submission.content_sha256 in verdict


@pytest.mark.parametrize("locale", ["ar", "fr"])
def test_check_page_gives_the_same_answer_for_unknown_reference_wrong_signature_and_altered_row(
    app, client, session, locale
):
    """The verdict says 'not valid' and nothing else: no hint of which part was wrong."""
    submission = make_submission(session)
    client.set_cookie("locale", locale)
    wrong = ("0" if submission.signature[0] != "0" else "1") + submission.signature[1:]
    unknown_reference = check(
        client, receipt_reference(2026, submission.id + 1), submission.signature
    )
    wrong_signature = check(client, submission.reference, wrong)
    session.execute(
        update(Submission)
        .where(Submission.id == submission.id)
        .values(content={**CONTENT, "title_ar": "عنوان آخر"})
    )
    session.commit()
    altered_row = check(client, submission.reference, submission.signature)

    verdicts = set()
    for response in (unknown_reference, wrong_signature, altered_row):
        assert response.status_code == 200
        body = page_text(response)
        assert NAME_AR not in body and NAME_FR not in body
        assert submission.content_sha256 not in body
        verdicts.add(result_box(body))
    assert len(verdicts) == 1
    with force_locale(locale):
        assert gettext("This receipt is not valid.") in verdicts.pop()


@pytest.mark.parametrize(
    ("reference", "signature", "field", "message"),
    [
        ("", "a" * 64, "reference", "Enter the receipt's reference."),
        ("SHK-2026-000001", "", "signature", "Enter the receipt's signature."),
        (
            "SHK-2026-000001",
            "not-a-signature",
            "signature",
            "A signature is 64 characters, digits 0-9 and letters a-f.",
        ),
    ],
)
def test_check_page_explains_a_missing_or_malformed_field_in_arabic(
    app, client, reference, signature, field, message
):
    response = check(client, reference, signature)
    assert response.status_code == 200
    body = page_text(response)
    with force_locale("ar"):
        expected = gettext(message)
    assert f'<p class="error" id="{field}-error">{expected}</p>' in body
    assert "message-success" not in body and "message-error" not in body


def test_check_page_runs_a_fixed_number_of_queries(app, client, session, assert_queries):
    """CHECKLIST P01: one query for the receipt, one for the call's document names."""
    many = [
        {"document": "statutes", "name": f"annexe-{n}.pdf", "sha256": f"{n:064x}"}
        for n in range(12)
    ]
    submission = make_submission(session, attachment_hashes=many)
    reference, signature = submission.reference, submission.signature
    session.expire_all()
    with assert_queries(max=2):
        response = check(client, reference, signature)
    assert response.status_code == 200
    assert "annexe-11.pdf" in response.get_data(as_text=True)


def test_check_page_is_rate_limited_per_address(app_factory):
    """V11.1.4: guessing signatures is slowed to 30 tries a minute, answered in Arabic."""
    limited = app_factory(RATELIMIT_ENABLED=True)
    client = limited.test_client()
    statuses = [client.get("/receipts/check").status_code for _ in range(31)]
    assert statuses[:30] == [200] * 30
    assert statuses[30] == 429
    with limited.app_context(), force_locale("ar"):
        expected = error_title(429)
    assert expected in page_text(client.get("/receipts/check"))


# --- the PDF --------------------------------------------------------------------------------


@pytest.mark.parametrize("locale", ["ar", "fr"])
def test_receipt_pdf_holds_reference_fingerprint_and_arabic_name_as_logical_text(
    app, session, tmp_path, locale
):
    """The Arabic name is extracted in reading order: shaped right to left, not reversed."""
    submission = make_submission(session)
    pdf = render_receipt_pdf(submission, locale)
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(tmp_path, pdf, locale)
    assert submission.reference in text
    assert submission.content_sha256 in text
    assert submission.signature in text
    for item in ATTACHMENTS:
        assert item["sha256"] in text
    assert NAME_AR in text
    assert squeezed(NAME_AR[::-1]) not in squeezed(text)
    # CHECKLIST R15, Tifinagh in the French name (drawn with the system's DejaVu Sans: Amiri has
    # no Tifinagh). The PDF draws it left to right in both languages, but poppler does not
    # count Tifinagh as a left-to-right script, so on a right-to-left page pdftotext emits its
    # letters mirrored: on the Arabic page, accept that extraction order.
    tifinagh = "ⵜⴰⵎⴰⵢⵏⵓⵜ"
    assert tifinagh in text if locale == "fr" else tifinagh[::-1] in text
    with force_locale(locale):
        assert squeezed(gettext("Submission receipt")) in squeezed(text)


def test_receipt_pdf_is_laid_out_right_to_left_in_arabic_and_left_to_right_in_french(
    app, session, tmp_path
):
    """In the Arabic PDF the reference sits at the right margin; in the French one at the left."""
    submission = make_submission(session)

    def column_of_reference(locale: str) -> int:
        text = pdf_text(tmp_path, render_receipt_pdf(submission, locale), f"layout-{locale}")
        line = next(line for line in text.splitlines() if submission.reference in line)
        return line.index(submission.reference)

    assert column_of_reference("ar") > column_of_reference("fr") + 20


@pytest.mark.parametrize("locale", ["ar", "fr"])
def test_receipt_pdf_embeds_the_amiri_font_kept_in_the_repository(app, session, tmp_path, locale):
    submission = make_submission(session)
    fonts = pdf_fonts(tmp_path, render_receipt_pdf(submission, locale), locale)
    amiri = [row for row in fonts if "Amiri" in row[0]]
    assert amiri, fonts
    # Columns: name, type (two words), encoding, emb, sub, uni, object, generation.
    assert all(row[-5] == "yes" for row in amiri), fonts
    assert any(row[0].endswith("Shiraka-Amiri") for row in amiri)
    assert any(row[0].endswith("Shiraka-Amiri-Bold") for row in amiri)


def test_receipt_pdf_renderer_reads_only_files_under_static(app):
    """User text such as a file name can never make the renderer read a local file or the web."""
    from pathlib import Path

    static = Path(app.static_folder).resolve()
    fetch = static_only_fetcher(static)
    assert fetch((static / "css" / "receipt-pdf.css").as_uri()).read().startswith(b"/*")
    for url in (
        "file:///etc/passwd",
        (static / ".." / "portal" / "config.py").as_uri(),
        "https://example.org/font.ttf",
        "data:text/css,body{}",
    ):
        with pytest.raises(ValueError):
            fetch(url)


def test_receipt_pdf_renders_user_markup_as_text(app, session, tmp_path):
    """CHECKLIST S16: a file name with markup is printed as it is, not interpreted."""
    hostile = [
        {"document": "statutes", "name": '<img src="file:///etc/passwd">.pdf', "sha256": "0" * 64}
    ]
    submission = make_submission(session, attachment_hashes=hostile)
    text = pdf_text(tmp_path, render_receipt_pdf(submission, "fr"), "markup")
    assert '<img src="file:///etc/passwd">.pdf' in text
