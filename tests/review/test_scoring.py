"""Scoring a review in the browser: inline saves, bad values, two tabs, submission, reopening."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.notifications.models import OutboxMessage
from portal.review.models import Review, ReviewStatus, Score
from tests import factories
from tests.conftest import shown, sign_in

HTMX = {"HX-Request": "true"}


@pytest.fixture
def scoring(app, call):
    """(client of the assigned evaluator, evaluator, review, application)."""
    application = factories.submitted_application(call)
    user = factories.evaluator(call)
    review = factories.assign(application, user)
    return sign_in(app.test_client(), user), user, review, application


def score_url(review, criterion) -> str:
    return f"/reviews/{review.id}/criteria/{criterion.id}"


def saved_scores(session, review) -> dict[int, tuple]:
    session.expire_all()
    rows = session.execute(
        select(Score.criterion_id, Score.value, Score.comment, Score.version).where(
            Score.review_id == review.id
        )
    )
    return {
        criterion_id: (value, comment, version) for criterion_id, value, comment, version in rows
    }


def status_of(session, review) -> ReviewStatus:
    session.expire_all()
    return session.get(Review, review.id).status


def events(session, action: str) -> int:
    return session.scalar(
        select(func.count()).select_from(AuditEvent).where(AuditEvent.action == action)
    )


# --- the page -------------------------------------------------------------------------------


def test_the_assigned_evaluator_sees_the_application_beside_the_rubric(session, call, scoring):
    client, _user, review, application = scoring
    response = client.get(f"/reviews/{review.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert application.title_ar in page and "سياق المشروع" in page
    for criterion in call.criteria:
        assert f'id="criterion-{criterion.id}"' in page
        assert f'action="{score_url(review, criterion)}"' in page


def test_a_non_blind_call_shows_the_association_and_its_documents(app, session, call, scoring):
    client, _user, review, application = scoring
    page = client.get(f"/reviews/{review.id}").get_data(as_text=True)
    assert application.association.name_ar in page


# --- saving a score -------------------------------------------------------------------------


def test_saving_a_score_inline_answers_saved_at_and_moves_the_review_to_draft(
    session, call, scoring
):
    client, _user, review, _application = scoring
    criterion = call.criteria[0]
    response = client.post(
        score_url(review, criterion),
        data={"value": "7", "comment": "مقنع", "version": "0"},
        headers=HTMX,
    )
    assert response.status_code == 200
    fragment = response.get_data(as_text=True)
    assert "Saved at" in fragment or "حُفظ" in fragment or 'class="saved"' in fragment
    assert 'name="version" value="1"' in fragment
    assert saved_scores(session, review) == {criterion.id: (7, "مقنع", 1)}
    assert status_of(session, review) == ReviewStatus.DRAFT
    assert events(session, "review.score_saved") == 1


def test_saving_without_javascript_redirects_to_the_criterion_anchor(session, call, scoring):
    client, _user, review, _application = scoring
    criterion = call.criteria[1]
    response = client.post(score_url(review, criterion), data={"value": "4", "version": "0"})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/reviews/{review.id}#criterion-{criterion.id}")
    assert saved_scores(session, review)[criterion.id][0] == 4


@pytest.mark.parametrize(
    "value", ["11", "-1", "abc", "7.5", "٧", "²", "1e1", " 99999999999999999999"]
)
def test_score_above_the_maximum_negative_or_not_a_whole_number_is_refused(
    session, call, scoring, value
):
    client, _user, review, _application = scoring
    criterion = call.criteria[0]
    response = client.post(
        score_url(review, criterion), data={"value": value, "version": "0"}, headers=HTMX
    )
    assert response.status_code == 422
    assert 'class="error"' in response.get_data(as_text=True)
    assert saved_scores(session, review) == {}
    assert status_of(session, review) == ReviewStatus.ASSIGNED


def test_a_refused_score_without_javascript_shows_the_page_with_the_typed_value(
    session, call, scoring
):
    client, _user, review, _application = scoring
    criterion = call.criteria[0]
    response = client.post(
        score_url(review, criterion), data={"value": "15", "comment": "نص مكتوب", "version": "0"}
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="15"' in page and "نص مكتوب" in page
    assert saved_scores(session, review) == {}


def test_two_tabs_saving_the_same_criterion_give_409_with_both_values_and_overwrite_nothing(
    session, call, scoring
):
    client, _user, review, _application = scoring
    criterion = call.criteria[0]
    first = client.post(score_url(review, criterion), data={"value": "8", "version": "0"})
    assert first.status_code == 303
    second = client.post(
        score_url(review, criterion),
        data={"value": "3", "comment": "من نافذة أخرى", "version": "0"},
        headers=HTMX,
    )
    fragment = second.get_data(as_text=True)
    assert second.status_code == 409
    assert ">8<" in fragment and ">3<" in fragment and "من نافذة أخرى" in fragment
    assert saved_scores(session, review)[criterion.id][:2] == (8, "")


def test_a_stale_save_of_the_same_values_is_not_a_conflict(session, call, scoring):
    client, _user, review, _application = scoring
    criterion = call.criteria[0]
    client.post(score_url(review, criterion), data={"value": "8", "version": "0"})
    again = client.post(
        score_url(review, criterion), data={"value": "8", "version": "0"}, headers=HTMX
    )
    assert again.status_code == 200
    assert saved_scores(session, review)[criterion.id] == (8, "", 1)


def test_a_criterion_of_another_call_is_not_found(session, call, scoring):
    client, _user, review, _application = scoring
    other = factories.closed_call()
    response = client.post(score_url(review, other.criteria[0]), data={"value": "1"})
    assert response.status_code == 404
    assert saved_scores(session, review) == {}


def test_extra_fields_status_and_score_are_ignored(session, call, scoring):
    """S08: the status, the review's owner and the version come from the server only."""
    client, user, review, _application = scoring
    criterion = call.criteria[0]
    response = client.post(
        score_url(review, criterion),
        data={
            "value": "5",
            "version": "0",
            "status": "submitted",
            "score": "10",
            "evaluator_id": "1",
            "association_id": "1",
        },
    )
    assert response.status_code == 303
    session.expire_all()
    saved = session.get(Review, review.id)
    assert saved.status == ReviewStatus.DRAFT and saved.evaluator_id == user.id
    assert saved_scores(session, review)[criterion.id][0] == 5


# --- comments -------------------------------------------------------------------------------


def test_comments_are_saved_and_versioned(session, call, scoring):
    client, _user, review, _application = scoring
    url = f"/reviews/{review.id}/comments"
    data = {"overall_comment": "مشروع جيد", "shared_comment": "وضّحوا الميزانية", "version": "0"}
    assert client.post(url, data=data, headers=HTMX).status_code == 200
    stale = client.post(
        url,
        data={"overall_comment": "آخر", "shared_comment": "", "version": "0"},
        headers=HTMX,
    )
    assert stale.status_code == 409
    assert "مشروع جيد" in stale.get_data(as_text=True)
    session.expire_all()
    saved = session.get(Review, review.id)
    assert (saved.overall_comment, saved.shared_comment, saved.comments_version) == (
        "مشروع جيد",
        "وضّحوا الميزانية",
        1,
    )


def test_a_too_long_comment_is_refused_and_nothing_is_saved(session, call, scoring):
    client, _user, review, _application = scoring
    response = client.post(
        f"/reviews/{review.id}/comments",
        data={"overall_comment": "x" * 5001, "shared_comment": "", "version": "0"},
        headers=HTMX,
    )
    assert response.status_code == 422
    session.expire_all()
    assert session.get(Review, review.id).overall_comment == ""


# --- submission -----------------------------------------------------------------------------


def _score_all(client, review, criteria, values=(6, 9)):
    for criterion, value in zip(criteria, values, strict=True):
        client.post(score_url(review, criterion), data={"value": str(value), "version": "0"})


def test_submitting_with_a_criterion_missing_is_refused_naming_it(session, call, scoring):
    client, _user, review, _application = scoring
    client.post(score_url(review, call.criteria[0]), data={"value": "6", "version": "0"})
    response = client.post(f"/reviews/{review.id}/submit")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert call.criteria[1].title_ar in page
    assert status_of(session, review) == ReviewStatus.DRAFT
    assert events(session, "review.submitted") == 0


def test_submitting_locks_the_review_and_a_second_submit_changes_nothing(session, call, scoring):
    client, _user, review, _application = scoring
    _score_all(client, review, call.criteria)
    first = client.post(f"/reviews/{review.id}/submit")
    second = client.post(f"/reviews/{review.id}/submit")
    assert (first.status_code, second.status_code) == (303, 303)
    assert status_of(session, review) == ReviewStatus.SUBMITTED
    assert events(session, "review.submitted") == 1


def test_changing_a_submitted_review_is_refused_with_a_clear_message(session, call, scoring):
    client, _user, review, _application = scoring
    _score_all(client, review, call.criteria)
    client.post(f"/reviews/{review.id}/submit")
    criterion = call.criteria[0]
    response = client.post(
        score_url(review, criterion), data={"value": "1", "version": "1"}, headers=HTMX
    )
    assert response.status_code == 422
    assert shown("This review is submitted and can no longer change. Staff may reopen it.") in (
        response.get_data(as_text=True)
    )
    comments = client.post(
        f"/reviews/{review.id}/comments",
        data={"overall_comment": "تغيير", "shared_comment": "", "version": "0"},
    )
    assert comments.status_code == 422
    assert saved_scores(session, review)[criterion.id][0] == 6
    page = client.get(f"/reviews/{review.id}").get_data(as_text=True)
    assert "hx-post" not in page and "readonly" in page


# --- reopening ------------------------------------------------------------------------------


def test_staff_reopen_a_submitted_review_with_a_note_audited_and_mailed(
    session, call, scoring, staff
):
    client, user, review, application = scoring
    _score_all(client, review, call.criteria)
    client.post(f"/reviews/{review.id}/submit")
    staff_client, _staff_user = staff
    response = staff_client.post(
        f"/staff/reviews/{review.id}/reopen", data={"note": "راجعوا معيار المنهجية"}
    )
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/staff/applications/{application.id}/moderation")
    assert status_of(session, review) == ReviewStatus.DRAFT
    assert events(session, "review.reopened") == 1
    mail = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "review_reopened")
    ).one()
    assert mail.recipient == user.email and "راجعوا معيار المنهجية" in mail.body_text
    assert f"/reviews/{review.id}" in mail.body_text
    page = client.get(f"/reviews/{review.id}").get_data(as_text=True)
    assert "راجعوا معيار المنهجية" in page and "hx-post" in page


def test_reopening_needs_a_note_and_a_submitted_review(session, call, scoring, staff):
    _client, _user, review, _application = scoring
    staff_client, _staff_user = staff
    no_note = staff_client.post(f"/staff/reviews/{review.id}/reopen", data={"note": "  "})
    not_submitted = staff_client.post(f"/staff/reviews/{review.id}/reopen", data={"note": "x"})
    assert (no_note.status_code, not_submitted.status_code) == (422, 422)
    assert events(session, "review.reopened") == 0


def test_an_evaluator_cannot_reopen_their_own_review(session, call, scoring):
    client, _user, review, _application = scoring
    _score_all(client, review, call.criteria)
    client.post(f"/reviews/{review.id}/submit")
    assert client.post(f"/staff/reviews/{review.id}/reopen", data={"note": "x"}).status_code == 403
    assert status_of(session, review) == ReviewStatus.SUBMITTED
