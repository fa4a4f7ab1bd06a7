"""A newcomer's first visit, in a real browser: sign up in Arabic, confirm the address from the
e-mail, sign in, register an association, switch to French."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from portal.notifications.models import OutboxMessage
from portal.organisations.models import Association, AssociationStatus

pytestmark = pytest.mark.browser

PASSPHRASE = "كلمة سر طويلة للجمعية"


def verification_link(session, email: str) -> str:
    session.expire_all()
    message = session.scalar(
        select(OutboxMessage).where(
            OutboxMessage.recipient == email, OutboxMessage.template == "verify_email"
        )
    )
    assert message is not None, "no verification e-mail in the outbox"
    return re.search(r"https?://\S+/account/verify/\S+", message.body_text).group(0)


def test_newcomer_signs_up_verifies_registers_an_association_and_switches_language(
    page, live_server, session, check_accessibility
):
    page.goto("/")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("html").get_attribute("lang") == "ar"
    check_accessibility(page)

    page.goto("/account/sign-up")
    check_accessibility(page)
    page.fill("#full_name", "فاطمة الزهراء بنعلي")
    page.fill("#email", "fatima@example.org")
    page.fill("#password", PASSPHRASE)
    page.fill("#confirm", PASSPHRASE)
    page.click("form.stack button[type=submit]")
    # Nobody is signed in before the address is confirmed: the page says where the link went.
    expect(page.locator("main")).to_contain_text("fatima@example.org")
    expect(page.locator("form.stack")).to_have_count(0)
    check_accessibility(page)

    page.goto(verification_link(session, "fatima@example.org"))
    page.wait_for_url("**/account/sign-in")
    assert page.locator(".message-success").is_visible()
    assert page.input_value("#email") == "fatima@example.org"
    page.fill("#password", PASSPHRASE)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/account")
    assert page.locator(".message-warning").count() == 0
    check_accessibility(page)

    page.click("a[href='/associations/new']")
    check_accessibility(page)
    page.fill("#name_ar", "جمعية النور للتنمية وحقوق الإنسان")
    page.fill("#name_fr", "Association Annour pour le développement et les droits de l'Homme")
    page.fill("#registration_number", "FM-2016-0321")
    page.fill("#founded_on", "2016-05-20")
    page.select_option("#region", "fes-meknes")
    page.fill("#city", "فاس")
    page.fill("#email", "annour@example.org")
    page.check("input[name=fields_of_work][value=womens-rights]")
    page.check("input[name=target_groups][value=women]")
    page.click("form.stack > button[type=submit]")
    page.wait_for_url(re.compile(r".*/associations/\d+$"))
    assert "جمعية النور للتنمية وحقوق الإنسان" in page.locator("h1").inner_text()
    check_accessibility(page)

    session.expire_all()
    association = session.scalar(select(Association))
    assert association.status == AssociationStatus.PENDING
    assert association.region.code == "fes-meknes"

    page.click(".language-switch button")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("dir") == "ltr"
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Association Annour" in page.locator("h1").inner_text()
    check_accessibility(page)


def test_htmx_navigation_stores_nothing_in_local_storage(page, live_server, login_as, session):
    """S22: pages hold personal data, so htmx keeps no history snapshot in localStorage."""
    from tests.conftest import sign_in_browser

    _client, user = login_as("staff", "admin")
    sign_in_browser(page, user)
    page.goto("/staff/associations")
    page.fill("input[type=search]", "x")
    page.wait_for_url("**q=x**")
    page.goto("/admin/users")
    page.fill("#q", "user")
    page.wait_for_url("**q=user**")
    assert page.locator("#user-rows tbody tr").count() >= 1
    # htmx saves a snapshot of the page it leaves at each pushed URL; none may reach storage.
    assert page.evaluate("Object.keys(window.localStorage)") == []
