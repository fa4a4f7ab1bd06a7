"""Staff screen an application in a real browser: with htmx the decision is saved in place, and
without JavaScript the same form posts and comes back to the page."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.review.models import Screening, ScreeningDecision
from tests import factories
from tests.conftest import sign_in_browser

pytestmark = pytest.mark.browser


@pytest.fixture
def screening_world(session, call):
    staff = factories.UserFactory(roles=("staff",), locale="fr", full_name="Samira Staff")
    application = factories.submitted_application(call, language="fr", title_fr="Projet vu")
    return staff, application


def _decision(application) -> ScreeningDecision:
    db.session.expire_all()
    return db.session.scalar(
        select(Screening.decision).where(Screening.application_id == application.id)
    )


def test_staff_find_an_application_ineligible_inline_and_the_owner_is_told(
    page, live_server, screening_world
):
    staff, application = screening_world
    sign_in_browser(page, staff)

    page.goto(f"/staff/calls/{application.call_id}/screening")
    page.click("text=Projet vu")
    page.check("input[name=decision][value=ineligible]")
    page.click("#screening-decision button[type=submit]")
    page.wait_for_selector("#reason_fr-error")  # refused in place: the reason is missing
    page.fill("#reason_fr", "Les statuts ne sont pas joints.")
    page.click("#screening-decision button[type=submit]")
    page.wait_for_selector("#screening-decision .saved")

    assert _decision(application) == ScreeningDecision.INELIGIBLE
    owner_mail = db.session.scalar(select(OutboxMessage.body_text))
    assert "Les statuts ne sont pas joints." in owner_mail


def test_staff_screen_without_javascript(browser, live_server, screening_world):
    staff, application = screening_world
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in_browser(page, staff)
        page.goto(f"/staff/applications/{application.id}/screening")
        page.check("input[name=decision][value=eligible]")
        page.click("#screening-decision button[type=submit]")
        page.wait_for_selector(".message-success")
        assert page.url.endswith(f"/staff/applications/{application.id}/screening")
    finally:
        context.close()

    assert _decision(application) == ScreeningDecision.ELIGIBLE
