"""An association applies in a real browser, with and without JavaScript, and staff find it."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from portal.applications.models import Application, ApplicationStatus, Submission
from tests import factories
from tests.applications.conftest import PDF
from tests.conftest import sign_in_browser

pytestmark = pytest.mark.browser

NARRATIVE = {
    "context": "تعاني النساء في العالم القروي من ضعف الولوج إلى المعلومة القانونية.",
    "objectives": "تقوية قدرات 120 امرأة في مجال الحقوق.",
    "activities": "ورشات تكوينية من الشهر 1 إلى الشهر 6.",
    "expected_results": "120 امرأة مكوّنة.",
    "indicators": "عدد المستفيدات: 120.",
    "sustainability": "شبكة محلية للمتابعة.",
}


@pytest.fixture
def applicant(session):
    user = factories.UserFactory(locale="ar")
    association = factories.AssociationFactory(owner=user)
    call = factories.published_call()
    return user, association, call


def saved(page, name: str) -> None:
    """Wait until autosave reports the field as saved."""
    fid = "f-" + name.replace(".", "-")
    page.wait_for_selector(f"#{fid}-status .saved")


def add_plan_rows(page) -> None:
    """Add one activity with its months and one indicator with its target."""
    page.fill("#activity-title", "ورشات تكوينية")
    page.fill("#activity-start", "1")
    page.fill("#activity-end", "6")
    page.click("#activity-new button[type=submit]")
    page.wait_for_selector("#plan td:has-text('ورشات تكوينية')")
    page.fill("#indicator-name", "عدد المستفيدات")
    page.fill("#indicator-target", "120")
    page.click("#indicator-new button[type=submit]")
    page.wait_for_selector("#plan td:has-text('عدد المستفيدات')")


def fill_with_javascript(page, application_url: str, pdf_path) -> None:
    page.goto(f"{application_url}/sections/summary")
    page.fill("#f-title_ar", "مشروع لتعزيز حقوق النساء في العالم القروي")
    saved(page, "title_ar")
    page.fill("#f-duration_months", "10")
    saved(page, "duration_months")
    page.check("#f-regions-box input[value=rabat-sale-kenitra]")
    saved(page, "regions")
    page.check("#f-target_groups-box input[value=women]")
    saved(page, "target_groups")
    page.fill("#f-beneficiaries-women_18_35", "120")
    saved(page, "beneficiaries.women_18_35")

    page.goto(f"{application_url}/sections/narrative")
    for name, text in NARRATIVE.items():
        page.fill(f"#f-{name}", text)
        saved(page, name)
    add_plan_rows(page)
    page.goto(f"{application_url}/sections/links")
    page.check("#f-axes-box input[value=axis-1]")
    saved(page, "axes")
    page.goto(f"{application_url}/sections/team")
    page.fill("#f-team", "أمينة العلوي — منسقة المشروع")
    saved(page, "team")

    page.goto(f"{application_url}/budget")
    total_before = page.inner_text("#budget-total")
    page.select_option("#line-new-category", "activities")
    page.fill("#line-new-description", "ورشات تكوينية")
    page.fill("#line-new-quantity", "4")
    page.fill("#line-new-unit_cost", "25000")
    page.fill("#line-new-cofunding", "12000")
    page.click("#line-new button[type=submit]")
    page.wait_for_function(
        "before => document.querySelector('#budget-total').innerText !== before", arg=total_before
    )
    assert "100" in page.inner_text("#budget-total")

    page.goto(f"{application_url}/documents")
    page.set_input_files("#document-1 input[type=file]", str(pdf_path))
    page.click("#document-1 button[type=submit]")
    page.wait_for_selector("#document-1 a[href*='/attachments/']")


def fill_without_javascript(page, application_url: str, pdf_path) -> None:
    page.goto(f"{application_url}/sections/summary")
    page.fill("#f-title_ar", "مشروع بدون جافاسكريبت")
    page.fill("#f-duration_months", "8")
    page.check("#f-regions-box input[value=rabat-sale-kenitra]")
    page.check("#f-target_groups-box input[value=women]")
    page.fill("#f-beneficiaries-women_18_35", "40")
    page.click("form.stack > button[type=submit]")
    page.wait_for_selector(".message-success")
    page.goto(f"{application_url}/sections/narrative")
    for name, text in NARRATIVE.items():
        page.fill(f"#f-{name}", text)
    page.click("form.stack > button[type=submit]")
    page.wait_for_selector(".message-success")
    add_plan_rows(page)
    page.goto(f"{application_url}/sections/links")
    page.check("#f-axes-box input[value=axis-1]")
    page.click("form.stack > button[type=submit]")
    page.goto(f"{application_url}/sections/team")
    page.fill("#f-team", "سعيد — منسق")
    page.click("form.stack > button[type=submit]")
    page.goto(f"{application_url}/budget")
    page.fill("#line-new-description", "تنقل")
    page.fill("#line-new-quantity", "2")
    page.fill("#line-new-unit_cost", "40000")
    page.fill("#line-new-cofunding", "9000")
    page.click("#line-new button[type=submit]")
    page.wait_for_selector(".budget-line:not(.new-line)")
    page.goto(f"{application_url}/documents")
    page.set_input_files("#document-1 input[type=file]", str(pdf_path))
    page.click("#document-1 button[type=submit]")
    page.wait_for_selector("#document-1 a[href*='/attachments/']")


@pytest.mark.parametrize("javascript", [True, False], ids=["with-js", "without-js"])
def test_member_applies_submits_and_downloads_the_receipt(
    browser, live_server, applicant, session, tmp_path, javascript, check_accessibility
):
    user, _association, call = applicant
    pdf_path = tmp_path / "النظام الأساسي.pdf"
    pdf_path.write_bytes(PDF)
    context = browser.new_context(
        base_url=live_server.url,
        viewport={"width": 390, "height": 844},
        java_script_enabled=javascript,
        accept_downloads=True,
    )
    page = context.new_page()
    sign_in_browser(page, user)
    page.goto(f"/calls/{call.id}/apply")
    page.click("form.stack button[type=submit]")
    page.wait_for_url(re.compile(r".*/applications/\d+$"))
    application_url = page.url
    assert page.locator("html").get_attribute("dir") == "rtl"

    if javascript:
        fill_with_javascript(page, application_url, pdf_path)
    else:
        fill_without_javascript(page, application_url, pdf_path)

    page.goto(f"{application_url}/completeness")
    assert page.locator(".message-success").count() == 1, page.inner_text("main")
    if javascript:
        check_accessibility(page)

    page.goto(application_url)
    page.click("form[action$='/submit'] button")
    page.wait_for_url(re.compile(r".*/submissions/1$"))
    reference = page.inner_text(".receipt-facts bdi.code")
    assert reference.startswith("SHK-")
    with page.expect_download() as download:
        page.click("a[href$='receipt-ar.pdf']")
    assert download.value.suggested_filename == f"{reference}-ar.pdf"
    context.close()

    session.expire_all()
    application = session.scalar(select(Application))
    assert application.status == ApplicationStatus.SUBMITTED
    assert session.scalar(select(Submission)).reference == reference

    staff = factories.UserFactory(roles=("staff",), locale="fr")
    staff_context = browser.new_context(base_url=live_server.url, accept_downloads=True)
    staff_page = staff_context.new_page()
    sign_in_browser(staff_page, staff)
    staff_page.goto(f"/staff/calls/{call.id}/applications")
    assert reference in staff_page.inner_text("#application-rows")
    with staff_page.expect_download() as export:
        staff_page.click("a[href*='applications.csv']")
    assert reference in export.value.path().read_text(encoding="utf-8-sig")
    staff_context.close()
