"""A past call with published results: "AAP-2025", closed and decided in 2025, its funded actions
under way with tranches paid, milestones (some reached, some overdue) and progress reports filed.

Gives a fresh install real-looking figures on the public results page, in the open data and on
the dashboards: seven funded actions within the lots' envelopes (two co-funded by UNFPA, one by
UN Women), two on the reserve list, three rejected; the demo applicant's association holds one of
the funded actions. The committee was approved by one staff member and submitted by another
(four eyes). Letters are not queued: the applicants of a demo have no mailbox.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import Role, User, UserRole
from portal.actions.models import (
    ActionStatus,
    FundedAction,
    Milestone,
    ProgressReport,
    ReportStatus,
    Tranche,
)
from portal.actions.services import open_action, refresh_progress
from portal.applications.models import Application, ApplicationStatus, BudgetLine
from portal.calls import services as call_services
from portal.calls.demo import CRITERIA
from portal.calls.models import Call, CallStatus
from portal.db import utcnow
from portal.organisations.models import Association, AssociationStatus, MemberRole, Membership
from portal.results.models import (
    Committee,
    CommitteeStatus,
    Decision,
    DecisionFunder,
    LotFunder,
    Outcome,
)
from portal.review.demo import seal_demo_submission
from portal.review.models import (
    PoolMember,
    PoolStatus,
    Review,
    ReviewStatus,
    Score,
    Screening,
    ScreeningDecision,
)
from portal.strategy.models import FundingPartner, Region, Sdg, StrategicAxis, UnMechanism
from portal.timeutil import from_local

CODE = "AAP-2025"
APPLICANT_ASSOCIATION = "RB-2011-0457"  # the demo applicant's association (portal/cli.py)
GENERAL = {
    "code": CODE,
    "title_ar": "طلب عروض المشاريع لفائدة جمعيات حقوق الإنسان 2025",
    "title_fr": "Appel à projets des associations des droits de l'Homme 2025",
    "description_ar": "دعم مشاريع الجمعيات في مجال النهوض بحقوق الإنسان وتتبع توصيات "
    "الآليات الأممية.",
    "description_fr": "Soutien aux projets associatifs de promotion des droits de l'Homme et de "
    "suivi des recommandations onusiennes.",
    "budget_total": 1_000_000,
    "min_amount": 50_000,
    "max_amount": 150_000,
    "min_cofunding_percent": 10,
    "max_duration_months": 12,
    "min_years_since_founding": 1,
    "max_applications_per_association": 1,
    "max_budget_lines": 60,
}
LOTS = (
    {
        "title_ar": "المساواة ومكافحة العنف ضد النساء",
        "title_fr": "Égalité et lutte contre les violences faites aux femmes",
        "budget": 550_000,
        "axis_codes": ["axis-1", "axis-3"],
        "project_numbers": [21],
    },
    {
        "title_ar": "تتبع توصيات آليات الأمم المتحدة لحقوق الإنسان",
        "title_fr": "Suivi des recommandations des mécanismes onusiens",
        "budget": 450_000,
        "axis_codes": ["axis-2"],
        "project_numbers": [25],
    },
)
# (title ar, title fr, lot index, amount asked, gender marker, region, SDGs)
PROJECTS = (
    (
        "مرافقة النساء ضحايا العنف",
        "Accompagner les femmes victimes de violence",
        0,
        120_000,
        2,
        "rabat-sale-kenitra",
        [5, 16],
    ),
    (
        "مرصد محلي لتتبع التوصيات",
        "Observatoire local du suivi des recommandations",
        1,
        140_000,
        1,
        "oriental",
        [16],
    ),
    (
        "القيادة النسائية في الجماعات",
        "Leadership féminin dans les communes",
        0,
        130_000,
        2,
        "souss-massa",
        [5, 10],
    ),
    (
        "تقرير موازٍ للاستعراض الدوري",
        "Rapport parallèle pour l'Examen périodique",
        1,
        150_000,
        0,
        "casablanca-settat",
        [16, 17],
    ),
    ("عيادة قانونية متنقلة", "Clinique juridique mobile", 0, 110_000, 1, "fes-meknes", [5, 16]),
    (
        "تكوين الصحفيين في حقوق الإنسان",
        "Former les journalistes aux droits de l'Homme",
        1,
        120_000,
        0,
        "marrakech-safi",
        [16],
    ),
    (
        "المساواة في الإرث والمعرفة",
        "Égalité et accès au savoir",
        0,
        140_000,
        1,
        "tanger-tetouan-al-hoceima",
        [4, 5],
    ),
    (
        "شبكة المدافعات عن الحقوق",
        "Réseau des défenseures des droits",
        0,
        100_000,
        2,
        "draa-tafilalet",
        [5],
    ),
    (
        "دليل الآليات الأممية للجمعيات",
        "Guide des mécanismes onusiens pour les associations",
        1,
        90_000,
        0,
        "beni-mellal-khenifra",
        [16],
    ),
    (
        "نوادي المواطنة في القرى",
        "Clubs de citoyenneté dans les villages",
        0,
        80_000,
        1,
        "guelmim-oued-noun",
        [4],
    ),
    (
        "منصة رقمية للتبليغ",
        "Plateforme numérique de signalement",
        1,
        100_000,
        1,
        "laayoune-sakia-el-hamra",
        [9, 16],
    ),
    (
        "حملة تحسيسية جهوية",
        "Campagne régionale de sensibilisation",
        0,
        60_000,
        0,
        "dakhla-oued-ed-dahab",
        [5],
    ),
)
# What the committee decided, in the order of PROJECTS: funded amount, reserve rank, or None.
FUNDED = {0: 120_000, 1: 140_000, 2: 125_000, 3: 150_000, 4: 110_000, 5: 120_000, 6: 140_000}
RESERVE = {7: 1, 8: 2}
# Co-funding partners of some awards (share in percent).
CO_FUNDED = {0: ("UNFPA", 50), 2: ("UN-WOMEN", 40), 4: ("UNFPA", 30)}
# The committee confirms the proposed marker, except where staff saw it differently.
CONFIRMED_MARKER = {6: 2}
PUBLISHED_AT = datetime(2025, 7, 3, 10, 0, tzinfo=UTC)
EVALUATOR_EMAILS = (
    "evaluator@demo.shiraka.ma",
    "evaluatrice.benali@demo.shiraka.ma",
    "evaluateur.haddad@demo.shiraka.ma",
)


def ensure_results_demo(session: Session, staff: User, second_staff: User) -> int | None:
    """Create the 2025 call with its published results and funded actions unless it exists;
    return the number of funded actions when created."""
    if session.scalar(select(Call.id).where(Call.code == CODE)) is not None:
        return None
    call = _past_call(session)
    applications = _applications(session, call, staff)
    _screen_and_review(session, call, applications, staff)
    committee = _committee(session, call, staff, second_staff)
    decisions = _decisions(session, call, committee, applications, staff)
    actions = [open_action(session, made) for made in decisions if made.outcome == Outcome.FUNDED]
    for index, action in enumerate(actions):
        _follow_up(session, action, index, staff)
    session.flush()
    return len(actions)


def _local(year: int, month: int, day: int, hour: int = 12) -> datetime:
    return from_local(datetime(year, month, day, hour))


def _past_call(session: Session) -> Call:
    data = {**GENERAL, "opens_at": _local(2025, 2, 3), "closes_at": _local(2025, 4, 15, 16)}
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
    call.status = CallStatus.CLOSED
    call.published_at = call.opens_at
    call.frozen_at = call.opens_at + timedelta(days=2)
    call.review_deadline = _local(2025, 5, 31)
    women = session.scalar(select(FundingPartner).where(FundingPartner.code == "UN-WOMEN"))
    if women is not None:
        session.add(LotFunder(lot=call.lots[0], partner=women, share_percent=20))
    session.flush()
    return call


def _associations(session: Session, password_hash: str) -> list[Association]:
    """Return one verified association per project: the demo applicant's first, then the other
    verified associations of the demo (those of the call in review), made up when too few."""
    verified = list(
        session.scalars(
            select(Association)
            .where(Association.status == AssociationStatus.VERIFIED)
            .order_by(Association.id)
        )
    )
    chosen = [a for a in verified if a.registration_number == APPLICANT_ASSOCIATION]
    chosen += [a for a in verified if a.registration_number != APPLICANT_ASSOCIATION]
    chosen = chosen[: len(PROJECTS)]
    for number in range(len(chosen), len(PROJECTS)):
        chosen.append(_new_association(session, number, PROJECTS[number][5], password_hash))
    return chosen


def _new_association(session: Session, number: int, region_code: str, password_hash: str):
    region = session.scalar(select(Region).where(Region.code == region_code))
    owner = User(
        email=f"resultats{number:02d}@demo.shiraka.ma",
        full_name=f"Responsable résultats {number:02d}",
        password_hash=password_hash,
        locale="fr" if number % 3 == 0 else "ar",
        email_verified_at=utcnow(),
    )
    owner.role_rows = [UserRole(role=Role.APPLICANT)]
    association = Association(
        name_ar=f"جمعية الكرامة والحقوق رقم {number}",
        name_fr=f"Association Karama et droits n° {number}",
        acronym=f"AKD{number:02d}",
        legal_form="association",
        registration_number=f"RES-2025-{number:04d}",
        founded_on=date(2008 + number % 12, 1 + number % 12, 1),
        region=region,
        city=region.name_fr if region else "Rabat",
        email=f"contact{number:02d}@karama.example.ma",
        status=AssociationStatus.VERIFIED,
        status_changed_at=utcnow(),
    )
    association.memberships.append(Membership(user=owner, role=MemberRole.OWNER))
    session.add(association)
    session.flush()
    return association


def _applications(session: Session, call: Call, staff: User) -> list[Application]:
    axes = {axis.code: axis for axis in session.scalars(select(StrategicAxis))}
    sdgs = {sdg.number: sdg for sdg in session.scalars(select(Sdg))}
    mechanisms = list(session.scalars(select(UnMechanism).order_by(UnMechanism.position)))
    applications = []
    associations = _associations(session, staff.password_hash)
    for number, (title_ar, title_fr, lot_index, asked, marker, region, goals) in enumerate(
        PROJECTS
    ):
        association = associations[number]
        creator = next(
            (m.user_id for m in association.memberships if m.role == MemberRole.OWNER),
            association.memberships[0].user_id,
        )
        lot = call.lots[lot_index]
        application = Application(
            call=call,
            association=association,
            lot=lot,
            language="fr" if number % 4 == 3 else "ar",
            status=ApplicationStatus.SUBMITTED,
            title_ar=title_ar,
            title_fr=title_fr,
            duration_months=12,
            regions=sorted({association.region.code, region}) if number == 0 else [region],
            target_groups=["women"] if lot_index == 0 else ["youth"],
            beneficiaries={
                "women_under_18": 20 + number * 3,
                "women_18_35": 80 + number * 10,
                "women_over_35": 40 + number * 5,
                "men_under_18": 10 + number * 2,
                "men_18_35": 30 + number * 4,
                "men_over_35": 15 + number,
            },
            context="تعاني الفئات المستهدفة من ضعف الولوج إلى المعلومة حول حقوقها.",
            objectives="تمكين المستفيدين من معرفة حقوقهم واللجوء إلى آليات الانتصاف.",
            activities="ورشات تكوينية، حملات تحسيسية، مرافقة قانونية.",
            expected_results="مستفيدون مكوَّنون، تقرير ختامي منشور.",
            indicators="عدد المستفيدين حسب الجنس، عدد الورشات المنجزة.",
            sustainability="شبكة من المتطوعين المكوَّنين تواصل العمل بعد المشروع.",
            un_recommendations="توصيات الاستعراض الدوري الشامل المتعلقة بالمساواة.",
            gender_marker=marker,
            gender_justification=(
                "" if marker == 0 else "المشروع يستهدف النساء أساساً ويقيس نتائجه حسب الجنس."
            ),
            team=[{"line": "منسقة المشروع — خبرة عشر سنوات"}],
            created_by_id=creator,
            submitted_at=call.closes_at - timedelta(days=2, hours=number),
        )
        application.axes = [axes[code] for code in LOTS[lot_index]["axis_codes"] if code in axes]
        application.sdgs = [sdgs[goal] for goal in goals if goal in sdgs]
        if lot_index == 1 and mechanisms:
            application.un_mechanisms = mechanisms[: 1 + number % 2]
        cofunding = asked // 9
        application.budget_lines.append(
            BudgetLine(
                category="activities",
                description="ورشات وأنشطة",
                quantity=1,
                unit_cost=asked + cofunding,
                cofunding=cofunding,
            )
        )
        session.add(application)
        session.flush()
        seal_demo_submission(session, application)
        applications.append(application)
    return applications


def _evaluators(session: Session, call: Call, staff: User) -> list[User]:
    users = []
    for email in EVALUATOR_EMAILS:
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            user = User(
                email=email,
                full_name=email.split("@")[0].replace(".", " ").title(),
                password_hash=staff.password_hash,
                locale="ar",
                email_verified_at=utcnow(),
            )
            user.role_rows = [UserRole(role=Role.EVALUATOR)]
            session.add(user)
            session.flush()
        session.add(
            PoolMember(
                call_id=call.id,
                email=email,
                user_id=user.id,
                status=PoolStatus.ACTIVE,
                languages=["ar", "fr"],
                expertise=[],
                invited_by_id=staff.id,
                accepted_at=_local(2025, 4, 16),
                conflicts_declared_at=_local(2025, 4, 17),
            )
        )
        users.append(user)
    return users


def _screen_and_review(session: Session, call: Call, applications, staff: User) -> None:
    """Every application screened eligible, then scored by three evaluators: the funded ones
    highest, in the order of PROJECTS."""
    evaluators = _evaluators(session, call, staff)
    for index, application in enumerate(applications):
        session.add(
            Screening(
                application_id=application.id,
                call_id=call.id,
                screener_id=staff.id,
                checks={},
                decision=ScreeningDecision.ELIGIBLE,
                decided_by_id=staff.id,
                decided_at=_local(2025, 4, 20),
            )
        )
        base = 9 - index * 0.5
        for position, user in enumerate(evaluators):
            review = Review(
                call_id=call.id,
                application_id=application.id,
                evaluator_id=user.id,
                assigned_by_id=staff.id,
                assigned_at=_local(2025, 4, 21),
                status=ReviewStatus.SUBMITTED,
                submitted_at=_local(2025, 5, 10 + position),
                overall_comment="مشروع واضح الأهداف.",
                shared_comment="Des indicateurs chiffrés renforceraient le suivi.",
            )
            for criterion in call.criteria:
                value = int(max(1, min(criterion.max_score, round(base + (position - 1) * 0.5))))
                review.scores.append(Score(criterion_id=criterion.id, value=value))
            session.add(review)
    session.flush()


def _committee(session: Session, call: Call, staff: User, second_staff: User) -> Committee:
    committee = Committee(
        call_id=call.id,
        status=CommitteeStatus.PUBLISHED,
        held_on=date(2025, 6, 24),
        members_present="Karim Bennani; مديرة المنصة; ممثلة صندوق الأمم المتحدة للسكان",
        # Submitted by one staff member, approved by another (four eyes), published by the first.
        submitted_by_id=staff.id,
        submitted_at=_local(2025, 6, 25),
        approved_by_id=second_staff.id,
        approved_at=_local(2025, 6, 30),
        published_by_id=staff.id,
        published_at=PUBLISHED_AT,
    )
    session.add(committee)
    session.flush()
    return committee


def _decisions(session, call: Call, committee: Committee, applications, staff) -> list:
    partners = {partner.code: partner for partner in session.scalars(select(FundingPartner))}
    decisions = []
    for index, application in enumerate(applications):
        if index in FUNDED:
            outcome, amount, rank = Outcome.FUNDED, FUNDED[index], None
            motivation = ("مشروع ملائم ومنهجية واضحة.", "Projet pertinent, méthodologie claire.")
        elif index in RESERVE:
            outcome, amount, rank = Outcome.RESERVE, None, RESERVE[index]
            motivation = ("مشروع جيد، نفد الغلاف المالي.", "Bon projet ; l'enveloppe est épuisée.")
        else:
            outcome, amount, rank = Outcome.REJECTED, None, None
            motivation = (
                "النقطة الإجمالية دون العتبة المطلوبة.",
                "La note globale est sous le seuil requis.",
            )
        made = Decision(
            application_id=application.id,
            call_id=call.id,
            lot_id=application.lot_id,
            committee_id=committee.id,
            outcome=outcome,
            amount_awarded=amount,
            reserve_rank=rank,
            motivation_ar=motivation[0],
            motivation_fr=motivation[1],
            proposed_outcome=outcome,
            gender_marker=CONFIRMED_MARKER.get(index, application.gender_marker),
            created_by_id=staff.id,
            created_at=_local(2025, 6, 24, 15),
            notified_at=PUBLISHED_AT,
        )
        if index in CO_FUNDED and CO_FUNDED[index][0] in partners:
            code, share = CO_FUNDED[index]
            made.funders = [DecisionFunder(partner=partners[code], share_percent=share)]
        session.add(made)
        decisions.append(made)
    session.flush()
    return decisions


def _follow_up(session: Session, action: FundedAction, index: int, staff: User) -> None:
    """Give an action its agreement, dates, tranches (the first paid) and reports: accepted ones
    with figures for most, one due soon, one overdue."""
    today = utcnow().date()
    action.agreement_reference = f"CONV-2025-{action.id:03d}"
    action.starts_on = date(2025, 9, 1)
    action.ends_on = max(date(2026, 8, 31), today + timedelta(days=120))
    action.status = ActionStatus.IN_PROGRESS
    first = action.amount_awarded * 6 // 10
    action.tranches = [
        Tranche(
            position=1,
            planned_on=date(2025, 9, 15),
            amount=first,
            paid_on=date(2025, 9, 20),
            paid_amount=first,
        ),
        Tranche(
            position=2,
            planned_on=date(2026, 3, 15),
            amount=action.amount_awarded - first,
            paid_on=date(2026, 3, 25) if index % 2 == 0 else None,
            paid_amount=action.amount_awarded - first if index % 2 == 0 else None,
        ),
    ]
    planned = action.beneficiaries_planned or {}
    share = (40 + index * 8) / 100
    reached = {key: int(value * share) for key, value in planned.items()}
    progress = min(95, 35 + index * 8)
    reviewed = _local(2026, 1, 20)
    reports = [
        ProgressReport(
            due_on=date(2025, 12, 31),
            status=ReportStatus.ACCEPTED,
            activities_done="أنجزت الورشات الأولى وفق البرنامج.",
            beneficiaries_reached=reached,
            progress_percent=progress,
            submitted_by_id=action.application.created_by_id,
            submitted_at=_local(2026, 1, 10),
            reviewed_by_id=staff.id,
            reviewed_at=reviewed,
            review_comment="Rapport complet, merci.",
        )
    ]
    if index == 0:  # the demo applicant's action: its next report is due soon
        reports.append(ProgressReport(due_on=today + timedelta(days=10)))
    elif index == 1:  # another association is late with its report
        reports.append(ProgressReport(due_on=today - timedelta(days=12)))
    elif index == 2:  # a report waiting for staff
        reports.append(
            ProgressReport(
                due_on=today - timedelta(days=3),
                status=ReportStatus.SUBMITTED,
                activities_done="استكملت الحملة التحسيسية.",
                beneficiaries_reached={key: int(value * 0.7) for key, value in planned.items()},
                progress_percent=70,
                submitted_by_id=action.application.created_by_id,
                submitted_at=utcnow() - timedelta(days=2),
            )
        )
    reports.append(ProgressReport(due_on=action.ends_on, final=True))
    action.reports = reports
    action.progress_percent = progress
    action.milestones = _milestones(action, index, today)
    # The progress by its rule: the milestones are ahead of the report for some actions.
    refresh_progress(session, action, actor=staff)


# (title, due date, indexes of the actions that reached it, the date they did)
MILESTONES = (
    ("ورشة إطلاق المشروع وتقديمه للشركاء", date(2025, 10, 15), range(7), date(2025, 10, 10)),
    ("تكوين المنشطين والمنشطات", date(2025, 12, 15), range(7), date(2025, 12, 12)),
    ("تنظيم الحملة التحسيسية الجهوية", date(2026, 3, 31), (0, 1, 3, 4, 6), date(2026, 3, 28)),
    ("إعداد دليل عملي حول الآليات الأممية", date(2026, 6, 30), (0, 4), date(2026, 6, 20)),
)


def _milestones(action: FundedAction, index: int, today: date) -> list[Milestone]:
    """Return the action's milestones: the first ones reached (never after today), one perhaps
    overdue, and a closing meeting two weeks before the action ends."""
    milestones = [
        Milestone(
            position=position,
            title=title,
            due_on=due_on,
            done_on=min(done_on, today) if index in reached_by else None,
        )
        for position, (title, due_on, reached_by, done_on) in enumerate(MILESTONES, start=1)
    ]
    milestones.append(
        Milestone(
            position=len(MILESTONES) + 1,
            title="لقاء ختامي لتقاسم النتائج مع الشركاء",
            due_on=action.ends_on - timedelta(days=15),
        )
    )
    return milestones
