"""Keyboard-only runs of the application and scoring flows, and a JavaScript-off scoring run.

WCAG 2.1 — 2.1.1 Keyboard: every step is done with Tab, Shift+Tab, Enter, Space and typing
alone; 2.4.3 Focus Order: the focus reaches each control in the order the task needs it;
2.4.7 Focus Visible: every element the focus lands on shows where it is.
ASVS: not relevant.
"""

from __future__ import annotations

import html
import re
from urllib.parse import parse_qs

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect
from sqlalchemy import select

from portal.applications import services
from portal.applications.models import Application, ApplicationStatus
from portal.extensions import db
from portal.review.models import ConflictDeclaration, Review, ReviewStatus, Screening
from portal.review.models import ScreeningDecision as Decision
from tests import factories
from tests.applications.conftest import PDF, write_narrative
from tests.conftest import shown, sign_in_browser

pytestmark = pytest.mark.browser

# The focused element as a keyboard user meets it: its accessible name (aria-label, then
# aria-labelledby, then its labels, then its text) and whether a focus indicator is drawn.
FOCUSED = """() => {
  const el = document.activeElement;
  if (!el || el === document.body || el === document.documentElement) return null;
  const text = node => (node ? node.innerText || node.textContent || "" : "");
  let name = el.getAttribute("aria-label") || "";
  const labelledBy = el.getAttribute("aria-labelledby");
  if (!name && labelledBy) {
    name = labelledBy.split(/\\s+/).map(id => text(document.getElementById(id))).join(" ");
  }
  if (!name && el.labels && el.labels.length) name = Array.from(el.labels).map(text).join(" ");
  if (!name && !["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName)) name = text(el);
  const style = getComputedStyle(el);
  const outlined = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) > 0;
  return {
    tag: el.tagName.toLowerCase(),
    id: el.id,
    name: name.replace(/\\s+/g, " ").trim(),
    indicated: outlined || style.boxShadow !== "none",
  };
}"""


def label(element: dict | None) -> str:
    """Return how a failure names a focused element: its tag, id and accessible name."""
    if element is None:
        return "(nothing)"
    return f"<{element['tag']}{' #' + element['id'] if element['id'] else ''}> {element['name']!r}"


def tab_to(page, target, limit: int = 40, *, backwards: bool = False) -> dict:
    """Press Tab (Shift+Tab when `backwards`) until the focused element is `target`, an accessible
    name or a predicate on the element; fail with the elements visited if it is not reached.

    Every element the focus passes through must draw a focus indicator.
    """
    matches = target if callable(target) else (lambda element: element["name"] == target)
    key = "Shift+Tab" if backwards else "Tab"
    visited = []
    for _ in range(limit):
        page.keyboard.press(key)
        element = page.evaluate(FOCUSED)
        visited.append(label(element))
        if element is None:
            continue
        assert element["indicated"], f"no visible focus on {label(element)} at {page.url}"
        if matches(element):
            return element
    trail = "\n  ".join(visited)
    pytest.fail(f"{target!r} not reached with {limit} × {key} at {page.url}; visited:\n  {trail}")


def with_id(element_id: str):
    """Return a predicate for `tab_to`: the element with this id (for repeated names)."""
    return lambda element: element["id"] == element_id


def text(message: str, locale: str = "ar", **values) -> str:
    """Return `message` as the page in `locale` reads it (translated, not HTML-escaped)."""
    return html.unescape(shown(message, locale, **values))


def retype(page, value: str) -> None:
    """Replace the focused field's content with `value`, typed key by key."""
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type(value)


def choose_with_space(page):
    """Press Space on the focused file input and return the file chooser it opens.

    Headless Chromium now and then drops the chooser of a key press on a busy machine (a
    browser matter, not the page's): a person would press again, and so does this, three
    times at most."""
    for _attempt in range(3):
        try:
            with page.expect_file_chooser(timeout=5_000) as chooser:
                page.keyboard.press("Space")
            return chooser.value
        except PlaywrightTimeout:
            continue
    pytest.fail(f"Space on {label(page.evaluate(FOCUSED))} opened no file chooser")


def skip_to_content(page, locale: str = "ar") -> None:
    """Use the skip link, the first stop of every page, to jump over the header."""
    tab_to(page, text("Skip to content", locale), limit=1)
    page.keyboard.press("Enter")
    expect(page.locator("#main")).to_be_focused()


# --- the application ------------------------------------------------------------------------


@pytest.fixture
def draft(session):
    """(user, application): a draft with its narrative, plan, links and team written, but no
    summary beyond its French title, no budget and no document."""
    user = factories.UserFactory(locale="ar")
    association = factories.AssociationFactory(owner=user)
    call = factories.published_call()
    application = services.start_application(session, call, association, actor=user)
    session.commit()
    write_narrative(
        session, application, user, title_fr="Projet pour les droits des femmes en milieu rural"
    )
    session.commit()
    return user, application


def type_and_save(page, target, value: str, status: str) -> None:
    """Tab to a summary field, type the value, leave it and see it saved on its own."""
    tab_to(page, target)
    page.keyboard.type(value)
    page.keyboard.press("Tab")
    expect(page.locator(f"#{status}-status .saved")).to_be_visible()


def test_applicant_fills_the_summary_and_budget_attaches_and_submits_with_the_keyboard_alone(
    browser, live_server, draft, session, tmp_path
):
    user, application = draft
    call = application.call
    statutes = next(document for document in call.documents if document.mandatory)
    pdf_path = tmp_path / "النظام الأساسي.pdf"
    pdf_path.write_bytes(PDF)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in_browser(page, user)

    # From the account page to the draft through the menu and the dashboard.
    tab_to(page, text("My applications"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/applications")
    assert page.locator("html").get_attribute("dir") == "rtl"
    tab_to(page, application.title_fr)
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/applications/{application.id}")
    skip_to_content(page)
    tab_to(page, text("Summary"))
    page.keyboard.press("Enter")
    page.wait_for_url("**/sections/summary")

    # The summary: text fields typed, checkboxes ticked with Space, each saved as it is left.
    skip_to_content(page)
    type_and_save(page, text("Title in Arabic"), "مشروع حقوق النساء في العالم القروي", "f-title_ar")
    type_and_save(page, text("Duration (months)"), "10", "f-duration_months")
    tab_to(page, factories.region().text_for("name", "ar"))
    page.keyboard.press("Space")
    expect(page.locator("#f-regions-status .saved")).to_be_visible()
    tab_to(page, text("Women"))
    page.keyboard.press("Space")
    expect(page.locator("#f-target_groups-status .saved")).to_be_visible()
    type_and_save(page, text("Women aged 18 to 35"), "120", "f-beneficiaries-women_18_35")

    # Back up through the form to the section menu, then the budget.
    tab_to(page, text("Budget"), limit=60, backwards=True)
    page.keyboard.press("Enter")
    page.wait_for_url("**/budget")
    skip_to_content(page)

    # A line added by mistake: the focus stays on the button that added it, and once the line is
    # removed it lands on the totals, just before the form for the next line.
    tab_to(page, text("Description"))
    page.keyboard.type("تنقل")
    tab_to(page, text("Unit cost (MAD)"))
    page.keyboard.type("1000")
    tab_to(page, text("Add the line"))
    page.keyboard.press("Enter")
    expect(page.locator(".budget-line:not(.new-line)")).to_have_count(1)
    expect(page.locator("#line-new-add")).to_be_focused()
    tab_to(page, text("Remove"), limit=10, backwards=True)
    page.keyboard.press("Enter")
    expect(page.locator(".budget-line:not(.new-line)")).to_have_count(0)
    expect(page.locator(".budget-totals")).to_be_focused()

    # The line meant: the category chosen with the arrow keys, the amounts typed, Enter adds it.
    tab_to(page, text("Category"), limit=1)
    page.keyboard.press("ArrowDown")  # from "Staff costs" to "Activities"
    expect(page.locator("#line-new-category")).to_have_value("activities")
    tab_to(page, text("Description"), limit=1)
    page.keyboard.type("ورشات تكوينية")
    tab_to(page, text("Quantity"), limit=1)
    retype(page, "4")
    tab_to(page, text("Unit cost (MAD)"), limit=1)
    page.keyboard.type("25000")
    tab_to(page, text("Co-funded part (MAD)"), limit=1)
    retype(page, "12000")
    tab_to(page, text("Add the line"), limit=1)
    page.keyboard.press("Enter")
    expect(page.locator(".budget-line:not(.new-line)")).to_have_count(1)
    expect(page.locator("#line-new-description")).to_have_value("")
    expect(page.locator("#line-new-add")).to_be_focused()

    # The mandatory document: the file input opens its chooser with Space, Enter sends it.
    tab_to(page, text("Documents"), limit=60, backwards=True)
    page.keyboard.press("Enter")
    page.wait_for_url("**/documents")
    skip_to_content(page)
    tab_to(page, with_id(f"file-{statutes.id}"))
    choose_with_space(page).set_files(str(pdf_path))
    tab_to(page, text("Send"), limit=1)
    page.keyboard.press("Enter")
    expect(page.locator(f"#document-{statutes.id} a[href*='/attachments/']")).to_be_visible()

    # Overview, then submit.
    skip_to_content(page)
    tab_to(page, text("Overview"))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/applications/{application.id}")
    expect(page.locator("#progress-title + p.saved")).to_be_visible()
    skip_to_content(page)
    tab_to(page, text("Submit the application"))
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r".*/submissions/1$"))
    context.close()

    session.expire_all()
    application = session.get(Application, application.id)
    assert application.status == ApplicationStatus.SUBMITTED
    assert application.title_ar == "مشروع حقوق النساء في العالم القروي"
    assert application.duration_months == 10
    assert application.regions == ["rabat-sale-kenitra"]
    assert application.target_groups == ["women"]
    assert application.beneficiaries.get("women_18_35") == 120
    assert [
        (line.category, line.quantity, line.unit_cost, line.cofunding)
        for line in application.budget_lines
    ] == [("activities", 4, 25_000, 12_000)]
    assert [a.original_name for a in services.current_attachments(application).values()] == [
        pdf_path.name
    ]


# --- after an htmx swap ---------------------------------------------------------------------


def test_removing_a_member_with_the_keyboard_keeps_the_focus_on_the_members(
    browser, live_server, session
):
    """The "Remove" button goes with its row: the focus must land on what changed, where the
    next Tab carries on, not at the top of the page."""
    owner = factories.UserFactory(locale="ar")
    association = factories.AssociationFactory(owner=owner)
    leaving = factories.UserFactory(full_name="سلمى المغادرة")
    staying = factories.UserFactory(full_name="يوسف الباقي")
    factories.add_member(association, leaving)
    factories.add_member(association, staying)
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # "Remove … from the association?"
    sign_in_browser(page, owner)
    page.goto(f"/associations/{association.id}/members")
    skip_to_content(page)

    tab_to(page, lambda element: element["name"] == f"{text('Remove')} {leaving.full_name}")
    page.keyboard.press("Enter")

    expect(page.locator("#members table")).not_to_contain_text(leaving.full_name)
    # On the message that says what happened, inside the members, where the row was.
    expect(page.locator("#members .messages")).to_be_focused()
    landed = page.evaluate(FOCUSED)
    assert landed["indicated"], f"no visible focus on {label(landed)}"
    assert text("%(name)s is no longer a member.", name=leaving.full_name) in landed["name"]
    # The next Tab carries on inside the members, to the row that stayed.
    tab_to(page, lambda element: staying.full_name in element["name"], limit=6)
    context.close()


# --- scoring --------------------------------------------------------------------------------


@pytest.fixture
def review_world(session, request):
    """(call, scored, other, evaluator): a closed call with two eligible applications and an
    evaluator, in `request.param`'s language (Arabic unless parametrized), who has not declared
    conflicts yet and is assigned to `scored`."""
    locale = getattr(request, "param", "ar")
    call = factories.closed_call()
    scored = factories.submitted_application(call, title_ar="نوادي الحقوق في الإعداديات")
    other = factories.submitted_application(call, title_ar="قافلة الحقوق في العالم القروي")
    for application in (scored, other):
        session.add(
            Screening(application_id=application.id, call_id=call.id, decision=Decision.ELIGIBLE)
        )
    evaluator = factories.evaluator(call, declared=False, locale=locale)
    factories.assign(scored, evaluator)
    session.commit()
    return call, scored, other, evaluator


CONFIRM = "I went through the whole list and declared every conflict I have."
SCORES = {"ar": [8, 6], "fr": [7, 9]}
COMMENTS = {
    "ar": ["منهجية واضحة ومؤشرات قابلة للقياس", "الميزانية متوازنة"],
    "fr": ["Méthode claire, indicateurs mesurables", "Budget équilibré"],
}
OVERALL = {"ar": "مشروع جدي يستحق الدعم", "fr": "Un projet sérieux qui mérite d'être soutenu"}


def assert_scored(review_id: int, criteria, values, comments, overall: str) -> None:
    """The review is submitted with these scores and comments, in the criteria's order."""
    db.session.expire_all()
    review = db.session.get(Review, review_id)
    assert review.status == ReviewStatus.SUBMITTED
    assert review.submitted_at is not None
    saved = {score.criterion_id: (score.value, score.comment) for score in review.scores}
    assert saved == {
        criterion.id: (value, comment)
        for criterion, value, comment in zip(criteria, values, comments, strict=True)
    }
    assert review.overall_comment == overall


def leave_and_see_saved(page, field_name: str, value: str) -> None:
    """Tab out of a field and wait for the save that carries its value to be answered."""

    def carries_the_value(response) -> bool:
        request = response.request
        if request.method != "POST" or request.headers.get("hx-request") != "true":
            return False
        return parse_qs(request.post_data or "").get(field_name) == [value]

    with page.expect_response(carries_the_value) as answer:
        page.keyboard.press("Tab")
    assert answer.value.ok, answer.value.status


@pytest.mark.parametrize("review_world", ["ar", "fr"], indirect=True)
def test_evaluator_declares_scores_and_submits_with_the_keyboard_alone(
    browser, live_server, review_world
):
    call, scored, other, evaluator = review_world
    locale = evaluator.locale
    criteria = call.criteria
    values, comments = SCORES[locale], COMMENTS[locale]
    review_id = db.session.scalar(select(Review.id).where(Review.evaluator_id == evaluator.id))
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    sign_in_browser(page, evaluator)
    assert page.locator("html").get_attribute("dir") == ("rtl" if locale == "ar" else "ltr")

    tab_to(page, text("My reviews", locale))
    page.keyboard.press("Enter")
    page.wait_for_url("**/reviews")
    tab_to(page, text("Declare my conflicts", locale))
    page.keyboard.press("Enter")
    page.wait_for_url("**/conflicts")

    # One conflict ticked with its reason, then the whole list confirmed.
    skip_to_content(page, locale)
    tab_to(page, with_id(f"conflict-{other.id}"))
    page.keyboard.press("Space")
    tab_to(page, with_id(f"reason-{other.id}"), limit=1)
    page.keyboard.type("Ancien membre du bureau")
    tab_to(page, text(CONFIRM, locale))
    page.keyboard.press("Space")
    tab_to(page, text("Save my declaration", locale), limit=1)
    page.keyboard.press("Enter")
    page.wait_for_url("**/reviews")

    skip_to_content(page, locale)
    tab_to(page, scored.title_for(locale))
    page.keyboard.press("Enter")
    page.wait_for_url(f"**/reviews/{review_id}")
    assert page.locator("html").get_attribute("dir") == ("rtl" if locale == "ar" else "ltr")

    # Each criterion: its score, then its comment right after, saved as the comment is left.
    skip_to_content(page, locale)
    for criterion, value, comment in zip(criteria, values, comments, strict=True):
        tab_to(page, with_id(f"criterion-{criterion.id}-value"), limit=60)
        page.keyboard.type(str(value))
        tab_to(page, with_id(f"criterion-{criterion.id}-comment"), limit=1)
        page.keyboard.type(comment)
        leave_and_see_saved(page, "comment", comment)
        assert page.evaluate(FOCUSED)["name"] == text("Save this score", locale)
        expect(page.locator(f"#criterion-{criterion.id}-status .saved")).to_be_visible()
    tab_to(page, text("Overall comment (for staff)", locale))
    page.keyboard.type(OVERALL[locale])
    leave_and_see_saved(page, "overall_comment", OVERALL[locale])

    tab_to(page, text("Submit my review", locale))
    page.keyboard.press("Enter")
    expect(page.locator(f"#criterion-{criteria[0].id}-value")).to_have_attribute("readonly", "")
    context.close()

    assert_scored(review_id, criteria, values, comments, OVERALL[locale])
    conflict = db.session.scalar(select(ConflictDeclaration))
    assert (conflict.evaluator_id, conflict.application_id) == (evaluator.id, other.id)


def test_evaluator_scores_and_submits_through_plain_forms_without_javascript(
    browser, live_server, review_world
):
    call, scored, _other, evaluator = review_world
    criteria = call.criteria
    values, comments = SCORES["ar"], COMMENTS["ar"]
    review_id = db.session.scalar(select(Review.id).where(Review.evaluator_id == evaluator.id))
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    sign_in_browser(page, evaluator)

    page.get_by_role("link", name=text("My reviews")).click()
    page.get_by_role("link", name=text("Declare my conflicts")).click()
    page.get_by_label(text(CONFIRM)).check()
    page.get_by_role("button", name=text("Save my declaration")).click()
    page.wait_for_url("**/reviews")
    page.get_by_role("link", name=scored.title_ar).click()
    page.wait_for_url(f"**/reviews/{review_id}")

    # Submitting too early comes back to the page with what is missing.
    page.get_by_role("button", name=text("Submit my review")).click()
    expect(page.locator("#submit [role=alert]")).to_contain_text(criteria[0].title_ar)

    # A score above the maximum is refused on the page, with what was typed kept.
    first = page.locator(f"#criterion-{criteria[0].id}")
    first.get_by_label(text("Score from 0 to %(max)d", max=10)).fill("11")
    first.get_by_label(text("Comment")).fill(comments[0])
    first.get_by_role("button", name=text("Save this score")).click()
    expect(first.locator(".save-status .error")).to_be_visible()
    expect(first.get_by_label(text("Score from 0 to %(max)d", max=10))).to_have_value("11")
    expect(first.get_by_label(text("Comment"))).to_have_value(comments[0])

    for criterion, value, comment in zip(criteria, values, comments, strict=True):
        form = page.locator(f"#criterion-{criterion.id}")
        form.get_by_label(text("Score from 0 to %(max)d", max=10)).fill(str(value))
        form.get_by_label(text("Comment")).fill(comment)
        form.get_by_role("button", name=text("Save this score")).click()
        expect(page.locator(f"#criterion-{criterion.id}-status .saved")).to_be_visible()
    page.get_by_label(text("Overall comment (for staff)")).fill(OVERALL["ar"])
    page.get_by_role("button", name=text("Save the comments")).click()
    expect(page.locator(".message-success")).to_contain_text(text("The comments are saved."))

    page.get_by_role("button", name=text("Submit my review")).click()
    expect(page.locator(f"#criterion-{criteria[0].id}-value")).to_have_attribute("readonly", "")
    context.close()

    assert_scored(review_id, criteria, values, comments, OVERALL["ar"])
