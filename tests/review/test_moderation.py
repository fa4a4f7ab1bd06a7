"""Moderation: the reviews of an application side by side, the extra evaluators offered, and the
consensus score (recorded, replaced, refused on bad inputs, audited)."""

from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.review.models import (
    ConflictDeclaration,
    Consensus,
    PoolMember,
    PoolStatus,
    ReviewStatus,
)
from tests import factories
from tests.conftest import shown
from tests.review.test_ranking import eligible_application


@pytest.fixture
def moderated(call):
    """An eligible application with two submitted reviews that disagree and one draft."""
    application = eligible_application(call)
    names = ("Amina Evaluatrice", "Brahim Evaluateur", "Chama Brouillon")
    evaluators = [factories.evaluator(call, full_name=name) for name in names]
    factories.scored_review(application, evaluators[0], [10, 10])
    review = factories.scored_review(application, evaluators[1], [3, 5])
    review.scores[0].comment = "Objectifs flous"
    review.overall_comment = "Peu convaincant"
    db.session.commit()
    factories.scored_review(application, evaluators[2], [6, 6], submitted=False)
    return application, evaluators


def consensus_url(application) -> str:
    return url_for("review.record_consensus", application_id=application.id)


def audit(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def test_staff_see_the_reviews_side_by_side_with_names_totals_and_flags(staff, moderated):
    client, _ = staff
    application, evaluators = moderated

    response = client.get(url_for("review.moderation", application_id=application.id))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for evaluator in evaluators:
        assert evaluator.full_name in page
    assert "Objectifs flous" in page and "Peu convaincant" in page
    assert "100.0" in page and "38.0" in page  # each submitted review's total on 100
    assert (
        shown("disagreement: the totals are more than %(points)s points apart", points=20) in page
    )
    assert page.count('name="note"') == 2  # reopen offered for the two submitted reviews only


def test_the_extra_evaluator_list_leaves_out_the_assigned_the_conflicted_and_the_removed(
    call, staff, moderated
):
    client, _ = staff
    application, _evaluators = moderated
    free = factories.evaluator(call, full_name="Driss Disponible")
    conflicted = factories.evaluator(call, full_name="Elias Conflit")
    db.session.add(
        ConflictDeclaration(
            call_id=call.id, application_id=application.id, evaluator_id=conflicted.id, reason="…"
        )
    )
    removed = factories.evaluator(call, full_name="Fatima Retiree")
    db.session.scalar(
        select(PoolMember).where(PoolMember.user_id == removed.id)
    ).status = PoolStatus.REMOVED
    member = factories.evaluator(call, full_name="Ghita Membre")
    factories.add_member(application.association, member)
    db.session.commit()

    response = client.get(url_for("review.moderation", application_id=application.id))

    page = response.get_data(as_text=True)
    form = page[page.index('id="evaluator_id"') :]
    form = form[: form.index("</select>")]
    assert f'value="{free.id}"' in form
    for name in ("Elias Conflit", "Fatima Retiree", "Ghita Membre", "Amina", "Chama"):
        assert name not in form


def test_the_moderation_forms_post_to_reopen_and_add_assignment(call, staff, moderated):
    client, _ = staff
    application, _evaluators = moderated
    factories.evaluator(call)

    page = client.get(url_for("review.moderation", application_id=application.id)).get_data(
        as_text=True
    )

    assert url_for("review.add_assignment", application_id=application.id) in page
    submitted = [r for r in application_reviews(application) if r.status == ReviewStatus.SUBMITTED]
    for review in submitted:
        assert url_for("review.reopen_review", review_id=review.id) in page


def application_reviews(application):
    from portal.review.models import Review

    return list(
        db.session.scalars(
            select(Review).where(Review.application_id == application.id).order_by(Review.id)
        )
    )


def test_a_consensus_is_recorded_with_its_justification_and_audited(staff, moderated):
    client, user = staff
    application, _ = moderated

    response = client.post(
        consensus_url(application), data={"score": "72,5", "justification": "Accord en réunion"}
    )

    assert response.status_code == 303
    consensus = db.session.scalar(select(Consensus))
    assert (consensus.score, consensus.justification) == (72.5, "Accord en réunion")
    assert consensus.recorded_by_id == user.id
    (event,) = audit("review.consensus_recorded")
    assert event.actor_id == user.id and event.details["after"]["score"] == 72.5


def test_replacing_a_consensus_is_audited_with_before_and_after(staff, moderated):
    client, _ = staff
    application, _ = moderated
    client.post(consensus_url(application), data={"score": "70", "justification": "Premier"})

    response = client.post(
        consensus_url(application), data={"score": "64.25", "justification": "Révisé"}
    )

    assert response.status_code == 303
    assert db.session.scalar(select(func.count()).select_from(Consensus)) == 1
    db.session.expire_all()
    assert db.session.scalar(select(Consensus.score)) == 64.25
    (event,) = audit("review.consensus_replaced")
    assert event.details["before"] == {"score": 70.0, "justification": "Premier"}
    assert event.details["after"] == {"score": 64.25, "justification": "Révisé"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"score": "100.5", "justification": "x"}, "Enter a score from 0 to 100."),
        ({"score": "-1", "justification": "x"}, "Enter a score from 0 to 100."),
        ({"score": "beaucoup", "justification": "x"}, "Enter a score from 0 to 100."),
        ({"score": "NaN", "justification": "x"}, "Enter a score from 0 to 100."),
        ({"score": "", "justification": "x"}, "Enter a score from 0 to 100."),
        ({"score": "70", "justification": "   "}, "Explain how the consensus was reached."),
    ],
    ids=["above-100", "negative", "not-a-number", "nan", "empty", "no-justification"],
)
def test_a_bad_consensus_is_refused_with_a_message_and_nothing_saved(
    staff, moderated, fields, message
):
    client, _ = staff
    application, _ = moderated

    response = client.post(consensus_url(application), data=fields)

    assert response.status_code == 422
    assert shown(message) in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Consensus)) == 0
    assert not audit("review.consensus_recorded")


def test_a_consensus_needs_an_eligible_application_with_a_submitted_review(call, staff):
    client, _ = staff
    not_screened = factories.submitted_application(call)
    unreviewed = eligible_application(call)

    refused = [
        client.post(consensus_url(application), data={"score": "50", "justification": "x"})
        for application in (not_screened, unreviewed)
    ]

    assert [response.status_code for response in refused] == [422, 422]
    assert shown("Only an application screened eligible can have a consensus.") in refused[
        0
    ].get_data(as_text=True)
    assert shown("A consensus needs at least one submitted review.") in refused[1].get_data(
        as_text=True
    )
    assert db.session.scalar(select(func.count()).select_from(Consensus)) == 0


def test_extra_fields_in_the_consensus_form_are_ignored(staff, moderated):
    client, user = staff
    application, _ = moderated

    client.post(
        consensus_url(application),
        data={
            "score": "80",
            "justification": "x",
            "recorded_by_id": "999",
            "application_id": "999",
            "status": "funded",
        },
    )

    consensus = db.session.scalar(select(Consensus))
    assert (consensus.application_id, consensus.recorded_by_id) == (application.id, user.id)


def test_the_ranking_shows_the_consensus_as_the_final_score(call, staff, moderated):
    client, _ = staff
    application, _ = moderated
    client.post(consensus_url(application), data={"score": "88", "justification": "x"})

    page = client.get(url_for("review.ranking", call_id=call.id)).get_data(as_text=True)

    row = page[page.index(f'id="application-{application.id}"') :]
    row = row[: row.index("</tr>")]
    assert "88.0" in row and shown("final score") in row


def test_the_moderation_page_runs_a_fixed_number_of_queries(call, staff, moderated, count_queries):
    client, _ = staff
    application, _ = moderated
    url = url_for("review.moderation", application_id=application.id)
    client.get(url)
    with count_queries() as few:
        client.get(url)
    for _ in range(4):
        extra = factories.evaluator(call)
        factories.scored_review(application, extra, [5, 5])
        factories.evaluator(call)
    client.get(url)
    with count_queries() as more:
        client.get(url)

    assert few.count == more.count <= 10, (few.count, more.count)
