"""The dashboards of the funded actions: which actions count, the figures per axis (and lot,
region, SDG, UN mechanism) checked against hand-computed values, the amounts by gender marker and
by funder, the page (charts with their tables, Arabic right to left), its filters, who may read
it, its fixed number of queries from 10 to 300 actions, and the figures kept between requests."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask import url_for
from sqlalchemy import delete, func, select

from portal.actions.dashboards import DashboardFilters, _computed, dashboard, load_reference
from portal.actions.kept_figures import FIGURES
from portal.actions.models import (
    ActionStatus,
    FundedAction,
    ProgressReport,
    ReportStatus,
    Tranche,
)
from portal.applications.models import Application, ApplicationStatus
from portal.calls.models import Lot
from portal.db import utcnow
from portal.extensions import db
from portal.kept import FiguresChange, latest_token
from portal.results.models import (
    Committee,
    CommitteeStatus,
    Decision,
    DecisionFunder,
    Outcome,
)
from portal.strategy.models import FundingPartner, PlanProject, Sdg, StrategicAxis, UnMechanism
from tests import factories
from tests.conftest import shown


def axis(code: str) -> StrategicAxis:
    return db.session.scalar(select(StrategicAxis).where(StrategicAxis.code == code))


def project(number: int) -> PlanProject:
    return db.session.scalar(select(PlanProject).where(PlanProject.number == number))


def sdg(number: int) -> Sdg:
    return db.session.scalar(select(Sdg).where(Sdg.number == number))


def partner(code: str) -> FundingPartner:
    return db.session.scalar(select(FundingPartner).where(FundingPartner.code == code))


def mechanism() -> UnMechanism:
    return db.session.scalar(select(UnMechanism).order_by(UnMechanism.position))


def add_tranche(action, amount: int, paid: int | None, position: int = 1) -> None:
    db.session.add(
        Tranche(
            action_id=action.id,
            position=position,
            planned_on=date(2025, 9, position),
            amount=amount,
            paid_on=date(2025, 9, position) if paid is not None else None,
            paid_amount=paid,
        )
    )
    db.session.commit()


def add_report(action, status: str, due_on: date, reached: dict, progress: int | None = None):
    db.session.add(
        ProgressReport(
            action_id=action.id,
            due_on=due_on,
            status=ReportStatus(status),
            beneficiaries_reached=reached,
            progress_percent=progress,
        )
    )
    db.session.commit()


def add_funder(action, code: str, percent: int) -> None:
    db.session.add(
        DecisionFunder(
            decision_id=action.decision_id, partner_id=partner(code).id, share_percent=percent
        )
    )
    db.session.commit()


def action_in(call, lot, axes, *, amount: int, progress: int, marker, **fields):
    application = factories.submitted_application(
        call, lot=lot, axes=[axis(code) for code in axes], **fields
    )
    return factories.funded_action(
        application=application,
        amount_awarded=amount,
        progress_percent=progress,
        gender_marker=marker,
    )


@pytest.fixture
def world(app):
    """Three counted actions of one call across axes 1 and 2 (two lots), and a withdrawn one.

    | action | axes | lot | amount  | paid   | planned W/M | reached W/M (last accepted) | % |
    | one    | 1    | 1   | 100 000 | 60 000 | 40 / 20     | 30 / 12                     | 50 |
    | two    | 1, 2 | 1   | 200 000 | 50 000 | 10 / 30     | 0 / 0 (none accepted)       | 20 |
    | three  | 2    | 2   | 50 000  | 50 000 | 5 / 0       | 6 / 1                       | 100 |
    """
    call = factories.closed_call()
    first_lot = call.lots[0]
    second_lot = Lot(
        position=2,
        title_ar="النساء والمساواة",
        title_fr="Femmes et égalité",
        budget=300_000,
        axes=[axis("axis-2")],
    )
    call.lots.append(second_lot)
    db.session.commit()
    one = action_in(
        call,
        first_lot,
        ["axis-1"],
        amount=100_000,
        progress=50,
        marker=2,
        regions=["rabat-sale-kenitra"],
        beneficiaries={"women_18_35": 40, "men_18_35": 20},
        sdgs=[sdg(5)],
    )
    one.plan_projects = [project(21)]
    two = action_in(
        call,
        first_lot,
        ["axis-1", "axis-2"],
        amount=200_000,
        progress=20,
        marker=1,
        regions=["rabat-sale-kenitra", "oriental"],
        beneficiaries={"women_under_18": 10, "men_over_35": 30},
        un_mechanisms=[mechanism()],
    )
    two.plan_projects = [project(21), project(26)]
    three = action_in(
        call,
        second_lot,
        ["axis-2"],
        amount=50_000,
        progress=100,
        marker=None,
        regions=["souss-massa"],
        beneficiaries={"women_over_35": 5},
        sdgs=[sdg(5), sdg(16)],
    )
    withdrawn = action_in(
        call,
        first_lot,
        ["axis-1"],
        amount=70_000,
        progress=10,
        marker=0,
        regions=["oriental"],
        beneficiaries={"women_18_35": 900},
    )
    withdrawn.status = ActionStatus.WITHDRAWN
    db.session.commit()

    add_tranche(one, 60_000, 60_000, 1)
    add_tranche(one, 40_000, None, 2)
    add_tranche(two, 100_000, 50_000)
    add_tranche(three, 50_000, 50_000)
    add_tranche(withdrawn, 70_000, 70_000)
    # The latest accepted report counts; later reports not accepted do not.
    add_report(one, "accepted", date(2025, 10, 1), {"women_18_35": 10, "men_18_35": 5}, 25)
    add_report(one, "accepted", date(2026, 1, 1), {"women_18_35": 30, "men_18_35": 12}, 50)
    add_report(one, "submitted", date(2026, 4, 1), {"women_18_35": 99}, 80)
    add_report(two, "changes_requested", date(2026, 1, 1), {"women_18_35": 500}, 90)
    add_report(three, "accepted", date(2026, 1, 1), {"women_over_35": 6, "men_under_18": 1}, 100)
    add_report(three, "due", date(2026, 6, 1), {})
    add_funder(one, "UNFPA", 40)
    add_funder(two, "UN-WOMEN", 25)
    return {"call": call, "one": one, "two": two, "three": three, "withdrawn": withdrawn}


def figures(filters: DashboardFilters | None = None):
    filters = filters or DashboardFilters()
    return dashboard(db.session, filters, load_reference(db.session, filters))


def group(result, breakdown: str, key: str):
    return next(item for item in result.rows(breakdown) if item.key == key)


# --- the figures ----------------------------------------------------------------------------


def test_each_axis_adds_up_its_actions_amounts_payments_and_beneficiaries(world):
    result = figures()

    first = group(result, "axis", "axis-1")
    assert (first.actions, first.awarded, first.paid) == (2, 300_000, 110_000)
    assert first.planned == {"women": 50, "men": 50}
    assert first.reached == {"women": 30, "men": 12}
    assert first.regions == {"rabat-sale-kenitra", "oriental"}
    assert len(first.projects) == 2
    second = group(result, "axis", "axis-2")
    assert (second.actions, second.awarded, second.paid) == (2, 250_000, 100_000)
    assert second.planned == {"women": 15, "men": 30}
    assert second.reached == {"women": 6, "men": 1}
    assert len(second.regions) == 3


def test_an_axis_progress_is_its_actions_progress_weighted_by_amount(world):
    result = figures()

    # (50 × 100 000 + 20 × 200 000) / 300 000 and (20 × 200 000 + 100 × 50 000) / 250 000
    assert group(result, "axis", "axis-1").progress == pytest.approx(30.0)
    assert group(result, "axis", "axis-2").progress == pytest.approx(36.0)
    assert group(result, "axis", "axis-3").progress is None
    assert result.total.progress == pytest.approx((5_000_000 + 4_000_000 + 5_000_000) / 350_000)


def test_withdrawn_actions_are_left_out_and_the_total_counts_each_action_once(world):
    result = figures()

    assert (result.total.actions, result.total.awarded, result.total.paid) == (3, 350_000, 160_000)
    assert result.total.planned == {"women": 55, "men": 50}
    assert result.total.reached == {"women": 36, "men": 13}
    assert len(result.total.regions) == 3


def test_the_same_figures_are_given_per_lot_region_sdg_and_mechanism(world):
    result = figures()
    first_lot, second_lot = world["call"].lots

    assert group(result, "lot", str(first_lot.id)).awarded == 300_000
    assert group(result, "lot", str(second_lot.id)).awarded == 50_000
    rabat = group(result, "region", "rabat-sale-kenitra")
    assert (rabat.actions, rabat.awarded, rabat.paid) == (2, 300_000, 110_000)
    assert group(result, "region", "oriental").awarded == 200_000
    assert group(result, "region", "souss-massa").reached == {"women": 6, "men": 1}
    assert (group(result, "sdg", "sdg-5").actions, group(result, "sdg", "sdg-5").awarded) == (
        2,
        150_000,
    )
    assert group(result, "sdg", "sdg-16").awarded == 50_000
    assert group(result, "un_mechanism", mechanism().code).awarded == 200_000
    assert len(result.rows("region")) == 12  # every region, those without action at zero


def test_amounts_are_split_by_gender_marker(world):
    result = figures()

    assert {item.key: item.amount for item in result.by_gender_marker} == {
        "0": 0,
        "1": 200_000,
        "2": 100_000,
        "none": 50_000,
    }


def test_amounts_are_split_between_the_delegation_and_the_partners_by_their_share(world):
    result = figures()

    amounts = {item.key: item.amount for item in result.by_funder}
    assert amounts["UNFPA"] == 40_000
    assert amounts["UN-WOMEN"] == 50_000
    assert amounts["delegation"] == 260_000
    assert sum(amounts.values()) == result.total.awarded


def test_the_filters_select_a_call_and_the_year_its_results_were_published(world):
    other = factories.funded_action(amount_awarded=80_000)
    sitting = db.session.scalar(select(Committee).where(Committee.call_id == other.call_id))
    sitting.published_at = datetime(2024, 6, 1, 12, tzinfo=UTC)
    db.session.commit()
    this_year = world["one"].decision.committee.published_at.year

    assert figures().total.actions == 4
    assert figures(DashboardFilters(call_id=world["call"].id)).total.awarded == 350_000
    assert figures(DashboardFilters(year=2024)).total.awarded == 80_000
    assert figures(DashboardFilters(year=this_year)).total.actions == 3
    assert figures(DashboardFilters(call_id=world["call"].id, year=2024)).total.actions == 0


def test_a_published_year_follows_morocco_clock(world):
    sitting = world["one"].decision.committee
    # 31 December 2024 at 23:30 UTC is already 1 January 2025 in Casablanca (UTC+1).
    sitting.published_at = datetime(2024, 12, 31, 23, 30, tzinfo=UTC)
    db.session.commit()

    assert figures(DashboardFilters(year=2025)).total.actions == 3
    assert figures(DashboardFilters(year=2024)).total.actions == 0


def test_actions_of_unpublished_results_are_not_counted(world):
    sitting = world["one"].decision.committee
    sitting.status = CommitteeStatus.APPROVED
    db.session.commit()

    assert figures().total.actions == 0


def test_no_action_gives_zeros_and_no_progress(app):
    result = figures()

    assert (result.total.actions, result.total.awarded, result.total.paid) == (0, 0, 0)
    assert result.total.progress is None
    assert [item.amount for item in result.by_gender_marker] == [0, 0, 0, 0]


# --- the page -------------------------------------------------------------------------------


def test_staff_read_the_axis_figures_with_charts_and_tables_in_arabic(world, login_as):
    client, _staff = login_as("staff")

    response = client.get(url_for("actions.dashboards"))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert 'dir="rtl"' in page
    assert axis("axis-1").title_ar in page
    assert page.count('role="img"') >= 7  # one chart per breakdown, progress, marker, funder
    assert 'id="axis-axis-1"' in page
    assert '<div class="table-scroll" tabindex="0">' in page
    assert "300,000" in page and "110,000" in page
    assert shown("By strategic axis") in page
    assert "<script" not in page.split("</header>", 1)[-1].split("<footer", 1)[0]


def test_the_page_reads_in_french(world, login_as):
    client, staff = login_as("staff", locale="fr")

    page = client.get(url_for("actions.dashboards")).get_data(as_text=True)

    assert axis("axis-1").title_fr in page
    assert 'dir="ltr"' in page


def test_htmx_filtering_answers_with_the_dashboard_fragment_only(world, login_as):
    client, _staff = login_as("staff")

    response = client.get(
        url_for("actions.dashboards", call=world["call"].id), headers={"HX-Request": "true"}
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.lstrip().startswith('<div id="dashboard">')
    assert "<html" not in page


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"call": "abc"}, "Choose a call from the list."),
        ({"call": "999999"}, "Choose a call from the list."),
        ({"year": "1999"}, "Choose a year from the list."),
        ({"year": "2025-01"}, "Choose a year from the list."),
    ],
)
def test_a_filter_not_in_the_list_is_refused_with_a_message(world, login_as, arguments, message):
    client, _staff = login_as("staff")

    response = client.get(url_for("actions.dashboards", **arguments))

    assert response.status_code == 422
    assert shown(message) in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("roles", "status"),
    [
        (None, 302),
        (("applicant",), 403),
        (("evaluator",), 403),
        (("staff",), 200),
        (("admin",), 200),
    ],
)
def test_only_staff_and_admins_read_the_dashboards(app, client, login_as, roles, status):
    """ASVS 4.1.1: the dashboards and the annual report follow the actions.manage rule."""
    reader = client if roles is None else login_as(*roles)[0]

    page = reader.get(url_for("actions.dashboards"))
    report = reader.get(url_for("actions.annual_report", year=2025, lang="ar", fmt="xlsx"))

    assert page.status_code == status
    assert report.status_code == status


# --- a fixed number of queries --------------------------------------------------------------


def many_actions(call, association, user, how_many: int) -> None:
    """Write `how_many` funded actions of `call` straight to the tables, with their links,
    tranches, reports and funders (the factories would take minutes for 300)."""
    sitting = db.session.scalar(select(Committee).where(Committee.call_id == call.id))
    axes = [axis("axis-1"), axis("axis-2")]
    unfpa = partner("UNFPA")
    for number in range(how_many):
        application = Application(
            call=call,
            association=association,
            lot=call.lots[0],
            status=ApplicationStatus.SUBMITTED,
            title_ar=f"مشروع {number}",
            created_by_id=user.id,
            submitted_at=utcnow(),
        )
        decision = Decision(
            application=application,
            call_id=call.id,
            lot_id=call.lots[0].id,
            committee_id=sitting.id,
            outcome=Outcome.FUNDED,
            amount_awarded=10_000 + number,
            created_by_id=user.id,
        )
        decision.funders = [DecisionFunder(partner_id=unfpa.id, share_percent=30)]
        action = FundedAction(
            application=application,
            decision=decision,
            call_id=call.id,
            lot_id=call.lots[0].id,
            association_id=association.id,
            amount_awarded=10_000 + number,
            progress_percent=number % 100,
            beneficiaries_planned={"women_18_35": 3, "men_18_35": 2},
            regions=["rabat-sale-kenitra", "oriental"][: 1 + number % 2],
            gender_marker=number % 3,
            axes=axes[: 1 + number % 2],
            sdgs=[sdg(1 + number % 17)],
            un_mechanisms=[mechanism()],
            plan_projects=[project(21)],
        )
        action.tranches = [
            Tranche(position=1, planned_on=date(2025, 9, 1), amount=5_000, paid_amount=5_000)
        ]
        action.reports = [
            ProgressReport(
                due_on=date(2026, 1, 1),
                status=ReportStatus.ACCEPTED,
                beneficiaries_reached={"women_18_35": 1},
            )
        ]
        db.session.add(action)
    db.session.commit()


def _queries(count_queries, client, url: str) -> int:
    client.get(url)  # warm up: the first request of a client loads its session and locale
    with count_queries() as counter:
        response = client.get(url)
    assert response.status_code == 200
    return counter.count


@pytest.mark.parametrize("filtered", [False, True], ids=["all", "filtered"])
def test_the_page_runs_the_same_queries_for_10_and_300_actions(login_as, count_queries, filtered):
    client, staff = login_as("staff")
    call = factories.closed_call()
    factories.committee(call, status="published", published_at=utcnow())
    association = factories.AssociationFactory(owner=factories.UserFactory())
    year = utcnow().year
    url = url_for("actions.dashboards", **({"call": call.id, "year": year} if filtered else {}))
    many_actions(call, association, staff, 10)
    with_few = _queries(count_queries, client, url)
    many_actions(call, association, staff, 290)
    with_many = _queries(count_queries, client, url)

    assert with_few == with_many, (with_few, with_many)
    assert with_many <= 10, with_many
    assert figures().total.actions == 300


# --- kept between requests: every write that changes what the figures are computed from
# records a new token in its own transaction; writes that change nothing counted keep them ----


def token() -> str | None:
    return latest_token(db.session, FIGURES)


def test_the_same_figures_are_served_while_nothing_changes(world):
    first = figures()

    assert figures() is first


def test_a_paid_tranche_changes_the_kept_figures(world):
    before = figures().total.paid

    add_tranche(world["three"], 10_000, 10_000, position=2)

    assert figures().total.paid == before + 10_000


def test_an_accepted_report_changes_the_kept_figures_and_a_draft_does_not(world):
    kept = figures()
    draft = ProgressReport(
        action_id=world["two"].id, due_on=date(2026, 6, 1), status=ReportStatus.DUE
    )
    db.session.add(draft)
    db.session.commit()
    unchanged = token()
    draft.beneficiaries_reached = {"women_18_35": 7}  # a draft's figures are not counted
    db.session.commit()
    assert token() == unchanged
    assert figures() is kept

    draft.status = ReportStatus.ACCEPTED
    db.session.commit()

    assert token() != unchanged
    assert figures().total.reached["women"] == kept.total.reached["women"] + 7


def test_a_new_axis_link_moves_the_action_in_the_kept_figures(world):
    before = group(figures(), "axis", "axis-2").actions

    world["one"].axes.append(axis("axis-2"))
    db.session.commit()

    assert group(figures(), "axis", "axis-2").actions == before + 1


@pytest.fixture
def axis_title_put_back(world):
    """The reference data outlives each test: axis 1's French title is put back after it."""
    title = axis("axis-1").title_fr
    yield
    db.session.rollback()
    axis("axis-1").title_fr = title
    db.session.commit()


def test_a_renamed_axis_shows_its_new_name_in_the_kept_figures(world, axis_title_put_back):
    figures()
    unchanged = token()

    axis("axis-1").title_fr = "Axe renommé"
    db.session.commit()

    assert token() == unchanged  # the names are part of the key instead
    assert group(figures(), "axis", "axis-1").name_fr == "Axe renommé"


def test_the_kept_figures_are_the_computed_figures(world):
    add_tranche(world["two"], 5_000, 5_000, position=2)
    filters = DashboardFilters(call_id=world["call"].id)
    kept = figures(filters)
    computed = _computed(db.session, filters, load_reference(db.session, filters))

    assert kept is not computed
    assert kept == computed


def test_nothing_is_kept_before_a_change_is_recorded(world):
    db.session.execute(delete(FiguresChange))
    db.session.commit()

    assert figures() is not figures()
    assert db.session.scalar(select(func.count()).select_from(FiguresChange)) == 0
