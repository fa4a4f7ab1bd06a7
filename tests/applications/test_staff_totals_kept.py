"""The staff list's totals (count per status, amount requested) are kept between requests and
renewed by every write that changes them, in the same transaction; a draft's text is not one."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.applications.kept_totals import FIGURES
from portal.applications.models import Application, ApplicationStatus, BudgetLine
from portal.applications.staff import ApplicationFilters, totals
from portal.kept import Kept, latest_token
from portal.strategy.models import Region
from tests import factories
from tests.applications.test_staff_list import add_applications

EVERYTHING = ApplicationFilters()


@pytest.fixture
def call(session):
    Kept.forget_all()
    call = factories.published_call()
    add_applications(session, call, 3)
    return call


def applications_of(session, call) -> list[Application]:
    query = select(Application).where(Application.call_id == call.id).order_by(Application.id)
    return list(session.scalars(query))


def token(session) -> str | None:
    return latest_token(session, FIGURES)


def test_the_same_totals_are_served_while_nothing_changes(session, call):
    first = totals(session, call.id, EVERYTHING)

    assert totals(session, call.id, EVERYTHING) is first
    assert (first["count"], first["requested"]) == (3, 3_000)


def test_a_status_change_renews_the_totals(session, call):
    before = totals(session, call.id, EVERYTHING)
    applications_of(session, call)[0].status = ApplicationStatus.SUBMITTED
    session.commit()

    after = totals(session, call.id, EVERYTHING)

    assert before["by_status"] == {ApplicationStatus.DRAFT: 3}
    assert after["by_status"] == {ApplicationStatus.DRAFT: 2, ApplicationStatus.SUBMITTED: 1}


def test_a_budget_line_added_or_changed_renews_the_amount_requested(session, call):
    totals(session, call.id, EVERYTHING)
    first = applications_of(session, call)[0]
    first.budget_lines.append(BudgetLine(category="staff", description="y", unit_cost=500))
    session.commit()
    assert totals(session, call.id, EVERYTHING)["requested"] == 3_500

    original = next(line for line in first.budget_lines if line.unit_cost == 1_000)
    original.quantity = 3
    session.commit()
    assert totals(session, call.id, EVERYTHING)["requested"] == 5_500


def test_a_new_application_renews_the_count(session, call):
    totals(session, call.id, EVERYTHING)

    factories.submitted_application(call)

    after = totals(session, call.id, EVERYTHING)
    assert (after["count"], after["requested"]) == (4, 103_000)


def test_a_draft_text_autosave_renews_nothing(session, call):
    kept = totals(session, call.id, EVERYTHING)
    unchanged = token(session)
    draft = applications_of(session, call)[0]
    draft.title_ar = "عنوان جديد"
    draft.context = "سياق المشروع"
    session.commit()

    assert token(session) == unchanged
    assert totals(session, call.id, EVERYTHING) is kept


def test_a_text_search_is_counted_afresh_as_titles_change(session, call):
    search = ApplicationFilters(text="عنوان جديد")
    assert totals(session, call.id, search)["count"] == 0
    applications_of(session, call)[0].title_ar = "عنوان جديد"
    session.commit()

    assert totals(session, call.id, search)["count"] == 1


def test_an_association_moved_to_another_region_moves_in_the_region_totals(session, call):
    elsewhere = session.scalar(select(Region).where(Region.code != "rabat-sale-kenitra"))
    in_elsewhere = ApplicationFilters(region_code=elsewhere.code)
    assert totals(session, call.id, in_elsewhere)["count"] == 0

    applications_of(session, call)[0].association.region = elsewhere
    session.commit()

    assert totals(session, call.id, in_elsewhere)["count"] == 1


def test_the_list_shows_new_totals_right_after_a_change(session, call, login_as):
    client, _staff = login_as("staff")
    url = f"/staff/calls/{call.id}/applications"
    assert "3,000" in client.get(url).text or "3 000" in client.get(url).text

    applications_of(session, call)[1].budget_lines[0].unit_cost = 4_000
    session.commit()
    page = client.get(url).text

    assert "6,000" in page or "6 000" in page
