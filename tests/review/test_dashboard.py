"""The evaluator's dashboard: states, progress, deadline, conflicts first, fixed query count."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.review.models import Review
from tests import factories
from tests.conftest import sign_in


def test_the_dashboard_lists_assignments_with_state_progress_and_deadline(app, call):
    user = factories.evaluator(call)
    untouched, drafted, done = (factories.submitted_application(call) for _ in range(3))
    factories.assign(untouched, user)
    factories.scored_review(drafted, user, [5, None], submitted=False)
    factories.scored_review(done, user, [5, 6])
    page = sign_in(app.test_client(), user).get("/reviews").get_data(as_text=True)
    for state in ("pending", "draft", "submitted"):
        assert f"status-{state}" in page
    assert '<progress max="3" value="1">' in page
    assert "UTC+0" in page  # the review deadline carries its offset
    for application in (untouched, drafted, done):
        assert application.title_ar in page


def test_a_call_whose_conflicts_are_not_declared_shows_the_link_instead_of_the_list(app, call):
    user = factories.evaluator(call, declared=False)
    application = factories.submitted_application(call)
    factories.assign(application, user)
    page = sign_in(app.test_client(), user).get("/reviews").get_data(as_text=True)
    assert f"/reviews/calls/{call.id}/conflicts" in page
    assert application.title_ar not in page


def test_a_removed_assignment_is_not_listed(app, call):
    user = factories.evaluator(call)
    application = factories.submitted_application(call)
    factories.assign(application, user, status="removed")
    page = sign_in(app.test_client(), user).get("/reviews").get_data(as_text=True)
    assert application.title_ar not in page


def test_staff_and_applicants_have_no_dashboard(app, login_as):
    for role in ("staff", "applicant"):
        client, _user = login_as(role)
        assert client.get("/reviews").status_code == 403


def _assign_many(call, user, n: int) -> None:
    association = factories.AssociationFactory(owner=factories.UserFactory())
    applications = [
        factories.submitted_application(call, association, commit=False) for _ in range(n)
    ]
    db.session.flush()
    db.session.add_all(
        Review(call_id=call.id, application_id=a.id, evaluator_id=user.id) for a in applications
    )
    db.session.commit()


@pytest.mark.parametrize("blind", [False, True])
def test_the_dashboard_runs_the_same_queries_for_10_and_2000_applications(
    app, count_queries, blind
):
    """P01: a fixed number of statements, at most 10, whatever the number of assignments."""
    counts = []
    for n in (10, 2000):
        call = factories.closed_call(blind_review=blind)
        user = factories.evaluator(call)
        _assign_many(call, user, n)
        client = sign_in(app.test_client(), user)
        db.session.expire_all()
        with count_queries() as counter:
            response = client.get("/reviews")
        assert response.status_code == 200
        assert response.get_data(as_text=True).count('href="/reviews/') >= n
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
    assert counts[1] <= 10, counts


def test_the_score_page_runs_a_fixed_number_of_queries(app, call, count_queries):
    user = factories.evaluator(call)
    application = factories.submitted_application(call)
    review = factories.assign(application, user)
    client = sign_in(app.test_client(), user)
    db.session.expire_all()
    with count_queries() as counter:
        assert client.get(f"/reviews/{review.id}").status_code == 200
    # A detail page, not a list: its statements do not grow with the data (session, user,
    # roles, the review with its application, one per collection shown, the conflict check).
    assert counter.count <= 15, "\n".join(counter.statements)
