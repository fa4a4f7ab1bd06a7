"""National-scale benchmark: the portal's main pages over HTTP with a country's worth of data.

The generator (`generate`) fills a throw-away database in bulk (COPY on PostgreSQL, Core
executemany on SQLite), in about 10 s for 10,000 applications: 10,000 verified associations
with an owner each (and an editor every second one), the national call (6 lots, 5 criteria,
3 documents) closed with 10,000 submitted applications (budget lines, attachment records, a
sealed submission each), screened eligible, 500 evaluators in its pool, 30,000 reviews (about
one in ten still a draft) with their scores, a published committee with a decision on every
application and 2,000 funded actions (tranches, links, two reports each); 60 training sessions
with 2,400 enrolments; and a second call, open until tonight, holding nearly complete drafts
for the applicants measured and for the deadline rush. Everything but the 500 evaluators and
the 60 sessions scales with the number of applications.

Then, on PostgreSQL (a database next to BENCH_DATABASE_URL, else next to the local server):
1. SQL statements per request of every page, in-process, at 1,000 and at 10,000 applications;
2. at 10,000, gunicorn (4 workers) on 127.0.0.1 and 8 clients signed in through the real form:
   p50/p95 of each page, its size and weight, and its floor — the same template rendered from
   the objects of a real answer kept in the worker's memory, without the database, through the
   same server (`/__bench/floor`), beside a bare "hello" (`/__bench/hello`);
3. the deadline rush: N clients sign in, open a draft, autosave its last field and submit, again
   and again for 60 s; errors (must be 0), throughput and submissions found in the database.

BENCH_QUICK=1 shortens everything (200 and 1,000 applications, 10 s rush) for development.
Run alone with `python -m bench.national`; `python -m bench.national --generate N [--sqlite]`
only times the generator.
"""

from __future__ import annotations

import hashlib
import os
import re
import statistics
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from datetime import time as clock

from sqlalchemy import func, select, text

from bench.support import (
    FLOOR_QUERIES_HEADER,
    LOCAL_POSTGRES,
    WORKER_HEADER,
    Client,
    analyze,
    bench_settings,
    database,
    free_port,
    gzip_size,
    in_parallel,
    percentile,
    start_server,
    stop_server,
)

QUICK = os.environ.get("BENCH_QUICK", "").strip().lower() in {"1", "true", "yes"}
SCALES = (200, 1_000) if QUICK else (1_000, 10_000)
LOTS = 6
EVALUATORS = 500
REVIEWS_PER_APPLICATION = 3
CRITERIA = ((30, 10), (25, 20), (20, 10), (15, 5), (10, 10))  # (weight, maximum score)
FUNDED_EVERY = 5  # one application in five is funded: 2,000 actions at 10,000
SESSIONS = 60
ENROLMENTS_PER_APPLICATION = 0.24  # 2,400 enrolments at 10,000 applications
SEATS = 60
CLIENTS = 8  # concurrent clients per page
REQUESTS = 40 if QUICK else 200  # measured requests per page (and as many for its floor)
PAGE_BUDGET_S = 5 if QUICK else 15  # …unless the page takes longer than this to serve them
WARM_UP_MAX = 40  # warm-up requests per client at most
WORKERS = 4
RUSH_CLIENTS = int(os.environ.get("BENCH_RUSH_CLIENTS", "20"))
RUSH_SECONDS = float(os.environ.get("BENCH_RUSH_SECONDS", "10" if QUICK else "60"))
PASSWORD = "bench-national-2026"  # noqa: S105 - throw-away accounts in a throw-away database

AR_WORDS = [
    "حقوق",
    "الإنسان",
    "الجمعية",
    "المشروع",
    "التكوين",
    "المرأة",
    "الشباب",
    "المجتمع",
    "المدني",
    "الجهة",
    "التنمية",
    "المساواة",
    "المشاركة",
    "الرصد",
    "التقارير",
    "الآليات",
    "الأممية",
    "الترافع",
    "الحماية",
    "الولوج",
    "العدالة",
    "الطفولة",
    "الإعاقة",
    "الهجرة",
    "البيئة",
    "التعليم",
    "الصحة",
    "الشغل",
    "الثقافة",
    "الإعلام",
]


def words(count: int, seed: int = 0) -> str:
    """Return `count` Arabic words, varied by `seed`."""
    return " ".join(AR_WORDS[(seed + k * 7) % len(AR_WORDS)] for k in range(count))


# Words per narrative field: short in the bulk, about half the word limits in measured drafts.
BULK_WORDS = {
    "context": 60,
    "objectives": 30,
    "activities": 60,
    "expected_results": 30,
    "indicators": 20,
    "sustainability": 30,
}
DRAFT_WORDS = {
    "context": 300,
    "objectives": 150,
    "activities": 400,
    "expected_results": 200,
    "indicators": 150,
    "sustainability": 200,
}


@dataclass
class World:
    """What the measurements need to find in the generated data."""

    applications: int
    national_call_id: int = 0
    national_code: str = ""
    open_call_id: int = 0
    filter_lot_id: int = 0
    filter_region: str = ""
    staff: str = ""
    evaluator: str = ""
    review_id: int = 0
    applicants: list[tuple[str, int]] = field(default_factory=list)  # (e-mail, draft id)
    rush: list[list[tuple[str, int]]] = field(default_factory=list)  # per rush client
    rows: int = 0


# --- the generator --------------------------------------------------------------------------


class _Loader:
    """Bulk inserts (Core executemany) on the session's connection, counting the rows.

    Ids are given here rather than read back with RETURNING, which SQLite answers a few rows
    at a time; the PostgreSQL sequences are moved past them at the end (`finish`).
    """

    def __init__(self, session):
        self.session = session
        self.rows = 0
        self.tables: set = set()
        connection = session.connection()
        if connection.dialect.name == "postgresql" and connection.scalar(
            text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        ):
            # As pg_restore --disable-triggers does: no foreign-key trigger per row while the
            # load lasts (this transaction). The rows are consistent by construction, and the
            # SQLite load, which checks every foreign key, proves it (tests/bench).
            connection.execute(text("SET LOCAL session_replication_role = replica"))

    def ids(self, model, rows: list[dict]) -> list[int]:
        """Insert rows with the next free ids; return the ids in the order given."""
        table = model.__table__
        start = (self.session.scalar(select(func.max(table.c.id))) or 0) + 1
        ids = list(range(start, start + len(rows)))
        for number, row in zip(ids, rows, strict=True):
            row["id"] = number
        self.add(table, rows)
        self.tables.add(table.name)
        return ids

    def add(self, table, rows: list[dict], chunk: int = 20_000) -> None:
        """Insert rows: COPY on PostgreSQL, else one executemany per chunk."""
        table = getattr(table, "__table__", table)
        connection = self.session.connection()
        self.rows += len(rows)
        if not rows:
            return
        if connection.dialect.name == "postgresql":
            self._copy(connection, table, rows)
            return
        for start in range(0, len(rows), chunk):
            connection.execute(table.insert(), rows[start : start + chunk])

    @staticmethod
    def _copy(connection, table, rows: list[dict]) -> None:
        """COPY the rows into the table, with the column defaults and type conversions an
        INSERT through SQLAlchemy would apply (psycopg's executemany sends a row at a time)."""
        dialect = connection.dialect
        given = list(rows[0])
        defaults = {
            column.name: column.default
            for column in table.columns
            if column.name not in given and column.default is not None
        }
        names = given + list(defaults)
        processors = [table.c[name].type._cached_bind_processor(dialect) for name in names]
        columns = ", ".join(f'"{name}"' for name in names)
        cursor = connection.connection.driver_connection.cursor()
        with cursor.copy(f'COPY "{table.name}" ({columns}) FROM STDIN') as copy:
            for row in rows:
                values = [row[name] for name in given] + [
                    default.arg if default.is_scalar else default.arg(None)
                    for default in defaults.values()
                ]
                copy.write_row(
                    [
                        value if process is None or value is None else process(value)
                        for value, process in zip(values, processors, strict=True)
                    ]
                )

    def finish(self) -> None:
        """Move each PostgreSQL sequence past the ids given here."""
        connection = self.session.connection()
        if connection.dialect.name != "postgresql":
            return
        for name in sorted(self.tables):
            connection.execute(
                text(
                    f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                    f'(SELECT max(id) FROM "{name}"))'
                )
            )


def generate(
    session,
    applications: int,
    *,
    page_clients: int = CLIENTS,
    rush_clients: int = 0,
    rush_drafts: int = 0,
) -> World:
    """Fill an empty schema (reference data loaded) with a national-scale data set; commit.

    `rush_clients` × `rush_drafts` nearly complete drafts (only the team is missing) are made in
    the open call for the deadline rush, each in its own association.
    """
    from portal.accounts.passwords import hash_password
    from portal.actions.kept_figures import actions_changed
    from portal.applications.kept_totals import applications_changed
    from portal.db import utcnow
    from portal.results.kept_results import results_changed
    from portal.strategy.models import (
        FundingPartner,
        PlanProject,
        Region,
        Sdg,
        StrategicAxis,
        UnMechanism,
    )

    if applications < page_clients + rush_clients * rush_drafts:
        raise ValueError("too few associations for the measured drafts")
    load = _Loader(session)
    now = utcnow()
    reference = {
        "regions": session.execute(select(Region.id, Region.code).order_by(Region.id)).all(),
        "axes": list(session.scalars(select(StrategicAxis.id).order_by(StrategicAxis.number))),
        "axis_codes": list(
            session.scalars(select(StrategicAxis.code).order_by(StrategicAxis.number))
        ),
        "projects": list(session.scalars(select(PlanProject.id).order_by(PlanProject.number))),
        "sdgs": list(session.scalars(select(Sdg.id).order_by(Sdg.number))),
        "mechanisms": list(session.scalars(select(UnMechanism.id).order_by(UnMechanism.id))),
        "partner": session.scalar(select(FundingPartner.id).order_by(FundingPartner.id)),
    }
    world = World(applications)
    people = _people(load, applications, hash_password(PASSWORD), now)
    associations = _associations(load, applications, people, reference, now)
    national = _call(session, "national", reference, now)
    open_call = _call(session, "open", reference, now)
    world.national_call_id, world.national_code = national.id, national.code
    world.open_call_id = open_call.id
    world.filter_lot_id = national.lots[2].id
    world.filter_region = reference["regions"][1][1]
    world.staff, world.evaluator = people["staff_email"], people["evaluator_emails"][0]
    application_ids = _national_applications(load, national, associations, people, reference, now)
    world.review_id = _reviews(load, national, application_ids, people, now)
    _results(load, national, application_ids, associations, people, reference, now)
    _training(load, applications, associations, people, reference, now)
    owners = people["owner_emails"]
    drafts = _drafts(
        load,
        open_call,
        associations[: page_clients + rush_clients * rush_drafts],
        people,
        reference,
        now,
        complete=page_clients,
    )
    world.applicants = [(owners[n], drafts[n]) for n in range(page_clients)]
    world.rush = [
        [
            (owners[number], drafts[number])
            for number in range(
                page_clients + client * rush_drafts, page_clients + (client + 1) * rush_drafts
            )
        ]
        for client in range(rush_clients)
    ]
    load.finish()
    # Bulk inserts bypass the flush that records a change to the kept figures.
    actions_changed(session)
    applications_changed(session)
    results_changed(session)
    session.commit()
    world.rows = load.rows
    return world


def _people(load: _Loader, applications: int, password_hash: str, now) -> dict:
    """Two staff members, the evaluators, and an owner per association (an editor every second
    association), each with their role."""
    from portal.accounts.models import Role, User, UserRole

    def user(email: str, name: str) -> dict:
        return {
            "email": email,
            "password_hash": password_hash,
            "full_name": name,
            "locale": "ar",
            "email_verified_at": now,
        }

    staff = [user(f"staff{n}@national.bench", f"موظف {n}") for n in range(2)]
    evaluators = [user(f"evaluator{n}@national.bench", f"خبير {n}") for n in range(EVALUATORS)]
    owners = [user(f"owner{n}@national.bench", f"رئيس {n}") for n in range(applications)]
    editors = [user(f"editor{n}@national.bench", f"عضو {n}") for n in range(0, applications, 2)]
    ids = load.ids(User, staff + evaluators + owners + editors)
    staff_ids = ids[:2]
    evaluator_ids = ids[2 : 2 + EVALUATORS]
    owner_ids = ids[2 + EVALUATORS : 2 + EVALUATORS + applications]
    editor_ids = ids[2 + EVALUATORS + applications :]
    roles = (
        [(user_id, Role.STAFF) for user_id in staff_ids]
        + [(user_id, Role.EVALUATOR) for user_id in evaluator_ids]
        + [(user_id, Role.APPLICANT) for user_id in owner_ids + editor_ids]
    )
    load.add(UserRole, [{"user_id": user_id, "role": role} for user_id, role in roles])
    return {
        "staff": staff_ids,
        "staff_email": staff[0]["email"],
        "evaluators": evaluator_ids,
        "evaluator_emails": [row["email"] for row in evaluators],
        "owners": owner_ids,
        "owner_emails": [row["email"] for row in owners],
        "editors": editor_ids,
    }


def _associations(load: _Loader, count: int, people: dict, reference: dict, now) -> list[int]:
    """Verified associations spread over the regions, with their members."""
    from portal.organisations.models import (
        Association,
        AssociationStatus,
        MemberRole,
        Membership,
    )

    regions = reference["regions"]
    ids = load.ids(
        Association,
        [
            {
                "name_ar": f"جمعية {n}",
                "name_fr": f"Association {n}",
                "acronym": f"A{n}",
                "legal_form": "association",
                "registration_number": f"NAT-{n:06d}",
                "founded_on": date(2000 + n % 20, 1 + n % 12, 1),
                "region_id": regions[n % len(regions)][0],
                "city": "الرباط",
                "email": f"association{n}@national.bench",
                "fields_of_work": ["womens-rights", "childrens-rights"],
                "target_groups": ["women", "youth"],
                "description_ar": words(40, n),
                "status": AssociationStatus.VERIFIED,
                "status_changed_at": now,
                "status_changed_by_id": people["staff"][0],
            }
            for n in range(count)
        ],
    )
    load.add(
        Membership,
        [
            {"association_id": association, "user_id": owner, "role": MemberRole.OWNER}
            for association, owner in zip(ids, people["owners"], strict=True)
        ]
        + [
            {"association_id": ids[2 * n], "user_id": editor, "role": MemberRole.EDITOR}
            for n, editor in enumerate(people["editors"])
        ],
    )
    return ids


def _call(session, kind: str, reference: dict, now):
    """The closed national call, or the call open until tonight: 6 lots, 5 criteria, 3
    documents (2 mandatory)."""
    from portal.calls.models import Call, CallStatus, Criterion, Lot, RequiredDocument
    from portal.strategy.models import PlanProject, StrategicAxis

    axes = list(session.scalars(select(StrategicAxis).order_by(StrategicAxis.number)))
    projects = list(session.scalars(select(PlanProject).order_by(PlanProject.number)))
    national = kind == "national"
    call = Call(
        code="AAP-2026-NAT" if national else "AAP-2026-OPEN",
        title_ar="طلب عروض المشاريع الوطني" if national else "طلب عروض مفتوح",
        title_fr="Appel à projets national" if national else "Appel à projets ouvert",
        description_ar=words(120, 3),
        description_fr="Appel à projets des associations pour les droits humains. " * 8,
        status=CallStatus.CLOSED if national else CallStatus.PUBLISHED,
        opens_at=now - timedelta(days=90 if national else 20),
        closes_at=now - timedelta(days=40) if national else now + timedelta(hours=6),
        review_deadline=now + timedelta(days=20) if national else None,
        results_expected_at=now + timedelta(days=30),
        published_at=now - timedelta(days=90 if national else 20),
        frozen_at=now - timedelta(days=80) if national else None,
        budget_total=600_000_000,
        min_amount=50_000,
        max_amount=300_000,
        min_cofunding_percent=10,
        max_duration_months=24,
        max_budget_lines=60,
    )
    call.lots = [
        Lot(
            position=number,
            title_ar=f"الحصة {number}: {words(4, number)}",
            title_fr=f"Lot {number}",
            description_ar=words(30, number),
            budget=100_000_000,
            axes=[axes[(number - 1) % len(axes)]],
            plan_projects=projects[(number - 1) % len(projects) :][:1],
        )
        for number in range(1, LOTS + 1)
    ]
    call.criteria = [
        Criterion(
            position=number,
            title_ar=f"المعيار {number}",
            title_fr=f"Critère {number}",
            guidance_ar=words(25, number),
            weight=weight,
            max_score=maximum,
        )
        for number, (weight, maximum) in enumerate(CRITERIA, start=1)
    ]
    call.documents = [
        RequiredDocument(position=1, code="statutes", name_ar="النظام الأساسي", name_fr="Statuts"),
        RequiredDocument(
            position=2,
            code="budget",
            name_ar="الميزانية المفصلة",
            name_fr="Budget détaillé",
            allowed_types=["xlsx", "pdf"],
        ),
        RequiredDocument(
            position=3, code="letter", name_ar="رسالة دعم", name_fr="Lettre", mandatory=False
        ),
    ]
    session.add(call)
    session.flush()
    return call


def _texts(sizes: dict, seed: int) -> dict:
    return {
        name: words(count, seed + position) for position, (name, count) in enumerate(sizes.items())
    }


def _application_row(call, number: int, association: int, owner: int, reference, **values):
    """An application's columns, complete; `values` override."""
    regions = reference["regions"]
    marker = number % 3
    row = {
        "call_id": call.id,
        "association_id": association,
        "lot_id": call.lots[number % LOTS].id,
        "language": "ar" if number % 10 < 7 else "fr",
        "title_ar": f"مشروع {number}: {words(5, number)}",
        "title_fr": f"Projet {number} pour les droits humains",
        "duration_months": 12 + number % 12,
        "regions": [regions[number % len(regions)][1], regions[(number + 1) % len(regions)][1]],
        "target_groups": ["women", "youth"],
        "beneficiaries": {"women_18_35": 40 + number % 50, "men_18_35": 30},
        "activity_plan": [
            {"title": "ورشات تكوينية", "start": 1, "end": 3},
            {"title": "حملة تحسيسية", "start": 4, "end": 9},
        ],
        "indicator_targets": [
            {"indicator": "عدد المستفيدين", "target": "200"},
            {"indicator": "عدد الورشات", "target": "12"},
        ],
        "un_recommendations": words(15, number),
        "gender_marker": marker,
        "gender_justification": words(20, number) if marker else "",
        "team": [{"line": f"منسق {number}، مدير المشروع"}, {"line": "مكونة، خبيرة"}],
        "created_by_id": owner,
    }
    row.update(values)
    return row


def _budget_lines(application: int, number: int) -> list[dict]:
    """Three lines: 180,000 to 278,000 MAD, over a tenth co-funded (within the calls' rules)."""
    unit_cost = 50_000 + (number % 50) * 1_000
    return [
        {
            "application_id": application,
            "position": 1,
            "category": "activities",
            "description": "ورشات",
            "quantity": 2,
            "unit_cost": unit_cost,
            "cofunding": 2 * unit_cost // 8,
        },
        {
            "application_id": application,
            "position": 2,
            "category": "staff",
            "description": "منسق المشروع",
            "quantity": 1,
            "unit_cost": 60_000,
            "cofunding": 8_000,
        },
        {
            "application_id": application,
            "position": 3,
            "category": "travel",
            "description": "تنقلات",
            "quantity": 4,
            "unit_cost": 5_000,
            "cofunding": 2_000,
        },
    ]


def _requested(number: int) -> int:
    return sum(
        line["quantity"] * line["unit_cost"] - line["cofunding"]
        for line in _budget_lines(0, number)
    )


def _attachments(call, application: int, uploader: int, now) -> list[dict]:
    """An attachment record for each mandatory document (the files themselves are not made)."""
    return [
        {
            "application_id": application,
            "document_id": document.id,
            "storage_key": f"bench-{application}-{document.id}",
            "original_name": f"{document.code}.pdf",
            "content_type": "application/pdf",
            "size": 120_000,
            "sha256": hashlib.sha256(f"{application}-{document.id}".encode()).hexdigest(),
            "uploaded_by_id": uploader,
            "uploaded_at": now,
        }
        for document in call.documents
        if document.mandatory
    ]


def _axis_links(table_key: str, owner: int, number: int, axes: list[int]) -> list[dict]:
    first = number % len(axes)
    return [{table_key: owner, "axis_id": axis} for axis in axes[first : first + 1 + number % 2]]


def _national_applications(load, call, associations, people, reference, now) -> list[int]:
    """One submitted application per association, sealed, screened eligible."""
    from portal.applications.models import (
        Application,
        ApplicationStatus,
        Attachment,
        BudgetLine,
        Submission,
        application_axis,
    )
    from portal.applications.receipts import content_digest
    from portal.review.models import Screening, ScreeningDecision

    texts = [_texts(BULK_WORDS, seed) for seed in range(16)]
    submitted = now - timedelta(days=41)
    owners = people["owners"]
    ids = load.ids(
        Application,
        [
            _application_row(
                call,
                n,
                association,
                owners[n],
                reference,
                status=ApplicationStatus.SUBMITTED,
                created_at=submitted - timedelta(days=5, minutes=n),
                updated_at=submitted - timedelta(minutes=n),
                submitted_at=submitted - timedelta(minutes=n),
                **texts[n % 16],
            )
            for n, association in enumerate(associations)
        ],
    )
    load.add(
        application_axis,
        [
            link
            for n, a in enumerate(ids)
            for link in _axis_links("application_id", a, n, reference["axes"])
        ],
    )
    load.add(BudgetLine, [line for n, a in enumerate(ids) for line in _budget_lines(a, n)])
    load.add(
        Attachment,
        [row for n, a in enumerate(ids) for row in _attachments(call, a, owners[n], now)],
    )
    load.add(
        Submission,
        [
            {
                "application_id": a,
                "number": 1,
                "reference": f"SHK-{submitted.year}-N{n:06d}",
                "submitted_at": submitted - timedelta(minutes=n),
                "submitted_by_id": owners[n],
                "application_version": 1,
                "content": {"call": call.code, "number": n},
                "content_sha256": content_digest({"call": call.code, "number": n}),
                "attachment_hashes": [],
                "signature": "0" * 64,
            }
            for n, a in enumerate(ids)
        ],
    )
    load.add(
        Screening,
        [
            {
                "application_id": a,
                "call_id": call.id,
                "screener_id": people["staff"][0],
                "decision": ScreeningDecision.ELIGIBLE,
                "decided_by_id": people["staff"][0],
                "decided_at": now - timedelta(days=30),
            }
            for a in ids
        ],
    )
    return ids


def _reviews(load, call, application_ids, people, now) -> int:
    """The pool of evaluators and three reviews per application, about one in ten a draft
    (scored on two criteria); return a draft review of the first evaluator."""
    from portal.review.models import (
        PoolMember,
        PoolStatus,
        Review,
        ReviewStatus,
        Score,
    )

    evaluators = people["evaluators"]
    load.add(
        PoolMember,
        [
            {
                "call_id": call.id,
                "email": email,
                "user_id": user_id,
                "status": PoolStatus.ACTIVE,
                "languages": ["ar", "fr"] if n % 3 else ["ar"],
                "expertise": ["axis-1", "axis-2"] if n % 2 else ["axis-3"],
                "invited_by_id": people["staff"][0],
                "accepted_at": now - timedelta(days=35),
                "conflicts_declared_at": now - timedelta(days=34),
            }
            for n, (user_id, email) in enumerate(
                zip(evaluators, people["evaluator_emails"], strict=True)
            )
        ],
    )
    plan = [
        (n, application, evaluators[(REVIEWS_PER_APPLICATION * n + k) % len(evaluators)], k)
        for n, application in enumerate(application_ids)
        for k in range(REVIEWS_PER_APPLICATION)
    ]
    drafts = {(n, k) for n, _a, _e, k in plan if (7 * n + k) % 10 == 0}
    review_ids = load.ids(
        Review,
        [
            {
                "call_id": call.id,
                "application_id": application,
                "evaluator_id": evaluator,
                "status": ReviewStatus.DRAFT if (n, k) in drafts else ReviewStatus.SUBMITTED,
                "assigned_at": now - timedelta(days=33),
                "assigned_by_id": people["staff"][0],
                "submitted_at": None if (n, k) in drafts else now - timedelta(days=3),
                "overall_comment": "تقييم",
                "shared_comment": "",
            }
            for n, application, evaluator, k in plan
        ],
    )
    criteria = [(criterion.id, criterion.max_score) for criterion in call.criteria]
    load.add(
        Score,
        [
            {
                "review_id": review,
                "criterion_id": criterion,
                "value": (n * 7 + k * 3 + position) % (top + 1),
                "comment": "",
                "saved_at": now,
            }
            for review, (n, _a, _e, k) in zip(review_ids, plan, strict=True)
            for position, (criterion, top) in enumerate(criteria)
            if (n, k) not in drafts or position < 2
        ],
    )
    first = evaluators[0]
    return next(
        review
        for review, (n, _a, evaluator, k) in zip(review_ids, plan, strict=True)
        if evaluator == first and (n, k) in drafts
    )


def _results(load, call, application_ids, associations, people, reference, now) -> None:
    """A published committee; a decision on each application (one in five funded, one in
    twenty in reserve); a funded action per award with links, two tranches and two reports."""
    from portal.actions.models import (
        ActionStatus,
        FundedAction,
        ProgressReport,
        ReportStatus,
        Tranche,
        action_axis,
        action_plan_project,
        action_sdg,
        action_un_mechanism,
    )
    from portal.results.models import (
        Committee,
        CommitteeStatus,
        Decision,
        DecisionFunder,
        Outcome,
    )

    staff, checker = people["staff"]
    [committee] = load.ids(
        Committee,
        [
            {
                "call_id": call.id,
                "status": CommitteeStatus.PUBLISHED,
                "held_on": (now - timedelta(days=12)).date(),
                "members_present": "أعضاء اللجنة",
                "submitted_by_id": staff,
                "submitted_at": now - timedelta(days=11),
                "approved_by_id": checker,
                "approved_at": now - timedelta(days=10),
                "published_by_id": staff,
                "published_at": now - timedelta(days=9),
            }
        ],
    )

    def outcome(n: int) -> Outcome:
        if n % FUNDED_EVERY == 0:
            return Outcome.FUNDED
        return Outcome.RESERVE if n % 20 == 1 else Outcome.REJECTED

    lots = [lot.id for lot in call.lots]
    decision_ids = load.ids(
        Decision,
        [
            {
                "application_id": a,
                "call_id": call.id,
                "lot_id": lots[n % LOTS],
                "committee_id": committee,
                "outcome": outcome(n),
                "amount_awarded": _requested(n) if outcome(n) == Outcome.FUNDED else None,
                "reserve_rank": n // 20 + 1 if outcome(n) == Outcome.RESERVE else None,
                "motivation_ar": words(12, n),
                "motivation_fr": "Motivation de la décision",
                "gender_marker": n % 3,
                "created_by_id": staff,
                "created_at": now - timedelta(days=12),
                "notified_at": now - timedelta(days=9),
            }
            for n, a in enumerate(application_ids)
        ],
    )
    funded = [
        (n, application_ids[n], decision_ids[n], associations[n])
        for n in range(len(application_ids))
        if outcome(n) == Outcome.FUNDED
    ]
    load.add(
        DecisionFunder,
        [
            {"decision_id": decision, "partner_id": reference["partner"], "share_percent": 30}
            for n, _a, decision, _as in funded
            if n % 3 == 0
        ],
    )
    regions = reference["regions"]
    action_ids = load.ids(
        FundedAction,
        [
            {
                "application_id": a,
                "decision_id": decision,
                "call_id": call.id,
                "lot_id": lots[n % LOTS],
                "association_id": association,
                "agreement_reference": f"CONV-2026-{n:06d}",
                "starts_on": date(2026, 6, 1),
                "ends_on": date(2027, 5, 31),
                "amount_awarded": _requested(n),
                "status": ActionStatus.IN_PROGRESS,
                "progress_percent": n % 101,
                "beneficiaries_planned": {"women_18_35": 40 + n % 50, "men_18_35": 30},
                "regions": [regions[n % len(regions)][1], regions[(n + 1) % len(regions)][1]],
                "un_recommendations": words(10, n),
                "gender_marker": n % 3,
            }
            for n, a, decision, association in funded
        ],
    )
    numbers = [n for n, *_rest in funded]
    load.add(
        action_axis,
        [
            link
            for n, action in zip(numbers, action_ids, strict=True)
            for link in _axis_links("action_id", action, n, reference["axes"])
        ],
    )
    for table, key, values in (
        (action_plan_project, "plan_project_id", reference["projects"]),
        (action_sdg, "sdg_id", reference["sdgs"]),
        (action_un_mechanism, "un_mechanism_id", reference["mechanisms"]),
    ):
        load.add(
            table,
            [
                {"action_id": action, key: values[n % len(values)]}
                for n, action in zip(numbers, action_ids, strict=True)
            ],
        )
    load.add(
        Tranche,
        [
            {
                "action_id": action,
                "position": position,
                "planned_on": date(2026, 6 + 6 * (position - 1), 15),
                "amount": _requested(n) // 2,
                "paid_on": date(2026, 6, 15) if position == 1 else None,
                "paid_amount": _requested(n) // 2 if position == 1 else None,
            }
            for n, action in zip(numbers, action_ids, strict=True)
            for position in (1, 2)
        ],
    )
    owners = people["owners"]
    load.add(
        ProgressReport,
        [
            {
                "action_id": action,
                "due_on": date(2026, 9, 30),
                "status": ReportStatus.ACCEPTED,
                "activities_done": words(40, n),
                "beneficiaries_reached": {"women_18_35": 12, "men_18_35": 8},
                "progress_percent": n % 101,
                "submitted_by_id": owners[n],
                "submitted_at": now - timedelta(days=5),
                "reviewed_by_id": staff,
                "reviewed_at": now - timedelta(days=2),
            }
            for n, action in zip(numbers, action_ids, strict=True)
        ],
    )
    # Executemany takes one set of columns per statement: the reports still due apart.
    load.add(
        ProgressReport,
        [
            {"action_id": action, "due_on": date(2027, 3, 31), "status": ReportStatus.DUE}
            for action in action_ids
        ],
    )


def _training(load, applications, associations, people, reference, now) -> None:
    """A programme of four modules, 60 published sessions and their confirmed enrolments."""
    from portal.training.models import (
        Enrolment,
        EnrolmentStatus,
        Module,
        Programme,
        SessionStatus,
        TrainingSession,
    )

    [programme] = load.ids(
        Programme,
        [
            {
                "title_ar": "برنامج تقوية قدرات الجمعيات",
                "title_fr": "Programme de renforcement des capacités",
                "objectives_ar": words(40, 1),
            }
        ],
    )
    modules = load.ids(
        Module,
        [
            {
                "programme_id": programme,
                "position": number,
                "title_ar": f"الوحدة {number}: {words(4, number)}",
                "title_fr": f"Module {number}",
                "description_ar": words(30, number),
            }
            for number in range(1, 5)
        ],
    )
    enrolments = round(applications * ENROLMENTS_PER_APPLICATION)
    per_session = [len(range(s, enrolments, SESSIONS)) for s in range(SESSIONS)]
    regions = reference["regions"]
    today = now.date()
    sessions = load.ids(
        TrainingSession,
        [
            {
                "module_id": modules[s % len(modules)],
                "status": SessionStatus.PUBLISHED,
                "language": "ar" if s % 3 else "fr",
                "starts_on": today + timedelta(days=20 + 5 * s),
                "ends_on": today + timedelta(days=22 + 5 * s),
                "daily_start": clock(9),
                "daily_end": clock(16, 30),
                "online": s % 10 == 9,
                "region_id": regions[s % len(regions)][0],
                "city": "الرباط",
                "venue": f"قاعة {s}",
                "capacity": SEATS,
                "seats_taken": min(per_session[s], SEATS),
                "enrolment_opens_at": now - timedelta(days=10),
                "enrolment_closes_at": now + timedelta(days=15 + 5 * s),
                "per_association_cap": 2,
                "verified_only": True,
            }
            for s in range(SESSIONS)
        ],
    )
    owners = people["owners"]
    load.add(
        Enrolment,
        [
            {
                "session_id": sessions[k % SESSIONS],
                "association_id": associations[(k // SESSIONS) % len(associations)],
                "status": EnrolmentStatus.CONFIRMED,
                "full_name": f"مشارك {k}",
                "sex": "female" if k % 2 else "male",
                "role": "عضو",
                "email": f"participant{k}@national.bench",
                "locale": "ar",
                "registration_code": f"NB{k:08d}",
                "created_by_id": owners[(k // SESSIONS) % len(owners)],
                "confirmed_at": now - timedelta(days=3),
            }
            for k in range(enrolments)
            if k // SESSIONS < SEATS
        ],
    )


def _drafts(load, call, associations, people, reference, now, *, complete: int) -> list[int]:
    """A draft in the open call for each of these associations: the first `complete` ones
    complete with long texts (the applicants measured), the others complete but for the team
    (the deadline rush fills it in, then submits)."""
    from portal.applications.models import (
        Application,
        ApplicationStatus,
        Attachment,
        BudgetLine,
        application_axis,
    )

    owners = people["owners"]
    long_texts = _texts(DRAFT_WORDS, 5)
    short_texts = _texts(BULK_WORDS, 9)
    ids = load.ids(
        Application,
        [
            _application_row(
                call,
                n,
                association,
                owners[n],
                reference,
                status=ApplicationStatus.DRAFT,
                created_at=now - timedelta(days=5),
                updated_at=now - timedelta(hours=2),
                version=2,
                field_versions={"title_ar": 2},
                **(long_texts if n < complete else short_texts),
                **({} if n < complete else {"team": []}),
            )
            for n, association in enumerate(associations)
        ],
    )
    load.add(
        application_axis,
        [
            link
            for n, a in enumerate(ids)
            for link in _axis_links("application_id", a, n, reference["axes"])
        ],
    )
    load.add(BudgetLine, [line for n, a in enumerate(ids) for line in _budget_lines(a, n)])
    load.add(
        Attachment,
        [row for n, a in enumerate(ids) for row in _attachments(call, a, owners[n], now)],
    )
    return ids


# --- what is measured -----------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """A page as a role asks for it; `path(world, client)` gives its URL for one client."""

    name: str
    role: str  # visitor, applicant, staff, evaluator
    path: Callable[[World, int], str]
    autosave: bool = False  # an htmx POST of one field, its version followed


PAGES = (
    Page("call_page", "visitor", lambda w, c: f"/calls/{w.open_call_id}"),
    Page("applicant_dashboard", "applicant", lambda w, c: "/applications"),
    Page(
        "application_section",
        "applicant",
        lambda w, c: f"/applications/{w.applicants[c][1]}/sections/narrative",
    ),
    Page(
        "application_autosave",
        "applicant",
        lambda w, c: f"/applications/{w.applicants[c][1]}/fields/context",
        autosave=True,
    ),
    Page(
        "staff_applications",
        "staff",
        lambda w, c: f"/staff/calls/{w.national_call_id}/applications",
    ),
    Page(
        "staff_applications_filtered",
        "staff",
        lambda w, c: (
            f"/staff/calls/{w.national_call_id}/applications?"
            + urllib.parse.urlencode(
                {"lot": w.filter_lot_id, "region": w.filter_region, "q": "Association 1"}
            )
        ),
    ),
    Page("evaluator_dashboard", "evaluator", lambda w, c: "/reviews"),
    Page("scoring_page", "evaluator", lambda w, c: f"/reviews/{w.review_id}"),
    Page("ranking", "staff", lambda w, c: f"/staff/calls/{w.national_call_id}/ranking"),
    Page("public_results", "visitor", lambda w, c: f"/results/{w.national_code}"),
    Page("open_data", "visitor", lambda w, c: "/open-data/grants.csv"),
    Page("axis_dashboard", "staff", lambda w, c: "/staff/dashboards"),
    Page("training_catalogue", "visitor", lambda w, c: "/training"),
)
VERSION = re.compile(r'name="version\.(?P<name>[\w.]+)" value="(?P<version>\d+)"')
AUTOSAVE_FIELD = "context"


def _version(body: str, name: str) -> int:
    for found in VERSION.finditer(body):
        if found["name"] == name:
            return int(found["version"])
    raise RuntimeError(f"no version of {name} in the answer")


def _autosave_text(client: int, number: int) -> str:
    return f"{words(DRAFT_WORDS[AUTOSAVE_FIELD], client)} ({client}-{number})"


def _email_for(world: World, role: str, client: int) -> str | None:
    return {
        "visitor": None,
        "applicant": world.applicants[client % len(world.applicants)][0],
        "staff": world.staff,
        "evaluator": world.evaluator,
    }[role]


# --- queries per request, in-process --------------------------------------------------------


@dataclass
class Counted:
    """The SQL of one request: how many statements, and the slowest with its time."""

    queries: int
    sql_ms: float
    slowest_ms: float
    slowest: str


def count_queries(app, world: World) -> dict[str, Counted]:
    """Count (and time) the SQL statements of one request to each page, after a warm-up
    request, through the Flask test client, as tests/conftest.py's `count_queries` does. What
    the warm-up kept (the ranking's order, the dashboards' figures, the published results) is
    forgotten first: the count is that of computing the page."""
    import sqlalchemy as sa

    from portal.extensions import db
    from portal.kept import Kept

    with app.app_context():
        engine = db.engine
        ids = dict(session_ids(db.session, world))
        db.session.remove()
    statements: list[list] = []  # [statement, started, milliseconds]

    def before(conn, cursor, statement, *args):
        if not re.match(r"\s*(SAVEPOINT|RELEASE|ROLLBACK|PRAGMA)", statement, re.I):
            statements.append([statement, time.perf_counter(), 0.0])

    def after(conn, cursor, statement, *args):
        if statements and statements[-1][0] is statement:
            statements[-1][2] = (time.perf_counter() - statements[-1][1]) * 1000

    counts = {}
    for page in PAGES:
        client = app.test_client()
        email = _email_for(world, page.role, 0)
        if email is not None:
            with client.session_transaction() as stored:
                stored["_user_id"] = ids[email]
                stored["_fresh"] = True
        prepare, send = _in_process_sender(client, page, page.path(world, 0))
        prepare()
        send(0)  # the first request of a client loads its session and locale
        prepare()
        Kept.forget_all()  # count computing the answer, not reading a kept one
        sa.event.listen(engine, "before_cursor_execute", before)
        sa.event.listen(engine, "after_cursor_execute", after)
        try:
            statements.clear()
            status = send(1)
        finally:
            sa.event.remove(engine, "before_cursor_execute", before)
            sa.event.remove(engine, "after_cursor_execute", after)
        if status != 200:
            raise RuntimeError(f"{page.name} answered {status} in-process")
        slowest = max(statements, key=lambda row: row[2], default=["", 0, 0.0])
        counts[page.name] = Counted(
            queries=len(statements),
            sql_ms=round(sum(row[2] for row in statements), 1),
            slowest_ms=round(slowest[2], 1),
            slowest=" ".join(slowest[0].split())[:160],
        )
    return counts


def session_ids(session, world: World):
    """Yield (e-mail, Flask-Login session id) of every signed-in role measured."""
    from portal.accounts.models import User

    emails = [world.staff, world.evaluator] + [email for email, _draft in world.applicants]
    for email, user_id, version in session.execute(
        select(User.email, User.id, User.session_version).where(User.email.in_(emails))
    ):
        yield email, f"{user_id}:{version}"


def _in_process_sender(client, page: Page, path: str):
    """Return (prepare(), send(number) -> status) for the page on a Flask test client; an
    autosave is prepared by reading the field's version and the CSRF token from its section."""
    if not page.autosave:
        return (lambda: None), (lambda number: _read(client.get(path)))
    section = _section_of(path)
    state = {}

    def prepare() -> None:
        body = client.get(section).get_data(as_text=True)
        state["token"] = _token(body)
        state["version"] = _version(body, AUTOSAVE_FIELD)

    def autosave(number: int) -> int:
        form = {
            AUTOSAVE_FIELD: _autosave_text(0, number + 1),
            f"version.{AUTOSAVE_FIELD}": state["version"],
        }
        headers = {"X-CSRFToken": state["token"], "HX-Request": "true"}
        return _read(client.post(path, data=form, headers=headers))

    return prepare, autosave


def _section_of(autosave_path: str) -> str:
    return autosave_path.rsplit("/fields/", 1)[0] + "/sections/narrative"


def _read(response) -> int:
    response.get_data()  # a streamed answer runs its queries while it is read
    return response.status_code


def _token(body: str) -> str:
    import html

    from bench.support import CSRF

    found = CSRF.search(body)
    if found is None:
        raise RuntimeError("no CSRF token on the page")
    return html.unescape(found.group(1))


# --- over HTTP ------------------------------------------------------------------------------


@dataclass
class Series:
    """The answers to one page (or its floor) under load."""

    latencies: list[float] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    errors: int = 0
    floor_queries: int = 0
    sample: bytes = b""
    content_type: str = ""

    def add(self, answer, ok: bool) -> None:
        self.latencies.append(answer.ms)
        self.sizes.append(len(answer.body))
        self.errors += 0 if ok else 1
        self.floor_queries = max(
            self.floor_queries, int(answer.headers.get(FLOOR_QUERIES_HEADER, 0) or 0)
        )
        if not self.sample and ok:
            self.sample = answer.body
            self.content_type = answer.headers.get("Content-Type", "")

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies)

    @property
    def p95(self) -> float:
        return percentile(self.latencies, 0.95)


class Visitor(Client):
    """A benchmark client: its role's session, and the version of the field it autosaves."""

    def __init__(self, base: str, number: int):
        super().__init__(base)
        self.number = number
        self.version = 0
        self.sent = 0


def sign_in_clients(base: str, world: World) -> dict[str, list[Visitor]]:
    """Sign CLIENTS clients in through the real form for each role (visitors stay anonymous)."""
    clients = {role: [Visitor(base, n) for n in range(CLIENTS)] for role in PAGE_ROLES}
    work = []
    for role, group in clients.items():
        for client in group:
            email = _email_for(world, role, client.number)
            if email is None:
                work.append(lambda client=client: client.remember_token(client.request("/")[1]))
            else:
                work.append(lambda client=client, email=email: client.sign_in(email, PASSWORD))
    in_parallel(work)
    return clients


PAGE_ROLES = ("visitor", "applicant", "staff", "evaluator")


def _floor_path(path: str) -> str:
    return "/__bench/floor?path=" + urllib.parse.quote(path, safe="")


def _refresh_version(client: Visitor, section: str) -> None:
    body = client.fetch(section).text
    client.remember_token(body)
    client.version = _version(body, AUTOSAVE_FIELD)


def _sender(page: Page, world: World, floor: bool):
    """Return send(client) -> (answer, ok) for the page, or for its floor."""

    def get(client: Visitor):
        path = page.path(world, client.number)
        answer = client.fetch(_floor_path(path) if floor else path)
        return answer, answer.status == 200

    def autosave(client: Visitor):
        path = page.path(world, client.number)
        headers = {"X-CSRFToken": client.token, "HX-Request": "true"}
        if floor:
            # Always the same value and version: the floor's one real save (when a worker
            # first sees it) changes nothing the next time, so no answer is a conflict.
            form = {
                AUTOSAVE_FIELD: _autosave_text(client.number, 0),
                f"version.{AUTOSAVE_FIELD}": client.version,
            }
            answer = client.fetch(_floor_path(path), form, headers)
            return answer, answer.status == 200 and b'class="saved"' in answer.body
        client.sent += 1
        form = {
            AUTOSAVE_FIELD: _autosave_text(client.number, client.sent),
            f"version.{AUTOSAVE_FIELD}": client.version,
        }
        answer = client.fetch(path, form, headers)
        ok = answer.status == 200 and b'class="saved"' in answer.body
        if ok:
            client.version = _version(answer.text, AUTOSAVE_FIELD)
        return answer, ok

    return autosave if page.autosave else get


def measure(clients: list[Visitor], send, key, total: int = REQUESTS) -> Series:
    """Warm up, then send `total` requests from all clients at once (fewer, but a round at
    least, if the page takes longer than PAGE_BUDGET_S); return what was answered.

    The warm-up lasts until every worker has served each path (`key(client)`) at least once:
    a worker compiles templates and SQL, and keeps its floor, the first time it serves a page.
    """
    lock = threading.Lock()
    workers: dict[str, set[str]] = {}
    warm_until = time.monotonic() + PAGE_BUDGET_S

    def warm_up(client: Visitor) -> None:
        path = key(client)
        for _ in range(WARM_UP_MAX):
            answer, _ok = send(client)
            with lock:
                seen = workers.setdefault(path, set())
                seen.add(answer.headers.get(WORKER_HEADER, ""))
                if len(seen) >= WORKERS or time.monotonic() > warm_until:
                    return

    in_parallel([lambda client=client: warm_up(client) for client in clients])
    series = Series()
    state = {"sent": 0}
    deadline = time.monotonic() + PAGE_BUDGET_S

    def work(client: Visitor) -> None:
        while True:
            with lock:
                if state["sent"] >= total or (
                    state["sent"] >= len(clients) and time.monotonic() > deadline
                ):
                    return
                state["sent"] += 1
            answer, ok = send(client)
            with lock:
                series.add(answer, ok)

    in_parallel([lambda client=client: work(client) for client in clients])
    return series


ASSET = re.compile(
    r'<link rel="stylesheet" href="(?P<css>[^"]+)"|<script src="(?P<js>[^"]+)"', re.I
)


def weight(client: Client, series: Series, cache: dict) -> tuple[int, int]:
    """Return the (raw, gzip) bytes of the page with the CSS and JS it links (fonts aside)."""
    raw, packed = len(series.sample), gzip_size(series.sample)
    if "html" not in series.content_type:
        return raw, packed
    for found in ASSET.finditer(series.sample.decode("utf-8", "replace")):
        url = found["css"] or found["js"]
        if url not in cache:
            body = client.fetch(url).body
            cache[url] = (len(body), gzip_size(body))
        raw += cache[url][0]
        packed += cache[url][1]
    return raw, packed


def measure_pages(base: str, world: World, clients: dict[str, list[Visitor]]) -> tuple[dict, dict]:
    """Measure every page and its floor; return (pages, the hello floor)."""
    hello = measure(clients["visitor"], _hello, key=lambda client: "hello")
    pages, assets = {}, {}
    for page in PAGES:
        group = clients[page.role]
        if page.autosave:
            for client in group:
                _refresh_version(client, _section_of(page.path(world, client.number)))
        path_of = lambda client, page=page: page.path(world, client.number)  # noqa: E731
        floor = measure(group, _sender(page, world, floor=True), path_of)
        if page.autosave:
            for client in group:  # the floor's save moved the version on
                _refresh_version(client, _section_of(page.path(world, client.number)))
        real = measure(group, _sender(page, world, floor=False), path_of)
        raw, packed = weight(group[0], real, assets)
        pages[page.name] = {
            "p50_ms": round(real.p50, 1),
            "p95_ms": round(real.p95, 1),
            "floor_p95_ms": round(floor.p95, 1),
            "floor_ratio": round(real.p95 / floor.p95, 2),
            "floor": "stream" if page.name == "open_data" else "render",
            "floor_queries": floor.floor_queries,
            "floor_bytes": int(statistics.median(floor.sizes)),
            "bytes": int(statistics.median(real.sizes)),
            "weight_kb": round(raw / 1024, 1),
            "weight_gzip_kb": round(packed / 1024, 1),
            "requests": len(real.latencies),
            "errors": real.errors + floor.errors,
        }
        print(
            f"  {page.name:<28} p95 {real.p95:8.1f} ms  floor {floor.p95:7.1f} ms  "
            f"×{real.p95 / floor.p95:5.2f}  n={len(real.latencies)}",
            flush=True,
        )
    return pages, {"p50_ms": round(hello.p50, 1), "p95_ms": round(hello.p95, 1)}


def _hello(client: Visitor):
    answer = client.fetch("/__bench/hello")
    return answer, answer.status == 200


# --- the deadline rush ----------------------------------------------------------------------


@dataclass
class Rush:
    requests: int = 0
    errors: int = 0
    flows: int = 0
    latencies: list[float] = field(default_factory=list)
    submit_latencies: list[float] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    exhausted: int = 0
    submitted: list[int] = field(default_factory=list)


def rush(base: str, world: World, seconds: float = RUSH_SECONDS) -> tuple[Rush, float]:
    """Run len(world.rush) clients for `seconds`: each signs in as the owner of its next
    draft, opens the team section, autosaves the team and submits, then starts again."""
    result = Rush()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def step(client: Client, path: str, form=None, headers=None, expect=200, marker=b""):
        answer = client.fetch(path, form, headers)
        ok = answer.status == expect and marker in answer.body
        with lock:
            result.requests += 1
            result.latencies.append(answer.ms)
            if not ok:
                result.errors += 1
                if len(result.problems) < 10:
                    result.problems.append(f"{path} answered {answer.status}")
        return answer, ok

    def flows(drafts: list[tuple[str, int]]) -> None:
        for email, draft in drafts:
            if time.monotonic() >= deadline:
                return
            client = Client(base)
            answer, ok = step(client, "/account/sign-in")
            client.remember_token(answer.text)
            _answer, ok = step(
                client,
                "/account/sign-in",
                {"email": email, "password": PASSWORD, "csrf_token": client.token},
                expect=303,
            )
            if not ok:
                continue
            section, ok = step(
                client, f"/applications/{draft}/sections/team", marker=b"version.team"
            )
            if not ok:
                continue
            client.remember_token(section.text)
            headers = {"X-CSRFToken": client.token, "HX-Request": "true"}
            form = {
                "team": f"منسق المشروع\nمكونة {draft}",
                "version.team": _version(section.text, "team"),
            }
            _answer, ok = step(
                client, f"/applications/{draft}/fields/team", form, headers, marker=b'class="saved"'
            )
            if not ok:
                continue
            answer, ok = step(
                client, f"/applications/{draft}/submit", {"csrf_token": client.token}, expect=303
            )
            location = answer.headers.get("Location", "")
            if not ok or "/submissions/" not in location:
                if ok:
                    with lock:
                        result.errors += 1
                        result.problems.append(f"submit of {draft} went to {location}")
                continue
            with lock:
                result.submit_latencies.append(answer.ms)
            receipt = urllib.parse.urlsplit(location).path
            _answer, ok = step(client, receipt, marker=b"SHK-")
            if ok:
                with lock:
                    result.flows += 1
                    result.submitted.append(draft)
        if time.monotonic() < deadline:  # every draft of this client is submitted
            with lock:
                result.exhausted += 1

    started = time.monotonic()
    in_parallel([lambda drafts=drafts: flows(drafts) for drafts in world.rush])
    return result, time.monotonic() - started


def rush_check(session, submitted: list[int]) -> int:
    """Return how many applications the rush saw submitted lack exactly one submission (or
    are not submitted): 0 when nothing was lost or doubled."""
    from portal.applications.models import Application, ApplicationStatus, Submission

    if not submitted:
        return 0
    rows = dict(
        session.execute(
            select(Submission.application_id, func.count())
            .where(Submission.application_id.in_(submitted))
            .group_by(Submission.application_id)
        ).all()
    )
    statuses = dict(
        session.execute(
            select(Application.id, Application.status).where(Application.id.in_(submitted))
        ).all()
    )
    return sum(
        1
        for draft in submitted
        if rows.get(draft) != 1 or statuses.get(draft) != ApplicationStatus.SUBMITTED
    )


# --- the whole benchmark --------------------------------------------------------------------


def build(url: str, applications: int, **options) -> tuple[object, World, float]:
    """Create the schema on `url`, load the reference data, generate; return (app, world,
    generation seconds)."""
    from portal import create_app
    from portal.extensions import db
    from portal.strategy.services import load_reference_data

    app = create_app(bench_settings(url))
    with app.app_context():
        db.create_all()
        load_reference_data(db.session)
        db.session.commit()
        started = time.perf_counter()
        world = generate(db.session, applications, **options)
        seconds = time.perf_counter() - started
        analyze(db.engine)
        db.session.remove()
    return app, world, seconds


def database_version(app) -> str:
    from portal.extensions import db

    with app.app_context():
        if db.engine.dialect.name == "postgresql":
            version = db.session.scalar(select(func.version()))
            found = re.match(r"PostgreSQL [\d.]+", version or "")
            name = found.group(0) if found else "PostgreSQL"
        else:
            import sqlite3

            name = f"SQLite {sqlite3.sqlite_version}"
        db.session.remove()
    return name


def dispose(app) -> None:
    from portal.extensions import db

    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def run() -> dict:
    """Generate, count queries at both scales, measure over HTTP and rush; return the numbers."""
    small, large = SCALES
    rush_drafts = max(20, int(RUSH_SECONDS * 2))
    measured: dict = {}
    if not QUICK:
        with database(sqlite=True) as url:
            app, _world, seconds = build(
                url, large, rush_clients=RUSH_CLIENTS, rush_drafts=rush_drafts
            )
            dispose(app)
        measured["national_generate_sqlite_s"] = round(seconds, 1)
        print(f"  generated {large} applications on SQLite in {seconds:.1f} s", flush=True)
    with database(default=LOCAL_POSTGRES) as url:
        app, world, seconds = build(url, small)
        counts_small = count_queries(app, world)
        dispose(app)
    measured["national_generate_small_s"] = round(seconds, 1)
    print(f"  generated {small} applications in {seconds:.1f} s; queries counted", flush=True)
    with database(default=LOCAL_POSTGRES) as url:
        app, world, seconds = build(url, large, rush_clients=RUSH_CLIENTS, rush_drafts=rush_drafts)
        print(
            f"  generated {large} applications ({world.rows:,} rows) in {seconds:.1f} s", flush=True
        )
        counts_large = count_queries(app, world)
        version = database_version(app)
        dispose(app)
        load_before = os.getloadavg()[0]
        if load_before > 1.5:
            print(f"  warning: load average {load_before:.1f} on {os.cpu_count()} CPUs", flush=True)
        port = free_port()
        server = start_server(url, port, WORKERS)
        try:
            base = f"http://127.0.0.1:{port}"
            clients = sign_in_clients(base, world)
            pages, hello = measure_pages(base, world, clients)
            rushed, rush_s = rush(base, world)
        finally:
            stop_server(server)
        load_after = os.getloadavg()[0]
        from portal.extensions import db

        with app.app_context():
            lost = rush_check(db.session, rushed.submitted)
        dispose(app)
    for name, numbers in pages.items():
        numbers["queries_1k"] = counts_small[name].queries
        numbers["queries_10k"] = counts_large[name].queries
        # In-process, one request alone, at the larger size: where the database time goes.
        numbers["sql_ms"] = counts_large[name].sql_ms
        numbers["slowest_query_ms"] = counts_large[name].slowest_ms
        numbers["slowest_query"] = counts_large[name].slowest
    measured.update(
        {
            "pages": pages,
            "national_applications": large,
            "national_small_applications": small,
            "national_rows": world.rows,
            "national_generate_s": round(seconds, 1),
            "national_database": version,
            "national_clients": CLIENTS,
            "national_workers": WORKERS,
            # Other work on the machine skews every number: the 1-minute load average before
            # the server started, and after the rush (then including the benchmark's own).
            "national_load_average": [round(load_before, 1), round(load_after, 1)],
            "national_hello_p50_ms": hello["p50_ms"],
            "national_hello_p95_ms": hello["p95_ms"],
            "rush_clients": len(world.rush),
            "rush_seconds": round(rush_s, 1),
            "rush_requests": rushed.requests,
            "rush_errors": rushed.errors + lost,
            "rush_lost_or_doubled": lost,
            "rush_flows": rushed.flows,
            "rush_flows_per_s": round(rushed.flows / rush_s, 1),
            "rush_requests_per_s": round(rushed.requests / rush_s, 1),
            "rush_p95_ms": round(percentile(rushed.latencies, 0.95), 1)
            if rushed.latencies
            else None,
            "rush_submit_p95_ms": (
                round(percentile(rushed.submit_latencies, 0.95), 1)
                if rushed.submit_latencies
                else None
            ),
            "rush_clients_out_of_drafts": rushed.exhausted,
        }
    )
    if rushed.problems:
        print("  rush problems:", *rushed.problems, sep="\n    ")
    return measured


def _generate_only(arguments: list[str]) -> None:
    """`--generate N [--sqlite]`: time the generator alone and print the rows made."""
    applications = int(arguments[arguments.index("--generate") + 1])
    sqlite = "--sqlite" in arguments
    with database(default=LOCAL_POSTGRES, sqlite=sqlite) as url:
        app, world, seconds = build(url, applications, rush_clients=RUSH_CLIENTS, rush_drafts=20)
        print(
            f"{database_version(app)}: {applications} applications, "
            f"{world.rows:,} rows, {seconds:.1f} s"
        )
        dispose(app)


if __name__ == "__main__":
    if "--generate" in sys.argv:
        _generate_only(sys.argv)
    else:
        from bench.run import main

        main(["bench.national"])
