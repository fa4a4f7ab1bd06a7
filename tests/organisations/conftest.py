"""Fixtures for the association tests."""

from __future__ import annotations

import pytest

from tests.conftest import CsrfClient
from tests.organisations.helpers import forget_request_globals


@pytest.fixture(autouse=True)
def one_request_one_g(monkeypatch):
    """Give every test request a fresh `g`, so two clients in one test never share a user."""
    open_request = CsrfClient.open

    def open_fresh(self, *args, **kwargs):
        forget_request_globals()
        return open_request(self, *args, **kwargs)

    monkeypatch.setattr(CsrfClient, "open", open_fresh)


@pytest.fixture
def profile_form():
    """Every field of the registration form, filled with valid values (a fresh dict each test)."""
    return {
        "name_ar": "جمعية النور للدفاع عن حقوق الإنسان",
        "name_fr": "Association Annour pour la défense des droits de l'Homme",
        "acronym": "AADDH",
        "legal_form": "association",
        "registration_number": "AG-2014-0093",
        "founded_on": "2014-06-21",
        "region": "souss-massa",
        "city": "Agadir",
        "address": "5, avenue Hassan II",
        "email": "Contact@Annour.example.ma",
        "phone": "+212 528 00 00 00",
        "website": "https://annour.example.ma",
        "fields_of_work": ["womens-rights", "un-mechanisms"],
        "target_groups": ["women", "children"],
        "description_ar": "جمعية تعمل في جهة سوس ماسة.",
        "description_fr": "Association active dans la région Souss-Massa.",
    }
