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
