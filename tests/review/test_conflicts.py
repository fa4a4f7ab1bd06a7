"""Conflicts of interest: associations an evaluator declares being tied to, and the declaration
of conflicts on a call's applications before seeing any of them."""

from __future__ import annotations

from datetime import timedelta

from flask import url_for
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.extensions import db
from portal.review.models import (
    ConflictDeclaration,
    DeclaredTie,
    PoolMember,
    Review,
    ReviewStatus,
)
from tests import factories
from tests.conftest import shown


def evaluator_client(login_as, call, **fields):
    user = factories.evaluator(call, declared=False, **fields)
    return login_as(user=user)


def member_of(call, user) -> PoolMember:
    db.session.expire_all()
    return db.session.scalar(
        select(PoolMember).where(PoolMember.call_id == call.id, PoolMember.user_id == user.id)
    )


def declarations() -> int:
    return db.session.scalar(select(func.count()).select_from(ConflictDeclaration))


# --- declared ties --------------------------------------------------------------------------


def test_an_evaluator_declares_a_tie_by_registration_number(call, login_as):
    client, user = evaluator_client(login_as, call)
    association = factories.AssociationFactory(registration_number="RABAT-123/2019")

    response = client.post(
        url_for("review.ties"),
        data={"registration_number": "  rabat-123/2019 ", "reason": "Membre du bureau"},
    )

    assert response.status_code == 303
    (tie,) = db.session.scalars(select(DeclaredTie).where(DeclaredTie.user_id == user.id))
    assert (tie.association_id, tie.reason) == (association.id, "Membre du bureau")
    page = client.get(url_for("review.ties")).get_data(as_text=True)
    assert association.name_ar in page


def test_a_tie_with_an_unknown_number_no_reason_or_twice_is_refused(call, login_as):
    client, user = evaluator_client(login_as, call)
    association = factories.AssociationFactory()
    db.session.add(DeclaredTie(user_id=user.id, association_id=association.id, reason="x"))
    db.session.commit()
    url = url_for("review.ties")

    for data in (
        {"registration_number": "NOPE-1", "reason": "x"},
        {"registration_number": association.registration_number, "reason": ""},
        {"registration_number": association.registration_number, "reason": "again"},
    ):
        response = client.post(url, data=data)
        assert response.status_code == 422, data
    assert db.session.scalar(select(func.count()).select_from(DeclaredTie)) == 1


def test_declaring_a_tie_removes_unsubmitted_reviews_of_that_association(call, login_as):
    client, user = evaluator_client(login_as, call)
    application = factories.submitted_application(call)
    review = factories.assign(application, user)

    client.post(
        url_for("review.ties"),
        data={
            "registration_number": application.association.registration_number,
            "reason": "Cousin du président",
        },
    )

    db.session.expire_all()
    assert db.session.get(Review, review.id).status == ReviewStatus.REMOVED


def test_an_evaluator_withdraws_their_tie_but_not_someone_elses(call, login_as):
    client, user = evaluator_client(login_as, call)
    other = factories.evaluator(call)
    association = factories.AssociationFactory()
    mine = DeclaredTie(user_id=user.id, association_id=association.id, reason="x")
    theirs = DeclaredTie(user_id=other.id, association_id=association.id, reason="y")
    db.session.add_all([mine, theirs])
    db.session.commit()
    mine_id, theirs_id = mine.id, theirs.id

    refused = client.post(url_for("review.remove_tie", tie_id=theirs_id))
    withdrawn = client.post(url_for("review.remove_tie", tie_id=mine_id))

    assert refused.status_code == 404
    assert withdrawn.status_code == 303
    db.session.expire_all()
    assert db.session.get(DeclaredTie, mine_id) is None
    assert db.session.get(DeclaredTie, theirs_id) is not None


def test_ties_are_for_evaluators_only(staff):
    client, _user = staff

    assert client.get(url_for("review.ties")).status_code == 403


# --- declared conflicts ---------------------------------------------------------------------


def test_the_list_shows_titles_and_association_names_even_in_a_blind_call(call, login_as):
    call.blind_review = True
    db.session.commit()
    client, _user = evaluator_client(login_as, call)
    association = factories.AssociationFactory(name_fr="Association Singulière Omega")
    application = factories.submitted_application(call, association=association)

    page = client.get(url_for("review.declare_conflicts", call_id=call.id)).get_data(as_text=True)

    assert application.title_ar in page
    assert association.name_ar in page


def test_automatic_conflicts_are_shown_as_such(call, login_as):
    client, user = evaluator_client(login_as, call)
    own = factories.submitted_application(call)
    factories.add_member(own.association, user)

    page = client.get(url_for("review.declare_conflicts", call_id=call.id)).get_data(as_text=True)

    assert f'name="conflict" value="{own.id}"' not in page
    assert shown("You are a member of this association.") in page


def test_declaring_sets_the_date_and_removes_an_assigned_unsubmitted_review(call, login_as):
    client, user = evaluator_client(login_as, call)
    conflicted = factories.submitted_application(call)
    other = factories.submitted_application(call)
    review = factories.assign(conflicted, user)

    response = client.post(
        url_for("review.declare_conflicts", call_id=call.id),
        data={
            "conflict": [str(conflicted.id)],
            f"reason-{conflicted.id}": "Ancien salarié",
            "confirm": "1",
        },
    )

    assert response.status_code == 303
    assert member_of(call, user).conflicts_declared_at is not None
    (declaration,) = db.session.scalars(select(ConflictDeclaration))
    assert (declaration.application_id, declaration.reason) == (conflicted.id, "Ancien salarié")
    assert db.session.get(Review, review.id).status == ReviewStatus.REMOVED
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "review.conflict_declared")
    )
    assert event.details["review_removed"] is True
    assert other.id != conflicted.id


def test_declaring_no_conflict_needs_the_confirmation(call, login_as):
    client, user = evaluator_client(login_as, call)
    factories.submitted_application(call)
    url = url_for("review.declare_conflicts", call_id=call.id)

    refused = client.post(url, data={})
    confirmed = client.post(url, data={"confirm": "1"})

    assert refused.status_code == 422
    assert confirmed.status_code == 303
    assert member_of(call, user).conflicts_declared_at is not None
    assert declarations() == 0


def test_a_conflict_without_a_reason_is_refused_and_nothing_is_saved(call, login_as):
    client, user = evaluator_client(login_as, call)
    first = factories.submitted_application(call)
    second = factories.submitted_application(call)

    response = client.post(
        url_for("review.declare_conflicts", call_id=call.id),
        data={
            "conflict": [str(first.id), str(second.id)],
            f"reason-{first.id}": "Une raison",
            "confirm": "1",
        },
    )

    assert response.status_code == 422
    assert declarations() == 0
    assert member_of(call, user).conflicts_declared_at is None
    assert "Une raison" in response.get_data(as_text=True)  # what was typed is kept


def test_an_application_of_another_call_cannot_be_declared(call, login_as):
    client, _user = evaluator_client(login_as, call)
    elsewhere = factories.submitted_application(factories.closed_call())

    response = client.post(
        url_for("review.declare_conflicts", call_id=call.id),
        data={"conflict": [str(elsewhere.id)], f"reason-{elsewhere.id}": "x", "confirm": "1"},
    )

    assert response.status_code == 422
    assert declarations() == 0


def test_conflicts_wait_for_the_calls_deadline(login_as):
    call = factories.published_call()
    client, user = evaluator_client(login_as, call)
    url = url_for("review.declare_conflicts", call_id=call.id)

    page = client.get(url)
    refused = client.post(url, data={"confirm": "1"})

    assert page.status_code == 200
    assert refused.status_code == 422
    assert member_of(call, user).conflicts_declared_at is None


def test_an_evaluator_outside_the_pool_or_removed_does_not_see_the_list(call, login_as):
    outsider_client, _outsider = login_as("evaluator")
    factories.submitted_application(call)

    response = outsider_client.get(url_for("review.declare_conflicts", call_id=call.id))

    assert response.status_code == 404


def test_a_conflict_declared_later_removes_the_review_and_blocks_reassignment(
    call, login_as, staff
):
    from portal.review.models import Screening, ScreeningDecision

    staff_client, _staff = staff
    client, user = evaluator_client(login_as, call)
    application = factories.submitted_application(call)
    db.session.add(
        Screening(
            application_id=application.id, call_id=call.id, decision=ScreeningDecision.ELIGIBLE
        )
    )
    member_of(call, user).conflicts_declared_at = utcnow() - timedelta(days=1)
    db.session.commit()
    factories.assign(application, user)

    client.post(
        url_for("review.declare_conflicts", call_id=call.id),
        data={"conflict": [str(application.id)], f"reason-{application.id}": "x", "confirm": "1"},
    )
    again = staff_client.post(
        url_for("review.add_assignment", application_id=application.id),
        data={"evaluator_id": str(user.id)},
    )

    assert again.status_code == 422
    db.session.expire_all()
    assert db.session.scalars(
        select(Review.status).where(Review.application_id == application.id)
    ).all() == [ReviewStatus.REMOVED]
