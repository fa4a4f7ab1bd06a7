"""axe-core over every main page of the demo, in Arabic and in French, for each role: no serious
or critical violation (WCAG 2.1 AA as axe checks it; ASVS has no accessibility chapter).

The demo (`seed-demo`) gives each page real content: an open call, a call in review, a call with
published results and funded actions, training sessions with enrolments and certificates.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select

from portal.accounts.models import User
from portal.actions.models import FundedAction
from portal.applications.models import Application
from portal.calls.models import Call
from portal.extensions import db
from portal.organisations.models import Association, AssociationStatus
from portal.results.demo import APPLICANT_ASSOCIATION
from portal.results.demo import CODE as RESULTS_CALL
from portal.review.demo import CODE as REVIEW_CALL
from portal.training.models import TrainingSession
from portal.web.i18n import LOCALE_COOKIE
from tests.conftest import sign_in

pytestmark = pytest.mark.browser

APPLICANT = "applicant@demo.shiraka.ma"
EVALUATOR = "evaluator@demo.shiraka.ma"
STAFF = "staff@demo.shiraka.ma"
ADMIN = "admin@demo.shiraka.ma"


def _first(statement):
    return db.session.scalars(statement.limit(1)).first()


def _demo_pages() -> dict[str | None, list[str]]:
    """The main pages of each role, by who reads them (None: a visitor)."""
    open_call = _first(select(Call).where(Call.code == "AAP-2026"))
    review_call = _first(select(Call).where(Call.code == REVIEW_CALL))
    results_call = _first(select(Call).where(Call.code == RESULTS_CALL))
    association = _first(
        select(Association).where(Association.registration_number == APPLICANT_ASSOCIATION)
    )
    pending = _first(select(Association).where(Association.status == AssociationStatus.PENDING))
    draft = _first(
        select(Application)
        .where(Application.association_id == association.id)
        .order_by(Application.id.desc())
    )
    in_review = _first(select(Application).where(Application.call_id == review_call.id))
    action = _first(select(FundedAction).where(FundedAction.association_id == association.id))
    session = _first(select(TrainingSession).order_by(TrainingSession.starts_on))
    return {
        None: [
            "/",
            "/calls",
            f"/calls/{open_call.id}",
            "/plan",
            "/plan/projects/21",
            "/results",
            f"/results/{RESULTS_CALL}",
            "/training",
            f"/training/sessions/{session.id}",
            "/certificates/verify",
            "/account/sign-in",
            "/account/sign-up",
            "/account/forgot-password",
        ],
        APPLICANT: [
            "/account",
            "/applications",
            f"/applications/{draft.id}",
            f"/applications/{draft.id}/sections/summary",
            f"/applications/{draft.id}/sections/links",
            f"/applications/{draft.id}/budget",
            f"/applications/{draft.id}/documents",
            f"/associations/{association.id}",
            f"/associations/{association.id}/members",
            f"/associations/{association.id}/actions",
            f"/actions/{action.id}",
            f"/associations/{association.id}/training",
        ],
        # The demo evaluator has not declared their conflicts yet: that page comes first.
        EVALUATOR: ["/reviews", f"/reviews/calls/{review_call.id}/conflicts"],
        STAFF: [
            "/staff/calls",
            f"/staff/calls/{review_call.id}",
            f"/staff/calls/{review_call.id}/applications",
            f"/staff/calls/{review_call.id}/screening",
            f"/staff/calls/{review_call.id}/assignments",
            f"/staff/calls/{review_call.id}/ranking",
            f"/staff/applications/{in_review.id}/moderation",
            f"/staff/calls/{results_call.id}/decisions",
            f"/staff/calls/{results_call.id}/committee",
            "/staff/actions",
            f"/staff/actions/{action.id}",
            "/staff/dashboards",
            "/staff/associations",
            f"/staff/associations/{pending.id}/verification",
            "/staff/training",
            f"/staff/training/sessions/{session.id}/enrolments",
            "/staff/training/statistics",
        ],
        ADMIN: ["/admin/users"],
    }


@pytest.fixture
def demo(app, live_server):
    result = app.test_cli_runner().invoke(args=["seed-demo"])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return _demo_pages()


def _session_cookie(app, user: User) -> dict:
    """The session cookie of `user`, signed in as a test client signs in."""
    client = sign_in(app.test_client(), user)
    name = app.config["SESSION_COOKIE_NAME"]
    return {"name": name, "value": client.get_cookie(name).value}


def _read_as(browser, live_server, user: User | None, locale: str):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    cookies = [{"name": LOCALE_COOKIE, "value": locale}]
    if user is not None:
        user.locale = locale
        db.session.commit()
        cookies.append(_session_cookie(live_server.app, user))
    context.add_cookies([{**cookie, "url": live_server.url} for cookie in cookies])
    return context


@pytest.mark.parametrize("locale", ["ar", "fr"])
def test_every_main_page_has_no_serious_accessibility_violation(
    browser, live_server, demo, check_accessibility, locale
):
    """Each role's pages, at phone width, in the page's own language and direction."""
    direction = "rtl" if locale == "ar" else "ltr"
    for email, paths in demo.items():
        user = email and db.session.scalars(select(User).where(User.email == email)).one()
        context = _read_as(browser, live_server, user, locale)
        page = context.new_page()
        try:
            for path in paths:
                response = page.goto(path)
                assert response.status < 400, (email, path, response.status)
                assert page.url.endswith(path), (email, path, page.url)
                assert page.locator("html").get_attribute("lang") == locale, (email, path)
                assert page.locator("html").get_attribute("dir") == direction, (email, path)
                check_accessibility(page)
        finally:
            context.close()
