"""The demo capacity-building programme (action-plan project 22): four modules, sessions in
several regions and online, some nearly full, participants from the demo associations."""

from __future__ import annotations

import itertools
from datetime import date, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.db import utcnow
from portal.organisations.models import Association, AssociationStatus
from portal.strategy.models import Region
from portal.training.models import (
    Enrolment,
    EnrolmentStatus,
    Module,
    Programme,
    SessionStatus,
    TrainingSession,
)

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


def ensure_training_demo(session: Session, staff: User) -> Programme | None:
    """Create the demo programme unless it exists; return it if new."""
    if session.scalar(select(Programme.id).where(Programme.title_ar == TITLE_AR)):
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
            .where(Association.status == AssociationStatus.VERIFIED)
            .order_by(Association.id)
        )
    )
    for index, values in enumerate(SESSIONS):
        training = _session(programme, regions, *values[:-1])
        session.add(training)
        session.flush()
        _fill(session, training, associations, values[-1], staff, index)
    return programme


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
