"""Assignment: the automatic planner on plain data, the automatic assignment of a call (all or
nothing), and staff adding, removing and moving assignments by hand."""

from __future__ import annotations

import re

import pytest
from flask import current_app, url_for
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.review.assignment import ApplicationNeed, EvaluatorOffer, plan_assignments
from portal.review.models import (
    ConflictDeclaration,
    Review,
    ReviewStatus,
    Score,
    Screening,
    ScreeningDecision,
)
from tests import factories
from tests.conftest import shown

HTMX = {"HX-Request": "true"}


def need(id_, language="ar", axes=(), assigned=()):
    return ApplicationNeed(id_, language, frozenset(axes), frozenset(assigned))


def offer(id_, languages=("ar", "fr"), expertise=(), load=0):
    return EvaluatorOffer(id_, frozenset(languages), frozenset(expertise), load)


def eligible(call, **fields):
    application = factories.submitted_application(call, **fields)
    db.session.add(
        Screening(
            application_id=application.id, call_id=call.id, decision=ScreeningDecision.ELIGIBLE
        )
    )
    db.session.commit()
    return application


def active_reviews(application=None) -> list[Review]:
    db.session.expire_all()
    query = select(Review).where(Review.status != ReviewStatus.REMOVED)
    if application is not None:
        query = query.where(Review.application_id == application.id)
    return list(db.session.scalars(query.order_by(Review.id)))


def review_count() -> int:
    return db.session.scalar(select(func.count()).select_from(Review))


def outbox(template: str) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.template == template)
    return list(db.session.scalars(query.order_by(OutboxMessage.id)))


# --- the planner ----------------------------------------------------------------------------


def test_every_application_gets_k_distinct_reviewers_with_even_loads():
    applications = [need(number) for number in range(1, 31)]
    evaluators = [offer(100 + number) for number in range(9)]

    plan = plan_assignments(applications, evaluators, {}, 3, 40)

    assert plan.complete
    per_application = {}
    for application_id, evaluator_id in plan.pairs:
        per_application.setdefault(application_id, set()).add(evaluator_id)
    assert all(len(reviewers) == 3 for reviewers in per_application.values())
    assert len(per_application) == 30
    assert plan.spread <= 1


def test_a_conflicted_evaluator_is_never_planned():
    applications = [need(number) for number in range(1, 11)]
    evaluators = [offer(100 + number) for number in range(4)]
    conflicts = {100: {1, 2, 3}, 101: {1}}

    plan = plan_assignments(applications, evaluators, conflicts, 2, 40)

    assert plan.complete
    for application_id, evaluator_id in plan.pairs:
        assert application_id not in conflicts.get(evaluator_id, set())


def test_evaluators_review_only_applications_in_a_language_they_read():
    applications = [need(1, "ar"), need(2, "fr"), need(3, "fr"), need(4, "ar")]
    evaluators = [
        offer(10, ["ar"]),
        offer(11, ["ar"]),
        offer(12, ["fr"]),
        offer(13, ["fr"]),
        offer(14, ["ar", "fr"]),
    ]
    languages = {evaluator.id: evaluator.languages for evaluator in evaluators}
    by_id = {application.id: application.language for application in applications}

    plan = plan_assignments(applications, evaluators, {}, 2, 40)

    assert plan.complete
    assert all(by_id[app] in languages[evaluator] for app, evaluator in plan.pairs)


def test_the_cap_per_evaluator_is_never_passed_counting_reviews_already_held():
    applications = [need(number) for number in range(1, 7)]
    evaluators = [offer(10, load=3), offer(11), offer(12), offer(13)]

    plan = plan_assignments(applications, evaluators, {}, 2, 4)

    assert plan.complete
    assert plan.loads[10] <= 4
    assert max(plan.loads.values()) <= 4


def test_existing_reviews_count_towards_the_k_reviews_and_the_loads():
    applications = [need(1, assigned=[10, 11]), need(2)]
    evaluators = [offer(10, load=1), offer(11, load=1), offer(12), offer(13)]

    plan = plan_assignments(applications, evaluators, {}, 3, 40)

    assert plan.complete
    assert [pair for pair in plan.pairs if pair[0] == 1] == [(1, 12)] or len(
        [pair for pair in plan.pairs if pair[0] == 1]
    ) == 1
    assert len([pair for pair in plan.pairs if pair[0] == 2]) == 3
    assert all(evaluator not in (10, 11) for app, evaluator in plan.pairs if app == 1)


def test_an_expert_of_the_application_axes_is_preferred_among_equally_loaded():
    applications = [need(1, axes=["axis-3"])]
    evaluators = [offer(10, expertise=["axis-1"]), offer(11, expertise=["axis-3"]), offer(12)]

    plan = plan_assignments(applications, evaluators, {}, 1, 40)

    assert plan.pairs == [(1, 11)]
    assert plan.without_expert == []


def test_an_application_with_no_expert_available_is_assigned_and_reported():
    applications = [need(1, axes=["axis-4"])]
    evaluators = [offer(10, expertise=["axis-1"]), offer(11)]

    plan = plan_assignments(applications, evaluators, {}, 2, 40)

    assert plan.complete
    assert plan.without_expert == [1]


def test_loads_stay_even_across_languages_when_the_pool_allows():
    applications = [need(number, "fr" if number % 3 == 0 else "ar") for number in range(1, 301)]
    evaluators = (
        [offer(100 + n, ["ar"]) for n in range(10)]
        + [offer(200 + n, ["fr"]) for n in range(4)]
        + [offer(300 + n, ["ar", "fr"]) for n in range(6)]
    )

    plan = plan_assignments(applications, evaluators, {}, 3, 100)

    assert plan.complete
    assert plan.spread <= 1, plan.loads


def test_the_plan_is_the_same_for_the_same_input_in_any_order():
    applications = [need(n, "fr" if n % 4 == 0 else "ar", ["axis-1"]) for n in range(1, 60)]
    evaluators = [offer(100 + n, expertise=["axis-1"] if n % 2 else []) for n in range(12)]
    conflicts = {101: {3, 5}, 104: {8}}

    first = plan_assignments(applications, evaluators, conflicts, 3, 40)
    second = plan_assignments(applications[::-1], evaluators[::-1], conflicts, 3, 40)

    assert first.pairs == second.pairs


def test_a_pool_too_small_leaves_shortfalls_that_say_why():
    applications = [need(1, "fr"), need(2, "ar")]
    evaluators = [offer(10, ["ar"]), offer(11, ["ar", "fr"]), offer(12, ["ar", "fr"])]
    conflicts = {12: {1}}

    plan = plan_assignments(applications, evaluators, conflicts, 3, 40)

    assert not plan.complete
    (shortfall,) = plan.shortfalls
    assert shortfall.application_id == 1
    assert shortfall.missing == 2
    assert shortfall.language == 1  # evaluator 10 reads no French
    assert shortfall.conflicts == 1  # evaluator 12


def test_ten_thousand_applications_and_five_hundred_evaluators_plan_quickly():
    from bench.assignment import run

    measured = run()

    assert measured["assignment_shortfalls"] == 0
    assert measured["assignment_reviews"] == 30_000
    assert measured["assignment_s"] < 10


# --- the automatic assignment of a call -----------------------------------------------------


def test_automatic_assignment_covers_every_eligible_application_and_mails_each_evaluator_once(
    call, staff
):
    client, _user = staff
    applications = [eligible(call) for _ in range(4)]
    not_screened = factories.submitted_application(call)
    evaluators = [factories.evaluator(call) for _ in range(4)]

    response = client.post(url_for("review.assign_automatically", call_id=call.id))

    assert response.status_code == 303
    reviews = active_reviews()
    assert len(reviews) == 12
    assert {review.application_id for review in reviews} == {a.id for a in applications}
    assert not_screened.id not in {review.application_id for review in reviews}
    mails = outbox("evaluator_assigned")
    assert sorted(mail.recipient for mail in mails) == sorted(e.email for e in evaluators)
    if "review.dashboard" in current_app.view_functions:  # the scoring pages' dashboard
        assert all("/reviews" in mail.body_text for mail in mails)
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "review.assigned_automatically")
    )
    assert event.details["reviews"] == 12


def test_automatic_assignment_assigns_nothing_when_the_pool_is_too_small(call, staff):
    client, _user = staff
    arabic = eligible(call, language="ar")
    french = eligible(call, language="fr")
    for _ in range(3):
        factories.evaluator(call, languages=("ar",))
    bilingual = factories.evaluator(call, languages=("ar", "fr"))
    factories.assign(arabic, bilingual)
    before = review_count()

    response = client.post(url_for("review.assign_automatically", call_id=call.id))

    assert response.status_code == 422
    assert review_count() == before
    assert outbox("evaluator_assigned") == []
    page = response.get_data(as_text=True)
    assert (
        shown(
            "The pool cannot give every application its reviewers: nothing was assigned. "
            "See which applications lack reviewers and why below."
        )
        in page
    )
    assert shown("Application no. %(id)s", id=french.id) in page
    assert shown("Application no. %(id)s", id=arabic.id) not in page


def test_automatic_assignment_with_nothing_eligible_is_refused(call, staff):
    client, _user = staff
    factories.submitted_application(call)
    factories.evaluator(call)

    response = client.post(url_for("review.assign_automatically", call_id=call.id))

    assert response.status_code == 422
    assert shown("No application of this call has been screened eligible yet.") in (
        response.get_data(as_text=True)
    )
    assert review_count() == 0


def test_automatic_assignment_never_gives_a_conflicted_evaluator(call, staff):
    client, _user = staff
    application = eligible(call)
    member = factories.UserFactory()
    factories.add_member(application.association, member)
    evaluators = [factories.evaluator(call) for _ in range(3)]
    insider = factories.evaluator(call, email=member.email + ".x")
    factories.add_member(application.association, insider)
    declared = evaluators[0]
    db.session.add(
        ConflictDeclaration(
            call_id=call.id, application_id=application.id, evaluator_id=declared.id, reason="x"
        )
    )
    db.session.commit()
    call.reviews_per_application = 2
    db.session.commit()

    response = client.post(url_for("review.assign_automatically", call_id=call.id))

    assert response.status_code == 303
    assigned = {review.evaluator_id for review in active_reviews(application)}
    assert assigned == {evaluators[1].id, evaluators[2].id}


def test_assignment_mail_names_no_applicant_in_a_blind_call(call, staff):
    client, _user = staff
    call.blind_review = True
    call.reviews_per_application = 1
    db.session.commit()
    association = factories.AssociationFactory(
        name_fr="Association Distinctive Zeta", name_ar="جمعية زيتا المميزة", acronym="ZETA"
    )
    eligible(call, association=association)
    factories.evaluator(call)

    client.post(url_for("review.assign_automatically", call_id=call.id))

    (mail,) = outbox("evaluator_assigned")
    for text in (mail.subject, mail.body_text, mail.body_html):
        for secret in ("Distinctive Zeta", "زيتا", "ZETA", association.registration_number):
            assert secret not in text


# --- by hand --------------------------------------------------------------------------------


def test_staff_add_an_evaluator_who_is_mailed(call, staff):
    client, _user = staff
    application = eligible(call)
    evaluator = factories.evaluator(call)

    response = client.post(
        url_for("review.add_assignment", application_id=application.id),
        data={"evaluator_id": str(evaluator.id)},
    )

    assert response.status_code == 303
    assert [review.evaluator_id for review in active_reviews(application)] == [evaluator.id]
    assert [mail.recipient for mail in outbox("evaluator_assigned")] == [evaluator.email]


@pytest.mark.parametrize("conflict", ["member", "tie", "declared"])
def test_a_conflicted_evaluator_cannot_be_added(call, staff, conflict):
    from portal.review.models import DeclaredTie

    client, _user = staff
    application = eligible(call)
    evaluator = factories.evaluator(call)
    if conflict == "member":
        factories.add_member(application.association, evaluator)
    elif conflict == "tie":
        db.session.add(DeclaredTie(user_id=evaluator.id, association_id=application.association_id))
    else:
        db.session.add(
            ConflictDeclaration(
                call_id=call.id,
                application_id=application.id,
                evaluator_id=evaluator.id,
                reason="x",
            )
        )
    db.session.commit()

    response = client.post(
        url_for("review.add_assignment", application_id=application.id),
        data={"evaluator_id": str(evaluator.id)},
        headers=HTMX,
    )

    assert response.status_code == 422
    assert shown("This evaluator has a conflict of interest with this application.") in (
        response.get_data(as_text=True)
    )
    assert active_reviews(application) == []
    assert outbox("evaluator_assigned") == []


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "Choose an evaluator."),
        ("abc", "Choose an evaluator."),
        ("999999", "Choose an evaluator of the call's pool."),
    ],
)
def test_adding_without_a_valid_evaluator_is_refused(call, staff, value, message):
    client, _user = staff
    application = eligible(call)

    response = client.post(
        url_for("review.add_assignment", application_id=application.id),
        data={"evaluator_id": value},
    )

    assert response.status_code == 422
    assert shown(message) in response.get_data(as_text=True)
    assert review_count() == 0


def test_an_evaluator_who_does_not_read_the_language_or_is_at_the_cap_is_refused(call, staff):
    client, _user = staff
    application = eligible(call, language="fr")
    arabic_only = factories.evaluator(call, languages=("ar",))
    full = factories.evaluator(call)
    call.max_reviews_per_evaluator = 1
    db.session.commit()
    factories.assign(eligible(call), full)
    url = url_for("review.add_assignment", application_id=application.id)

    cap = shown(
        "This evaluator already has %(n)s reviews, the call's cap. Raise the cap in the "
        "review settings first.",
        n=1,
    )
    language = shown("This evaluator does not read the application's language.")
    for evaluator, message in ((arabic_only, language), (full, cap)):
        response = client.post(url, data={"evaluator_id": str(evaluator.id)})
        assert response.status_code == 422
        assert message in response.get_data(as_text=True)
    assert active_reviews(application) == []


def test_an_application_not_screened_eligible_gets_no_reviewer(call, staff):
    client, _user = staff
    application = factories.submitted_application(call)
    evaluator = factories.evaluator(call)

    response = client.post(
        url_for("review.add_assignment", application_id=application.id),
        data={"evaluator_id": str(evaluator.id)},
    )

    assert response.status_code == 422
    assert review_count() == 0


def test_removing_an_unsubmitted_review_marks_it_removed_and_answers_the_row_to_htmx(call, staff):
    client, _user = staff
    application = eligible(call)
    review = factories.assign(application, factories.evaluator(call))

    response = client.post(url_for("review.remove_assignment", review_id=review.id), headers=HTMX)

    assert response.status_code == 200
    assert f'id="assignment-{application.id}"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Review, review.id).status == ReviewStatus.REMOVED
    assert db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "review.assignment_removed")
    )


def test_a_submitted_review_cannot_be_removed_or_moved(call, staff):
    client, _user = staff
    application = eligible(call)
    review = factories.scored_review(application, factories.evaluator(call), [5, 5])
    other = factories.evaluator(call)

    removed = client.post(url_for("review.remove_assignment", review_id=review.id))
    moved = client.post(
        url_for("review.move_assignment", review_id=review.id),
        data={"evaluator_id": str(other.id)},
    )

    assert removed.status_code == moved.status_code == 422
    assert "submitted" in removed.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Review, review.id).status == ReviewStatus.SUBMITTED
    assert [r.evaluator_id for r in active_reviews(application)] == [review.evaluator_id]


def test_moving_a_draft_gives_the_new_evaluator_a_fresh_review(call, staff):
    client, _user = staff
    application = eligible(call)
    first, second = factories.evaluator(call), factories.evaluator(call)
    draft = factories.scored_review(application, first, [7, 3], submitted=False)

    response = client.post(
        url_for("review.move_assignment", review_id=draft.id),
        data={"evaluator_id": str(second.id)},
    )

    assert response.status_code == 303
    (moved,) = active_reviews(application)
    assert moved.evaluator_id == second.id
    assert moved.status == ReviewStatus.ASSIGNED
    assert db.session.scalar(select(func.count()).where(Score.review_id == moved.id)) == 0
    assert db.session.get(Review, draft.id).status == ReviewStatus.REMOVED
    assert [mail.recipient for mail in outbox("evaluator_assigned")] == [second.email]


def test_moving_to_a_conflicted_evaluator_is_refused_and_keeps_the_review(call, staff):
    client, _user = staff
    application = eligible(call)
    first, second = factories.evaluator(call), factories.evaluator(call)
    review = factories.assign(application, first)
    factories.add_member(application.association, second)

    response = client.post(
        url_for("review.move_assignment", review_id=review.id),
        data={"evaluator_id": str(second.id)},
    )

    assert response.status_code == 422
    assert [r.evaluator_id for r in active_reviews(application)] == [first.id]


def test_an_evaluator_removed_earlier_can_be_assigned_again_from_scratch(call, staff):
    client, _user = staff
    application = eligible(call)
    evaluator = factories.evaluator(call)
    old = factories.scored_review(application, evaluator, [4, 4], submitted=False)
    old.status = ReviewStatus.REMOVED
    db.session.commit()

    response = client.post(
        url_for("review.add_assignment", application_id=application.id),
        data={"evaluator_id": str(evaluator.id)},
    )

    assert response.status_code == 303
    (review,) = active_reviews(application)
    assert review.id == old.id and review.status == ReviewStatus.ASSIGNED
    assert db.session.scalar(select(func.count()).where(Score.review_id == review.id)) == 0


def test_the_assignments_page_lists_each_application_with_its_evaluators(call, staff):
    client, _user = staff
    application = eligible(call)
    evaluator = factories.evaluator(call, full_name="Evaluatrice Amal")
    factories.assign(application, evaluator)
    spare = factories.evaluator(call, full_name="Evaluateur Karim")

    page = client.get(url_for("review.assignments", call_id=call.id)).get_data(as_text=True)

    row = re.search(rf'id="assignment-{application.id}".*?</section>', page, re.S).group(0)
    assert "Evaluatrice Amal" in row
    assert f'<option value="{spare.id}">Evaluateur Karim (0)</option>' in row
    assert application.association.name_ar in row


def test_the_assignments_page_runs_the_same_queries_for_2_and_40_applications(
    call, staff, count_queries
):
    client, _user = staff
    url = url_for("review.assignments", call_id=call.id)
    evaluators = [factories.evaluator(call) for _ in range(3)]

    def queries() -> int:
        client.get(url)
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        return counter.count

    for _ in range(2):
        factories.assign(eligible(call), evaluators[0])
    small = queries()
    for number in range(38):
        application = eligible(call)
        factories.assign(application, evaluators[number % 3])
    for _ in range(5):
        factories.evaluator(call)
    large = queries()

    assert small == large, (small, large)
    assert large <= 10, large


def test_the_row_fragment_runs_a_fixed_number_of_queries(call, staff, count_queries):
    client, _user = staff
    application = eligible(call)
    evaluators = [factories.evaluator(call) for _ in range(6)]
    reviews = [factories.assign(application, evaluator) for evaluator in evaluators[:3]]
    url = url_for("review.remove_assignment", review_id=reviews[0].id)

    with count_queries() as counter:
        response = client.post(url, headers=HTMX)

    assert response.status_code == 200
    # The signed-in user, read before and again after the commit (2 + 2), the review, the change
    # and its audit event (3), the row: application, reviews, pool, conflicts, loads (5).
    assert counter.count <= 12, "\n".join(counter.statements)
