"""Fixtures for the association tests."""

from __future__ import annotations

import pytest


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
