"""Certificates of attendance: issued to confirmed participants whose attendance reaches the
programme's threshold, each with a verification code anyone can check on a public page, a PDF
in the participant's language, and a signed link to download it.

Issuing starts by locking the session's row (`services.lock_session`), so two staff members
pressing the button together issue each certificate once; the unique columns are the last guard.
The caller commits.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import render_template
from flask_babel import force_locale
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from portal.accounts import tokens
from portal.audit.services import record_event
from portal.db import utcnow
from portal.notifications.services import queue_message
from portal.pdf import html_to_pdf
from portal.qr import qr_svg
from portal.rules import RuleRefused
from portal.training import attendance
from portal.training.models import (
    Attendance,
    Certificate,
    Enrolment,
    EnrolmentStatus,
    Module,
    SessionStatus,
    TrainingSession,
)
from portal.training.services import CODE_ALPHABET, lock_session
from portal.web.i18n import text_direction
from portal.web.links import external_url

CODE_PREFIX = "SHK"
CODE_GROUPS = (4, 4)
CODE_PATTERN = re.compile(
    rf"{CODE_PREFIX}-[{CODE_ALPHABET}]{{{CODE_GROUPS[0]}}}-[{CODE_ALPHABET}]{{{CODE_GROUPS[1]}}}"
)
DOWNLOAD_LINK = "training-certificate"  # the purpose signing certificate download links


class CertificateError(RuleRefused):
    """A certificate that the rules refuse to issue."""


# --- codes ----------------------------------------------------------------------------------


def new_code(session: Session) -> str:
    """Return an unused code such as SHK-7KQ2-M9XA: 8 random characters that cannot be misread
    (31⁸ ≈ 850 billion codes, so one cannot be guessed; the unique column is the guard)."""
    while True:
        groups = [
            "".join(secrets.choice(CODE_ALPHABET) for _ in range(size)) for size in CODE_GROUPS
        ]
        code = "-".join([CODE_PREFIX, *groups])
        if session.scalar(select(Certificate.id).where(Certificate.code == code)) is None:
            return code


def normalise_code(raw: str | None) -> str | None:
    """Return a typed code in its printed form (SHK-XXXX-XXXX), or None if it cannot be one.

    Case, spaces and dashes are forgiven; the prefix may be left out.
    """
    compact = attendance.normalise_code(raw)
    if compact.startswith(CODE_PREFIX):
        compact = compact.removeprefix(CODE_PREFIX)
    first = CODE_GROUPS[0]
    if len(compact) != sum(CODE_GROUPS):
        return None
    code = f"{CODE_PREFIX}-{compact[:first]}-{compact[first:]}"
    return code if CODE_PATTERN.fullmatch(code) else None


def _loaded():
    return (
        joinedload(Certificate.enrolment)
        .joinedload(Enrolment.session)
        .joinedload(TrainingSession.module)
        .joinedload(Module.programme),
        joinedload(Certificate.enrolment)
        .joinedload(Enrolment.session)
        .joinedload(TrainingSession.region),
        joinedload(Certificate.enrolment).joinedload(Enrolment.association),
    )


def find_by_code(session: Session, raw_code: str | None) -> Certificate | None:
    """Return the certificate holding this verification code, with its session, or None."""
    code = normalise_code(raw_code)
    if code is None:
        return None
    return session.scalar(select(Certificate).options(*_loaded()).where(Certificate.code == code))


def load_certificate(session: Session, certificate_id: int) -> Certificate | None:
    """Return a certificate with its enrolment, association, session, module and programme."""
    return session.scalar(
        select(Certificate).options(*_loaded()).where(Certificate.id == certificate_id)
    )


# --- the signed download link ---------------------------------------------------------------


def download_token(certificate_id: int) -> str:
    """Sign a certificate's id for the download link mailed to its holder (it does not expire)."""
    return tokens.make_lasting_token(DOWNLOAD_LINK, certificate_id)


def certificate_id_from_token(token: str) -> int | None:
    """Return the certificate id a download link carries, or None when it was altered."""
    return tokens.read_lasting_token(DOWNLOAD_LINK, token)


def download_url(certificate: Certificate) -> str:
    """Return the signed link to download the certificate, mailed to its holder."""
    return external_url("training.certificate_by_link", token=download_token(certificate.id))


def verification_url(code: str) -> str:
    """Return the public page confirming this code: what the certificate's QR code encodes."""
    return external_url("training.verify_certificate_code", code=code)


# --- issuing --------------------------------------------------------------------------------


def days_present(session: Session, enrolment: Enrolment) -> int:
    """Count the days the participant was marked present."""
    return session.scalar(
        select(func.count(Attendance.id)).where(
            Attendance.enrolment_id == enrolment.id, Attendance.present.is_(True)
        )
    )


def _check_may_issue(training_session: TrainingSession, now: datetime) -> None:
    if training_session.status == SessionStatus.CANCELLED:
        raise CertificateError(_l("This session was cancelled: it gives no certificates."))
    if not attendance.last_day_begun(training_session, now):
        raise CertificateError(
            _l(
                "Certificates are issued once the session's last day has begun, on %(day)s.",
                day=training_session.ends_on.isoformat(),
            )
        )


def _issue(session, training_session, enrolment, *, actor, now) -> Certificate:
    certificate = Certificate(
        enrolment_id=enrolment.id, code=new_code(session), issued_at=now, issued_by_id=actor.id
    )
    session.add(certificate)
    session.flush()
    record_event(
        session,
        actor,
        "training.certificate_issued",
        certificate,
        enrolment_id=enrolment.id,
        session_id=training_session.id,
        code=certificate.code,
    )
    queue_message(
        session,
        enrolment.email,
        enrolment.locale,
        "training_certificate",
        enrolment=enrolment,
        training_session=training_session,
        module=training_session.module,
        certificate=certificate,
        download_url=download_url(certificate),
        verification_url=verification_url(certificate.code),
    )
    return certificate


def issue_certificate(
    session: Session,
    training_session: TrainingSession,
    enrolment: Enrolment,
    *,
    actor,
    now: datetime | None = None,
) -> Certificate:
    """Issue the participant's certificate (or return the one they hold) and mail its link.

    Refused for a place of another session or not confirmed, before the last day, and for
    someone whose attendance does not reach the programme's threshold.
    """
    training_session = lock_session(session, training_session.id)
    now = now or utcnow()
    _check_may_issue(training_session, now)
    session.refresh(enrolment)
    if enrolment.session_id != training_session.id:
        raise CertificateError(_l("This participant is not enrolled in this session."))
    if enrolment.status != EnrolmentStatus.CONFIRMED:
        raise CertificateError(
            _l("%(name)s has no confirmed place in this session.", name=enrolment.full_name)
        )
    existing = session.scalar(select(Certificate).where(Certificate.enrolment_id == enrolment.id))
    if existing is not None:
        return existing
    present = days_present(session, enrolment)
    total = len(attendance.session_days(training_session))
    threshold = training_session.module.programme.attendance_threshold_percent
    if not attendance.reaches_threshold(present, total, threshold):
        raise CertificateError(
            _l(
                "%(name)s attended %(rate)s%% of the session (%(present)s of %(total)s days); "
                "a certificate needs %(threshold)s%%.",
                name=enrolment.full_name,
                rate=attendance.percent(present, total),
                present=present,
                total=total,
                threshold=threshold,
            )
        )
    return _issue(session, training_session, enrolment, actor=actor, now=now)


@dataclass
class IssueReport:
    """What issuing did: new certificates, how many were held already, who does not qualify."""

    issued: list[Certificate] = field(default_factory=list)
    already_held: int = 0
    not_eligible: list[tuple[Enrolment, int]] = field(default_factory=list)


def issue_certificates(
    session: Session, training_session: TrainingSession, *, actor, now: datetime | None = None
) -> IssueReport:
    """Issue a certificate to every confirmed participant who reaches the threshold and holds
    none yet; running it again issues only what is missing."""
    training_session = lock_session(session, training_session.id)
    now = now or utcnow()
    _check_may_issue(training_session, now)
    sheet = attendance.attendance_sheet(session, training_session, now=now)
    report = IssueReport()
    for line in sheet.lines:
        if line.certificate is not None:
            report.already_held += 1
        elif sheet.qualifies(line):
            report.issued.append(
                _issue(session, training_session, line.enrolment, actor=actor, now=now)
            )
        else:
            report.not_eligible.append((line.enrolment, sheet.rate(line)))
    return report


# --- the PDF --------------------------------------------------------------------------------


@dataclass(frozen=True)
class CertificateFacts:
    """What a certificate states, for the PDF, the e-mail and the public verification page."""

    certificate: Certificate
    enrolment: Enrolment
    training_session: TrainingSession
    module: Module
    hours: float
    verification_url: str


def facts(certificate: Certificate) -> CertificateFacts:
    """Gather what a loaded certificate states."""
    enrolment = certificate.enrolment
    training_session = enrolment.session
    daily = datetime.combine(training_session.starts_on, training_session.daily_end) - (
        datetime.combine(training_session.starts_on, training_session.daily_start)
    )
    days = len(attendance.session_days(training_session))
    return CertificateFacts(
        certificate=certificate,
        enrolment=enrolment,
        training_session=training_session,
        module=training_session.module,
        hours=days * daily / timedelta(hours=1),
        verification_url=verification_url(certificate.code),
    )


def file_name(certificate: Certificate) -> str:
    """Return the PDF's file name: it carries the code, nothing personal."""
    return f"certificate-{certificate.code}.pdf"


def render_certificate_pdf(certificate: Certificate) -> bytes:
    """Render the certificate as an A4 PDF in its holder's language (Arabic right to left)."""
    locale = certificate.enrolment.locale
    stated = facts(certificate)
    with force_locale(locale):
        html = render_template(
            "training/certificate_pdf.html",
            facts=stated,
            locale=locale,
            direction=text_direction(locale),
            qr=qr_svg(stated.verification_url, scale=3),
        )
    return html_to_pdf(html)
