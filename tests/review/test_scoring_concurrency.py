"""Parallel scoring requests on PostgreSQL: two tabs saving one criterion, a double submit."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.review.models import Review, ReviewStatus, Score
from tests import factories
from tests.applications.test_concurrency import clients_of, in_parallel

pytestmark = pytest.mark.postgres
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def postgres(app, session):
    """These tests need PostgreSQL's row locks and parallel connections."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip(
            "parallel requests are tested on PostgreSQL only (SQLite runs one writer at a "
            "time): run with TEST_DATABASE_URL=postgresql://…; the CI runs both"
        )


@pytest.fixture
def review(app, call):
    user = factories.evaluator(call)
    return factories.assign(factories.submitted_application(call), user), user


def test_two_tabs_saving_one_criterion_from_one_version_get_one_save_and_one_409(
    app, session, call, review
):
    review, user = review
    criterion = call.criteria[0]
    (first, first_token), (second, second_token) = clients_of(app, user, user)
    url = f"/reviews/{review.id}/criteria/{criterion.id}"
    session.commit()

    answers = in_parallel(
        app,
        [
            lambda: first.post(
                url,
                data={"value": "8", "version": "0"},
                headers={**HTMX, "X-CSRFToken": first_token},
                csrf=False,
            ),
            lambda: second.post(
                url,
                data={"value": "3", "version": "0"},
                headers={**HTMX, "X-CSRFToken": second_token},
                csrf=False,
            ),
        ],
        held=(Review, review.id),
    )

    assert sorted(answer.status for answer in answers) == [200, 409], answers
    winner = "8" if answers[0].status == 200 else "3"
    session.expire_all()
    scores = session.scalars(select(Score).where(Score.review_id == review.id)).all()
    assert [(score.value, score.version) for score in scores] == [(int(winner), 1)]


def test_submit_sent_twice_in_parallel_gives_one_audit_event(app, session, call, review):
    review, user = review
    for criterion in call.criteria:
        session.add(Score(review_id=review.id, criterion_id=criterion.id, value=5))
    session.commit()
    (first, first_token), (second, second_token) = clients_of(app, user, user)
    url = f"/reviews/{review.id}/submit"

    answers = in_parallel(
        app,
        [
            lambda: first.post(url, headers={"X-CSRFToken": first_token}, csrf=False),
            lambda: second.post(url, headers={"X-CSRFToken": second_token}, csrf=False),
        ],
        held=(Review, review.id),
    )

    assert [answer.status for answer in answers] == [303, 303], answers
    session.expire_all()
    assert session.get(Review, review.id).status == ReviewStatus.SUBMITTED
    submitted = select(func.count()).where(AuditEvent.action == "review.submitted")
    assert session.scalar(submitted.select_from(AuditEvent)) == 1
