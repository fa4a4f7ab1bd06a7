"""Builders for test data, with defaults and overrides."""

from __future__ import annotations

import itertools
from datetime import date

import factory
from sqlalchemy import select

from portal.accounts import passwords
from portal.accounts.models import Role, User, UserRole
from portal.db import utcnow
from portal.extensions import db
from portal.organisations.models import Association, AssociationStatus, MemberRole, Membership
from portal.strategy.models import Region

# Hashing with argon2 takes tens of milliseconds: every factory user shares one hash.
TEST_PASSWORD = "correct horse battery staple"
_PASSWORD_HASH = passwords.hash_password(TEST_PASSWORD)
_numbers = itertools.count(1)


class BaseFactory(factory.alchemy.SQLAlchemyModelFactory):
    class Meta:
        abstract = True
        sqlalchemy_session_factory = lambda: db.session  # noqa: E731
        sqlalchemy_session_persistence = "commit"


class UserFactory(BaseFactory):
    class Meta:
        model = User

    email = factory.Sequence(lambda n: f"user{n}@example.org")
    full_name = factory.Sequence(lambda n: f"User {n}")
    password_hash = _PASSWORD_HASH
    locale = "ar"
    email_verified_at = factory.LazyFunction(utcnow)
    roles = ("applicant",)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        roles = kwargs.pop("roles")
        user = model_class(*args, **kwargs)
        user.role_rows = [UserRole(role=Role(role)) for role in roles]
        db.session.add(user)
        db.session.commit()
        return user

    @classmethod
    def _build(cls, model_class, *args, **kwargs):
        kwargs.pop("roles", None)
        return model_class(*args, **kwargs)


def region(code: str = "rabat-sale-kenitra") -> Region:
    """Return a reference region (loaded once per test run)."""
    return db.session.scalar(select(Region).where(Region.code == code))


class AssociationFactory(BaseFactory):
    class Meta:
        model = Association
        exclude = ("region_code",)

    name_ar = factory.Sequence(lambda n: f"جمعية رقم {n}")
    name_fr = factory.Sequence(lambda n: f"Association n° {n}")
    acronym = ""
    legal_form = "association"
    registration_number = factory.LazyFunction(lambda: f"REG-{next(_numbers):06d}")
    founded_on = date(2015, 1, 1)
    region_code = "rabat-sale-kenitra"
    region = factory.LazyAttribute(lambda o: region(o.region_code))
    city = "Rabat"
    email = factory.Sequence(lambda n: f"association{n}@example.org")
    status = AssociationStatus.VERIFIED
    owner = None

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        owner = kwargs.pop("owner")
        association = model_class(*args, **kwargs)
        if owner is not None:
            association.memberships.append(Membership(user=owner, role=MemberRole.OWNER))
        db.session.add(association)
        db.session.commit()
        return association


def add_member(association: Association, user: User, role: str = "editor") -> Membership:
    """Make the user a member of the association with this role."""
    membership = Membership(association=association, user=user, role=MemberRole(role))
    db.session.add(membership)
    db.session.commit()
    return membership


def published_call(**overrides):
    """Return a published call open now, with one lot, weighted criteria and two documents."""
    from datetime import timedelta

    from portal.calls.models import Call, CallStatus, Criterion, Lot, RequiredDocument
    from portal.strategy.models import StrategicAxis

    axis = db.session.scalar(select(StrategicAxis).where(StrategicAxis.code == "axis-1"))
    values = {
        "code": f"AAP-{next(_numbers):04d}",
        "title_ar": "طلب عروض المشاريع",
        "title_fr": "Appel à projets",
        "description_ar": "وصف",
        "description_fr": "Description",
        "status": CallStatus.PUBLISHED,
        "opens_at": utcnow() - timedelta(days=10),
        "closes_at": utcnow() + timedelta(days=10),
        "budget_total": 1_000_000,
        "min_amount": 50_000,
        "max_amount": 300_000,
        "min_cofunding_percent": 10,
        "max_duration_months": 12,
    }
    values.update(overrides)
    call = Call(**values)
    call.lots = [Lot(position=1, title_ar="المحور", title_fr="Lot 1", budget=500_000, axes=[axis])]
    call.criteria = [
        Criterion(position=1, title_ar="الملاءمة", title_fr="Pertinence", weight=60),
        Criterion(position=2, title_ar="المنهجية", title_fr="Méthodologie", weight=40),
    ]
    call.documents = [
        RequiredDocument(position=1, code="statutes", name_ar="النظام الأساسي", name_fr="Statuts"),
        RequiredDocument(
            position=2, code="report", name_ar="التقرير", name_fr="Rapport", mandatory=False
        ),
    ]
    db.session.add(call)
    db.session.commit()
    return call


def submitted_application(call, association=None, *, language="ar", commit=True, **fields):
    """Return a submitted application to `call` (from a new verified association by default),
    with a title, the call's first lot and one budget line; no receipt is sealed."""
    from datetime import timedelta

    from portal.applications.models import Application, ApplicationStatus, BudgetLine

    if association is None:
        association = AssociationFactory(owner=UserFactory())
    number = next(_numbers)
    values = {
        "call": call,
        "association": association,
        "lot": call.lots[0] if call.lots else None,
        "language": language,
        "status": ApplicationStatus.SUBMITTED,
        "title_ar": f"مشروع رقم {number}",
        "title_fr": f"Projet n° {number}",
        "duration_months": 10,
        "context": "سياق المشروع",
        "objectives": "أهداف المشروع",
        "created_by_id": association.memberships[0].user_id if association.memberships else None,
        "submitted_at": utcnow() - timedelta(days=1, minutes=number),
    }
    values.update(fields)
    if values["created_by_id"] is None:
        values["created_by_id"] = UserFactory().id
    application = Application(**values)
    application.budget_lines.append(
        BudgetLine(category="activities", description="ورشات", quantity=2, unit_cost=50_000)
    )
    db.session.add(application)
    if commit:
        db.session.commit()
    return application


def closed_call(**overrides):
    """Return a call whose deadline has passed (so screening and review may start)."""
    from datetime import timedelta

    from portal.calls.models import CallStatus

    values = {
        "status": CallStatus.CLOSED,
        "opens_at": utcnow() - timedelta(days=40),
        "closes_at": utcnow() - timedelta(days=2),
        "review_deadline": utcnow() + timedelta(days=20),
    }
    values.update(overrides)
    return published_call(**values)


def evaluator(call=None, *, languages=("ar", "fr"), expertise=(), declared=True, **fields):
    """Return a user with the evaluator role, active in `call`'s pool when a call is given
    (with conflicts already declared unless `declared=False`)."""
    from portal.review.models import PoolMember, PoolStatus

    user = UserFactory(roles=("evaluator",), **fields)
    if call is not None:
        db.session.add(
            PoolMember(
                call_id=call.id,
                email=user.email,
                user_id=user.id,
                status=PoolStatus.ACTIVE,
                languages=list(languages),
                expertise=list(expertise),
                invited_by_id=user.id,
                accepted_at=utcnow(),
                conflicts_declared_at=utcnow() if declared else None,
            )
        )
        db.session.commit()
    return user


def assign(application, evaluator_user, **fields):
    """Return a review assigning the evaluator to the application."""
    from portal.review.models import Review

    review = Review(
        call_id=application.call_id,
        application_id=application.id,
        evaluator_id=evaluator_user.id,
        **fields,
    )
    db.session.add(review)
    db.session.commit()
    return review


def scored_review(application, evaluator_user, values, *, submitted=True):
    """Return a review with `values` (one per criterion, in the call's order) saved."""
    from portal.review.models import Review, ReviewStatus, Score

    review = Review(
        call_id=application.call_id,
        application_id=application.id,
        evaluator_id=evaluator_user.id,
        status=ReviewStatus.SUBMITTED if submitted else ReviewStatus.DRAFT,
        submitted_at=utcnow() if submitted else None,
    )
    for criterion, value in zip(application.call.criteria, values, strict=True):
        review.scores.append(Score(criterion_id=criterion.id, value=value, comment=""))
    db.session.add(review)
    db.session.commit()
    return review


def training_session(**overrides):
    """Return a published training session open for enrolment now (10 seats, cap 2), in a new
    programme and module unless `module` is given."""
    from datetime import time, timedelta

    from portal.training.models import Module, Programme, SessionStatus, TrainingSession

    module = overrides.pop("module", None)
    if module is None:
        programme = Programme(title_ar="برنامج تقوية القدرات", title_fr="Programme de formation")
        module = Module(
            programme=programme,
            position=1,
            title_ar="الاستعراض الدوري الشامل",
            title_fr="L'Examen périodique universel",
        )
        db.session.add(module)
    today = utcnow().date()
    values = {
        "module": module,
        "status": SessionStatus.PUBLISHED,
        "language": "ar",
        "starts_on": today + timedelta(days=30),
        "ends_on": today + timedelta(days=32),
        "daily_start": time(9, 0),
        "daily_end": time(16, 30),
        "region": region(),
        "city": "Rabat",
        "venue": "Maison des associations",
        "capacity": 10,
        "enrolment_opens_at": utcnow() - timedelta(days=5),
        "enrolment_closes_at": utcnow() + timedelta(days=20),
        "per_association_cap": 2,
        "verified_only": True,
    }
    values.update(overrides)
    training = TrainingSession(**values)
    db.session.add(training)
    db.session.commit()
    return training


def training_enrolment(training, association, status: str = "confirmed", **overrides):
    """Return an enrolment written straight to the table (no seat counter, no e-mail): confirmed
    by default, a new participant each time."""
    from portal.training.models import Enrolment, EnrolmentStatus

    number = next(_numbers)
    values = {
        "session_id": training.id,
        "association_id": association.id,
        "status": EnrolmentStatus(status),
        "full_name": f"مشارك رقم {number}",
        "sex": "female",
        "email": f"enrolled{number}@example.org",
        "locale": "ar",
        "created_by_id": overrides.pop("created_by_id", None) or UserFactory().id,
        "confirmed_at": utcnow() if status == "confirmed" else None,
    }
    values.update(overrides)
    enrolment = Enrolment(**values)
    db.session.add(enrolment)
    db.session.commit()
    return enrolment


def training_attendance(enrolment, day, present: bool = True):
    """Mark one day of an enrolment present (or absent), by the enrolment's author."""
    from portal.training.models import Attendance

    mark = Attendance(
        enrolment_id=enrolment.id,
        day=day,
        present=present,
        marked_by_id=enrolment.created_by_id,
    )
    db.session.add(mark)
    db.session.commit()
    return mark


def seat_reservation(training, association, seats: int = 2, **overrides):
    """Return seats of a session held for an association for ten days, by a new staff member."""
    from datetime import timedelta

    from portal.training.models import SeatReservation

    values = {
        "session_id": training.id,
        "association_id": association.id,
        "seats": seats,
        "until": utcnow() + timedelta(days=10),
        "reason": "",
        "created_by_id": overrides.pop("created_by_id", None) or UserFactory(roles=("staff",)).id,
    }
    values.update(overrides)
    reservation = SeatReservation(**values)
    db.session.add(reservation)
    db.session.commit()
    return reservation


def training_certificate(enrolment, **overrides):
    """Return a certificate of an enrolment written straight to the table (no e-mail), issued by
    a new staff member, with a fresh verification code."""
    from portal.training.certificates import new_code
    from portal.training.models import Certificate

    values = {
        "enrolment_id": enrolment.id,
        "code": new_code(db.session),
        "issued_by_id": overrides.pop("issued_by_id", None) or UserFactory(roles=("staff",)).id,
    }
    values.update(overrides)
    certificate = Certificate(**values)
    db.session.add(certificate)
    db.session.commit()
    return certificate


# --- results and funded actions -------------------------------------------------------------


def committee(call, status: str = "draft", **overrides):
    """Return the committee of a call (draft by default: decisions may still be recorded)."""
    from portal.results.models import Committee, CommitteeStatus

    values = {"call_id": call.id, "status": CommitteeStatus(status)}
    values.update(overrides)
    sitting = Committee(**values)
    db.session.add(sitting)
    db.session.commit()
    return sitting


def decision(application, outcome: str = "funded", *, sitting=None, **overrides):
    """Return the current decision on an application, written straight to the table: funded
    with the amount it asks for by default, in the call's committee (created if need be)."""
    from portal.results.models import Committee, Decision, Outcome

    if sitting is None:
        sitting = db.session.scalar(
            select(Committee).where(Committee.call_id == application.call_id)
        ) or committee(application.call)
    outcome = Outcome(outcome)
    values = {
        "application_id": application.id,
        "call_id": application.call_id,
        "lot_id": application.lot_id,
        "committee_id": sitting.id,
        "outcome": outcome,
        "amount_awarded": application_amount(application) if outcome == Outcome.FUNDED else None,
        "reserve_rank": 1 if outcome == Outcome.RESERVE else None,
        "motivation_ar": "تعليل القرار",
        "motivation_fr": "Motivation de la décision",
        "created_by_id": overrides.pop("created_by_id", None) or UserFactory(roles=("staff",)).id,
    }
    values.update(overrides)
    made = Decision(**values)
    db.session.add(made)
    db.session.commit()
    return made


def application_amount(application) -> int:
    """Return what the application asks of the funder (its budget less co-funding)."""
    from portal.applications.services import budget_summary

    return budget_summary(application).requested


def funded_action(association=None, *, application=None, **overrides):
    """Return a funded action of a published, funded application (of a new closed call and
    association unless given), with its links copied from the application."""
    from portal.actions.services import open_action
    from portal.results.models import CommitteeStatus

    if application is None:
        application = submitted_application(closed_call(), association)
    made = decision(application)
    made.committee.status = CommitteeStatus.PUBLISHED
    made.committee.published_at = utcnow()
    action = open_action(db.session, made)
    for name, value in overrides.items():
        setattr(action, name, value)
    db.session.commit()
    return action
