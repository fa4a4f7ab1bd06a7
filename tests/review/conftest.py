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


def shown(text: str, locale: str = "ar", **values) -> str:
    """Return `text` as a page in `locale` shows it: translated, then HTML-escaped."""
    from flask_babel import force_locale, gettext
    from markupsafe import escape

    with force_locale(locale):
        return str(escape(gettext(text, **values)))
