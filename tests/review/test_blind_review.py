"""Blind review (S06): nothing a blind evaluator can reach names the association or its people."""

from __future__ import annotations

from datetime import timedelta
from io import BytesIO

import pytest
from sqlalchemy import select

from portal.applications.models import Attachment
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.review.reminders import send_review_reminders
from portal.storage import file_store
from tests import factories
from tests.conftest import sign_in

HTMX = {"HX-Request": "true"}
NAME_AR = "جمعية الزيتونة الفريدة للكرامة"
NAME_FR = "Association Zitouna Singulière pour la Dignité"
ACRONYM = "AZSD"
REGISTRATION = "RB-7733-ZITOUNA"
OWNER_NAME = "Ghizlane Ouazzani-Tahiri"
OWNER_EMAIL = "ghizlane.ouazzani@zitouna.example.ma"
EDITOR_NAME = "Anouar Belqziz"
EDITOR_EMAIL = "anouar.belqziz@zitouna.example.ma"
SECRETS = [NAME_AR, NAME_FR, ACRONYM, REGISTRATION, OWNER_NAME, OWNER_EMAIL, EDITOR_NAME]
SECRETS += [EDITOR_EMAIL, "contact@zitouna.example.ma", "statuts-zitouna.pdf"]


@pytest.fixture
def blind(app):
    """A blind call, an application naming its association everywhere, its assigned evaluator."""
    call = factories.closed_call(blind_review=True)
    owner = factories.UserFactory(full_name=OWNER_NAME, email=OWNER_EMAIL)
    association = factories.AssociationFactory(
        owner=owner,
        name_ar=NAME_AR,
        name_fr=NAME_FR,
        acronym=ACRONYM,
        registration_number=REGISTRATION,
        email="contact@zitouna.example.ma",
    )
    factories.add_member(
        association, factories.UserFactory(full_name=EDITOR_NAME, email=EDITOR_EMAIL)
    )
    application = factories.submitted_application(
        call,
        association,
        title_ar=f"مشروع {ACRONYM} للتربية على حقوق الإنسان",
        title_fr=f"Projet {ACRONYM} d'éducation aux droits",
        context=f"تعمل {NAME_AR} ({ACRONYM}) منذ سنوات. رقم التسجيل {REGISTRATION}.",
        objectives=f"{NAME_FR} vise, avec {OWNER_NAME} ({OWNER_EMAIL}), à former 200 jeunes.",
        team=[
            {"line": f"{OWNER_NAME}, منسقة المشروع, عشر سنوات"},
            {"line": f"{EDITOR_NAME}, formateur, {ACRONYM} depuis 2015"},
        ],
        activity_plan=[{"title": f"ورشة {ACRONYM}", "start": 1, "end": 2}],
    )
    stored = file_store().save(BytesIO(b"%PDF-1.4\n%%EOF\n"))
    application.attachments.append(
        Attachment(
            document=call.documents[0],
            storage_key=stored.key,
            original_name="statuts-zitouna.pdf",
            content_type="application/pdf",
            size=stored.size,
            sha256=stored.sha256,
            uploaded_by_id=owner.id,
        )
    )
    db.session.commit()
    user = factories.evaluator(call)
    review = factories.assign(application, user)
    return call, application, user, review


def assert_blind(text: str, where: str) -> None:
    lowered = text.lower()
    for secret in SECRETS:
        assert secret.lower() not in lowered, f"{secret!r} leaked in {where}"


def assert_response_blind(response, where: str) -> None:
    assert_blind(response.get_data(as_text=True), where)
    headers = "\n".join(f"{name}: {value}" for name, value in response.headers.items())
    assert_blind(headers, f"{where} (headers)")


def test_the_redaction_keeps_the_substance_of_the_application(app, blind):
    _call, application, user, review = blind
    client = sign_in(app.test_client(), user)
    page = client.get(f"/reviews/{review.id}").get_data(as_text=True)
    assert "[…]" in page
    assert "منذ سنوات" in page and "à former 200 jeunes" in page
    assert "منسقة المشروع" in page and "formateur" in page  # roles stay, names go
    assert "statuts" not in page  # no documents in a blind call


def test_every_page_fragment_answer_and_mail_a_blind_evaluator_reaches_is_anonymous(
    app, session, blind, staff
):
    call, application, user, review = blind
    client = sign_in(app.test_client(), user)
    first, second = call.criteria
    score_url = f"/reviews/{review.id}/criteria/{first.id}"
    comments_url = f"/reviews/{review.id}/comments"
    answers = {}

    answers["dashboard"] = client.get("/reviews")
    answers["dashboard htmx"] = client.get("/reviews", headers=HTMX)
    answers["score page"] = client.get(f"/reviews/{review.id}")
    answers["score page htmx"] = client.get(f"/reviews/{review.id}", headers=HTMX)
    answers["document"] = client.get(
        f"/reviews/{review.id}/documents/{application.attachments[0].id}"
    )
    assert answers["document"].status_code == 404
    answers["save 422 htmx"] = client.post(score_url, data={"value": "99"}, headers=HTMX)
    answers["save 422 page"] = client.post(score_url, data={"value": "-2"})
    answers["save 200 htmx"] = client.post(
        score_url, data={"value": "7", "version": "0"}, headers=HTMX
    )
    answers["save 409 htmx"] = client.post(
        score_url, data={"value": "2", "version": "0"}, headers=HTMX
    )
    answers["save 409 page"] = client.post(score_url, data={"value": "2", "version": "0"})
    answers["comments 200 htmx"] = client.post(
        comments_url, data={"overall_comment": "جيد", "version": "0"}, headers=HTMX
    )
    answers["comments 409 htmx"] = client.post(
        comments_url, data={"overall_comment": "آخر", "version": "0"}, headers=HTMX
    )
    answers["comments 422 page"] = client.post(
        comments_url, data={"overall_comment": "x" * 6000, "version": "1"}
    )
    answers["submit 422"] = client.post(f"/reviews/{review.id}/submit")
    answers["save 303"] = client.post(
        f"/reviews/{review.id}/criteria/{second.id}", data={"value": "5", "version": "0"}
    )
    answers["page after save"] = client.get(answers["save 303"].headers["Location"])
    answers["submit 303"] = client.post(f"/reviews/{review.id}/submit")
    answers["page after submit"] = client.get(f"/reviews/{review.id}")
    answers["save when locked"] = client.post(
        score_url, data={"value": "1", "version": "1"}, headers=HTMX
    )
    assert answers["save 409 htmx"].status_code == 409
    assert answers["submit 303"].status_code == 303
    for where, response in answers.items():
        assert_response_blind(response, where)

    staff_client, _staff_user = staff
    staff_client.post(f"/staff/reviews/{review.id}/reopen", data={"note": "راجعوا الميزانية"})
    answers["page after reopen"] = client.get(f"/reviews/{review.id}")
    assert_response_blind(answers["page after reopen"], "page after reopen")
    call.review_deadline = utcnow() + timedelta(days=1)
    session.commit()
    send_review_reminders(session, utcnow())
    session.commit()
    mails = session.scalars(
        select(OutboxMessage).where(OutboxMessage.recipient == user.email)
    ).all()
    assert {mail.template for mail in mails} >= {"review_reopened", "review_reminder"}
    for mail in mails:
        assert_blind(mail.subject, f"{mail.template} subject")
        assert_blind(mail.body_text, f"{mail.template} text")
        assert_blind(mail.body_html, f"{mail.template} html")
