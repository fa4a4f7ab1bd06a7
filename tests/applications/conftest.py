"""Fixtures for application tests: an open call, a member of a verified association, and a
complete draft built through the services."""

from __future__ import annotations

from io import BytesIO

import pytest

from portal.applications import services
from portal.applications.uploads import check_upload
from portal.storage import file_store
from tests import factories

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"


@pytest.fixture
def call(app):
    return factories.published_call()


@pytest.fixture
def member(login_as):
    """(client, user, association): the signed-in owner of a verified association."""
    client, user = login_as("applicant")
    association = factories.AssociationFactory(owner=user)
    return client, user, association


NARRATIVE = {
    "context": "سياق",
    "objectives": "أهداف",
    "activities": "أنشطة: الشهر 1 إلى 6",
    "expected_results": "نتائج",
    "indicators": "مؤشرات: 100 مستفيدة",
    "sustainability": "استدامة",
    "axes": ["axis-1"],
    "team": "أمينة — منسقة",
}


def write_narrative(session, application, user, **other_fields) -> None:
    """Write the narrative, the links, the team and the activity plan (and any other fields)."""
    services.save_fields(session, application, {**other_fields, **NARRATIVE}, {}, actor=user)
    services.add_plan_row(
        session, application, "activity", {"title": "ورشات", "start": "1", "end": "6"}, actor=user
    )
    services.add_plan_row(
        session, application, "indicator", {"indicator": "مستفيدات", "target": "120"}, actor=user
    )


def fill_completely(session, application, user) -> None:
    """Fill every section, one budget line and the mandatory document, as an applicant would."""
    lot = application.call.lots[0]
    write_narrative(
        session,
        application,
        user,
        title_ar="مشروع لتعزيز حقوق النساء في العالم القروي",
        title_fr="Projet pour les droits des femmes en milieu rural",
        lot_id=str(lot.id),
        duration_months="10",
        regions=["rabat-sale-kenitra"],
        target_groups=["women"],
        **{"beneficiaries.women_18_35": "120"},
    )
    services.add_budget_line(
        session,
        application,
        {
            "category": "activities",
            "description": "ورشات",
            "quantity": "4",
            "unit_cost": "25000",
            "cofunding": "12000",
        },
        actor=user,
    )
    document = next(d for d in application.call.documents if d.mandatory)
    stream = BytesIO(PDF)
    checked = check_upload("statuts.pdf", stream, document.allowed_types, 10 * 1024 * 1024)
    stored = file_store().save(stream)
    services.attach_document(session, application, document, stored, checked, actor=user)
    session.commit()


@pytest.fixture
def complete_application(session, member, call):
    """(client, user, application): a draft with nothing missing."""
    client, user, association = member
    application = services.start_application(session, call, association, actor=user)
    session.commit()
    fill_completely(session, application, user)
    assert services.missing_items(application) == []
    return client, user, application
