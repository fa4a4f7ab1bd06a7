"""Certificates: issued to confirmed participants whose attendance reaches the programme's
threshold once the session's last day has begun, e-mailed with a signed download link, and
printed as a PDF in the holder's language (correctly shaped Arabic, or French)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.training import certificates
from portal.training.attendance import local_today
from portal.training.certificates import CertificateError, issue_certificate
from portal.training.models import Certificate
from portal.training.services import pass_token
from tests import factories
from tests.conftest import shown, shown_plural
from tests.pdf import pdf_info, pdf_text, squeezed
from tests.training.conftest import verified_association

CODE = re.compile(r"SHK-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{4}-[ABCDEFGHJKMNPQRSTUVWXYZ23456789]{4}")


@pytest.fixture
def ended(app):
    """A three-day session in Marrakech that ended last week."""
    last = local_today() - timedelta(days=7)
    return factories.training_session(
        starts_on=last - timedelta(days=2),
        ends_on=last,
        city="Marrakech",
        venue="Palais des congrès",
    )


def days_of(training):
    return [training.starts_on + timedelta(days=n) for n in range(3)]


def attended(training, association, days: int, **fields):
    """A confirmed participant present on the first `days` days of a three-day session."""
    enrolment = factories.training_enrolment(training, association, **fields)
    for day in days_of(training)[:days]:
        factories.training_attendance(enrolment, day)
    return enrolment


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def issued_events() -> int:
    return db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(AuditEvent.action == "training.certificate_issued")
    )


# --- the service ----------------------------------------------------------------------------


def test_a_participant_who_attended_enough_gets_a_certificate_and_an_email(
    app, ended, association, staff
):
    enrolment = attended(ended, association, 3, full_name="Nadia Benali", locale="fr")
    certificate = issue_certificate(db.session, ended, enrolment, actor=staff)
    db.session.commit()
    assert CODE.fullmatch(certificate.code)
    assert len(certificate.code) <= 24
    assert certificate.issued_by_id == staff.id
    assert issued_events() == 1
    mail = db.session.scalars(select(OutboxMessage)).one()
    assert mail.recipient == enrolment.email
    assert mail.locale == "fr"
    assert mail.template == "training_certificate"
    assert certificate.code in mail.body_text
    assert "https://shiraka.test/training/certificates/download/" in mail.body_text
    assert f"https://shiraka.test/certificates/{certificate.code}" in mail.body_text
    with force_locale("fr"):
        assert gettext("Download your certificate (PDF)") in mail.body_html


def test_a_certificate_for_someone_who_did_not_attend_enough_is_refused(
    app, ended, association, staff
):
    """Two days of three is 66%, under the programme's 80%: refused with the figures."""
    enrolment = attended(ended, association, 2, full_name="Karim Idrissi")
    with pytest.raises(CertificateError) as refused:
        issue_certificate(db.session, ended, enrolment, actor=staff)
    db.session.rollback()
    with force_locale("ar"):
        message = str(refused.value.message)
    assert message == shown(
        "%(name)s attended %(rate)s%% of the session (%(present)s of %(total)s days); "
        "a certificate needs %(threshold)s%%.",
        name="Karim Idrissi",
        rate=66,
        present=2,
        total=3,
        threshold=80,
    )
    assert count(Certificate) == 0
    assert count(OutboxMessage) == 0


def test_the_threshold_is_the_programmes(app, ended, association, staff):
    ended.module.programme.attendance_threshold_percent = 60
    db.session.commit()
    enrolment = attended(ended, association, 2)
    assert issue_certificate(db.session, ended, enrolment, actor=staff).code


def test_absent_marks_do_not_count_as_attendance(app, ended, association, staff):
    enrolment = attended(ended, association, 2)
    factories.training_attendance(enrolment, days_of(ended)[2], present=False)
    with pytest.raises(CertificateError):
        issue_certificate(db.session, ended, enrolment, actor=staff)


def test_issuing_twice_returns_the_same_certificate(app, ended, association, staff):
    enrolment = attended(ended, association, 3)
    first = issue_certificate(db.session, ended, enrolment, actor=staff)
    db.session.commit()
    again = issue_certificate(db.session, ended, enrolment, actor=staff)
    db.session.commit()
    assert again.id == first.id
    assert count(Certificate) == 1
    assert count(OutboxMessage) == 1


@pytest.mark.parametrize("status", ["cancelled", "waitlisted"])
def test_a_place_that_is_not_confirmed_gets_no_certificate(app, ended, association, staff, status):
    enrolment = factories.training_enrolment(ended, association, status=status)
    with pytest.raises(CertificateError):
        issue_certificate(db.session, ended, enrolment, actor=staff)
    db.session.rollback()
    assert count(Certificate) == 0


def test_a_participant_of_another_session_gets_no_certificate_from_this_one(
    app, ended, association, staff
):
    other = factories.training_session(starts_on=ended.starts_on, ends_on=ended.ends_on)
    enrolment = attended(other, association, 3)
    with pytest.raises(CertificateError):
        issue_certificate(db.session, ended, enrolment, actor=staff)


def test_no_certificate_before_the_last_day_has_begun(app, association, staff):
    """The last day begins at its daily start time, on Morocco's clock."""
    from datetime import datetime

    from portal.timeutil import from_local

    today = local_today()
    training = factories.training_session(starts_on=today - timedelta(days=2), ends_on=today)
    enrolment = attended(training, association, 2)
    factories.training_attendance(enrolment, today)
    before = from_local(datetime.combine(today, training.daily_start) - timedelta(minutes=1))
    with pytest.raises(CertificateError):
        issue_certificate(db.session, training, enrolment, actor=staff, now=before)
    db.session.rollback()
    at_start = from_local(datetime.combine(today, training.daily_start))
    assert issue_certificate(db.session, training, enrolment, actor=staff, now=at_start).code


def test_new_codes_are_unique_readable_and_fit_the_column(app):
    codes = {certificates.new_code(db.session) for _ in range(200)}
    assert len(codes) == 200
    assert all(CODE.fullmatch(code) and len(code) == 13 for code in codes)


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("SHK-7KQ2-M9XA", "SHK-7KQ2-M9XA"),
        (" shk 7kq2 m9xa ", "SHK-7KQ2-M9XA"),
        ("7kq2-m9xa", "SHK-7KQ2-M9XA"),
        ("SHK—7KQ2—M9XA", "SHK-7KQ2-M9XA"),
        ("SHK-7KQ2-M9X0", None),  # 0 is not in the alphabet
        ("SHK-7KQ2", None),
        ("", None),
        ("' OR 1=1 --", None),
    ],
)
def test_typed_codes_are_normalised(typed, expected):
    assert certificates.normalise_code(typed) == expected


# --- issuing from the roster ----------------------------------------------------------------


def certificates_url(training) -> str:
    return f"/staff/training/sessions/{training.id}/certificates"


def test_staff_issue_every_certificate_the_attendance_earns(login_as, ended, staff):
    association, _owner = verified_association()
    full = attended(ended, association, 3, full_name="Salma Tazi")
    short = attended(ended, association, 1, full_name="Youssef Amrani")
    other_association, _ = verified_association()
    also = attended(ended, other_association, 3, full_name="Hassan Alaoui", locale="fr")
    client, _user = login_as(user=staff)

    response = client.post(certificates_url(ended), follow_redirects=True)
    assert response.status_code == 200
    text = response.text
    assert (
        shown_plural(
            "%(num)d certificate is issued and its holder was e-mailed a link to download it.",
            "%(num)d certificates are issued and their holders were e-mailed a link to "
            "download them.",
            2,
        ).replace("%(num)d", "2")
        in text
    )
    people = shown("%(name)s (%(rate)s%%)", name="Youssef Amrani", rate=33)
    assert people in text
    holders = set(db.session.scalars(select(Certificate.enrolment_id)))
    assert holders == {full.id, also.id}
    assert short.id not in holders
    assert {message.recipient for message in db.session.scalars(select(OutboxMessage))} == {
        full.email,
        also.email,
    }
    assert issued_events() == 2

    again = client.post(certificates_url(ended), follow_redirects=True)
    assert (
        shown_plural(
            "%(num)d certificate is issued and its holder was e-mailed a link to download it.",
            "%(num)d certificates are issued and their holders were e-mailed a link to "
            "download them.",
            0,
        ).replace("%(num)d", "0")
        in again.text
    )
    assert count(Certificate) == 2
    assert count(OutboxMessage) == 2


def test_issuing_before_the_last_day_is_refused_with_a_message(login_as, association, staff):
    training = factories.training_session()  # starts in a month
    attended(training, association, 3)
    client, _user = login_as(user=staff)
    response = client.post(certificates_url(training))
    assert response.status_code == 422
    assert (
        shown(
            "Certificates are issued once the session's last day has begun, on %(day)s.",
            day=training.ends_on.isoformat(),
        )
        in response.text
    )
    assert count(Certificate) == 0


def test_only_staff_issue_certificates(login_as, ended, association, owner):
    attended(ended, association, 3)
    client, _user = login_as(user=owner)
    assert client.post(certificates_url(ended)).status_code == 403
    assert count(Certificate) == 0


# --- the PDF --------------------------------------------------------------------------------


def a_certificate(training, association, locale: str, name: str):
    enrolment = attended(training, association, 3, full_name=name, locale=locale)
    return factories.training_certificate(enrolment)


def test_the_arabic_pdf_is_shaped_right_to_left_with_the_code(app, ended, association, tmp_path):
    certificate = a_certificate(ended, association, "ar", "فاطمة الزهراء بناني")
    pdf = certificates.render_certificate_pdf(
        certificates.load_certificate(db.session, certificate.id)
    )
    assert pdf.startswith(b"%PDF-")
    text = pdf_text(tmp_path, pdf, "ar")
    # Extracted in reading order: the glyphs were shaped and laid out right to left.
    assert "فاطمة الزهراء بناني" in text
    assert squeezed(ended.module.title_ar) in squeezed(text)
    assert squeezed(ended.module.programme.title_ar) in squeezed(text)
    assert certificate.code in text
    assert "Marrakech" in text
    assert f"https://shiraka.test/certificates/{certificate.code}" in text
    with force_locale("ar"):
        for phrase in ("Certificate of attendance", "Ministerial Delegation for Human Rights"):
            assert squeezed(gettext(phrase)) in squeezed(text)
    # 3 days of 07:30 each.
    assert "22.5" in text


def test_the_french_pdf_reads_left_to_right(app, ended, association, tmp_path):
    certificate = a_certificate(ended, association, "fr", "Salma Tazi")
    pdf = certificates.render_certificate_pdf(
        certificates.load_certificate(db.session, certificate.id)
    )
    text = pdf_text(tmp_path, pdf, "fr")
    assert "Salma Tazi" in text
    assert ended.module.title_fr in text
    assert certificate.code in text
    assert "22,5" in text
    with force_locale("fr"):
        assert squeezed(gettext("Certificate of attendance")) in squeezed(text)


def test_the_pdf_is_laid_out_in_the_direction_of_its_language(app, ended, association, tmp_path):
    """In the Arabic PDF the code's label sits on the right of the QR code; in French, left."""

    def column_of_code(locale: str) -> int:
        certificate = a_certificate(ended, association, locale, f"Name {locale}")
        pdf = certificates.render_certificate_pdf(
            certificates.load_certificate(db.session, certificate.id)
        )
        line = next(
            line
            for line in pdf_text(tmp_path, pdf, locale).splitlines()
            if certificate.code in line
        )
        return line.index(certificate.code)

    assert column_of_code("ar") > column_of_code("fr") + 20


def test_the_pdf_metadata_names_the_certificate_and_nothing_else(app, ended, association, tmp_path):
    certificate = a_certificate(ended, association, "fr", "Salma Tazi")
    loaded = certificates.load_certificate(db.session, certificate.id)
    info = pdf_info(tmp_path, certificates.render_certificate_pdf(loaded), "meta")
    title = next(line for line in info.splitlines() if line.startswith("Title:"))
    assert certificate.code in title
    for private in (
        association.name_fr,
        association.name_ar,
        loaded.enrolment.email,
        "Salma Tazi",
        ended.module.title_fr,
    ):
        assert private not in info


# --- downloading ----------------------------------------------------------------------------


def pdf_url(certificate) -> str:
    return f"/training/certificates/{certificate.id}.pdf"


def test_staff_download_a_certificate_as_a_pdf_named_after_its_code(
    login_as, ended, association, staff
):
    certificate = a_certificate(ended, association, "ar", "أمينة")
    client, _user = login_as(user=staff)
    response = client.get(pdf_url(certificate))
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/pdf"
    assert (
        response.headers["Content-Disposition"]
        == f'attachment; filename="certificate-{certificate.code}.pdf"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data.startswith(b"%PDF-")


def test_members_of_the_participants_association_download_it(login_as, ended, association, owner):
    certificate = a_certificate(ended, association, "ar", "أمينة")
    viewer = factories.UserFactory()
    factories.add_member(association, viewer, role="viewer")
    for user in (owner, viewer):
        client, _user = login_as(user=user)
        assert client.get(pdf_url(certificate)).status_code == 200


def test_another_associations_certificate_is_not_found(login_as, ended, association):
    """CHECKLIST S03: the id of A's certificate, asked by a member of B, is a 404."""
    certificate = a_certificate(ended, association, "ar", "أمينة")
    _other, owner_b = verified_association()
    client, _user = login_as(user=owner_b)
    response = client.get(pdf_url(certificate))
    assert response.status_code == 404
    assert certificate.code not in response.text
    assert "أمينة" not in response.text


def test_an_unknown_certificate_id_is_not_found(login_as, staff):
    client, _user = login_as(user=staff)
    assert client.get("/training/certificates/999999.pdf").status_code == 404


def test_visitors_are_sent_to_sign_in_for_a_certificate_by_id(client, ended, association):
    certificate = a_certificate(ended, association, "ar", "أمينة")
    response = client.get(pdf_url(certificate))
    assert response.status_code == 302
    assert "/account/sign-in" in response.headers["Location"]


def test_the_mailed_link_downloads_the_certificate_without_signing_in(
    client, ended, association, staff
):
    enrolment = attended(ended, association, 3)
    certificate = issue_certificate(db.session, ended, enrolment, actor=staff)
    db.session.commit()
    body = db.session.scalars(select(OutboxMessage.body_text)).one()
    link = re.search(r"https://shiraka\.test(/training/certificates/download/\S+)", body).group(1)
    response = client.get(link)
    assert response.status_code == 200
    assert response.data.startswith(b"%PDF-")
    assert certificate.code in response.headers["Content-Disposition"]


@pytest.mark.parametrize("kind", ["forged", "altered", "another link's token"])
def test_a_forged_download_link_is_not_found(client, ended, association, kind):
    certificate = a_certificate(ended, association, "ar", "أمينة")
    token = certificates.download_token(certificate.id)
    forged = {
        "forged": "MQ.forged-signature",
        "altered": token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        # The participant's pass link signs an id too, under another salt: it opens nothing here.
        "another link's token": pass_token(certificate.id),
    }[kind]
    response = client.get(f"/training/certificates/download/{forged}")
    assert response.status_code == 404
    assert certificate.code not in response.text


def test_a_download_token_carries_only_an_id(app):
    assert certificates.certificate_id_from_token(certificates.download_token(7)) == 7
    from itsdangerous import URLSafeSerializer

    signer = URLSafeSerializer(
        app.config["SECRET_KEY"], salt=f"shiraka.{certificates.DOWNLOAD_LINK}"
    )
    assert certificates.certificate_id_from_token(signer.dumps("7")) is None
    assert certificates.certificate_id_from_token(signer.dumps(True)) is None


def test_issued_at_is_shown_on_morocco_s_clock(app, ended, association, tmp_path):
    """Issued at 23:30 UTC on 31 May is 1 June in Morocco (UTC+1 outside Ramadan)."""
    from datetime import UTC, datetime

    certificate = a_certificate(ended, association, "fr", "Salma Tazi")
    certificate.issued_at = datetime(2026, 5, 31, 23, 30, tzinfo=UTC)
    db.session.commit()
    text = pdf_text(
        tmp_path,
        certificates.render_certificate_pdf(
            certificates.load_certificate(db.session, certificate.id)
        ),
        "clock",
    )
    assert "1 juin 2026" in text


def test_a_certificate_of_an_online_session_says_online(app, association, tmp_path):
    last = local_today() - timedelta(days=3)
    training = factories.training_session(
        starts_on=last, ends_on=last, online=True, region=None, city="", venue=""
    )
    enrolment = factories.training_enrolment(training, association, locale="fr")
    factories.training_attendance(enrolment, last)
    certificate = factories.training_certificate(enrolment, issued_at=utcnow())
    text = pdf_text(
        tmp_path,
        certificates.render_certificate_pdf(
            certificates.load_certificate(db.session, certificate.id)
        ),
        "online",
    )
    with force_locale("fr"):
        assert gettext("Online") in text


def test_the_certificate_rule_lets_staff_and_the_associations_members_only(
    app, ended, association, owner
):
    """ASVS 4.2.1: the policy itself, every kind of user."""
    from flask_login import AnonymousUserMixin

    from portal.auth.policy import may

    certificate = a_certificate(ended, association, "ar", "أمينة")
    editor, viewer = factories.UserFactory(), factories.UserFactory()
    factories.add_member(association, editor, "editor")
    factories.add_member(association, viewer, "viewer")
    _other, outsider = verified_association()
    allowed = {
        "owner": owner,
        "editor": editor,
        "viewer": viewer,
        "staff": factories.UserFactory(roles=("staff",)),
        "admin": factories.UserFactory(roles=("admin",)),
    }
    refused = {
        "visitor": None,
        "anonymous": AnonymousUserMixin(),
        "outsider": outsider,
        "evaluator": factories.UserFactory(roles=("evaluator",)),
        "disabled staff": factories.UserFactory(roles=("staff",), is_enabled=False),
    }
    assert all(may(user, "training.view_certificate", certificate) for user in allowed.values())
    assert not any(may(user, "training.view_certificate", certificate) for user in refused.values())
