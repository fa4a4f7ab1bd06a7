"""Who may open, download and score a review (S05); what applicants and others never see."""

from __future__ import annotations

from io import BytesIO

import pytest
from sqlalchemy import select

from portal.applications.models import Attachment
from portal.extensions import db
from portal.review.models import ConflictDeclaration, PoolMember, Review, ReviewStatus, Score
from portal.storage import file_store
from tests import factories
from tests.conftest import sign_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def assigned(app, call):
    """An application with a document, its assigned evaluator and the review."""
    application = factories.submitted_application(call)
    stored = file_store().save(BytesIO(b"%PDF-1.4\n%%EOF\n"))
    application.attachments.append(
        Attachment(
            document=call.documents[0],
            storage_key=stored.key,
            original_name="statuts.pdf",
            content_type="application/pdf",
            size=stored.size,
            sha256=stored.sha256,
            uploaded_by_id=application.created_by_id,
        )
    )
    db.session.commit()
    user = factories.evaluator(call)
    return application, user, factories.assign(application, user)


def _urls(review, call, attachment) -> list[tuple[str, str]]:
    return [
        ("GET", f"/reviews/{review.id}"),
        ("GET", f"/reviews/{review.id}/documents/{attachment.id}"),
        ("POST", f"/reviews/{review.id}/criteria/{call.criteria[0].id}"),
        ("POST", f"/reviews/{review.id}/comments"),
        ("POST", f"/reviews/{review.id}/submit"),
    ]


def _assert_denied_everywhere(client, review, call, attachment):
    for method, url in _urls(review, call, attachment):
        for headers in ({}, HTMX):
            response = client.open(
                url,
                method=method,
                headers=headers,
                data={"value": "9", "version": "0", "overall_comment": "x"},
            )
            assert response.status_code == 404, (method, url, headers)
    db.session.expire_all()
    assert db.session.scalars(select(Score).where(Score.review_id == review.id)).all() == []
    saved = db.session.get(Review, review.id)
    assert saved.overall_comment == "" and saved.status != ReviewStatus.SUBMITTED


def test_the_assigned_evaluator_opens_and_downloads(app, call, assigned):
    application, user, review = assigned
    client = sign_in(app.test_client(), user)
    assert client.get(f"/reviews/{review.id}").status_code == 200
    download = client.get(f"/reviews/{review.id}/documents/{application.attachments[0].id}")
    assert download.status_code == 200
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_an_unassigned_evaluator_of_the_pool_gets_404_and_saves_nothing(app, call, assigned):
    application, _user, review = assigned
    other = factories.evaluator(call)
    client = sign_in(app.test_client(), other)
    _assert_denied_everywhere(client, review, call, application.attachments[0])


def test_an_evaluator_who_declared_a_conflict_after_assignment_gets_404(app, call, assigned):
    application, user, review = assigned
    db.session.add(
        ConflictDeclaration(
            call_id=call.id, application_id=application.id, evaluator_id=user.id, reason="قرابة"
        )
    )
    db.session.commit()
    client = sign_in(app.test_client(), user)
    _assert_denied_everywhere(client, review, call, application.attachments[0])


def test_an_evaluator_who_became_a_member_of_the_association_gets_404(app, call, assigned):
    application, user, review = assigned
    factories.add_member(application.association, user, "viewer")
    client = sign_in(app.test_client(), user)
    _assert_denied_everywhere(client, review, call, application.attachments[0])


def test_an_evaluator_who_has_not_declared_conflicts_yet_gets_404(app, call, assigned):
    application, user, review = assigned
    member = db.session.scalar(select(PoolMember).where(PoolMember.user_id == user.id))
    member.conflicts_declared_at = None
    db.session.commit()
    client = sign_in(app.test_client(), user)
    _assert_denied_everywhere(client, review, call, application.attachments[0])


def test_a_removed_review_gets_404(app, call, assigned):
    application, user, review = assigned
    review.status = ReviewStatus.REMOVED
    db.session.commit()
    client = sign_in(app.test_client(), user)
    for method, url in _urls(review, call, application.attachments[0]):
        assert client.open(url, method=method).status_code == 404


def test_the_applicant_opening_the_review_by_id_gets_404(app, call, assigned):
    application, _user, review = assigned
    owner = application.association.memberships[0].user
    client = sign_in(app.test_client(), owner)
    _assert_denied_everywhere(client, review, call, application.attachments[0])


def test_staff_do_not_score_in_the_evaluators_place(app, call, assigned, staff):
    application, _user, review = assigned
    client, _staff_user = staff
    _assert_denied_everywhere(client, review, call, application.attachments[0])


def test_another_evaluator_of_another_call_gets_404(app, call, assigned):
    application, _user, review = assigned
    stranger = factories.evaluator(factories.closed_call())
    client = sign_in(app.test_client(), stranger)
    _assert_denied_everywhere(client, review, call, application.attachments[0])


def test_an_evaluator_never_sees_another_evaluators_scores_or_comments(app, call, assigned):
    application, user, review = assigned
    colleague = factories.evaluator(call, full_name="Zineb Colleague")
    other = factories.scored_review(application, colleague, [3, 1])
    other.overall_comment = "COLLEAGUE-SECRET-COMMENT"
    db.session.commit()
    client = sign_in(app.test_client(), user)
    page = client.get(f"/reviews/{review.id}").get_data(as_text=True)
    dashboard = client.get("/reviews").get_data(as_text=True)
    for body in (page, dashboard):
        assert "COLLEAGUE-SECRET-COMMENT" not in body
        assert "Zineb Colleague" not in body and colleague.email not in body
    assert client.get(f"/reviews/{other.id}").status_code == 404


def test_applicants_never_learn_who_reviewed_them(app, call, assigned):
    application, user, review = assigned
    factories.scored_review(application, factories.evaluator(call), [9, 9])
    owner = application.association.memberships[0].user
    client = sign_in(app.test_client(), owner)
    pages = [
        "/applications",
        f"/applications/{application.id}",
        f"/applications/{application.id}/sections/summary",
        f"/applications/{application.id}/documents",
        f"/applications/{application.id}/completeness",
        "/account",
    ]
    for url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        body = response.get_data(as_text=True)
        assert user.full_name not in body and user.email not in body, url
    assert client.get("/reviews").status_code == 403
