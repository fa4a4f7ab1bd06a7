"""Submission receipts: reference, content fingerprint, HMAC signature, public check and PDF.

A receipt lets an association prove what it submitted and when. The portal signs, with a key
only the server holds, the reference, the submission instant, the sha256 of the submitted
content and the sha256 of every document; anyone holding the reference and the signature can
then have the portal confirm them, and the check recomputes everything from the stored row, so
a row changed in the database after the fact no longer confirms.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from portal.applications.models import Application, Submission
from portal.calls.models import Call
from portal.pdf import html_to_pdf
from portal.timeutil import format_offset, to_local
from portal.web.i18n import text_direction
from portal.web.links import external_url

# Part of every signed message: a signature made with the same key for another purpose (or a
# future receipt format) can never pass for this one.
RECEIPT_PURPOSE = "shiraka.submission-receipt.v1"
REFERENCE_PATTERN = re.compile(r"SHK-\d{4}-\d{6,}")
SIGNATURE_PATTERN = re.compile(r"[0-9a-f]{64}")


def receipt_reference(year: int, submission_id: int) -> str:
    """Return the reference printed on a receipt, such as SHK-2026-000123."""
    return f"SHK-{year:04d}-{submission_id:06d}"


def canonical_json(content: dict) -> bytes:
    """Serialise content to the one byte string its fingerprint is taken from.

    Keys sorted, no spaces, UTF-8 kept as is (Arabic is not \\u-escaped): the same content
    gives the same bytes whatever the order it was built or read back from the database in.
    """
    return json.dumps(
        content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), allow_nan=False
    ).encode("utf-8")


def content_digest(content: dict) -> str:
    """Return the hex sha256 of the content's canonical JSON."""
    return hashlib.sha256(canonical_json(content)).hexdigest()


def _utc_instant(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("a receipt time must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _key_bytes(secret_key: str | bytes) -> bytes:
    return secret_key.encode("utf-8") if isinstance(secret_key, str) else secret_key


def sign_receipt(
    secret_key: str | bytes,
    reference: str,
    submitted_at: datetime,
    content_sha256: str,
    attachment_hashes: list[dict],
) -> str:
    """Return the hex HMAC-SHA256 of a receipt's canonical message."""
    message = canonical_json(
        {
            "purpose": RECEIPT_PURPOSE,
            "reference": reference,
            "submitted_at": _utc_instant(submitted_at),
            "content_sha256": content_sha256,
            # Signed whole and in order: document code, original name and sha256 of each.
            "attachments": list(attachment_hashes),
        }
    )
    return hmac.new(_key_bytes(secret_key), message, hashlib.sha256).hexdigest()


def receipt_key() -> str | bytes:
    """Return the key receipts are signed with: RECEIPT_KEY, else SECRET_KEY.

    Rotating this key makes every receipt signed before fail its check. RECEIPT_KEY exists so
    that SECRET_KEY (sessions, CSRF, e-mail links) can be rotated on its own; keep RECEIPT_KEY
    for as long as old receipts must remain checkable.
    """
    config = current_app.config
    return config.get("RECEIPT_KEY") or config["SECRET_KEY"]


def seal_receipt(submission: Submission) -> Submission:
    """Fill the reference, content fingerprint and signature of a flushed submission.

    The row needs its id, its final submitted_at, content and attachment_hashes; the reference
    year is the year of the submission in local time.
    """
    if submission.id is None:
        raise ValueError("flush the submission before sealing its receipt")
    # Fingerprint the content as the JSON column will give it back (tuples become lists,
    # integer keys become strings and sort differently), or the check would fail after a reload.
    submission.content = json.loads(canonical_json(submission.content))
    submission.attachment_hashes = json.loads(json.dumps(submission.attachment_hashes))
    year = to_local(submission.submitted_at).year
    submission.reference = receipt_reference(year, submission.id)
    submission.content_sha256 = content_digest(submission.content)
    submission.signature = sign_receipt(
        receipt_key(),
        submission.reference,
        submission.submitted_at,
        submission.content_sha256,
        submission.attachment_hashes,
    )
    return submission


def _normalise(reference: str, signature: str) -> tuple[str, str]:
    # Receipts are copied from PDFs and e-mails: forgive case, spaces and line breaks.
    return "".join(reference.split()).upper(), "".join(signature.split()).lower()


def verify_receipt(session: Session, reference: str, signature: str) -> Submission | None:
    """Return the submission this receipt proves, or None when it proves nothing.

    An unknown reference, a wrong signature and a stored row that no longer matches its own
    fingerprint or signature all give None: the caller cannot, and need not, tell them apart.
    """
    reference, signature = _normalise(reference or "", signature or "")
    if not REFERENCE_PATTERN.fullmatch(reference) or not SIGNATURE_PATTERN.fullmatch(signature):
        return None
    submission = session.scalar(
        select(Submission)
        .where(Submission.reference == reference)
        .options(
            joinedload(Submission.application).joinedload(Application.association),
            joinedload(Submission.application)
            .joinedload(Application.call)
            .selectinload(Call.documents),
        )
    )
    if submission is None:
        return None
    if not hmac.compare_digest(content_digest(submission.content), submission.content_sha256):
        return None
    expected = sign_receipt(
        receipt_key(),
        submission.reference,
        submission.submitted_at,
        submission.content_sha256,
        submission.attachment_hashes,
    )
    matches_receipt = hmac.compare_digest(expected, signature)
    matches_row = hmac.compare_digest(expected, submission.signature)
    return submission if matches_receipt and matches_row else None


@dataclass(frozen=True)
class ReceiptDocument:
    code: str
    name_ar: str
    name_fr: str
    file_name: str
    sha256: str

    def label_for(self, locale: str) -> str:
        return (self.name_fr if locale == "fr" else self.name_ar) or self.code


@dataclass(frozen=True)
class Receipt:
    """What a receipt shows, for templates/applications/_receipt.html (page, e-mail, PDF)."""

    submission: Submission
    reference: str
    submitted_at: datetime
    local_time: datetime
    offset: str
    content_sha256: str
    signature: str
    documents: tuple[ReceiptDocument, ...]
    check_page_url: str
    check_url: str  # the check page with this receipt's reference and signature filled in

    @property
    def association(self):
        return self.submission.application.association

    @property
    def call(self):
        return self.submission.application.call


def build_receipt(submission: Submission) -> Receipt:
    """Gather what the receipt box shows about a submission."""
    local_time = to_local(submission.submitted_at)
    names = {document.code: document for document in submission.application.call.documents}
    documents = []
    for item in submission.attachment_hashes:
        required = names.get(item["document"])
        documents.append(
            ReceiptDocument(
                code=item["document"],
                name_ar=required.name_ar if required else "",
                name_fr=required.name_fr if required else "",
                file_name=item["name"],
                sha256=item["sha256"],
            )
        )
    return Receipt(
        submission=submission,
        reference=submission.reference,
        submitted_at=submission.submitted_at,
        local_time=local_time,
        offset=format_offset(local_time),
        content_sha256=submission.content_sha256,
        signature=submission.signature,
        documents=tuple(documents),
        check_page_url=external_url("applications.receipt_check"),
        check_url=external_url(
            "applications.receipt_check",
            reference=submission.reference,
            signature=submission.signature,
        ),
    )


# --- PDF ------------------------------------------------------------------------------------


def render_receipt_pdf(submission: Submission, locale: str) -> bytes:
    """Render the receipt as a PDF in Arabic (right to left) or French."""
    with force_locale(locale):
        html = render_template(
            "applications/receipt_pdf.html",
            receipt=build_receipt(submission),
            locale=locale,
            direction=text_direction(locale),
        )
    return html_to_pdf(html)
