"""A demo call in review: closed last month, screened, evaluators assigned, reviews half done.

Gives a fresh install something to screen, score and rank: the demo evaluator has applications
waiting, one application splits its evaluators, and the ranking has scores to show.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import Role, User, UserRole
from portal.applications.models import Application, ApplicationStatus, BudgetLine, Submission
from portal.applications.receipts import seal_receipt
from portal.applications.services import snapshot
from portal.calls import services as call_services
from portal.calls.demo import CRITERIA, MANUAL_CHECKS
from portal.calls.models import Call, CallStatus
from portal.db import utcnow
from portal.organisations.models import Association, AssociationStatus, MemberRole, Membership
from portal.review.models import (
    PoolMember,
    PoolStatus,
    Review,
    ReviewStatus,
    Score,
    Screening,
    ScreeningDecision,
)
from portal.strategy.models import Region, StrategicAxis

CODE = "AAP-2026-JEUNES"
GENERAL = {
    "code": CODE,
    "title_ar": "طلب عروض مشاريع الشباب في مجال حقوق الإنسان 2026",
    "title_fr": "Appel à projets jeunesse et droits de l'Homme 2026",
    "description_ar": "يدعم هذا الطلب مبادرات الجمعيات الشبابية للتربية على حقوق الإنسان "
    "والمشاركة المواطنة.",
    "description_fr": "L'appel soutient les initiatives des associations de jeunes pour "
    "l'éducation aux droits de l'Homme et la participation citoyenne.",
    "budget_total": 1_500_000,
    "min_amount": 30_000,
    "max_amount": 150_000,
    "min_cofunding_percent": 10,
    "max_duration_months": 12,
    "min_years_since_founding": 1,
    "max_applications_per_association": 1,
    "max_budget_lines": 60,
}
LOTS = (
    {
        "title_ar": "التربية على حقوق الإنسان في الوسط المدرسي",
        "title_fr": "Éducation aux droits de l'Homme en milieu scolaire",
        "budget": 800_000,
        "axis_codes": ["axis-3"],
        "project_numbers": [26],
    },
    {
        "title_ar": "مشاركة الشباب في تتبع توصيات آليات الأمم المتحدة",
        "title_fr": "Participation des jeunes au suivi des recommandations onusiennes",
        "budget": 700_000,
        "axis_codes": ["axis-1"],
        "project_numbers": [21],
    },
)
PROJECTS = (
    ("نوادي حقوق الإنسان في الإعداديات", "Clubs des droits de l'Homme dans les collèges"),
    ("مسرح الشباب من أجل المساواة", "Théâtre des jeunes pour l'égalité"),
    ("سفراء الشباب للاستعراض الدوري الشامل", "Jeunes ambassadeurs de l'Examen périodique"),
    ("إذاعة مدرسية للحقوق والحريات", "Radio scolaire des droits et libertés"),
    ("مخيم صيفي للمواطنة الفاعلة", "Camp d'été de la citoyenneté active"),
    ("مرصد شبابي لتتبع التوصيات", "Observatoire jeunesse du suivi des recommandations"),
    ("دليل المدرّس للتربية على الحقوق", "Guide de l'enseignant pour l'éducation aux droits"),
    ("قافلة الحقوق في العالم القروي", "Caravane des droits en milieu rural"),
    ("منتدى الشباب والإعاقة", "Forum jeunesse et handicap"),
    ("تقرير موازٍ يكتبه الشباب", "Un rapport parallèle écrit par les jeunes"),
    ("ورشات التصوير من أجل الكرامة", "Ateliers photo pour la dignité"),
    ("شبكة الطلبة المدافعين عن الحقوق", "Réseau des étudiants défenseurs des droits"),
)
CITIES = (
    ("casablanca-settat", "Casablanca"),
    ("fes-meknes", "Fès"),
    ("oriental", "Oujda"),
    ("souss-massa", "Agadir"),
    ("marrakech-safi", "Marrakech"),
    ("tanger-tetouan-al-hoceima", "Tétouan"),
)
EVALUATORS = (
    ("evaluator@demo.shiraka.ma", ["ar", "fr"], ["axis-1", "axis-3"]),
    ("evaluatrice.benali@demo.shiraka.ma", ["ar", "fr"], ["axis-3"]),
    ("evaluateur.haddad@demo.shiraka.ma", ["ar"], ["axis-1"]),
    ("evaluatrice.ouazzani@demo.shiraka.ma", ["fr", "ar"], ["axis-1", "axis-2"]),
    ("evaluateur.chraibi@demo.shiraka.ma", ["ar", "fr"], ["axis-3", "axis-4"]),
)
EVALUATOR_NAMES = {
    "evaluatrice.benali@demo.shiraka.ma": "Salma Benali",
    "evaluateur.haddad@demo.shiraka.ma": "يونس الحداد",
    "evaluatrice.ouazzani@demo.shiraka.ma": "Leila Ouazzani",
    "evaluateur.chraibi@demo.shiraka.ma": "عمر الشرايبي",
}
DEMO_EVALUATOR = "evaluator@demo.shiraka.ma"


def ensure_review_demo(session: Session, password_hash: str, staff: User) -> Call | None:
    """Create the demo call in review unless it exists; return it if new."""
    if session.scalar(select(Call.id).where(Call.code == CODE)) is not None:
        return None
    rng = random.Random(2026)
    call = _closed_call(session)
    evaluators = _evaluators(session, call, password_hash, staff)
    applications = _applications(session, call, password_hash, rng)
    _screen(session, call, applications, staff)
    eligible = applications[:-1]  # the last one was found ineligible
    _review(session, call, eligible, evaluators, staff, rng)
    return call


def _closed_call(session: Session) -> Call:
    now = utcnow()
    data = {**GENERAL, "opens_at": now - timedelta(days=75), "closes_at": now - timedelta(days=15)}
    call = call_services.create_call(session, data, actor=None)
    for lot in LOTS:
        call_services.save_lot(
            session, call, {"description_ar": "", "description_fr": "", **lot}, actor=None
        )
    for title_ar, title_fr, guidance_ar, guidance_fr, weight in CRITERIA:
        values = {
            "title_ar": title_ar,
            "title_fr": title_fr,
            "guidance_ar": guidance_ar,
            "guidance_fr": guidance_fr,
            "weight": weight,
            "max_score": 10,
        }
        call_services.save_criterion(session, call, values, actor=None)
    call_services.save_document(
        session,
        call,
        {
            "code": "statutes",
            "name_ar": "القانون الأساسي للجمعية",
            "name_fr": "Statuts de l'association",
            "mandatory": True,
            "allowed_types": ["pdf"],
            "max_size_mb": 10,
        },
        actor=None,
    )
    for text_ar, text_fr in MANUAL_CHECKS:
        call_services.save_manual_check(
            session, call, {"text_ar": text_ar, "text_fr": text_fr}, actor=None
        )
    call.status = CallStatus.CLOSED
    call.published_at = call.opens_at
    call.frozen_at = call.opens_at + timedelta(days=3)
    call.blind_review = True
    call.review_deadline = now + timedelta(days=12)
    call.criteria[0].minimum_score = 5
    call.overall_minimum = 50
    session.flush()
    return call


def _evaluators(session: Session, call: Call, password_hash: str, staff: User) -> list[User]:
    users = []
    for email, languages, expertise in EVALUATORS:
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(
                email=email,
                full_name=EVALUATOR_NAMES[email],
                password_hash=password_hash,
                locale=languages[0],
                email_verified_at=utcnow(),
            )
            user.role_rows = [UserRole(role=Role.EVALUATOR)]
            session.add(user)
            session.flush()
        # The demo evaluator declares conflicts on first visit, as a real one would.
        declared = None if email == DEMO_EVALUATOR else utcnow()
        session.add(
            PoolMember(
                call_id=call.id,
                email=email,
                user_id=user.id,
                status=PoolStatus.ACTIVE,
                languages=languages,
                expertise=expertise,
                invited_by_id=staff.id,
                accepted_at=utcnow(),
                conflicts_declared_at=declared,
            )
        )
        users.append(user)
    return users


def _association(session: Session, number: int, password_hash: str) -> Association:
    region_code, city = CITIES[number % len(CITIES)]
    region = session.scalar(select(Region).where(Region.code == region_code))
    owner = User(
        email=f"jeunes{number:02d}@demo.shiraka.ma",
        full_name=f"Responsable {number:02d}",
        password_hash=password_hash,
        locale="ar" if number % 3 else "fr",
        email_verified_at=utcnow(),
    )
    owner.role_rows = [UserRole(role=Role.APPLICANT)]
    association = Association(
        name_ar=f"جمعية شباب {city} للمواطنة رقم {number}",
        name_fr=f"Jeunes de {city} pour la citoyenneté n° {number}",
        acronym=f"JC{number:02d}",
        legal_form="association",
        registration_number=f"JEU-2026-{number:04d}",
        founded_on=date(2012 + number % 10, 1 + number % 12, 1),
        region=region,
        city=city,
        email=f"contact{number:02d}@jeunes.example.ma",
        status=AssociationStatus.VERIFIED,
        status_changed_at=utcnow(),
    )
    association.memberships.append(Membership(user=owner, role=MemberRole.OWNER))
    session.add(association)
    return association


def _applications(
    session: Session, call: Call, password_hash: str, rng: random.Random
) -> list[Application]:
    axes = {axis.code: axis for axis in session.scalars(select(StrategicAxis))}
    applications = []
    for number, (title_ar, title_fr) in enumerate(PROJECTS, start=1):
        association = _association(session, number, password_hash)
        session.flush()
        lot = call.lots[number % 2]
        application = Application(
            call=call,
            association=association,
            lot=lot,
            language="fr" if number % 4 == 0 else "ar",
            status=ApplicationStatus.SUBMITTED,
            title_ar=title_ar,
            title_fr=title_fr,
            duration_months=6 + number % 7,
            regions=[association.region.code],
            target_groups=["youth"],
            context="يعاني الشباب في المنطقة من ضعف الولوج إلى المعلومة حول حقوقهم.",
            objectives="تمكين 300 شاب وشابة من معرفة حقوقهم والمشاركة في الحياة العامة.",
            activities="ورشات تكوينية، أنشطة فنية، لقاءات مع الفاعلين المحليين.",
            expected_results="300 مستفيد، 12 ورشة، تقرير ختامي منشور.",
            indicators="عدد المستفيدين، نسبة الفتيات، عدد الورشات المنجزة.",
            sustainability="نوادي دائمة يؤطرها متطوعون مكوَّنون.",
            created_by_id=association.memberships[0].user.id,
            submitted_at=call.closes_at - timedelta(days=1, hours=number),
        )
        application.axes = [axes[code] for code in LOTS[number % 2]["axis_codes"]]
        application.budget_lines.append(
            BudgetLine(
                category="activities",
                description="ورشات وأنشطة",
                quantity=10,
                unit_cost=rng.randrange(4_000, 12_000, 500),
                cofunding=3_000,
            )
        )
        session.add(application)
        session.flush()
        seal_demo_submission(session, application)
        applications.append(application)
    return applications


def seal_demo_submission(session: Session, application: Application) -> None:
    """Record the application's first submission with a sealed receipt, as submitting does."""
    submission = Submission(
        application=application,
        number=1,
        reference="pending",
        submitted_at=application.submitted_at,
        submitted_by_id=application.created_by_id,
        application_version=application.version,
        content=snapshot(application),
        content_sha256="",
        attachment_hashes=[],
        signature="",
    )
    session.add(submission)
    session.flush()
    seal_receipt(submission)


def _screen(session: Session, call: Call, applications, staff: User) -> None:
    checks = {str(check.id): True for check in call.manual_checks}
    for application in applications[:-1]:
        session.add(
            Screening(
                application_id=application.id,
                call_id=call.id,
                screener_id=staff.id,
                checks=checks,
                decision=ScreeningDecision.ELIGIBLE,
                decided_by_id=staff.id,
                decided_at=utcnow() - timedelta(days=10),
            )
        )
    session.add(
        Screening(
            application_id=applications[-1].id,
            call_id=call.id,
            screener_id=staff.id,
            checks={**checks, str(call.manual_checks[0].id): False},
            decision=ScreeningDecision.INELIGIBLE,
            reason_ar="الجمعية لم تدل بما يثبت وضعيتها الجبائية السليمة.",
            reason_fr="L'association n'a pas justifié sa situation fiscale régulière.",
            decided_by_id=staff.id,
            decided_at=utcnow() - timedelta(days=10),
        )
    )


def _review(session, call: Call, applications, evaluators, staff: User, rng) -> None:
    """Three evaluators per application, in turn; the demo evaluator's reviews wait for them,
    the others are submitted (one application gets split scores, one is only half reviewed)."""
    criteria = call.criteria
    demo_evaluator = evaluators[0]
    for index, application in enumerate(applications):
        chosen = [evaluators[(index + offset) % len(evaluators)] for offset in range(3)]
        for position, user in enumerate(chosen):
            review = Review(
                call_id=call.id,
                application_id=application.id,
                evaluator_id=user.id,
                assigned_by_id=staff.id,
                assigned_at=utcnow() - timedelta(days=9),
            )
            session.add(review)
            if user is demo_evaluator or (index == 5 and position == 2):
                continue  # waiting for the evaluator
            split = index == 2  # evaluators of this one disagree
            base = (9 if position == 0 else 3) if split else 4 + (index * 7 + position * 3) % 6
            review.status = ReviewStatus.SUBMITTED
            review.submitted_at = utcnow() - timedelta(days=rng.randint(1, 7))
            review.overall_comment = "مشروع واضح الأهداف، يحتاج إلى مؤشرات أدق."
            review.shared_comment = "Les indicateurs gagneraient à être chiffrés."
            for criterion in criteria:
                value = max(0, min(criterion.max_score, base + rng.randint(-1, 1)))
                review.scores.append(Score(criterion_id=criterion.id, value=value))
