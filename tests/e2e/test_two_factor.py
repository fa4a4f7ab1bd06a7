"""Two-factor sign-in in a real browser: a staff member is sent to enrolment after the password,
scans (here: reads) the key, keeps the recovery codes, then signs in again with a code
(OWASP ASVS 4.0.3 V2.8, V2.5)."""

from __future__ import annotations

import time

import pyotp
import pytest

from tests import factories
from tests.conftest import TEST_PASSWORD, LiveServer, free_port

pytestmark = pytest.mark.browser


@pytest.fixture
def strict_server(app_factory, tmp_path):
    """The portal served with the default rule: staff and admin must use two-factor sign-in."""
    port = free_port()
    app = app_factory(
        PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
        MAIL_COPY_DIR=str(tmp_path / "mail"),
        TWO_FACTOR_REQUIRED_ROLES=("staff", "admin"),
    )
    server = LiveServer(app, port)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def phone_page(browser, strict_server):
    context = browser.new_context(
        base_url=strict_server.url, viewport={"width": 390, "height": 844}
    )
    yield context.new_page()
    context.close()


def type_password(page, email: str) -> None:
    page.goto("/account/sign-in")
    page.fill("#email", email)
    page.fill("#password", TEST_PASSWORD)
    page.click("form.stack button[type=submit]")


def test_staff_enrol_at_first_sign_in_then_sign_in_with_a_code(
    phone_page, session, check_accessibility
):
    page = phone_page
    staff = factories.UserFactory(roles=("staff",), email="officer@example.org")
    session.commit()

    type_password(page, staff.email)
    page.wait_for_url("**/account/two-factor**")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator(".two-factor-qr svg").is_visible()
    assert page.locator("#code").get_attribute("dir") == "ltr"
    assert page.locator("#code").get_attribute("autocomplete") == "one-time-code"
    check_accessibility(page)
    page.goto("/staff/calls")
    page.wait_for_url("**/account/two-factor**")

    app = pyotp.TOTP(page.locator(".two-factor-secret").inner_text().replace(" ", ""))
    page.fill("#code", app.now())
    page.click("form.stack button[type=submit]")
    page.wait_for_selector(".recovery-codes")
    assert page.locator(".recovery-codes li").count() == 10
    check_accessibility(page)
    page.click("main a.button")
    page.wait_for_url("**/staff/calls")

    page.click("nav form[action='/account/sign-out'] button")
    page.wait_for_url("**/")
    type_password(page, staff.email)
    page.wait_for_url("**/account/sign-in/code**")
    check_accessibility(page)
    # The code of the next step: the enrolment's own code cannot be used twice.
    page.fill("#code", app.at(time.time() + 30))
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/account")
    page.goto("/staff/calls")
    page.wait_for_url("**/staff/calls")


def test_an_admin_resets_the_two_factor_of_a_staff_member_who_lost_it(
    phone_page, session, check_accessibility
):
    """ASVS 2.5.6: the administrator signs in with a code, reads that the staff member's
    two-factor sign-in is on, gives a reason, confirms, and the staff member's is off."""
    from portal.accounts.models import TwoFactor
    from tests.accounts.test_two_factor import enrol
    from tests.conftest import assert_fits_the_screen, shown

    page = phone_page
    admin = factories.UserFactory(roles=("admin",), email="admin@example.org", locale="ar")
    staff = factories.UserFactory(roles=("staff",), email="nadia@example.org", full_name="نادية")
    admin_app, _codes = enrol(admin)
    enrol(staff)

    type_password(page, admin.email)
    page.wait_for_url("**/account/sign-in/code**")
    page.fill("#code", admin_app.now())
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/account")
    page.goto(f"/admin/users/{staff.id}/roles")
    section = page.locator("#two-factor")
    assert shown("On, with %(count)d recovery codes left.", count=10) in section.inner_html()
    assert_fits_the_screen(page)
    check_accessibility(page)

    page.click("#two-factor button[type=submit]")  # nothing filled in: refused beside the fields
    page.wait_for_selector("#reason-error")
    assert page.locator("#reason").get_attribute("aria-invalid") == "true"
    check_accessibility(page)
    page.fill("#reason", "ضاع الهاتف ورموز الاسترداد؛ تم التحقق من الهوية بالهاتف")
    page.check("#confirm")
    page.click("#two-factor button[type=submit]")
    page.wait_for_selector(".message-success")

    assert shown("Off.") in page.locator("#two-factor").inner_html()
    session.expire_all()
    assert session.query(TwoFactor).filter_by(user_id=staff.id).count() == 0
