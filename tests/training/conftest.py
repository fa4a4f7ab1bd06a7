"""Fixtures for the training programme: a published session open for enrolment now, a verified
association with its owner, staff, and a participant builder."""

from __future__ import annotations

import itertools

import pytest

from tests import factories

_people = itertools.count(1)


def participant(**overrides) -> dict:
    """Return a participant's details as an enrolment form would send them."""
    number = next(_people)
    values = {
        "full_name": f"مشاركة رقم {number}",
        "sex": "female",
        "role": "منسقة",
        "email": f"participant{number}@example.org",
        "phone": "+212 6 12 34 56 78",
        "accessibility_needs": "",
        "locale": "ar",
    }
    values.update(overrides)
    return values


@pytest.fixture
def training(app):
    """A published session of 10 seats open for enrolment now, cap 2 per association."""
    return factories.training_session()


@pytest.fixture
def owner(app):
    return factories.UserFactory()


@pytest.fixture
def association(owner):
    """A verified association (Rabat-Salé-Kénitra) with its owner."""
    return factories.AssociationFactory(owner=owner)


@pytest.fixture
def staff(app):
    return factories.UserFactory(roles=("staff",))


def verified_association():
    """Return a new verified association with an owner: (association, owner)."""
    user = factories.UserFactory()
    return factories.AssociationFactory(owner=user), user


@pytest.fixture
def make_module(app):
    """Return a builder of modules, each in a new programme (committed)."""
    from portal.extensions import db
    from portal.training.models import Module, Programme

    def make(**overrides) -> Module:
        values = {
            "title_ar": "الاستعراض الدوري الشامل",
            "title_fr": "L'Examen périodique universel",
        }
        programme = Programme(title_ar="برنامج التكوين", title_fr="Programme de formation")
        module = Module(programme=programme, **{**values, **overrides})
        db.session.add(module)
        db.session.commit()
        return module

    return make


@pytest.fixture
def make_session(app):
    """Return factories.training_session: a published session open for enrolment now."""

    def make(module=None, **overrides):
        return factories.training_session(**({"module": module} if module else {}), **overrides)

    return make
