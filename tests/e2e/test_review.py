"""Three evaluators declare conflicts and score an application in a real browser (one of them
without JavaScript); staff see the aggregate, the disagreement, record a consensus and export."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from portal.extensions import db
from portal.review.models import ConflictDeclaration, Review, ReviewStatus, Screening
from portal.review.models import ScreeningDecision as Decision
from tests import factories
from tests.conftest import assert_fits_the_screen, sign_in_browser

pytestmark = pytest.mark.browser


@pytest.fixture
def review_world(session):
    """A closed call with two eligible applications; three evaluators who have not declared
    their conflicts yet, each assigned to the first application."""
    call = factories.closed_call()
    scored = factories.submitted_application(call, title_ar="نوادي الحقوق في الإعداديات")
    other = factories.submitted_application(call, title_ar="قافلة الحقوق في العالم القروي")
    for application in (scored, other):
        session.add(
            Screening(application_id=application.id, call_id=call.id, decision=Decision.ELIGIBLE)
        )
    evaluators = [factories.evaluator(call, declared=False, locale="ar") for _ in range(3)]
    for evaluator in evaluators:
        factories.assign(scored, evaluator)
    staff = factories.UserFactory(roles=("staff",), locale="fr")
    session.commit()
    return call, scored, other, evaluators, staff


def declare_conflicts(page, conflicted_with=None) -> None:
    """Go through the list of applications from the dashboard, declaring at most one conflict."""
    page.goto("/reviews")
    page.click("a[href*='/conflicts']")
    if conflicted_with is not None:
        page.check(f"#conflict-{conflicted_with.id}")
        page.fill(f"#reason-{conflicted_with.id}", "أنا عضو سابق في مكتب هذه الجمعية")
    page.check("input[name=confirm]")
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/reviews")


def score_with_javascript(page, review_id: int, criteria, values) -> None:
    """Type each score and see its inline save, then submit."""
    page.click(f"a[href$='/reviews/{review_id}']")
    for criterion, value in zip(criteria, values, strict=True):
        page.fill(f"#criterion-{criterion.id}-value", str(value))
        page.fill(f"#criterion-{criterion.id}-comment", "تعليق على المعيار")
        page.press(f"#criterion-{criterion.id}-comment", "Tab")
        page.wait_for_selector(f"#criterion-{criterion.id}-status .saved")
    assert_fits_the_screen(page)
    page.click("#submit button[type=submit]")
    page.wait_for_selector(f"#criterion-{criteria[0].id}-value[readonly]")


def score_without_javascript(page, review_id: int, criteria, values) -> None:
    """Each criterion's own save button posts the form and comes back to the page."""
    page.goto(f"/reviews/{review_id}")
    for criterion, value in zip(criteria, values, strict=True):
        page.fill(f"#criterion-{criterion.id}-value", str(value))
        page.click(f"#criterion-{criterion.id} button[type=submit]")
        page.wait_for_selector(f"#criterion-{criterion.id}-status .saved")
    page.click("#submit button[type=submit]")
    page.wait_for_selector(f"#criterion-{criteria[0].id}-value[readonly]")


def test_three_evaluators_score_and_staff_moderate_and_export(
    browser, page, live_server, review_world, check_accessibility
):
    call, scored, other, evaluators, staff = review_world
    criteria = call.criteria
    reviews = {
        review.evaluator_id: review.id
        for review in db.session.scalars(select(Review).where(Review.application_id == scored.id))
    }

    first, second, third = evaluators
    sign_in_browser(page, first)
    declare_conflicts(page, conflicted_with=other)
    check_accessibility(page)
    score_with_javascript(page, reviews[first.id], criteria, [9, 9])
    check_accessibility(page)

    second_context = browser.new_context(base_url=live_server.url)
    second_page = second_context.new_page()
    sign_in_browser(second_page, second)
    declare_conflicts(second_page)
    score_with_javascript(second_page, reviews[second.id], criteria, [8, 9])
    second_context.close()

    third_context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    third_page = third_context.new_page()
    sign_in_browser(third_page, third)
    declare_conflicts(third_page)
    score_without_javascript(third_page, reviews[third.id], criteria, [3, 4])
    third_context.close()

    db.session.expire_all()
    statuses = db.session.scalars(select(Review.status).where(Review.application_id == scored.id))
    assert set(statuses) == {ReviewStatus.SUBMITTED}
    conflict = db.session.scalar(select(ConflictDeclaration))
    assert (conflict.evaluator_id, conflict.application_id) == (first.id, other.id)

    staff_context = browser.new_context(
        base_url=live_server.url, accept_downloads=True, viewport={"width": 390, "height": 844}
    )
    staff_page = staff_context.new_page()
    sign_in_browser(staff_page, staff)
    staff_page.goto(f"/staff/calls/{call.id}/ranking")
    row = staff_page.locator("tr", has_text=scored.title_fr)
    # (90 + 84 + 34) / 3 = 69.33: weights 60/40, maxima 10.
    assert "69.3" in row.inner_text()
    assert row.locator(".status-rejected").count() == 1  # the disagreement flag
    assert_fits_the_screen(staff_page)
    check_accessibility(staff_page)

    row.locator("a[href*='/moderation']").click()
    staff_page.fill("#score", "80")
    staff_page.fill("#justification", "Après discussion, le troisième avis a mal lu le budget.")
    staff_page.click("#consensus button[type=submit]")
    staff_page.wait_for_selector("#consensus p:has-text('80.00')")

    staff_page.goto(f"/staff/calls/{call.id}/ranking")
    with staff_page.expect_download() as export:
        staff_page.click("a[href*='ranking.csv']")
    content = Path(export.value.path()).read_text(encoding="utf-8-sig")
    assert scored.title_ar in content and "80" in content
    staff_context.close()


def test_a_score_typed_before_the_scripts_arrive_is_saved_once_they_do(page, review_world):
    """On a slow phone the evaluator types while htmx is still downloading; nothing is lost."""
    call, scored, _other, evaluators, _staff = review_world
    evaluator = evaluators[0]
    review_id = db.session.scalar(select(Review.id).where(Review.evaluator_id == evaluator.id))
    criterion = call.criteria[0]
    sign_in_browser(page, evaluator)
    declare_conflicts(page)

    held = []
    page.route("**/static/vendor/htmx-*.js", lambda route: held.append(route))
    page.goto(f"/reviews/{review_id}", wait_until="commit")
    page.fill(f"#criterion-{criterion.id}-value", "7")
    page.wait_for_function("window.htmx === undefined")
    assert held, "the script request was not held back"
    held[0].continue_()
    page.wait_for_selector(f"#criterion-{criterion.id}-status .saved")

    db.session.expire_all()
    review = db.session.get(Review, review_id)
    assert [score.value for score in review.scores] == [7]
