"""From decisions to results in a real browser: staff record decisions within the envelope (an
award too big for it is refused), fill the committee's sitting and minutes and submit; a second
staff member approves and publishes; the association reads its decision, a visitor the public
results and their open data; the association reports on its funded action, staff accept the
report and the dashboard of the strategic axes moves."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select

from portal.actions.models import FundedAction, ProgressReport, ReportStatus
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.results.models import Committee, CommitteeStatus, Decision, Outcome
from portal.strategy.models import StrategicAxis
from portal.web.formatting import format_mad
from tests import factories
from tests.conftest import assert_fits_the_screen, shown, sign_in_browser
from tests.results.decision_support import PDF, reviewed

pytestmark = pytest.mark.browser


def said(text: str, **values) -> str:
    """Return `text` as an Arabic page reads it (translated, not escaped: for inner_text)."""
    with force_locale("ar"):
        return gettext(text, **values)


def money(amount: int) -> str:
    with force_locale("ar"):
        return format_mad(amount)


@pytest.fixture
def results_world(session, tmp_path):
    """A closed call (one lot of 500,000 MAD) with three applications screened eligible and
    reviewed: the owner's (9/10, asks 300,000, linked to the first axis), another asking
    300,000 (7/10) and a third asking 100,000 (5/10); two staff members; minutes as a PDF."""
    call = factories.closed_call()
    axis = session.scalar(select(StrategicAxis).where(StrategicAxis.code == "axis-1"))
    owner = factories.UserFactory(roles=("applicant",), locale="ar")
    association = factories.AssociationFactory(owner=owner, name_fr="Association Horizons")
    ours = reviewed(
        call,
        9,
        asked=300_000,
        association=association,
        title_ar="نوادي المواطنة في الإعداديات",
        axes=[axis],
        regions=["rabat-sale-kenitra"],
        beneficiaries={"women_18_35": 60, "men_18_35": 40},
    )
    second = reviewed(call, 7, asked=300_000, title_ar="قافلة الحقوق في العالم القروي")
    third = reviewed(call, 5, asked=100_000, title_ar="مرصد محلي للحقوق")
    first_staff = factories.UserFactory(roles=("staff",), locale="ar")
    second_staff = factories.UserFactory(roles=("staff",), locale="ar")
    minutes = tmp_path / "محضر اللجنة.pdf"
    minutes.write_bytes(PDF)
    session.commit()
    return call, axis, owner, association, ours, second, third, first_staff, second_staff, minutes


def open_card(page, application) -> str:
    """Open the decision form of an application's card; return the card's selector."""
    card = f"#decision-{application.id}"
    if not page.locator(f"{card} details").evaluate("node => node.open"):
        page.click(f"{card} summary")
    return card


def decide(page, application, outcome: str, **values) -> None:
    """Fill an application's decision card and send it (htmx swaps the card)."""
    card = open_card(page, application)
    prefix = f"#a{application.id}-"
    page.check(f"{card} input[name='a{application.id}-outcome'][value={outcome}]")
    for name, value in values.items():
        if name == "gender_marker":
            page.select_option(prefix + name, value)
        else:
            page.fill(prefix + name, value)
    page.click(f"{card} button[type=submit]")


def current_decisions() -> dict[int, Decision]:
    db.session.expire_all()
    return {
        decision.application_id: decision
        for decision in db.session.scalars(select(Decision).where(Decision.superseded_at.is_(None)))
    }


def axis_figures(page, axis) -> tuple[str, str]:
    """Read the axis's women reached and progress on the staff dashboard."""
    page.goto("/staff/dashboards")
    cells = page.locator(f"#axis-axis-{axis.number} td")
    return cells.nth(5).inner_text(), cells.nth(9).inner_text()


def test_decisions_are_approved_published_read_and_reported_on(
    browser, page, live_server, results_world, check_accessibility
):
    call, axis, owner, association, ours, second, third, first, approver, minutes = results_world
    lot = call.lots[0]

    # --- the first staff member decides, within the envelope ------------------------------
    staff_context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    staff_page = staff_context.new_page()
    sign_in_browser(staff_page, first)
    staff_page.goto(f"/staff/calls/{call.id}/decisions")
    decide(
        staff_page,
        ours,
        "funded",
        amount_awarded="300000",
        gender_marker="1",
        motivation_ar="مشروع متين يستجيب لأولويات الخطة",
    )
    staff_page.wait_for_selector(f"#decision-{ours.id} .saved")
    assert money(200_000) in staff_page.locator(f"#lot-totals-{lot.id}").inner_text()

    decide(
        staff_page,
        second,
        "funded",
        amount_awarded="300000",
        gender_marker="0",
        motivation_ar="مشروع جيد",
        deviation_reason="اللجنة ترى أن المشروع يستحق التمويل",
    )
    error = staff_page.wait_for_selector(f"#a{second.id}-amount_awarded-error")
    assert error.inner_text() == said(
        "This award would exceed the lot's envelope: %(left)s left in the lot.",
        left=money(200_000),
    )
    assert set(current_decisions()) == {ours.id}  # nothing recorded for the refused award

    staff_page.fill(f"#a{second.id}-amount_awarded", "200000")
    staff_page.click(f"#decision-{second.id} button[type=submit]")
    staff_page.wait_for_selector(f"#decision-{second.id} .saved")
    decide(staff_page, third, "reserve", reserve_rank="1", motivation_ar="في انتظار اعتمادات")
    staff_page.wait_for_selector(f"#decision-{third.id} .saved")
    assert money(0) in staff_page.locator(f"#lot-totals-{lot.id}").inner_text()
    check_accessibility(staff_page)

    decided = current_decisions()
    assert (decided[ours.id].outcome, decided[ours.id].amount_awarded) == (Outcome.FUNDED, 300_000)
    assert decided[ours.id].gender_marker == 1 and not decided[ours.id].deviation_reason
    assert (decided[second.id].outcome, decided[second.id].amount_awarded) == (
        Outcome.FUNDED,
        200_000,
    )
    assert decided[second.id].deviation_reason  # the proposal put it in reserve
    assert (decided[third.id].outcome, decided[third.id].reserve_rank) == (Outcome.RESERVE, 1)

    # --- the committee: sitting, minutes, submission ------------------------------------
    staff_page.goto(f"/staff/calls/{call.id}/committee")
    staff_page.fill("#held_on", "2026-06-01")
    staff_page.fill("#members_present", "الرئيسة\nالمقرر")
    staff_page.click(f"form[action$='/calls/{call.id}/committee'] button[type=submit]")
    staff_page.wait_for_selector(".message-success")
    staff_page.set_input_files("#minutes", minutes)
    staff_page.click("form[action$='/committee/minutes'] button[type=submit]")
    staff_page.wait_for_selector("a[href$='/committee/minutes']")
    staff_page.click("form[action$='/committee/submit'] button[type=submit]")
    staff_page.wait_for_selector("#committee-facts .status-submitted")
    assert staff_page.locator("form[action$='/committee/approve']").count() == 0  # four eyes
    staff_context.close()

    db.session.expire_all()
    sitting = db.session.scalar(select(Committee).where(Committee.call_id == call.id))
    assert sitting.status is CommitteeStatus.SUBMITTED
    assert (sitting.held_on, sitting.submitted_by_id) == (date(2026, 6, 1), first.id)
    assert sitting.minutes_sha256 and sitting.minutes_name.endswith(".pdf")

    # --- a second staff member approves and publishes ------------------------------------
    approver_context = browser.new_context(
        base_url=live_server.url, viewport={"width": 1280, "height": 900}
    )
    approver_page = approver_context.new_page()
    sign_in_browser(approver_page, approver)
    approver_page.goto(f"/staff/calls/{call.id}/committee")
    approver_page.click("form[action$='/committee/approve'] button[type=submit]")
    approver_page.wait_for_selector("#committee-facts .status-verified")
    db.session.expire_all()
    sitting = db.session.get(Committee, sitting.id)
    assert (sitting.status, sitting.approved_by_id) == (CommitteeStatus.APPROVED, approver.id)

    approver_page.goto(f"/staff/calls/{call.id}/results/publish")
    check_accessibility(approver_page)
    approver_page.click("form[action$='/results/publish'] button[type=submit]")
    approver_page.wait_for_selector(f"a[href$='/results/{call.code}']")
    db.session.expire_all()
    assert db.session.get(Committee, sitting.id).status is CommitteeStatus.PUBLISHED
    to_owner = db.session.scalars(
        select(OutboxMessage.template).where(OutboxMessage.recipient == owner.email)
    ).all()
    assert to_owner == ["results_funded"]
    action = db.session.scalar(select(FundedAction).where(FundedAction.application_id == ours.id))
    assert action.amount_awarded == 300_000

    # --- the association reads its decision ----------------------------------------------
    sign_in_browser(page, owner)
    page.goto(f"/applications/{ours.id}")
    decision_text = page.locator("#decision").inner_text()
    assert said("Funded: %(amount)s.", amount=money(300_000)) in decision_text
    assert "مشروع متين يستجيب لأولويات الخطة" in decision_text
    assert_fits_the_screen(page)
    check_accessibility(page)

    # --- a visitor reads the public results and downloads the open data ------------------
    visitor = browser.new_context(
        base_url=live_server.url, accept_downloads=True, viewport={"width": 390, "height": 844}
    )
    visitor_page = visitor.new_page()
    visitor_page.goto("/results")
    visitor_page.click(f"a[href$='/results/{call.code}']")
    visitor_page.wait_for_selector(f"#award-{ours.id}")
    awards = visitor_page.locator("#awards").inner_text()
    assert association.name_ar in awards and money(300_000) in awards
    assert visitor_page.locator(f"#award-{third.id}").count() == 0  # the reserve is not public
    assert_fits_the_screen(visitor_page)
    with visitor_page.expect_download() as export:
        visitor_page.click(f"a[href$='/open-data/{call.code}/grants.csv']")
    content = Path(export.value.path()).read_text(encoding="utf-8-sig")
    assert "Association Horizons" in content and association.name_ar in content
    assert "300000" in content
    visitor.close()

    # --- staff ask for a report; the association writes and sends it ---------------------
    approver_page.goto(f"/staff/actions/{action.id}")
    due_on = date.today() + timedelta(days=30)
    approver_page.fill("#due_on", due_on.isoformat())
    approver_page.click(f"form[action$='/actions/{action.id}/reports'] button[type=submit]")
    approver_page.wait_for_selector(f"#schedule-heading ~ ul a[href*='/actions/{action.id}/']")
    db.session.expire_all()
    report = db.session.scalar(select(ProgressReport).where(ProgressReport.action_id == action.id))
    assert report.status is ReportStatus.DUE
    before = axis_figures(approver_page, axis)

    page.goto(f"/actions/{action.id}")
    page.click(f"a[href$='/actions/{action.id}/reports/{report.id}']")
    page.fill("#activities_done", "نظمنا ست ورشات في ثلاث إعداديات")
    page.fill("#progress_percent", "40")
    page.fill("#beneficiaries_women_18_35", "25")
    page.fill("#beneficiaries_men_18_35", "15")
    page.fill(f"#spent_{ours.budget_lines[0].id}", "120000")
    assert_fits_the_screen(page)
    page.click("#send")
    page.wait_for_selector(f".status-{ReportStatus.SUBMITTED.value}")
    assert shown("The report is sent to staff.") in page.content()
    db.session.expire_all()
    report = db.session.get(ProgressReport, report.id)
    assert report.status is ReportStatus.SUBMITTED
    assert report.progress_percent == 40
    assert report.beneficiaries_reached == {"women_18_35": 25, "men_18_35": 15}
    assert report.spending == {str(ours.budget_lines[0].id): 120_000}

    # --- staff accept it; the axis's figures move ------------------------------------------
    approver_page.goto(f"/staff/actions/{action.id}")
    approver_page.click(f"a[href$='/actions/{action.id}/reports/{report.id}']")
    approver_page.click("form[action$='/accept'] button[type=submit]")
    approver_page.wait_for_selector(f".status-{ReportStatus.ACCEPTED.value}")
    db.session.expire_all()
    assert db.session.get(ProgressReport, report.id).status is ReportStatus.ACCEPTED
    assert db.session.get(FundedAction, action.id).progress_percent == 40
    templates = db.session.scalars(
        select(OutboxMessage.template).where(OutboxMessage.recipient == owner.email)
    ).all()
    assert "actions_report_accepted" in templates

    after = axis_figures(approver_page, axis)
    assert before[0] == "0" and after[0] == "25"  # women reached
    assert before != after and "40" in after[1]  # progress weighted by amount
    check_accessibility(approver_page)
    approver_context.close()
