"""The ranking page serves an order kept between requests: every write that changes what the
order is computed from renews the call's token in its own transaction, so the page never shows
an order older than what it can read; writes that change nothing ranked leave it kept."""

from __future__ import annotations

import re

import pytest
from flask import url_for
from sqlalchemy import select

from bench.ranking import populate
from portal.calls.models import Call
from portal.extensions import db
from portal.kept import Kept
from portal.review import moderation, scoring
from portal.review.kept import kept_rankings
from portal.review.models import Review, Screening
from portal.review.ranking import rank_call, ranking_page
from portal.review.screening import Decision, decide_screening
from tests import factories
from tests.conftest import shown
from tests.review.test_ranking import eligible_application


@pytest.fixture
def ranked(call):
    """Two eligible applications, `leading` (60) ahead of `trailing` (50), each with one
    submitted review by the first of three evaluators (criteria weigh 60 and 40, out of 10)."""
    evaluators = [factories.evaluator(call) for _ in range(3)]
    leading = eligible_application(call)
    trailing = eligible_application(call)
    factories.scored_review(leading, evaluators[0], [6, 6])
    factories.scored_review(trailing, evaluators[0], [5, 5])
    return leading, trailing, evaluators


def shown_order(client, call, **args) -> list[int]:
    body = client.get(url_for("review.ranking", call_id=call.id, **args)).get_data(as_text=True)
    return [int(found) for found in re.findall(r'<tr id="application-(\d+)"', body)]


def token_of(call) -> str:
    return db.session.scalar(select(Call.scores_token).where(Call.id == call.id))


def test_a_submitted_review_reorders_the_kept_ranking(call, staff, ranked):
    client, _user = staff
    leading, trailing, evaluators = ranked
    assert shown_order(client, call) == [leading.id, trailing.id]
    review = factories.scored_review(trailing, evaluators[1], [9, 9], submitted=False)
    before = token_of(call)
    review.scores[0].value = 10  # a draft's scores are not ranked: the token stays
    review.scores[1].value = 10
    db.session.commit()
    assert token_of(call) == before
    assert shown_order(client, call) == [leading.id, trailing.id]

    scoring.submit_review(db.session, review, actor=evaluators[1])
    db.session.commit()

    assert token_of(call) != before
    assert shown_order(client, call) == [trailing.id, leading.id]  # 75 against 60


def test_a_recorded_consensus_reorders_the_kept_ranking(call, staff, ranked):
    client, user = staff
    leading, trailing, _evaluators = ranked
    assert shown_order(client, call) == [leading.id, trailing.id]

    moderation.record_consensus(db.session, trailing, 99.0, "Agreed after the meeting.", actor=user)
    db.session.commit()

    assert shown_order(client, call) == [trailing.id, leading.id]


def test_an_application_screened_ineligible_leaves_the_kept_ranking(call, staff, ranked):
    client, user = staff
    leading, trailing, _evaluators = ranked
    assert shown_order(client, call) == [leading.id, trailing.id]
    screening = db.session.scalar(select(Screening).where(Screening.application_id == leading.id))

    decide_screening(
        db.session,
        screening,
        leading,
        Decision(
            "ineligible",
            reason_ar="خارج الموضوع",
            reason_fr="Hors sujet",
            version=screening.version,
        ),
        actor=user,
    )
    db.session.commit()

    assert shown_order(client, call) == [trailing.id]


def test_a_reopened_review_leaves_the_kept_ranking(call, staff, ranked):
    client, user = staff
    leading, trailing, _evaluators = ranked
    assert shown_order(client, call) == [leading.id, trailing.id]
    review = db.session.scalar(select(Review).where(Review.application_id == leading.id))

    scoring.reopen_review(db.session, review, "Look at the budget again.", actor=user)
    db.session.commit()

    # Without a submitted review it waits at the end, unranked.
    assert shown_order(client, call) == [trailing.id, leading.id]
    body = client.get(url_for("review.ranking", call_id=call.id)).get_data(as_text=True)
    assert shown("not reviewed yet") in body


def test_a_changed_weight_or_threshold_is_a_new_kept_ranking(call, staff, ranked):
    client, _user = staff
    leading, trailing, evaluators = ranked
    factories.scored_review(leading, evaluators[1], [10, 0])
    factories.scored_review(trailing, evaluators[1], [0, 10])
    # Weights 60/40. Leading: 60 and 60 (mean 60); trailing: 50 and 40 (mean 45).
    assert shown_order(client, call) == [leading.id, trailing.id]
    before = token_of(call)

    first, second = call.criteria
    first.weight, second.weight = 10, 90
    call.overall_minimum = 50
    db.session.commit()

    body = client.get(url_for("review.ranking", call_id=call.id)).get_data(as_text=True)

    assert token_of(call) == before  # the criteria and thresholds are part of the key instead
    # Weights 10/90. Leading: 60 and 10 (mean 35); trailing: 50 and 90 (mean 70).
    assert re.findall(r'<tr id="application-(\d+)"', body) == [str(trailing.id), str(leading.id)]
    assert "70.0" in body
    assert shown("below the overall minimum") in body  # leading, under 50


def test_a_renamed_association_shows_its_new_name_on_the_kept_ranking(call, staff, ranked):
    client, _user = staff
    leading, _trailing, _evaluators = ranked
    client.get(url_for("review.ranking", call_id=call.id))  # kept
    before = token_of(call)

    leading.association.name_ar = "جمعية بالاسم الجديد"
    leading.title_ar = "عنوان مصحح"
    db.session.commit()
    body = client.get(url_for("review.ranking", call_id=call.id)).get_data(as_text=True)

    assert token_of(call) == before  # names are not part of the order: read for each page
    assert "جمعية بالاسم الجديد" in body
    assert "عنوان مصحح" in body


def test_an_applicants_autosave_keeps_the_token(call, ranked):
    leading, _trailing, _evaluators = ranked
    before = token_of(call)

    leading.context = "A longer context written after submission by a test."
    db.session.commit()

    assert token_of(call) == before


@pytest.mark.parametrize("normalised", [False, True])
def test_every_page_of_the_kept_ranking_is_the_computed_ranking(call, normalised):
    populate(db.session, call, 230, evaluators=9)
    db.session.commit()
    lot = call.lots[0].id if call.lots else None
    for lot_id in {None, lot}:
        computed = rank_call(db.session, call, lot_id=lot_id, normalised=normalised)
        pages = [
            ranking_page(db.session, call, number, 100, lot_id=lot_id, normalised=normalised)
            for number in (1, 2, 3)
        ]
        kept = [item for page in pages for item in page.items]
        assert [(item.application_id, item.rank) for item in kept] == [
            (item.application_id, item.rank) for item in computed
        ]
        assert kept == computed  # every statistic, flag and name


def test_a_call_created_afresh_never_meets_another_calls_kept_ranking(app):
    first, second = factories.closed_call(), factories.closed_call()

    assert first.scores_token != second.scores_token
    assert len(first.scores_token) == 32


def test_kept_rankings_drop_the_least_recently_used_beyond_their_size():
    kept = Kept(2)
    computed = []

    def compute(name):
        computed.append(name)
        return [name]

    kept.get_or_compute("a", lambda: compute("a"))
    kept.get_or_compute("b", lambda: compute("b"))
    kept.get_or_compute("a", lambda: compute("a"))  # kept, and now the most recent
    kept.get_or_compute("c", lambda: compute("c"))  # drops b
    kept.get_or_compute("a", lambda: compute("a"))
    kept.get_or_compute("b", lambda: compute("b"))

    assert computed == ["a", "b", "c", "b"]


def test_the_worker_store_is_bounded(app):
    assert kept_rankings.size >= 14  # a call of 6 lots: whole and per lot, two views
