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
