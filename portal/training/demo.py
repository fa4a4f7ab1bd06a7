"""The demo capacity-building programme (action-plan project 22): four modules, sessions in
several regions and online, some nearly full, participants from the demo associations, and a
session held a few weeks ago with its attendance marked and its certificates issued."""

from __future__ import annotations

import itertools
import random
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.db import utcnow
from portal.organisations.models import Association, AssociationStatus, Membership
from portal.strategy.models import Region
from portal.timeutil import from_local
from portal.training.attendance import reaches_threshold, session_days
from portal.training.certificates import CODE_GROUPS, CODE_PREFIX
from portal.training.models import (
    Attendance,
    Certificate,
    Enrolment,
    EnrolmentStatus,
    Module,
    Programme,
    SessionStatus,
    TrainingSession,
)
from portal.training.services import CODE_ALPHABET

TITLE_AR = "برنامج تقوية قدرات الجمعيات في التفاعل مع منظومة حقوق الإنسان"
PROGRAMME = {
    "title_ar": TITLE_AR,
    "title_fr": "Programme de renforcement des capacités des associations pour l'interaction "
    "avec les systèmes des droits de l'Homme",
    "objectives_ar": "تمكين الجمعيات الوطنية من التفاعل مع آليات الأمم المتحدة لحقوق الإنسان "
    "والمنظومة الإفريقية، وإعداد التقارير الموازية وتتبع تنفيذ التوصيات.",
    "objectives_fr": "Permettre aux associations nationales d'interagir avec les mécanismes "
    "onusiens et le système africain des droits de l'Homme, de rédiger des rapports parallèles "
    "et de suivre la mise en œuvre des recommandations.",
}
MODULES = (
    ("الاستعراض الدوري الشامل", "L'Examen périodique universel"),
    ("هيئات المعاهدات والتقارير الموازية", "Les organes de traités et les rapports parallèles"),
    ("الإجراءات الخاصة والبلاغات", "Les procédures spéciales et les communications"),
    ("المنظومة الإفريقية لحقوق الإنسان", "Le système africain des droits de l'Homme"),
)
# (module index, weeks from now, region code or None for online, city, venue, language,
#  capacity, seats to fill)
SESSIONS = (
    (0, 3, "rabat-sale-kenitra", "Rabat", "مقر المندوبية الوزارية", "ar", 25, 23),
    (0, 6, "souss-massa", "Agadir", "Maison des associations", "ar", 20, 6),
    (1, 4, "casablanca-settat", "Casablanca", "Complexe culturel Sidi Belyout", "fr", 24, 22),
    (1, 8, None, "", "", "ar", 40, 12),
    (2, 5, "fes-meknes", "Fès", "Centre régional d'investissement", "fr", 20, 4),
    (2, 7, "oriental", "Oujda", "Dar Chabab Al Qods", "ar", 20, 19),
    (3, 9, "marrakech-safi", "Marrakech", "Palais des congrès", "fr", 30, 3),
)
FIRST_NAMES = ("أمينة", "Youssef", "فاطمة", "Karim", "خديجة", "Salma", "محمد", "Nadia", "حسن")


# The session held a few weeks ago: treaty bodies, three days in Tangier.
PAST_SESSION = {
    "module": 1,
    "weeks_ago": 4,
    "region": "tanger-tetouan-al-hoceima",
    "city": "Tanger",
    "venue": "Dar Niaba, centre culturel",
    "language": "ar",
    "capacity": 20,
}
PAST_PARTICIPANTS = (
    "سناء المرابط",
    "Omar El Fassi",
    "زينب الحسني",
    "Rachid Benjelloun",
    "مريم الودغيري",
    "Hicham Ouazzani",
    "إيمان الشرقاوي",
    "Leila Berrada",
    "عبد الله التازي",
    "Samira Kettani",
    "نور الهدى السوسي",
    "Mehdi Alami",
    "حنان الريفي",
    "Anas Bouzidi",
)
# Days each participant missed (0, 1, 2 for the first, second, third day): the others attended
# all three. Two of three days is 66%, under the programme's 80%: no certificate for them.
PAST_ABSENCES = {3: (2,), 7: (1,), 10: (0, 1), 12: (0,)}


def ensure_training_demo(
    session: Session, staff: User, applicant: User | None = None
) -> Programme | None:
    """Create the demo programme unless it exists, and its past session unless it exists;
    return the programme if new.

    The associations of `applicant` (the demo's association member) took part in the past
    session but hold no seat in the coming ones, so whoever tries the demo can enrol."""
    programme = session.scalar(select(Programme).where(Programme.title_ar == TITLE_AR))
    if programme is not None:
        ensure_past_session(session, programme, staff)
        return None
    programme = Programme(**PROGRAMME)
    programme.modules = [
        Module(position=number, title_ar=title_ar, title_fr=title_fr)
        for number, (title_ar, title_fr) in enumerate(MODULES, start=1)
    ]
    session.add(programme)
    session.flush()
    regions = {region.code: region for region in session.scalars(select(Region))}
    associations = list(
        session.scalars(
            select(Association)
            .where(
                Association.status == AssociationStatus.VERIFIED,
                ~Association.memberships.any(Membership.user_id == _id_of(applicant)),
            )
            .order_by(Association.id)
        )
    )
    for index, values in enumerate(SESSIONS):
        training = _session(programme, regions, *values[:-1])
        session.add(training)
        session.flush()
        _fill(session, training, associations, values[-1], staff, index)
    ensure_past_session(session, programme, staff)
    return programme


def _id_of(user: User | None) -> int | None:
    return user.id if user is not None else None


def _session(programme, regions, module, weeks, region, city, venue, language, capacity):
    starts_on = date.today() + timedelta(weeks=weeks)
    now = utcnow()
    return TrainingSession(
        module=programme.modules[module],
        status=SessionStatus.PUBLISHED,
        language=language,
        starts_on=starts_on,
        ends_on=starts_on + timedelta(days=2),
        daily_start=time(9, 0),
        daily_end=time(16, 30),
        online=region is None,
        region=regions.get(region) if region else None,
        city=city,
        venue=venue,
        capacity=capacity,
        enrolment_opens_at=now - timedelta(days=7),
        enrolment_closes_at=now + timedelta(weeks=weeks) - timedelta(days=7),
        per_association_cap=2,
    )


def _fill(session, training, associations, seats, staff, index) -> None:
    """Enrol `seats` participants, at most two per association, all confirmed."""
    places = itertools.islice(
        ((association, slot) for association in associations for slot in range(2)), seats
    )
    for number, (association, slot) in enumerate(places, start=1):
        name = FIRST_NAMES[(number + index) % len(FIRST_NAMES)]
        session.add(
            Enrolment(
                session_id=training.id,
                association_id=association.id,
                status=EnrolmentStatus.CONFIRMED,
                full_name=f"{name} {number}",
                sex="female" if number % 2 else "male",
                role="منسق(ة) المشاريع" if slot == 0 else "عضو(ة) المكتب",
                email=f"participant.{training.id}.{number}@demo.shiraka.ma",
                locale="ar" if number % 3 else "fr",
                registration_code=f"D{training.id:02d}{number:03d}{index}X"[:8].upper(),
                created_by_id=staff.id,
                confirmed_at=utcnow(),
            )
        )
    training.seats_taken = seats


# --- the past session -----------------------------------------------------------------------


def _past_session(session: Session, programme: Programme) -> TrainingSession | None:
    return session.scalar(
        select(TrainingSession).where(
            TrainingSession.module_id.in_([module.id for module in programme.modules]),
            TrainingSession.venue == PAST_SESSION["venue"],
        )
    )


def ensure_past_session(session: Session, programme: Programme, staff: User) -> TrainingSession:
    """Create the session held a few weeks ago, unless it exists: participants checked in,
    attendance marked per day, certificates issued to those who attended enough."""
    existing = _past_session(session, programme)
    if existing is not None:
        return existing
    starts_on = date.today() - timedelta(weeks=PAST_SESSION["weeks_ago"])
    region = session.scalar(select(Region).where(Region.code == PAST_SESSION["region"]))
    training = TrainingSession(
        module=programme.modules[PAST_SESSION["module"]],
        status=SessionStatus.PUBLISHED,
        language=PAST_SESSION["language"],
        starts_on=starts_on,
        ends_on=starts_on + timedelta(days=2),
        daily_start=time(9, 0),
        daily_end=time(16, 30),
        online=False,
        region=region,
        city=PAST_SESSION["city"],
        venue=PAST_SESSION["venue"],
        capacity=PAST_SESSION["capacity"],
        seats_taken=len(PAST_PARTICIPANTS),
        enrolment_opens_at=from_local(datetime.combine(starts_on - timedelta(weeks=8), time(9))),
        enrolment_closes_at=from_local(datetime.combine(starts_on - timedelta(weeks=1), time(18))),
        per_association_cap=2,
    )
    session.add(training)
    session.flush()
    associations = session.scalars(
        select(Association)
        .where(Association.status == AssociationStatus.VERIFIED)
        .order_by(Association.id)
    )
    places = ((association, slot) for association in associations for slot in range(2))
    # Two places per association at most; fewer participants if the demo has few associations.
    people = zip(PAST_PARTICIPANTS, places, strict=False)
    for number, (name, (association, slot)) in enumerate(people, start=1):
        enrolment = _past_enrolment(training, association, slot, number, name, staff)
        session.add(enrolment)
        session.flush()
        _attend(session, training, enrolment, number, staff)
    return training


def _past_enrolment(training, association, slot, number, name, staff) -> Enrolment:
    opened = training.enrolment_opens_at + timedelta(days=number)
    return Enrolment(
        session_id=training.id,
        association_id=association.id,
        status=EnrolmentStatus.CONFIRMED,
        full_name=name,
        sex="female" if number % 2 else "male",
        role="منسق(ة) المشاريع" if slot == 0 else "عضو(ة) المكتب",
        email=f"participant.{training.id}.{number}@demo.shiraka.ma",
        locale="fr" if name.isascii() else "ar",
        registration_code=f"PS{training.id:03d}{number:03d}",
        created_by_id=staff.id,
        created_at=opened,
        confirmed_at=opened,
    )


def _attend(session, training, enrolment, number, staff) -> None:
    """Mark each day present or absent; check in the first day present; certify if enough."""
    days = session_days(training)
    missed = PAST_ABSENCES.get(number, ())
    for index, day in enumerate(days):
        present = index not in missed
        marked_at = from_local(datetime.combine(day, time(8, 30)) + timedelta(minutes=number))
        if present and enrolment.checked_in_at is None:
            enrolment.checked_in_at = marked_at
        session.add(
            Attendance(
                enrolment_id=enrolment.id,
                day=day,
                present=present,
                marked_by_id=staff.id,
                marked_at=marked_at,
            )
        )
    threshold = training.module.programme.attendance_threshold_percent
    if reaches_threshold(len(days) - len(missed), len(days), threshold):
        session.add(
            Certificate(
                enrolment_id=enrolment.id,
                code=demo_certificate_code(number),
                issued_at=from_local(datetime.combine(training.ends_on, time(17, 0))),
                issued_by_id=staff.id,
            )
        )


def demo_certificate_code(number: int) -> str:
    """Return the demo certificate code of the past session's participant `number`: always the
    same, so the README can show one (a real code is drawn by portal.training.certificates)."""
    draw = random.Random(f"shiraka-demo-certificate-{number}")  # noqa: S311 — demo data only
    groups = ["".join(draw.choice(CODE_ALPHABET) for _ in range(size)) for size in CODE_GROUPS]
    return "-".join([CODE_PREFIX, *groups])


def demo_verification_code(session: Session) -> str | None:
    """Return the code of the demo's first certificate, for the visitor to try, or None."""
    code = demo_certificate_code(1)
    return session.scalar(select(Certificate.code).where(Certificate.code == code))
