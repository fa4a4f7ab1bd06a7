"""Fixtures for review tests: a call past its deadline with criteria, and staff."""

from __future__ import annotations

import pytest

from tests import factories


@pytest.fixture
def call(app):
    """A closed call (deadline passed, review deadline in 20 days) with two criteria (60/40)."""
    return factories.closed_call()


@pytest.fixture
def staff(login_as):
    """(client, user): a signed-in staff member."""
    return login_as("staff")
