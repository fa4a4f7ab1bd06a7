"""Benchmark of the ranking: 10,000 eligible applications, 30,000 submitted reviews, 5 criteria
(150,000 scores), ranked by `portal.review.ranking.rank_call`.

The database is a fresh SQLite file by default, or a throw-away database next to
BENCH_DATABASE_URL (PostgreSQL) when it is set. Rows are inserted in bulk (executemany).
Run alone with `python -m bench.ranking`.
"""

from __future__ import annotations

import random
import statistics
import time
import uuid
from datetime import date, timedelta

from sqlalchemy import insert, select, text

from bench.support import bench_settings, database

APPLICATIONS = 10_000
REVIEWS_PER_APPLICATION = 3
EVALUATORS = 500
CRITERIA = ((30, 10), (25, 20), (20, 10), (15, 5), (10, 10))  # (weight, maximum score)
RUNS = 5


def bench_call(session, criteria=CRITERIA):
    """Create a closed call with these (weight, maximum) criteria and one lot; return it."""
    from portal.calls.models import Call, CallStatus, Criterion, Lot
    from portal.db import utcnow

    now = utcnow()
    call = Call(
        code=f"BENCH-{uuid.uuid4().hex[:8]}",
        title_ar="طلب عروض للقياس",
        title_fr="Appel de mesure",
        status=CallStatus.CLOSED,
        opens_at=now - timedelta(days=60),
        closes_at=now - timedelta(days=30),
        review_deadline=now + timedelta(days=10),
    )
    call.lots = [Lot(position=1, title_ar="الحصة", title_fr="Lot", budget=1_000_000)]
    call.criteria = [
        Criterion(
            position=number,
            title_ar=f"المعيار {number}",
            title_fr=f"Critère {number}",
            weight=weight,
            max_score=maximum,
        )
        for number, (weight, maximum) in enumerate(criteria, start=1)
    ]
    session.add(call)
    session.flush()
    return call


def _rows(table_model, session, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(table_model), rows)


def populate(
    session,
    call,
    applications: int,
    *,
    reviews_per_application: int = REVIEWS_PER_APPLICATION,
    evaluators: int = EVALUATORS,
    seed: int = 1,
) -> None:
    """Add `applications` eligible applications to `call` (one association each), each with
    `reviews_per_application` submitted reviews by distinct evaluators, every criterion scored.
    Bulk inserts; the caller commits."""
    from portal.accounts.models import User
    from portal.applications.models import Application, ApplicationStatus
    from portal.db import utcnow
    from portal.organisations.models import Association
    from portal.review.kept import scores_changed
    from portal.review.models import Review, ReviewStatus, Score, Screening, ScreeningDecision
    from portal.strategy.models import Region

    randomness = random.Random(seed)
    now = utcnow()
    tag = uuid.uuid4().hex[:8]
    region_id = session.scalar(select(Region.id).limit(1))
    evaluators = max(evaluators, reviews_per_application)
    _rows(
        User,
        session,
        [
            {
                "email": f"bench-{tag}-{number}@example.org",
                "password_hash": "-",
                "full_name": f"Évaluateur {number}",
            }
            for number in range(evaluators + 1)
        ],
    )
    users = list(
        session.scalars(select(User.id).where(User.email.like(f"bench-{tag}-%")).order_by(User.id))
    )
    owner, evaluator_ids = users[0], users[1:]
    _rows(
        Association,
        session,
        [
            {
                "name_ar": f"جمعية {number}",
                "name_fr": f"Association {number}",
                "legal_form": "association",
                "registration_number": f"B-{tag}-{number}",
                "founded_on": date(2010, 1, 1),
                "region_id": region_id,
                "city": "Rabat",
                "email": f"a{number}@example.org",
            }
            for number in range(applications)
        ],
    )
    association_ids = list(
        session.scalars(
            select(Association.id)
            .where(Association.registration_number.like(f"B-{tag}-%"))
            .order_by(Association.id)
        )
    )
    lot_id = call.lots[0].id if call.lots else None
    _rows(
        Application,
        session,
        [
            {
                "call_id": call.id,
                "association_id": association_id,
                "lot_id": lot_id,
                "status": ApplicationStatus.SUBMITTED,
                "title_ar": f"مشروع {number}",
                "title_fr": f"Projet {number}",
                "created_by_id": owner,
                "submitted_at": now - timedelta(days=31, minutes=number),
            }
            for number, association_id in enumerate(association_ids)
        ],
    )
    application_ids = list(
        session.scalars(
            select(Application.id)
            .where(
                Application.association_id.in_(
                    select(Association.id).where(Association.registration_number.like(f"B-{tag}-%"))
                )
            )
            .order_by(Application.id)
        )
    )
    _rows(
        Screening,
        session,
        [
            {"application_id": app_id, "call_id": call.id, "decision": ScreeningDecision.ELIGIBLE}
            for app_id in application_ids
        ],
    )
    _rows(
        Review,
        session,
        [
            {
                "call_id": call.id,
                "application_id": app_id,
                "evaluator_id": evaluator_id,
                "status": ReviewStatus.SUBMITTED,
                "submitted_at": now,
            }
            for app_id in application_ids
            for evaluator_id in randomness.sample(evaluator_ids, reviews_per_application)
        ],
    )
    reviews = session.execute(
        select(Review.id).where(Review.application_id.in_(application_ids)).order_by(Review.id)
    ).scalars()
    criteria = [(criterion.id, criterion.max_score) for criterion in call.criteria]
    scores = [
        {"review_id": review_id, "criterion_id": criterion_id, "value": randomness.randint(0, top)}
        for review_id in reviews
        for criterion_id, top in criteria
    ]
    for start in range(0, len(scores), 20_000):
        _rows(Score, session, scores[start : start + 20_000])
    # Bulk inserts bypass the flush that renews the call's ranking token.
    scores_changed(session, calls={call.id})


def run() -> dict:
    """Build the data, rank it a few times and return the median time in seconds."""
    from portal import create_app
    from portal.extensions import db
    from portal.review.ranking import rank_call
    from portal.strategy.services import load_reference_data

    with database() as url:
        app = create_app(bench_settings(url))
        with app.app_context():
            db.create_all()
            load_reference_data(db.session)
            started = time.perf_counter()
            call = bench_call(db.session)
            populate(db.session, call, APPLICATIONS)
            db.session.commit()
            built = time.perf_counter() - started
            if db.engine.dialect.name == "postgresql":
                # What autovacuum would do after a bulk load: give the planner statistics.
                with db.engine.connect() as connection:
                    connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                        text("ANALYZE")
                    )
            timings = []
            ranked = []
            for _ in range(RUNS):
                started = time.perf_counter()
                ranked = rank_call(db.session, call)
                timings.append(time.perf_counter() - started)
            db.session.remove()
            db.engine.dispose()
    return {
        "ranking_s": round(statistics.median(timings), 4),
        "ranking_applications": len(ranked),
        "ranking_reviews": APPLICATIONS * REVIEWS_PER_APPLICATION,
        "ranking_build_s": round(built, 2),
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:<24} {value}")
