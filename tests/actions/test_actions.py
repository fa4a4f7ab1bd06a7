"""Funded actions: staff list and edit them (agreement, links, tranches within the award, report
dates), every change audited; an association's members read their own actions, another
association gets a 404; the lists keep a fixed number of queries."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import url_for
from sqlalchemy import select

from portal.actions.models import ActionStatus, FundedAction, ProgressReport, Tranche
from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.strategy.models import StrategicAxis
from tests import factories
from tests.actions.support import count, due_report, events, today
from tests.conftest import shown, shown_plural


@pytest.fixture
def staff(login_as):
    return login_as("staff")


@pytest.fixture
def member(login_as):
    """(client, user, association, action): the owner of an association with a funded action."""
    client, user = login_as("applicant")
    association = factories.AssociationFactory(owner=user)
    return client, user, association, factories.funded_action(association)


def staff_url(action) -> str:
    return url_for("actions.staff_action", action_id=action.id)


# --- who may see what -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("owner", 200),
        ("editor", 200),
        ("viewer", 200),
        ("stranger", 404),
        ("staff", 200),
        ("admin", 200),
        ("evaluator", 404),
    ],
)
def test_the_action_page_is_for_the_association_s_members_and_staff(login_as, role, expected):
    """ASVS 4.1.3, 4.2.1: another association's action is hidden (404)."""
    action = factories.funded_action()
    if role in ("owner", "editor", "viewer"):
        client, user = login_as("applicant")
        factories.add_member(action.association, user, role)
    elif role == "stranger":
        client, user = login_as("applicant")
        factories.AssociationFactory(owner=user)
    else:
        client, user = login_as(role)

    response = client.get(url_for("actions.action_page", action_id=action.id))

    assert response.status_code == expected
    title = action.application.title_ar
    assert (title in response.get_data(as_text=True)) == (expected == 200)


@pytest.mark.parametrize(
    ("role", "expected"), [("applicant", 403), ("evaluator", 403), ("staff", 200), ("admin", 200)]
)
def test_only_staff_list_and_edit_funded_actions(login_as, role, expected):
    action = factories.funded_action()
    client, _user = login_as(role)

    assert client.get(url_for("actions.staff_list")).status_code == expected
    assert client.get(staff_url(action)).status_code == expected
    answer = client.post(
        url_for("actions.update_agreement", action_id=action.id),
        data={"agreement_reference": "CONV-1", "status": "in_progress"},
    )
    assert answer.status_code == (303 if expected == 200 else 403)


def test_the_owner_of_the_action_cannot_edit_it(member):
    client, _user, _association, action = member

    answer = client.post(
        url_for("actions.add_tranche", action_id=action.id),
        data={"new-planned_on": "2026-03-01", "new-amount": "1000"},
    )

    assert answer.status_code == 403
    assert count(Tranche) == 0


def test_another_association_s_list_is_hidden(login_as, member):
    _client, _user, association, action = member
    stranger, user = login_as("applicant")
    factories.AssociationFactory(owner=user)

    response = stranger.get(url_for("actions.association_actions", association_id=association.id))

    assert response.status_code == 404
    assert action.application.title_ar not in response.get_data(as_text=True)


def test_the_association_sees_its_actions_with_overdue_reports_plainly(member):
    client, _user, association, action = member
    due_report(action, today() - timedelta(days=3))
    other = factories.funded_action()

    listing = client.get(url_for("actions.association_actions", association_id=association.id))
    page = client.get(url_for("actions.action_page", action_id=action.id))

    body = listing.get_data(as_text=True)
    assert action.application.title_ar in body
    assert shown_plural("%(num)d report overdue", "%(num)d reports overdue", 1) % {"num": 1} in body
    assert other.application.title_ar not in body
    assert page.status_code == 200
    overdue = shown(
        "The report due on %(date)s is overdue.",
        date=_long_date(today() - timedelta(days=3)),
    )
    assert overdue in page.get_data(as_text=True)


def _long_date(day) -> str:
    from flask_babel import force_locale, format_date

    with force_locale("ar"):
        return format_date(day, "long")


# --- the staff list -------------------------------------------------------------------------


def test_the_staff_list_filters_by_call_and_status(staff):
    client, _user = staff
    first = factories.funded_action()
    second = factories.funded_action(status=ActionStatus.IN_PROGRESS)

    by_call = client.get(url_for("actions.staff_list", call=first.call_id)).get_data(as_text=True)
    by_status = client.get(url_for("actions.staff_list", status="in_progress")).get_data(
        as_text=True
    )
    by_lot = client.get(url_for("actions.staff_list", lot=second.lot_id)).get_data(as_text=True)

    assert first.application.title_ar in by_call
    assert second.application.title_ar not in by_call
    assert second.application.title_ar in by_status
    assert first.application.title_ar not in by_status
    assert second.application.title_ar in by_lot and first.application.title_ar not in by_lot


def _queries(count_queries, client, url: str) -> int:
    client.get(url)
    with count_queries() as counter:
        response = client.get(url)
    assert response.status_code == 200
    return counter.count


def _with_reports(action) -> None:
    due_report(action, today() - timedelta(days=1))
    due_report(action, today() + timedelta(days=10))
    db.session.add(
        Tranche(
            action_id=action.id, planned_on=today(), amount=1000, paid_amount=500, paid_on=today()
        )
    )
    db.session.commit()


def test_the_staff_list_runs_the_same_queries_for_2_and_20_actions(staff, count_queries):
    """CHECKLIST P01."""
    client, _user = staff
    for _ in range(2):
        _with_reports(factories.funded_action())
    url = url_for("actions.staff_list")
    with_two = _queries(count_queries, client, url)
    for _ in range(18):
        _with_reports(factories.funded_action())
    with_twenty = _queries(count_queries, client, url)

    assert with_two == with_twenty, (with_two, with_twenty)
    assert with_twenty <= 10


def test_the_association_s_list_runs_the_same_queries_for_2_and_20_actions(member, count_queries):
    """CHECKLIST P01."""
    client, _user, association, action = member
    _with_reports(action)
    _with_reports(factories.funded_action(association))
    url = url_for("actions.association_actions", association_id=association.id)
    with_two = _queries(count_queries, client, url)
    for _ in range(18):
        _with_reports(factories.funded_action(association))
    with_twenty = _queries(count_queries, client, url)

    assert with_two == with_twenty, (with_two, with_twenty)
    assert with_twenty <= 10


# --- the agreement and the links ------------------------------------------------------------


def test_staff_set_the_agreement_and_the_change_is_audited_with_before_and_after(staff):
    client, _user = staff
    action = factories.funded_action()

    answer = client.post(
        url_for("actions.update_agreement", action_id=action.id),
        data={
            "agreement_reference": "CONV-2026-007",
            "starts_on": "2026-02-01",
            "ends_on": "2026-11-30",
            "status": "in_progress",
        },
    )

    assert answer.status_code == 303
    db.session.refresh(action)
    assert (action.agreement_reference, action.status) == (
        "CONV-2026-007",
        ActionStatus.IN_PROGRESS,
    )
    event = db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == "action.agreement_updated")
    )
    assert event.details["before"]["agreement_reference"] == ""
    assert event.details["after"]["agreement_reference"] == "CONV-2026-007"
    assert event.details["after"]["starts_on"] == "2026-02-01"


def test_an_action_cannot_end_before_it_starts(staff):
    client, _user = staff
    action = factories.funded_action()

    answer = client.post(
        url_for("actions.update_agreement", action_id=action.id),
        data={"starts_on": "2026-05-01", "ends_on": "2026-04-01", "status": "not_started"},
    )

    assert answer.status_code == 422
    assert shown("The action cannot end before it starts.") in answer.get_data(as_text=True)
    db.session.refresh(action)
    assert action.starts_on is None
    assert events("action.agreement_updated") == 0


def test_the_links_are_prefilled_from_the_application_and_changes_are_audited(staff):
    client, _user = staff
    application = factories.submitted_application(factories.closed_call())
    application.axes = [
        db.session.scalar(select(StrategicAxis).where(StrategicAxis.code == "axis-1"))
    ]
    db.session.commit()
    action = factories.funded_action(application=application)
    axes_before = [axis.code for axis in action.axes]
    page = client.get(staff_url(action)).get_data(as_text=True)
    assert axes_before == ["axis-1"]
    assert re.search(r'<input checked[^>]*value="axis-1"', page)

    answer = client.post(
        url_for("actions.update_links", action_id=action.id),
        data={
            "axes": ["axis-2"],
            "sdgs": ["5", "16"],
            "plan_projects": ["21"],
            "un_recommendations": "توصية الاستعراض الدوري الشامل 1\nتوصية 2",
        },
    )

    assert answer.status_code == 303
    stored = db.session.get(FundedAction, action.id)
    db.session.refresh(stored)
    assert [axis.code for axis in stored.axes] == ["axis-2"]
    assert [sdg.number for sdg in stored.sdgs] == [5, 16]
    assert [project.number for project in stored.plan_projects] == [21]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "action.links_updated"))
    assert event.details["before"]["axes"] == axes_before
    assert event.details["after"]["sdgs"] == [5, 16]
    assert event.details["after"]["un_recommendations"].startswith("توصية")


def test_an_unknown_link_is_refused_and_nothing_changes(staff):
    client, _user = staff
    action = factories.funded_action()

    answer = client.post(
        url_for("actions.update_links", action_id=action.id), data={"sdgs": ["99"]}
    )

    assert answer.status_code == 422
    assert events("action.links_updated") == 0


# --- tranches -------------------------------------------------------------------------------


def _tranche(client, action, prefix="new", tranche=None, **fields):
    url = (
        url_for("actions.update_tranche", action_id=action.id, tranche_id=tranche.id)
        if tranche
        else url_for("actions.add_tranche", action_id=action.id)
    )
    return client.post(url, data={f"{prefix}-{name}": value for name, value in fields.items()})


def test_staff_plan_and_pay_tranches_within_the_award(staff):
    client, _user = staff
    action = factories.funded_action()
    half = action.amount_awarded // 2

    first = _tranche(client, action, planned_on="2026-03-01", amount=str(half))
    second = _tranche(
        client, action, planned_on="2026-09-01", amount=str(action.amount_awarded - half)
    )

    assert (first.status_code, second.status_code) == (303, 303)
    tranche = db.session.scalar(select(Tranche).where(Tranche.position == 1))
    paid = _tranche(
        client,
        action,
        f"t{tranche.id}",
        tranche,
        planned_on="2026-03-01",
        amount=str(half),
        paid_on="2026-03-05",
        paid_amount=str(half),
    )
    assert paid.status_code == 303
    db.session.refresh(tranche)
    assert (tranche.paid_amount, str(tranche.paid_on)) == (half, "2026-03-05")
    assert events("action.tranche_added") == 2
    assert events("action.tranche_updated") == 1


def test_tranches_beyond_the_awarded_amount_are_refused_with_what_is_left(staff):
    client, _user = staff
    action = factories.funded_action()
    _tranche(client, action, planned_on="2026-03-01", amount=str(action.amount_awarded - 1000))

    answer = _tranche(client, action, planned_on="2026-09-01", amount="1001")

    assert answer.status_code == 422
    message = shown(
        "The planned tranches would total more than the awarded amount; at most %(left)s is "
        "left to plan.",
        left="1,000",
    )
    assert message in answer.get_data(as_text=True)
    assert count(Tranche) == 1
    assert events("action.tranche_added") == 1


def test_raising_a_tranche_beyond_the_award_is_refused_and_it_keeps_its_amount(staff):
    client, _user = staff
    action = factories.funded_action()
    _tranche(client, action, planned_on="2026-03-01", amount="1000")
    tranche = db.session.scalar(select(Tranche))

    answer = _tranche(
        client,
        action,
        f"t{tranche.id}",
        tranche,
        planned_on="2026-03-01",
        amount=str(action.amount_awarded + 1),
    )

    assert answer.status_code == 422
    db.session.refresh(tranche)
    assert tranche.amount == 1000
    assert events("action.tranche_updated") == 0


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"amount": "-5"}, "amount", "Enter an amount that is not negative."),
        (
            {"amount": "12,5"},
            "amount",
            "Enter a whole number of dirhams, without signs or decimals.",
        ),
        ({"amount": "0"}, "amount", "Enter an amount above zero."),
        (
            {"amount": "1000", "paid_amount": "2000", "paid_on": "2026-03-02"},
            "paid_amount",
            "The amount paid cannot exceed the tranche's planned amount.",
        ),
        (
            {"amount": "1000", "paid_amount": "500"},
            "paid_amount",
            "Give both the date and the amount paid, or neither.",
        ),
    ],
)
def test_bad_tranche_figures_are_refused_and_nothing_is_written(staff, fields, field, message):
    client, _user = staff
    action = factories.funded_action()

    answer = _tranche(client, action, planned_on="2026-03-01", **fields)

    assert answer.status_code == 422
    assert shown(message) in answer.get_data(as_text=True)
    assert count(Tranche) == 0


def test_a_paid_tranche_cannot_be_removed_an_unpaid_one_can(staff):
    client, _user = staff
    action = factories.funded_action()
    _tranche(
        client,
        action,
        planned_on="2026-03-01",
        amount="1000",
        paid_on="2026-03-02",
        paid_amount="1000",
    )
    _tranche(client, action, planned_on="2026-06-01", amount="1000")
    paid, unpaid = db.session.scalars(select(Tranche).order_by(Tranche.position)).all()

    client.post(url_for("actions.remove_tranche", action_id=action.id, tranche_id=paid.id))
    client.post(url_for("actions.remove_tranche", action_id=action.id, tranche_id=unpaid.id))

    assert [row.id for row in db.session.scalars(select(Tranche))] == [paid.id]
    assert events("action.tranche_removed") == 1


def test_a_tranche_of_another_action_is_not_found(staff):
    client, _user = staff
    action, other = factories.funded_action(), factories.funded_action()
    _tranche(client, other, planned_on="2026-03-01", amount="1000")
    tranche = db.session.scalar(select(Tranche))

    answer = _tranche(
        client, action, f"t{tranche.id}", tranche, planned_on="2026-03-01", amount="1"
    )
    assert answer.status_code == 404


# --- the report schedule --------------------------------------------------------------------


def test_staff_schedule_reports_with_one_final_one(staff):
    client, _user = staff
    action = factories.funded_action()
    url = url_for("actions.schedule_report", action_id=action.id)

    assert client.post(url, data={"due_on": "2026-06-30"}).status_code == 303
    assert client.post(url, data={"due_on": "2026-12-31", "final": "y"}).status_code == 303
    second_final = client.post(url, data={"due_on": "2027-01-31", "final": "y"})
    same_day = client.post(url, data={"due_on": "2026-06-30"})

    assert second_final.status_code == 422
    assert shown("The action already has a final report.") in second_final.get_data(as_text=True)
    assert same_day.status_code == 422
    assert [
        (str(r.due_on), r.final)
        for r in db.session.scalars(select(ProgressReport).order_by(ProgressReport.due_on))
    ] == [("2026-06-30", False), ("2026-12-31", True)]
    assert events("action.report_scheduled") == 2


def test_a_report_date_the_association_started_on_stays(staff):
    client, _user = staff
    action = factories.funded_action()
    untouched = due_report(action)
    started = due_report(action, today() + timedelta(days=60), version=2)

    for report in (untouched, started):
        client.post(url_for("actions.unschedule_report", action_id=action.id, report_id=report.id))

    assert [row.id for row in db.session.scalars(select(ProgressReport))] == [started.id]


def test_the_staff_list_answers_htmx_with_its_rows_only(staff):
    client, _user = staff
    action = factories.funded_action()

    answer = client.get(url_for("actions.staff_list"), headers={"HX-Request": "true"})

    body = answer.get_data(as_text=True)
    assert '<div id="action-rows">' in body and "<html" not in body
    assert action.application.title_ar in body


@pytest.mark.parametrize("locale", ["ar", "fr"])
def test_the_pages_read_in_both_languages(login_as, locale):
    action = factories.funded_action()
    report = due_report(action)
    owner_client, owner = login_as("applicant", locale=locale)
    factories.add_member(action.association, owner, "owner")
    staff_client, _staff = login_as("staff", locale=locale)

    pages = [
        owner_client.get(
            url_for("actions.association_actions", association_id=action.association_id)
        ),
        owner_client.get(url_for("actions.action_page", action_id=action.id)),
        owner_client.get(url_for("actions.report_page", action_id=action.id, report_id=report.id)),
        staff_client.get(url_for("actions.staff_list")),
        staff_client.get(staff_url(action)),
    ]

    for page in pages:
        assert page.status_code == 200
        assert f'lang="{locale}"' in page.get_data(as_text=True)
    assert shown("Funded actions", locale=locale) in pages[0].get_data(as_text=True)
