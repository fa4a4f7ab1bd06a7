"""The call's review settings (bad inputs refused, locked once reviews are submitted, deadline on
Morocco's clock) and the review hub's progress numbers."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from flask import url_for
from markupsafe import escape
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.review.models import Consensus
from tests import factories
from tests.conftest import shown
from tests.review.test_ranking import eligible_application
from tests.security.conftest import translated

NUMBER = "Enter a number from %(min)s to %(max)s."
NUMBER_1_20 = (NUMBER, {"min": 1, "max": 20})
NUMBER_0_100 = (NUMBER, {"min": 0, "max": 100})


def valid(call, **changes) -> dict:
    """The form's fields as the page sends them, with `changes`."""
    fields = {
        "reviews_per_application": "3",
        "max_reviews_per_evaluator": "40",
        "review_deadline": "2040-03-20T18:00",
        "disagreement_threshold": "20",
        "overall_minimum": "0",
        **{f"minimum_{criterion.id}": "" for criterion in call.criteria},
    }
    fields.update(changes)
    return {name: value for name, value in fields.items() if value is not None}


def settings_url(call) -> str:
    return url_for("review.settings", call_id=call.id)


def test_the_settings_page_shows_the_stored_values_on_moroccos_clock(call, staff):
    client, _ = staff
    call.review_deadline = datetime(2040, 3, 20, 17, 0, tzinfo=UTC)  # 18:00 in Casablanca
    call.criteria[0].minimum_score = 4
    db.session.commit()

    page = client.get(settings_url(call)).get_data(as_text=True)

    assert 'value="2040-03-20T18:00"' in page
    assert f'name="minimum_{call.criteria[0].id}"' in page and 'value="4"' in page


def test_staff_change_the_settings_and_the_change_is_audited(call, staff):
    client, user = staff
    first, second = call.criteria

    response = client.post(
        settings_url(call),
        data=valid(
            call,
            reviews_per_application="2",
            max_reviews_per_evaluator="25",
            blind_review="y",
            disagreement_threshold="15",
            overall_minimum="55",
            **{f"minimum_{first.id}": "4"},
        ),
    )

    assert response.status_code == 303
    db.session.expire_all()
    assert (call.reviews_per_application, call.max_reviews_per_evaluator) == (2, 25)
    assert (call.blind_review, call.disagreement_threshold, call.overall_minimum) == (
        True,
        15,
        55,
    )
    # 18:00 on Morocco's clock in March 2040 (UTC+1) is 17:00 UTC.
    assert call.review_deadline == datetime(2040, 3, 20, 17, 0, tzinfo=UTC)
    assert (first.minimum_score, second.minimum_score) == (4, None)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "review.settings_changed")
    )
    assert event.actor_id == user.id
    assert event.details["before"]["reviews_per_application"] == 3
    assert event.details["after"]["reviews_per_application"] == 2


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"reviews_per_application": "0"}, "reviews_per_application", NUMBER_1_20),
        ({"reviews_per_application": "trois"}, "reviews_per_application", None),
        ({"max_reviews_per_evaluator": ""}, "max_reviews_per_evaluator", ("Enter a number.", {})),
        ({"disagreement_threshold": "-5"}, "disagreement_threshold", NUMBER_0_100),
        ({"overall_minimum": "101"}, "overall_minimum", NUMBER_0_100),
        ({"minimum_FIRST": "11"}, "minimum_FIRST", None),
        ({"review_deadline": "demain"}, "review_deadline", None),
        (
            {"review_deadline": "2000-01-01T10:00"},
            "review_deadline",
            ("The review deadline must come after the call's deadline.", {}),
        ),
    ],
    ids=[
        "no-reviews",
        "reviews-not-a-number",
        "cap-missing",
        "threshold-negative",
        "minimum-above-100",
        "criterion-minimum-above-max",
        "deadline-not-a-date",
        "deadline-before-the-call-closes",
    ],
)
def test_bad_settings_are_refused_with_a_message_and_nothing_changes(
    call, staff, changes, field, message
):
    client, _ = staff
    first = str(call.criteria[0].id)
    changes = {name.replace("FIRST", first): value for name, value in changes.items()}

    response = client.post(settings_url(call), data=valid(call, **changes))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field.replace("FIRST", first)}-error"' in page
    if message:
        text, variables = message
        assert escape(translated("ar", text, **variables)) in page
    db.session.expire_all()
    assert call.reviews_per_application == 3
    assert call.criteria[0].minimum_score is None
    assert not db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "review.settings_changed")
    )


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"blind_review": "y"}, "Blind review cannot change once a review has been submitted."),
        (
            {"reviews_per_application": "4"},
            "The number of reviews per application cannot change once a review has been submitted.",
        ),
    ],
    ids=["blind", "reviews-per-application"],
)
def test_blind_and_reviews_per_application_are_locked_once_a_review_is_submitted(
    call, staff, changes, message
):
    client, _ = staff
    factories.scored_review(eligible_application(call), factories.evaluator(call), [5, 5])

    response = client.post(settings_url(call), data=valid(call, **changes))

    assert response.status_code == 422
    assert escape(translated("ar", message)) in response.get_data(as_text=True)
    db.session.expire_all()
    assert (call.blind_review, call.reviews_per_application) == (False, 3)


def test_thresholds_may_still_change_after_reviews_are_submitted(call, staff):
    client, _ = staff
    factories.scored_review(eligible_application(call), factories.evaluator(call), [5, 5])

    response = client.post(settings_url(call), data=valid(call, overall_minimum="60"))

    assert response.status_code == 303
    db.session.expire_all()
    assert call.overall_minimum == 60


def test_an_empty_review_deadline_clears_it(call, staff):
    client, _ = staff

    response = client.post(settings_url(call), data=valid(call, review_deadline=""))

    assert response.status_code == 303
    db.session.expire_all()
    assert call.review_deadline is None


# --- the hub --------------------------------------------------------------------------------


def test_the_review_hub_counts_each_step_and_links_to_it(call, staff):
    client, user = staff
    evaluators = [factories.evaluator(call) for _ in range(3)]
    reviewed = eligible_application(call)
    for evaluator in evaluators[:2]:
        factories.scored_review(reviewed, evaluator, [5, 5])
    factories.assign(reviewed, evaluators[2])
    eligible_application(call)
    factories.submitted_application(call)  # not screened yet
    db.session.add(
        Consensus(application_id=reviewed.id, score=50, justification="x", recorded_by_id=user.id)
    )
    db.session.commit()

    response = client.get(url_for("review.call_review", call_id=call.id))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    progress = page[page.index('id="review-steps"') :]
    assert shown("%(done)s of %(total)s", done=2, total=3) in progress  # screened
    expected = "%(done)s of %(total)s expected"
    assert shown(expected, done=3, total=6) in progress  # assigned (2 eligible × 3)
    assert shown(expected, done=2, total=6) in progress  # submitted
    for endpoint in ("screening_list", "pool", "assignments", "ranking", "settings"):
        assert url_for(f"review.{endpoint}", call_id=call.id) in page


def test_the_staff_call_overview_links_to_the_review_hub(call, staff):
    client, _ = staff

    page = client.get(url_for("calls.overview", call_id=call.id)).get_data(as_text=True)

    assert url_for("review.call_review", call_id=call.id) in page
