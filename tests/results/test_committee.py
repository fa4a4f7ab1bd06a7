"""The committee: its sitting and minutes, submission for approval, four-eyes approval (in the
service and in the database), return to a draft, every step audited."""

# ruff: noqa: F811 — the fixtures imported from decision_support are used as arguments
from __future__ import annotations

import io
from datetime import date

import pytest
from flask import url_for
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from portal.extensions import db
from portal.results import decisions
from portal.results.models import Committee, CommitteeStatus
from portal.storage import file_store
from tests import factories
from tests.conftest import shown
from tests.results.decision_support import (  # noqa: F401 — fixtures
    PDF,
    call,
    events,
    other_staff,
    reviewed,
    staff,
    written,
)


def ready_committee(call, **overrides):
    """A draft committee with its date and minutes, every reviewed application decided."""
    application = reviewed(call, 8)
    stored = file_store().save(io.BytesIO(PDF))
    values = {
        "held_on": date(2026, 6, 1),
        "members_present": "Présidente\nRapporteur",
        "minutes_key": stored.key,
        "minutes_name": "pv.pdf",
        "minutes_type": "application/pdf",
        "minutes_size": stored.size,
        "minutes_sha256": stored.sha256,
    }
    values.update(overrides)
    sitting = factories.committee(call, **values)
    factories.decision(application, "funded", sitting=sitting)
    return sitting


def step(client, call, name: str, **data):
    return client.post(url_for(f"results.{name}", call_id=call.id), data=data)


def test_the_sitting_is_recorded_and_audited(call, staff):
    client, _ = staff

    response = client.post(
        url_for("results.save_sitting", call_id=call.id),
        data={"held_on": "2026-06-01", "members_present": "Présidente\nRapporteur"},
    )

    assert response.status_code == 303
    sitting = db.session.scalar(select(Committee))
    assert sitting.held_on == date(2026, 6, 1)
    assert sitting.members_present == "Présidente\nRapporteur"
    assert events("results.committee_updated")


def test_the_minutes_are_stored_by_key_with_their_fingerprint_and_served_as_attachment(call, staff):
    client, _ = staff

    response = client.post(
        url_for("results.upload_minutes", call_id=call.id),
        data={"minutes": (io.BytesIO(PDF), "محضر اللجنة.pdf")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 303
    sitting = db.session.scalar(select(Committee))
    assert sitting.minutes_name == "محضر اللجنة.pdf"
    assert len(sitting.minutes_sha256) == 64 and sitting.minutes_key != sitting.minutes_name
    download = client.get(url_for("results.minutes", call_id=call.id))
    assert download.status_code == 200
    assert download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert events("results.minutes_attached")


def test_minutes_that_are_not_a_pdf_are_refused_by_their_content(call, staff):
    client, _ = staff

    response = client.post(
        url_for("results.upload_minutes", call_id=call.id),
        data={"minutes": (io.BytesIO(b"<html><script>x</script></html>"), "pv.pdf")},
        content_type="multipart/form-data",
    )

    assert response.status_code == 422
    sitting = db.session.scalar(select(Committee))
    assert sitting is None or sitting.minutes_key is None


def test_submitting_needs_the_date_the_minutes_and_every_decision(call, staff):
    client, _ = staff
    sitting = ready_committee(call, held_on=None)
    reviewed(call, 7)  # reviewed, no decision

    no_date = step(client, call, "submit_committee")
    sitting.held_on = date(2026, 6, 1)
    db.session.commit()
    missing = step(client, call, "submit_committee")

    assert no_date.status_code == 422
    assert shown("Enter the date the committee sat first.") in no_date.get_data(as_text=True)
    assert missing.status_code == 422
    assert shown(
        "%(n)d reviewed applications have no decision yet: decide on every one first.", n=1
    ) in missing.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Committee, sitting.id).status == CommitteeStatus.DRAFT
    assert not events("results.committee_submitted")


def test_submitting_without_minutes_is_refused(call, staff):
    client, _ = staff
    sitting = ready_committee(call, minutes_key=None)

    response = step(client, call, "submit_committee")

    assert response.status_code == 422
    assert shown("Upload the minutes of the sitting first.") in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Committee, sitting.id).status == CommitteeStatus.DRAFT


def test_a_ready_committee_is_submitted_then_approved_by_another_staff_member(
    call, staff, other_staff
):
    (author, author_user), (approver, approver_user) = staff, other_staff
    sitting = ready_committee(call)

    submitted = step(author, call, "submit_committee")
    approved = step(approver, call, "approve_committee")

    assert submitted.status_code == approved.status_code == 303
    db.session.expire_all()
    sitting = db.session.get(Committee, sitting.id)
    assert sitting.status == CommitteeStatus.APPROVED
    assert (sitting.submitted_by_id, sitting.approved_by_id) == (author_user.id, approver_user.id)
    assert events("results.committee_submitted") and events("results.committee_approved")


def test_approving_your_own_submission_is_refused(call, staff):
    client, _ = staff
    sitting = ready_committee(call)
    step(client, call, "submit_committee")
    before = written()

    response = step(client, call, "approve_committee")

    assert response.status_code == 422
    assert shown("You submitted these decisions: another staff member must approve them.") in (
        response.get_data(as_text=True)
    )
    db.session.expire_all()
    assert db.session.get(Committee, sitting.id).status == CommitteeStatus.SUBMITTED
    assert written() == before


def test_the_database_refuses_an_approval_by_the_submitter(call):
    user = factories.UserFactory(roles=("staff",))
    sitting = factories.committee(call, status="submitted", submitted_by_id=user.id)

    sitting.approved_by_id = user.id
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def test_approving_a_draft_is_refused(call, staff):
    client, _ = staff
    ready_committee(call)

    response = step(client, call, "approve_committee")

    assert response.status_code == 422
    assert shown("Only decisions submitted for approval can be approved.") in (
        response.get_data(as_text=True)
    )


def test_the_reviewer_returns_submitted_decisions_to_a_draft_with_a_reason(
    call, staff, other_staff
):
    (author, _), (reviewer, _) = staff, other_staff
    sitting = ready_committee(call)
    step(author, call, "submit_committee")

    own = step(author, call, "return_committee", reason="Je me corrige")
    empty = step(reviewer, call, "return_committee", reason="")
    returned = step(reviewer, call, "return_committee", reason="Montants à revoir")

    assert own.status_code == 422 and empty.status_code == 422
    assert returned.status_code == 303
    db.session.expire_all()
    sitting = db.session.get(Committee, sitting.id)
    assert sitting.status == CommitteeStatus.DRAFT and sitting.submitted_by_id is None
    (event,) = events("results.committee_returned")
    assert event.details["reason"] == "Montants à revoir"


def test_only_the_approver_returns_approved_decisions(call, staff, other_staff, login_as):
    (author, _), (approver, _) = staff, other_staff
    third, _ = login_as("staff")
    ready_committee(call)
    step(author, call, "submit_committee")
    step(approver, call, "approve_committee")

    refused = step(third, call, "return_committee", reason="Non")
    accepted = step(approver, call, "return_committee", reason="Erreur de lot")

    assert refused.status_code == 422
    assert accepted.status_code == 303


def test_changing_the_sitting_once_submitted_is_refused(call, staff):
    client, _ = staff
    sitting = ready_committee(call)
    step(client, call, "submit_committee")

    response = client.post(
        url_for("results.save_sitting", call_id=call.id),
        data={"held_on": "2026-07-01", "members_present": "Autre"},
    )

    assert response.status_code == 422
    db.session.expire_all()
    assert db.session.get(Committee, sitting.id).held_on == date(2026, 6, 1)


def test_the_committee_page_shows_its_state(call, staff):
    client, _ = staff
    ready_committee(call)

    response = client.get(url_for("results.committee", call_id=call.id))

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "pv.pdf" in page
    assert url_for("results.submit_committee", call_id=call.id) in page


def test_missing_decisions_counts_reviewed_applications_only(call):
    from portal.review.models import Screening, ScreeningDecision

    reviewed(call, 8)
    waiting = factories.submitted_application(call)
    db.session.add(
        Screening(application_id=waiting.id, call_id=call.id, decision=ScreeningDecision.ELIGIBLE)
    )
    db.session.commit()

    assert decisions.missing_decisions(db.session, call) == 1
