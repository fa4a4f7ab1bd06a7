"""The training programme in a real browser: an association's member enrols two participants in a
nearly full session (the second is waitlisted), cancels the first (the second is promoted and
told by e-mail); staff mark on the roster the attendance of a session that has just ended and
issue certificates; a certificate's PDF is downloaded and its code checked by its page."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.training.models import Certificate, Enrolment, EnrolmentStatus
from tests import factories
from tests.conftest import assert_fits_the_screen, shown, sign_in_browser

pytestmark = pytest.mark.browser


@pytest.fixture
def training_world(session):
    """A member of a verified association; a session with one seat left (another association
    holds the other); a three-day session that ended yesterday, with two of the
    member's participants enrolled; and a staff member."""
    member = factories.UserFactory(roles=("applicant",), locale="ar")
    association = factories.AssociationFactory(owner=member)
    other = factories.AssociationFactory(owner=factories.UserFactory(roles=("applicant",)))
    nearly_full = factories.training_session(capacity=2, seats_taken=1)
    factories.training_enrolment(nearly_full, other)
    today = utcnow().date()
    running = factories.training_session(
        starts_on=today - timedelta(days=3),
        ends_on=today - timedelta(days=1),
        enrolment_opens_at=utcnow() - timedelta(days=30),
        enrolment_closes_at=utcnow() - timedelta(days=5),
        seats_taken=2,
    )
    attended = factories.training_enrolment(running, association, full_name="سلمى بناني")
    absent = factories.training_enrolment(running, association, full_name="Omar Tazi")
    staff = factories.UserFactory(roles=("staff",), locale="fr")
    session.commit()
    return member, association, nearly_full, running, attended, absent, staff


def enrol(page, training, full_name: str, email: str) -> None:
    """Fill the enrolment form of `training` and send it."""
    page.goto(f"/training/sessions/{training.id}/enrol")
    page.fill("#full_name", full_name)
    page.check("input[name=sex][value=female]")
    page.fill("#role", "منسقة المشاريع")
    page.fill("#email", email)
    page.click("form.stack button[type=submit]")
    page.wait_for_url("**/training")


def status_of(email: str) -> EnrolmentStatus:
    db.session.expire_all()
    return db.session.scalar(select(Enrolment.status).where(Enrolment.email == email))


def test_member_enrols_is_waitlisted_and_promoted_then_staff_certify_and_anyone_verifies(
    browser, page, live_server, training_world, check_accessibility, tmp_path
):
    member, association, nearly_full, running, attended, absent, staff = training_world

    sign_in_browser(page, member)
    enrol(page, nearly_full, "هند العلمي", "hind@example.org")
    enrol(page, nearly_full, "Youssef Amrani", "youssef@example.org")
    assert status_of("hind@example.org") is EnrolmentStatus.CONFIRMED
    assert status_of("youssef@example.org") is EnrolmentStatus.WAITLISTED
    assert_fits_the_screen(page)
    check_accessibility(page)

    first = db.session.scalar(select(Enrolment.id).where(Enrolment.email == "hind@example.org"))
    page.once("dialog", lambda dialog: dialog.accept())
    page.click(f"#enrolment-{first} button[type=submit]")
    page.wait_for_selector(f"#enrolment-{first} .status-withdrawn")
    assert status_of("hind@example.org") is EnrolmentStatus.CANCELLED
    assert status_of("youssef@example.org") is EnrolmentStatus.CONFIRMED
    mailed = db.session.scalars(
        select(OutboxMessage.template).where(OutboxMessage.recipient == "youssef@example.org")
    ).all()
    assert "training_promoted" in mailed

    staff_context = browser.new_context(
        base_url=live_server.url, accept_downloads=True, viewport={"width": 1280, "height": 900}
    )
    staff_page = staff_context.new_page()
    sign_in_browser(staff_page, staff)
    staff_page.goto(f"/staff/training/sessions/{running.id}/roster")
    for day in (running.starts_on + timedelta(days=offset) for offset in range(3)):
        box = f"#present-{attended.id}-{day.isoformat()}"
        # One box at a time: each answer replaces the participant's whole row.
        with staff_page.expect_response(lambda answer: "/attendance" in answer.url):
            staff_page.check(box)
        staff_page.wait_for_selector(f"{box}:checked")
    staff_page.wait_for_load_state("networkidle")
    check_accessibility(staff_page)
    staff_page.click(f"form[action$='/sessions/{running.id}/certificates'] button")
    staff_page.wait_for_selector(f"#attendance-row-{attended.id} a[href$='.pdf']")

    db.session.expire_all()
    certificate = db.session.scalar(select(Certificate))
    assert certificate.enrolment_id == attended.id  # the absent participant gets none
    with staff_page.expect_download() as download:
        staff_page.click(f"#attendance-row-{attended.id} a[href$='.pdf']")
    pdf = tmp_path / "certificate.pdf"
    download.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF-")
    staff_context.close()

    visitor = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    visitor_page = visitor.new_page()
    visitor_page.goto(f"/certificates/{certificate.code}")
    body = visitor_page.content()
    assert "سلمى بناني" in body
    assert shown("This certificate is valid.") in body  # a visitor's first page is in Arabic
    assert_fits_the_screen(visitor_page)
    check_accessibility(visitor_page)
    visitor.close()
