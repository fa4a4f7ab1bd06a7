"""Benchmark of enrolment under load: 2,000 enrolment requests over HTTP at 50 sessions of 40
seats, sent by 40 signed-in association owners at once to the portal served by gunicorn on
PostgreSQL (a throw-away database next to BENCH_DATABASE_URL, else next to the local server).

Sessions are drawn at random, so some receive more requests than seats and fill their waitlist.
Prints the over-booked seats (must be 0), the requests answered, p50/p95 latency, and the ratio
of the enrolment p95 to the p95 of the public catalogue page under the same concurrency.
Run alone with `python -m bench.enrolment`.
"""

from __future__ import annotations

import random
import statistics
import time
from dataclasses import dataclass, field
from datetime import time as clock
from datetime import timedelta

from sqlalchemy import func, insert, select

from bench.support import (
    LOCAL_POSTGRES,
    Client,
    bench_settings,
    database,
    free_port,
    in_parallel,
    percentile,
    start_server,
    stop_server,
)

SESSIONS = 50
SEATS = 40
REQUESTS = 2_000
CLIENTS = 40
ASSOCIATIONS_PER_CLIENT = 25  # each association sends two requests: never over its cap of 2
CATALOGUE_REQUESTS_PER_CLIENT = 5
PASSWORD = "bench-enrolment-2026"  # noqa: S105 - throw-away accounts in a throw-away database


@dataclass
class World:
    session_ids: list[int]
    owners: list[str]
    associations: dict[str, list[int]] = field(default_factory=dict)


# --- the data -------------------------------------------------------------------------------


def build(session) -> World:
    """Insert 50 open sessions and 40 owners of 25 verified associations each, in bulk."""
    from portal.accounts.models import User
    from portal.accounts.passwords import hash_password
    from portal.db import utcnow
    from portal.organisations.models import (
        Association,
        AssociationStatus,
        MemberRole,
        Membership,
    )
    from portal.strategy.models import Region
    from portal.training.models import Module, Programme, SessionStatus, TrainingSession

    now = utcnow()
    region_id = session.scalar(select(Region.id).order_by(Region.id).limit(1))
    programme = Programme(title_ar="برنامج القياس", title_fr="Programme de mesure")
    module = Module(programme=programme, title_ar="وحدة", title_fr="Module")
    session.add(module)
    session.flush()
    session.execute(
        insert(TrainingSession),
        [
            {
                "module_id": module.id,
                "status": SessionStatus.PUBLISHED,
                "language": "ar",
                "starts_on": now.date() + timedelta(days=30 + number),
                "ends_on": now.date() + timedelta(days=31 + number),
                "daily_start": clock(9),
                "daily_end": clock(16),
                "region_id": region_id,
                "city": "Rabat",
                "venue": f"Salle {number}",
                "capacity": SEATS,
                "enrolment_opens_at": now - timedelta(days=1),
                "enrolment_closes_at": now + timedelta(days=20),
                "per_association_cap": 2,
                "verified_only": True,
            }
            for number in range(SESSIONS)
        ],
    )
    password_hash = hash_password(PASSWORD)
    owners = [f"owner{number}@bench.example.org" for number in range(CLIENTS)]
    session.execute(
        insert(User),
        [
            {
                "email": email,
                "password_hash": password_hash,
                "full_name": f"Owner {number}",
                "email_verified_at": now,
            }
            for number, email in enumerate(owners)
        ],
    )
    session.execute(
        insert(Association),
        [
            {
                "name_ar": f"جمعية {number}",
                "name_fr": f"Association {number}",
                "legal_form": "association",
                "registration_number": f"BENCH-{number}",
                "founded_on": now.date() - timedelta(days=3000),
                "region_id": region_id,
                "city": "Rabat",
                "email": f"association{number}@bench.example.org",
                "status": AssociationStatus.VERIFIED,
            }
            for number in range(CLIENTS * ASSOCIATIONS_PER_CLIENT)
        ],
    )
    user_ids = dict(
        session.execute(select(User.email, User.id).where(User.email.in_(owners))).all()
    )
    association_ids = list(session.scalars(select(Association.id).order_by(Association.id)))
    world = World(
        session_ids=list(session.scalars(select(TrainingSession.id).order_by(TrainingSession.id))),
        owners=owners,
    )
    memberships = []
    for number, email in enumerate(owners):
        mine = association_ids[number::CLIENTS]
        world.associations[email] = mine
        memberships += [
            {"association_id": association_id, "user_id": user_ids[email], "role": MemberRole.OWNER}
            for association_id in mine
        ]
    session.execute(insert(Membership), memberships)
    session.commit()
    return world


# --- the clients ----------------------------------------------------------------------------


class Owner(Client):
    """One signed-in association owner with its own cookies."""

    def sign_in_to_enrol(self, email: str, session_id: int) -> None:
        self.sign_in(email, PASSWORD)
        self.remember_token(self.request(f"/training/sessions/{session_id}/enrol")[1])


def measure_catalogue(clients: list[Owner]) -> list[float]:
    """Every client reads the public catalogue a few times at once; return the latencies."""
    latencies: list[float] = []

    def browse(client: Client) -> None:
        for _ in range(CATALOGUE_REQUESTS_PER_CLIENT):
            latencies.append(client.timed("/training")[1])

    in_parallel([lambda client=client: browse(client) for client in clients])
    return latencies


def enrolment_plan(world: World, seed: int = 7) -> dict[str, list[tuple[int, int, int]]]:
    """Return, per owner, their (request number, session id, association id) in order."""
    randomness = random.Random(seed)
    plan: dict[str, list[tuple[int, int, int]]] = {email: [] for email in world.owners}
    for number in range(REQUESTS):
        email = world.owners[number % CLIENTS]
        mine = world.associations[email]
        association_id = mine[(number // CLIENTS) % len(mine)]
        plan[email].append((number, randomness.choice(world.session_ids), association_id))
    return plan


def enrol_all(clients: dict[str, Owner], plan) -> tuple[list[float], list[int]]:
    """Send every planned enrolment, each owner's in turn, all owners at once."""
    latencies: list[float] = []
    statuses: list[int] = []

    def send(email: str) -> None:
        client = clients[email]
        for number, session_id, association_id in plan[email]:
            form = {
                "csrf_token": client.token,
                "association_id": str(association_id),
                "full_name": f"مشارك {number}",
                "sex": "female" if number % 2 else "male",
                "role": "عضو",
                "email": f"participant{number}@bench.example.org",
                "phone": "+212 600 000 000",
                "locale": "ar",
                "accessibility_needs": "",
            }
            status, elapsed = client.timed(f"/training/sessions/{session_id}/enrol", form)
            statuses.append(status)
            latencies.append(elapsed)

    in_parallel([lambda email=email: send(email) for email in plan])
    return latencies, statuses


# --- the verdict ----------------------------------------------------------------------------


def seat_counts(session) -> tuple[int, int, int]:
    """Return (over-booked seats, confirmed, waitlisted), counted from the enrolment rows;
    also fail loudly if a session's seat counter disagrees with its confirmed rows."""
    from portal.training.models import Enrolment, EnrolmentStatus, TrainingSession

    confirmed = dict(
        session.execute(
            select(Enrolment.session_id, func.count())
            .where(Enrolment.status == EnrolmentStatus.CONFIRMED)
            .group_by(Enrolment.session_id)
        ).all()
    )
    waitlisted = session.scalar(
        select(func.count()).where(Enrolment.status == EnrolmentStatus.WAITLISTED)
    )
    over = 0
    for session_id, capacity, taken in session.execute(
        select(TrainingSession.id, TrainingSession.capacity, TrainingSession.seats_taken)
    ):
        rows = confirmed.get(session_id, 0)
        if rows != taken:
            raise RuntimeError(f"session {session_id}: {rows} confirmed rows, counter {taken}")
        over += max(0, rows - capacity)
    return over, sum(confirmed.values()), waitlisted


def run() -> dict:
    from portal import create_app
    from portal.extensions import db
    from portal.strategy.services import load_reference_data

    with database(default=LOCAL_POSTGRES) as url:
        app = create_app(bench_settings(url))
        with app.app_context():
            db.create_all()
            load_reference_data(db.session)
            world = build(db.session)
            dialect = db.engine.dialect.name
            db.session.remove()
            db.engine.dispose()
        port = free_port()
        server = start_server(url, port)
        try:
            base = f"http://127.0.0.1:{port}"
            clients = {email: Owner(base) for email in world.owners}
            in_parallel(
                [
                    lambda email=email: clients[email].sign_in_to_enrol(email, world.session_ids[0])
                    for email in world.owners
                ]
            )
            catalogue = measure_catalogue(list(clients.values()))
            started = time.perf_counter()
            latencies, statuses = enrol_all(clients, enrolment_plan(world))
            rush_s = time.perf_counter() - started
        finally:
            stop_server(server)
        with app.app_context():
            over, confirmed, waitlisted = seat_counts(db.session)
            db.session.remove()
            db.engine.dispose()
    enrol_p95 = percentile(latencies, 0.95)
    catalogue_p95 = percentile(catalogue, 0.95)
    return {
        "enrol_database": dialect,
        "enrol_requests": REQUESTS,
        "enrol_answered": sum(status == 303 for status in statuses),
        "enrol_errors": sum(status != 303 for status in statuses),
        "enrol_overbooked": over,
        "enrol_confirmed": confirmed,
        "enrol_waitlisted": waitlisted,
        "enrol_p50_ms": round(statistics.median(latencies), 1),
        "enrol_p95_ms": round(enrol_p95, 1),
        "enrol_catalogue_p95_ms": round(catalogue_p95, 1),
        "enrol_p95_ratio": round(enrol_p95 / catalogue_p95, 2),
        "enrol_per_s": round(REQUESTS / rush_s, 1),
    }


if __name__ == "__main__":
    for key, value in run().items():
        print(f"{key:<26} {value}")
