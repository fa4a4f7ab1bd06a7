"""Drafting an application: start, save field by field, conflicts, budget, documents."""

from __future__ import annotations

from sqlalchemy import func, select

from portal.applications.models import Application, ApplicationStatus, BudgetLine
from tests.applications.conftest import PDF


def start(client, call, association):
    response = client.post(f"/calls/{call.id}/apply", data={"association_id": association.id})
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    return int(response.headers["Location"].rsplit("/", 1)[1])


def test_owner_starts_one_draft_and_a_second_start_returns_it(member, call, session):
    """R04: where one application is allowed, starting again opens the existing draft."""
    client, _user, association = member
    first = start(client, call, association)
    second = start(client, call, association)
    assert first == second
    assert session.scalar(select(func.count()).select_from(Application)) == 1


def test_every_section_page_renders(member, call):
    client, _user, association = member
    application_id = start(client, call, association)
    for path in (
        "",
        "/sections/summary",
        "/sections/narrative",
        "/sections/links",
        "/sections/team",
        "/budget",
        "/documents",
        "/completeness",
    ):
        response = client.get(f"/applications/{application_id}{path}")
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:3000])


def test_autosave_saves_one_field_and_a_stale_version_is_a_conflict(member, call, session):
    """R05/R06: the second save from the same version is refused; the first value stays."""
    client, _user, association = member
    application_id = start(client, call, association)
    url = f"/applications/{application_id}/fields/context"
    headers = {"HX-Request": "true"}
    first = client.post(url, data={"context": "نص أول", "version.context": 0}, headers=headers)
    assert first.status_code == 200
    second = client.post(url, data={"context": "نص ثان", "version.context": 0}, headers=headers)
    assert second.status_code == 409
    assert "نص أول" in second.get_data(as_text=True)
    assert "نص ثان" in second.get_data(as_text=True)
    session.expire_all()
    assert session.get(Application, application_id).context == "نص أول"


def test_budget_line_is_added_and_totals_are_computed(member, call, session):
    client, _user, association = member
    application_id = start(client, call, association)
    response = client.post(
        f"/applications/{application_id}/budget/lines",
        data={
            "category": "activities",
            "description": "ورشات",
            "quantity": "4",
            "unit_cost": "25000",
            "cofunding": "10000",
        },
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:3000]
    assert session.scalar(select(func.count()).select_from(BudgetLine)) == 1


def test_pdf_is_uploaded_for_a_required_document(member, call, session):
    from io import BytesIO

    client, _user, association = member
    application_id = start(client, call, association)
    document = call.documents[0]
    response = client.post(
        f"/applications/{application_id}/documents/{document.id}",
        data={"file": (BytesIO(PDF), "النظام الأساسي.pdf")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 303, response.get_data(as_text=True)[:3000]
    application = session.get(Application, application_id)
    assert application.attachments[0].original_name == "النظام الأساسي.pdf"
    assert application.status == ApplicationStatus.DRAFT
