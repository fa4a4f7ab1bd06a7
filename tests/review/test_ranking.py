"""The ranking's rules: weighted totals on 100, statistics, disagreement, thresholds, consensus,
tie-break, lots, the normalised view, and who is ranked at all."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.calls.models import Lot
from portal.db import utcnow
from portal.extensions import db
from portal.review.models import Consensus, Screening, ScreeningDecision
from portal.review.ranking import rank_call, z_scores
from tests import factories


def screened(application, decision=ScreeningDecision.ELIGIBLE):
    """Record the application's screening decision (eligible by default)."""
    db.session.add(
        Screening(application_id=application.id, call_id=application.call_id, decision=decision)
    )
    db.session.commit()
    return application


def eligible_application(call, **fields):
    return screened(factories.submitted_application(call, **fields))


@pytest.fixture
def evaluators(call):
    return [factories.evaluator(call) for _ in range(3)]


def by_id(ranking):
    return {item.application_id: item for item in ranking}


def test_a_reviews_total_is_the_weighted_sum_on_100(call, evaluators):
    application = eligible_application(call)
    factories.scored_review(application, evaluators[0], [8, 5])  # 8/10×60 + 5/10×40

    (item,) = rank_call(db.session, call)

    assert item.mean == pytest.approx(68.0)
    assert item.reviews == 1


def test_a_criterion_with_another_maximum_counts_by_its_share(call, evaluators):
    call.criteria[1].max_score = 20
    db.session.commit()
    application = eligible_application(call)
    factories.scored_review(application, evaluators[0], [10, 5])  # 60 + 5/20×40

    (item,) = rank_call(db.session, call)

    assert item.mean == pytest.approx(70.0)


def test_statistics_are_mean_min_max_spread_and_number_of_reviews(call, evaluators):
    application = eligible_application(call)
    for evaluator, values in zip(evaluators, ([10, 10], [5, 5], [8, 5]), strict=True):
        factories.scored_review(application, evaluator, values)

    (item,) = rank_call(db.session, call)

    assert (item.reviews, item.lowest, item.highest) == (3, 50.0, 100.0)
    assert item.mean == pytest.approx((100 + 50 + 68) / 3)
    assert item.spread == pytest.approx(50.0)
    assert item.criterion_means[call.criteria[0].id] == pytest.approx(23 / 3)


def test_a_spread_above_the_threshold_is_a_disagreement(call, evaluators):
    split = eligible_application(call)
    factories.scored_review(split, evaluators[0], [10, 10])
    factories.scored_review(split, evaluators[1], [7, 9])  # 78: spread 22
    close = eligible_application(call)
    factories.scored_review(close, evaluators[0], [10, 10])
    factories.scored_review(close, evaluators[1], [7, 10])  # 82: spread 18

    items = by_id(rank_call(db.session, call))

    assert items[split.id].disagreement is True
    assert items[close.id].disagreement is False


def test_a_spread_equal_to_the_threshold_is_no_disagreement(call, evaluators):
    application = eligible_application(call)
    factories.scored_review(application, evaluators[0], [10, 10])
    factories.scored_review(application, evaluators[1], [10, 5])  # 80: spread exactly 20

    (item,) = rank_call(db.session, call)

    assert item.spread == pytest.approx(20.0)
    assert item.disagreement is False


def test_draft_reviews_do_not_count(call, evaluators):
    application = eligible_application(call)
    factories.scored_review(application, evaluators[0], [10, 10])
    factories.scored_review(application, evaluators[1], [0, 0], submitted=False)

    (item,) = rank_call(db.session, call)

    assert (item.reviews, item.mean) == (1, 100.0)


def test_only_applications_screened_eligible_are_ranked(call, evaluators):
    ranked = eligible_application(call)
    pending = factories.submitted_application(call)
    ineligible = screened(factories.submitted_application(call), ScreeningDecision.INELIGIBLE)
    for application in (ranked, pending, ineligible):
        factories.scored_review(application, evaluators[0], [5, 5])

    assert [item.application_id for item in rank_call(db.session, call)] == [ranked.id]
    assert pending.id != ineligible.id


def test_applications_without_a_submitted_review_come_last_without_a_rank(call, evaluators):
    waiting = eligible_application(call)
    low = eligible_application(call)
    factories.scored_review(low, evaluators[0], [1, 1])

    ranking = rank_call(db.session, call)

    assert [item.application_id for item in ranking] == [low.id, waiting.id]
    assert ranking[0].rank == 1
    assert ranking[1].rank is None and not ranking[1].reviewed and not ranking[1].fundable


def test_a_consensus_replaces_the_mean_as_the_final_score(call, evaluators, staff):
    best = eligible_application(call)
    factories.scored_review(best, evaluators[0], [10, 10])
    good = eligible_application(call)
    factories.scored_review(good, evaluators[0], [9, 9])
    moderated = eligible_application(call)
    factories.scored_review(moderated, evaluators[0], [5, 5])
    db.session.add(
        Consensus(
            application_id=moderated.id, score=95.5, justification="…", recorded_by_id=staff[1].id
        )
    )
    db.session.commit()

    ranking = rank_call(db.session, call)

    assert [item.application_id for item in ranking] == [best.id, moderated.id, good.id]
    assert (ranking[1].mean, ranking[1].consensus, ranking[1].final) == (50.0, 95.5, 95.5)


def test_a_mean_below_a_criterions_minimum_is_marked_and_not_fundable(call, evaluators):
    call.criteria[1].minimum_score = 5
    db.session.commit()
    weak = eligible_application(call)
    factories.scored_review(weak, evaluators[0], [10, 4])
    factories.scored_review(weak, evaluators[1], [10, 5])  # mean 4.5 < 5
    fine = eligible_application(call)
    factories.scored_review(fine, evaluators[0], [5, 5])

    items = by_id(rank_call(db.session, call))

    assert items[weak.id].below_criteria == [call.criteria[1].id]
    assert items[weak.id].fundable is False
    assert items[weak.id].rank == 1  # still ranked by its score, marked
    assert items[fine.id].below_criteria == [] and items[fine.id].fundable is True


def test_a_final_score_below_the_overall_minimum_is_not_fundable(call, evaluators, staff):
    call.overall_minimum = 60
    db.session.commit()
    below = eligible_application(call)
    factories.scored_review(below, evaluators[0], [5, 5])  # 50
    rescued = eligible_application(call)
    factories.scored_review(rescued, evaluators[0], [5, 5])
    db.session.add(
        Consensus(
            application_id=rescued.id, score=60, justification="…", recorded_by_id=staff[1].id
        )
    )
    db.session.commit()

    items = by_id(rank_call(db.session, call))

    assert items[below.id].below_overall is True and items[below.id].fundable is False
    assert items[rescued.id].below_overall is False and items[rescued.id].fundable is True


def test_ties_go_to_the_heaviest_criterion_then_the_earlier_submission_then_the_id(
    call, evaluators
):
    now = utcnow()
    # Both total 48; the first criterion (weight 60) is the heaviest.
    stronger_on_heaviest = eligible_application(call, submitted_at=now - timedelta(hours=1))
    factories.scored_review(stronger_on_heaviest, evaluators[0], [8, 0])
    weaker_on_heaviest = eligible_application(call, submitted_at=now - timedelta(hours=9))
    factories.scored_review(weaker_on_heaviest, evaluators[0], [4, 6])
    later = eligible_application(call, submitted_at=now - timedelta(hours=2))
    factories.scored_review(later, evaluators[0], [4, 4])
    earlier = eligible_application(call, submitted_at=now - timedelta(hours=3))
    factories.scored_review(earlier, evaluators[0], [4, 4])
    same_time = now - timedelta(hours=4)
    first_id = eligible_application(call, submitted_at=same_time)
    factories.scored_review(first_id, evaluators[0], [3, 3])
    second_id = eligible_application(call, submitted_at=same_time)
    factories.scored_review(second_id, evaluators[0], [3, 3])

    order = [item.application_id for item in rank_call(db.session, call)]

    assert order == [
        stronger_on_heaviest.id,
        weaker_on_heaviest.id,
        earlier.id,
        later.id,
        first_id.id,
        second_id.id,
    ]


def test_the_heaviest_criterion_on_equal_weights_is_the_first_in_order(call, evaluators):
    call.criteria[0].weight = call.criteria[1].weight = 50
    call.criteria[0].position, call.criteria[1].position = 2, 1  # the second now comes first
    db.session.commit()
    now = utcnow()
    # Scores are given in the call's order of criteria: the first value is the first listed.
    strong_first_listed = eligible_application(call, submitted_at=now)
    factories.scored_review(strong_first_listed, evaluators[0], [6, 4])
    strong_other = eligible_application(call, submitted_at=now - timedelta(hours=1))
    factories.scored_review(strong_other, evaluators[0], [4, 6])

    order = [item.application_id for item in rank_call(db.session, call)]

    assert order == [strong_first_listed.id, strong_other.id]


def test_each_lot_is_ranked_on_its_own(call, evaluators):
    second_lot = Lot(position=2, title_ar="حصة 2", title_fr="Lot 2", budget=1000)
    call.lots.append(second_lot)
    db.session.commit()
    in_first = eligible_application(call)
    factories.scored_review(in_first, evaluators[0], [5, 5])
    in_second = eligible_application(call, lot=second_lot)
    factories.scored_review(in_second, evaluators[0], [9, 9])

    whole = rank_call(db.session, call)
    first_lot = rank_call(db.session, call, lot_id=call.lots[0].id)
    other_lot = rank_call(db.session, call, lot_id=second_lot.id)

    assert [(item.application_id, item.rank) for item in whole] == [
        (in_second.id, 1),
        (in_first.id, 2),
    ]
    assert [(item.application_id, item.rank) for item in first_lot] == [(in_first.id, 1)]
    assert [(item.application_id, item.rank) for item in other_lot] == [(in_second.id, 1)]


def test_the_normalised_view_corrects_a_harsh_evaluator(call):
    harsh, lenient = factories.evaluator(call), factories.evaluator(call)
    applications = [eligible_application(call) for _ in range(4)]
    # The harsh evaluator gives A its best mark among their reviews, but a low one;
    # the lenient gives B a high mark that is their worst.
    a, b, c, d = applications
    factories.scored_review(a, harsh, [4, 4])  # 40: harsh's best
    factories.scored_review(c, harsh, [2, 2])  # 20
    factories.scored_review(b, lenient, [8, 8])  # 80: lenient's worst
    factories.scored_review(d, lenient, [10, 10])  # 100

    standard = [item.application_id for item in rank_call(db.session, call)]
    normalised = rank_call(db.session, call, normalised=True)

    assert standard == [d.id, b.id, a.id, c.id]
    items = by_id(normalised)
    assert items[a.id].normalised == pytest.approx(1.0)
    assert items[b.id].normalised == pytest.approx(-1.0)
    assert items[a.id].rank < items[b.id].rank
    assert items[a.id].mean == pytest.approx(40.0)  # the raw mean is still shown


def test_an_evaluator_whose_totals_are_all_equal_gives_z_scores_of_zero():
    assert z_scores([(1, 7, 50.0), (2, 7, 50.0)]) == {1: [0.0], 2: [0.0]}
    assert z_scores([(1, 7, 40.0), (2, 7, 60.0)]) == {
        1: [pytest.approx(-1.0)],
        2: [pytest.approx(1.0)],
    }
