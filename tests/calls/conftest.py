"""Fixtures of the call tests: a staff member and a call complete enough to publish."""

from __future__ import annotations

import pytest

from tests.calls.helpers import complete_draft
from tests.factories import UserFactory


@pytest.fixture
def staff_user(app):
    return UserFactory(roles=("staff",))


@pytest.fixture
def draft(staff_user):
    """A draft call with a lot, criteria weighing 100, a document and a manual check."""
    return complete_draft(staff_user)
