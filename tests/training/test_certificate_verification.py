"""The public verification page: anyone holding a certificate's code (or scanning its QR code)
sees who holds it and for which session, and nothing else (ASVS 8.3.1, 11.1.4)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale, format_date
from markupsafe import escape

from portal.extensions import db
from portal.training import certificates
from portal.training.attendance import local_today
from portal.training.forms import SEX_LABELS
from tests import factories
from tests.conftest import shown

FORM = "/certificates/verify"


@pytest.fixture
def certificate(app, association):
    last = local_today() - timedelta(days=10)
    training = factories.training_session(
        starts_on=last - timedelta(days=1),
        ends_on=last,
        city="Tanger",
        venue="Salle secrète du conseil",
    )
    enrolment = factories.training_enrolment(
        training,
        association,
        full_name="فاطمة الزهراء بناني",
        sex="female",
        role="أمينة المال",
        email="fatima.private@example.org",
        phone="+212 6 99 88 77 66",
        accessibility_needs="كرسي متحرك",
        registration_code="REGC2345",
    )
    return factories.training_certificate(enrolment)


def test_the_qr_code_leads_to_a_page_confirming_the_certificate(client, certificate):
    enrolment = certificate.enrolment
    training = enrolment.session
    assert certificates.verification_url(certificate.code) == (
        f"https://shiraka.test/certificates/{certificate.code}"
    )
    response = client.get(f"/certificates/{certificate.code}")
    assert response.status_code == 200
    text = response.text
    assert shown("This certificate is valid.") in text
    assert "فاطمة الزهراء بناني" in text
    assert training.module.title_ar in text
    assert training.module.programme.title_ar in text
    assert "Tanger" in text
    with force_locale("ar"):
        assert format_date(training.starts_on, "long") in text
        assert format_date(training.ends_on, "long") in text
        assert format_date(certificate.issued_at, "long") in text
    assert certificate.code in text
    assert response.headers["Cache-Control"] == "no-store"


def test_the_page_exposes_nothing_else_about_the_holder(client, certificate, association):
    response = client.get(f"/certificates/{certificate.code}")
    text = response.text
    for private in (
        "fatima.private@example.org",
        "+212 6 99 88 77 66",
        "كرسي متحرك",
        "أمينة المال",
        "REGC2345",
        "Salle secrète du conseil",
        association.name_ar,
        association.name_fr,
        association.registration_number,
        association.email,
    ):
        assert private not in text, private
    with force_locale("ar"):
        assert str(SEX_LABELS["female"]) not in text


def test_the_form_finds_a_code_whatever_its_case_spaces_and_prefix(client, certificate):
    compact = certificate.code.removeprefix("SHK-").replace("-", " ").lower()
    for typed in (certificate.code.lower(), f"  {compact}  ", certificate.code.replace("-", "")):
        response = client.get(FORM, query_string={"code": typed})
        assert response.status_code == 200, typed
        assert shown("This certificate is valid.") in response.text


def test_the_form_alone_asks_for_a_code(client):
    response = client.get(FORM)
    assert response.status_code == 200
    assert 'name="code"' in response.text
    assert shown("No certificate has this code.") not in response.text


def test_an_empty_code_is_asked_for_again(client):
    response = client.get(FORM, query_string={"code": "  "})
    assert response.status_code == 200
    assert shown("Enter the verification code of the certificate.") in response.text


@pytest.mark.parametrize(
    "code",
    ["SHK-AAAA-BBBB", "SHK-7KQ2-M9X0", "not a code", "SHK-" + "A" * 40, "<script>x</script>"],
)
def test_an_unknown_or_forged_code_is_not_found_with_a_clear_message(client, certificate, code):
    answers = [client.get(FORM, query_string={"code": code})]
    if "/" not in code:  # a path with a slash never reaches the view
        answers.append(client.get(f"/certificates/{code}"))
    for response in answers:
        assert response.status_code == 404
        assert shown("No certificate has this code.") in response.text
        assert 'name="code"' in response.text  # the form to try again
        assert "<script>x</script>" not in response.text
        assert "فاطمة" not in response.text


def test_the_page_says_online_for_an_online_session(client, association):
    last = local_today() - timedelta(days=3)
    training = factories.training_session(
        starts_on=last, ends_on=last, online=True, region=None, city="", venue=""
    )
    enrolment = factories.training_enrolment(training, association)
    certificate = factories.training_certificate(enrolment)
    response = client.get(f"/certificates/{certificate.code}")
    assert shown("Online") in response.text


def test_the_page_reads_in_french_too(client, certificate):
    client.set_cookie("locale", "fr")
    response = client.get(f"/certificates/{certificate.code}")
    assert response.status_code == 200
    training = certificate.enrolment.session
    assert str(escape(training.module.title_fr)) in response.text
    with force_locale("fr"):
        assert format_date(training.ends_on, "long") in response.text


def test_guessing_codes_is_slowed_by_a_rate_limit(app_factory, certificate):
    """Both addresses share one budget per client: 30 lookups a minute, then 429."""
    limited = app_factory(RATELIMIT_ENABLED=True)
    client = limited.test_client()
    with limited.app_context():
        answers = [
            client.get(
                FORM if n % 2 else "/certificates/SHK-AAAA-BBBB",
                query_string={"code": "SHK-AAAA-BBBB"},
            ).status_code
            for n in range(30)
        ]
        assert set(answers) == {404}
        assert client.get(f"/certificates/{certificate.code}").status_code == 429
    db.session.remove()
