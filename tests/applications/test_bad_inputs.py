"""Bad inputs to an application: each is refused with a clear message in the user's language,
and nothing is half-written (no budget line, attachment, audit event, file or new version)."""

from __future__ import annotations

import json
import re
import time
import types
from io import BytesIO
from pathlib import Path

import pytest
from flask_babel import force_locale, gettext
from markupsafe import escape
from sqlalchemy import func, select

from portal.applications import services
from portal.applications.models import (
    Application,
    ApplicationStatus,
    Attachment,
    BudgetLine,
    Submission,
)
from portal.audit.models import AuditEvent
from portal.calls.models import CallStatus
from portal.notifications.models import OutboxMessage
from portal.web.formatting import format_mad
from tests import factories
from tests.applications.conftest import PDF
from tests.conftest import sign_in
from tests.security.conftest import tags_of

HTML = b"<!DOCTYPE html>\n<html><body><script>alert(document.cookie)</script></body></html>\n"
SVG = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b"<script>alert(document.cookie)</script></svg>\n"
)
MEBIBYTE = 1024 * 1024
HTMX = {"HX-Request": "true"}
NOT_A_NUMBER = "Enter a whole number of dirhams, without signs or decimals."
DESCRIPTION = "Describe the expense in at most 300 characters."
DEADLINE = "The deadline has passed; the application can no longer change."


# --- helpers --------------------------------------------------------------------------------


def translated(text: str, **variables) -> str:
    """The message as an Arabic-speaking user reads it, HTML-escaped as the page holds it."""
    with force_locale("ar"):
        return str(escape(gettext(text, **variables)))


def count(session, model, *conditions) -> int:
    return session.scalar(select(func.count()).select_from(model).where(*conditions))


def state(session, application_id: int) -> dict:
    """What a refused request must leave exactly as it was."""
    session.expire_all()
    application = session.get(Application, application_id)
    return {
        "budget_lines": count(session, BudgetLine),
        "attachments": count(session, Attachment),
        "audit_events": count(session, AuditEvent),
        "submissions": count(session, Submission),
        "outbox": count(session, OutboxMessage),
        "version": application.version,
        "status": application.status,
        "context": application.context,
        "title_ar": application.title_ar,
    }


def stored_files(app) -> list[str]:
    """Every file under UPLOAD_DIR, temporary ones included."""
    root = Path(app.config["UPLOAD_DIR"])
    return sorted(str(path.relative_to(root)) for path in root.rglob("*")) if root.exists() else []


def body(response) -> str:
    return response.get_data(as_text=True)


@pytest.fixture
def draft(session, member, call):
    """(client, user, application): an empty draft of the member's association."""
    client, user, association = member
    application = services.start_application(session, call, association, actor=user)
    session.commit()
    return client, user, application


# --- budget lines ---------------------------------------------------------------------------

GOOD_LINE = {
    "category": "activities",
    "description": "ورشات تكوينية",
    "quantity": "2",
    "unit_cost": "100000",
    "cofunding": "0",
}
BAD_LINES = [
    pytest.param({"quantity": "-1"}, NOT_A_NUMBER, {}, id="negative-quantity"),
    pytest.param({"quantity": "0"}, "Enter at least %(n)d.", {"n": 1}, id="zero-quantity"),
    pytest.param({"unit_cost": "-5"}, NOT_A_NUMBER, {}, id="negative-unit-cost"),
    pytest.param({"unit_cost": "abc"}, NOT_A_NUMBER, {}, id="letters"),
    pytest.param({"unit_cost": "12.5"}, NOT_A_NUMBER, {}, id="decimals"),
    pytest.param({"unit_cost": "1e6"}, NOT_A_NUMBER, {}, id="exponent"),
    pytest.param({"unit_cost": "²"}, NOT_A_NUMBER, {}, id="superscript-digit"),
    pytest.param({"unit_cost": ""}, NOT_A_NUMBER, {}, id="empty-unit-cost"),
    pytest.param({"unit_cost": str(10**12)}, "This amount is not realistic.", {}, id="huge"),
    pytest.param(
        {"quantity": "100000", "unit_cost": "1000000"},
        "This amount is not realistic.",
        {},
        id="huge-product",
    ),
    pytest.param(
        {"cofunding": "200001"},
        "The co-funded part cannot exceed the line's total.",
        {},
        id="cofunding-above-total",
    ),
    pytest.param({"category": "bribes"}, "Choose a category from the list.", {}, id="category"),
    pytest.param({"description": "   "}, DESCRIPTION, {}, id="empty-description"),
    pytest.param({"description": "م" * 301}, DESCRIPTION, {}, id="301-characters"),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
@pytest.mark.parametrize(("change", "message", "variables"), BAD_LINES)
def test_bad_budget_line_is_refused_with_a_message_and_nothing_written(
    draft, session, change, message, variables, htmx
):
    """Negative, non-numeric, huge or inconsistent budget values are refused (ASVS 5.1.3)."""
    client, _user, application = draft
    before = state(session, application.id)

    response = client.post(
        f"/applications/{application.id}/budget/lines",
        data={**GOOD_LINE, **change},
        headers=HTMX if htmx else {},
    )

    assert response.status_code == 422, body(response)[:2000]
    assert translated(message, **variables) in body(response)
    assert state(session, application.id) == before


def test_a_301_character_description_is_refused_but_300_are_accepted(draft, session):
    """The limit on a budget line's description is 300 characters, counted as letters."""
    client, _user, application = draft
    url = f"/applications/{application.id}/budget/lines"
    assert client.post(url, data={**GOOD_LINE, "description": "م" * 301}).status_code == 422
    assert client.post(url, data={**GOOD_LINE, "description": "م" * 300}).status_code == 303
    assert count(session, BudgetLine) == 1


def test_budget_line_beyond_the_calls_limit_is_refused(draft, session, call):
    """Too many budget lines: the call allows two, the third is refused with the number."""
    client, _user, application = draft
    call.max_budget_lines = 2
    session.commit()
    url = f"/applications/{application.id}/budget/lines"
    assert client.post(url, data=GOOD_LINE).status_code == 303
    assert client.post(url, data=GOOD_LINE).status_code == 303
    before = state(session, application.id)

    response = client.post(url, data=GOOD_LINE)

    assert response.status_code == 422
    assert translated("This call allows at most %(n)d budget lines.", n=2) in body(response)
    assert state(session, application.id) == before == {**before, "budget_lines": 2}


def test_whole_number_field_refuses_a_superscript_digit(draft, session):
    """A character that looks like a digit but is not one gives a message, not an error 500."""
    client, _user, application = draft
    before = state(session, application.id)

    response = client.post(
        f"/applications/{application.id}/fields/duration_months",
        data={"duration_months": "²", "version.duration_months": 0},
        headers=HTMX,
    )

    assert response.status_code == 422
    assert translated("Enter a whole number, without spaces or signs.") in body(response)
    assert state(session, application.id) == before


# --- amounts outside the call's limits ------------------------------------------------------


def test_amount_above_the_calls_maximum_is_flagged_and_blocks_submission(
    complete_application, session, app
):
    """The requested amount is flagged in the budget, listed as missing, and not submittable."""
    client, _user, application = complete_application
    call = application.call
    added = client.post(
        f"/applications/{application.id}/budget/lines",
        data={**GOOD_LINE, "quantity": "1", "unit_cost": "300000", "cofunding": "30000"},
        headers=HTMX,
    )
    assert added.status_code == 200
    with force_locale("ar"):
        maximum = format_mad(call.max_amount)
    flag = translated("above the call's maximum of %(max)s", max=maximum)
    assert flag in body(added)
    assert flag in body(client.get(f"/applications/{application.id}/budget"))

    completeness = client.get(f"/applications/{application.id}/completeness")
    assert translated("An amount requested within the call's limits.") in body(completeness)

    before = state(session, application.id)
    response = client.post(f"/applications/{application.id}/submit")
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/applications/{application.id}/completeness")
    assert state(session, application.id) == before
    assert before["submissions"] == 0
    assert before["status"] == ApplicationStatus.DRAFT


def test_amount_below_the_calls_minimum_is_flagged(draft, session):
    client, _user, application = draft
    response = client.post(
        f"/applications/{application.id}/budget/lines",
        data={**GOOD_LINE, "quantity": "1", "unit_cost": "1000"},
        headers=HTMX,
    )
    assert response.status_code == 200
    with force_locale("ar"):
        minimum = format_mad(application.call.min_amount)
    assert translated("below the call's minimum of %(min)s", min=minimum) in body(response)


# --- uploads --------------------------------------------------------------------------------


def upload(client, application, document, content: bytes, name: str):
    return client.post(
        f"/applications/{application.id}/documents/{document.id}",
        data={"file": (BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def wrong_type(*labels: str) -> str:
    return translated(
        "The file's content is not of an accepted type. Accepted types: %(types)s.",
        types=", ".join(labels),
    )


@pytest.mark.parametrize(
    ("content", "name", "allowed", "message"),
    [
        pytest.param(HTML, "statuts.pdf", ["pdf"], ("PDF",), id="html-named-pdf"),
        pytest.param(SVG, "logo.png", ["pdf", "png"], ("PDF", "PNG"), id="svg-named-png"),
        pytest.param(SVG, "statuts.pdf", ["pdf"], ("PDF",), id="svg-named-pdf"),
    ],
)
def test_upload_of_the_wrong_type_by_content_is_refused(
    draft, session, app, content, name, allowed, message
):
    """ASVS 12.2.1; CHECKLIST S17: the type is decided by the content, not the name."""
    client, _user, application = draft
    document = application.call.documents[0]
    document.allowed_types = allowed
    session.commit()
    before = state(session, application.id)

    response = upload(client, application, document, content, name)

    assert response.status_code == 422
    assert wrong_type(*message) in body(response)
    assert state(session, application.id) == before
    assert stored_files(app) == []


def test_upload_one_byte_over_the_documents_limit_is_refused(draft, session, app):
    """ASVS 12.1.1; CHECKLIST S17: 1 MiB + 1 byte against a 1 MB limit, under the request limit."""
    client, _user, application = draft
    document = application.call.documents[0]
    document.max_size_mb = 1
    session.commit()
    before = state(session, application.id)
    content = PDF + b"0" * (MEBIBYTE + 1 - len(PDF))

    response = upload(client, application, document, content, "statuts.pdf")

    assert response.status_code == 422
    assert translated("The file is larger than %(limit)s MB.", limit="1") in body(response)
    assert state(session, application.id) == before
    assert stored_files(app) == []


def test_upload_exactly_at_the_documents_limit_is_accepted(draft, session, app):
    client, _user, application = draft
    document = application.call.documents[0]
    document.max_size_mb = 1
    session.commit()
    content = PDF + b"0" * (MEBIBYTE - len(PDF))

    assert upload(client, application, document, content, "statuts.pdf").status_code == 303
    assert count(session, Attachment) == 1


def test_request_over_the_portals_limit_gets_the_413_page_in_arabic(draft, session, app_factory):
    """CHECKLIST S17: a body over MAX_CONTENT_LENGTH answers a clear 413 page, nothing kept."""
    _client, user, application = draft
    document = application.call.documents[0]
    before = state(session, application.id)
    small = app_factory(MAX_CONTENT_LENGTH=1000)

    with small.app_context():
        client = sign_in(small.test_client(), user)
        response = upload(client, application, document, PDF + b"0" * 2000, "statuts.pdf")
        page = body(response)
        stored = stored_files(small)
    assert response.status_code == 413
    assert translated("The file is too large") in page
    assert (
        translated("What you sent is larger than the portal accepts. Send a smaller file.") in page
    )
    assert 'dir="rtl"' in page

    assert stored == []
    assert state(session, application.id) == before


@pytest.mark.parametrize(
    ("name", "kept"),
    [
        ("../../x.pdf", "x.pdf"),
        ("/etc/../x.pdf", "x.pdf"),
        ("<img src=x onerror=alert(1)>.pdf", "img src=x onerror=alert(1).pdf"),
        ("النظام الأساسي.pdf", "النظام الأساسي.pdf"),
    ],
)
def test_file_name_is_cleaned_and_the_file_stored_under_a_random_name(
    draft, session, app, tmp_path, name, kept
):
    """CHECKLIST S17: no directory part or markup is kept; the disk name is a random key."""
    client, _user, application = draft
    document = application.call.documents[0]

    response = upload(client, application, document, PDF, name)

    assert response.status_code == 303
    attachment = session.scalar(select(Attachment))
    assert attachment.original_name == kept
    assert re.fullmatch(r"[0-9a-f]{32}", attachment.storage_key)
    assert stored_files(app) == [attachment.storage_key]
    assert not (tmp_path / "x.pdf").exists()
    assert not (tmp_path.parent / "x.pdf").exists()
    page = body(client.get(f"/applications/{application.id}/documents"))
    assert str(escape(kept)) in page
    assert "<img src=x" not in page


def test_attachment_is_downloaded_as_an_inert_attachment(draft, session):
    """CHECKLIST S15/S17: attachment, nosniff and a sandboxing CSP on the download."""
    client, _user, application = draft
    document = application.call.documents[0]
    assert upload(client, application, document, PDF, "statuts.pdf").status_code == 303
    attachment = session.scalar(select(Attachment))

    response = client.get(f"/applications/{application.id}/attachments/{attachment.id}")

    assert response.status_code == 200
    assert response.data == PDF
    assert response.headers["Content-Disposition"].startswith("attachment")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response.headers["Content-Security-Policy"]
    assert response.mimetype == "application/pdf"


# --- who may change an application ----------------------------------------------------------


CHANGES = [
    pytest.param(
        "/fields/context", {"context": "تغيير", "version.context": 0}, None, id="autosave"
    ),
    pytest.param("/sections/narrative", {"context": "تغيير"}, None, id="section-save"),
    pytest.param("/budget/lines", GOOD_LINE, None, id="budget-line"),
    pytest.param("/documents/{document}", None, "file", id="upload"),
    pytest.param("/submit", {}, None, id="submit"),
    pytest.param("/withdraw", {}, None, id="withdraw"),
]


@pytest.mark.parametrize(("path", "data", "file"), CHANGES)
def test_viewer_member_cannot_change_the_application(
    complete_application, session, login_as, app, path, data, file
):
    """ASVS 4.1.3: a viewer of the association reads the application but changes nothing."""
    _owner_client, _owner, application = complete_application
    client, viewer = login_as("applicant")
    factories.add_member(application.association, viewer, "viewer")
    files_before = stored_files(app)
    before = state(session, application.id)
    assert client.get(f"/applications/{application.id}").status_code == 200

    url = f"/applications/{application.id}" + path.format(document=application.call.documents[0].id)
    if file:
        response = client.post(
            url,
            data={"file": (BytesIO(PDF), "statuts.pdf")},
            content_type="multipart/form-data",
        )
    else:
        response = client.post(url, data=data)

    assert response.status_code == 403
    assert state(session, application.id) == before
    assert stored_files(app) == files_before


@pytest.mark.parametrize(("path", "data", "file"), CHANGES)
def test_member_of_another_association_gets_404_and_changes_nothing(
    complete_application, session, login_as, app, path, data, file
):
    """CHECKLIST S03 (ASVS 4.2.1): another association's application by id, with real data."""
    _owner_client, _owner, application = complete_application
    client, outsider = login_as("applicant")
    factories.AssociationFactory(owner=outsider)
    files_before = stored_files(app)
    before = state(session, application.id)

    url = f"/applications/{application.id}" + path.format(document=application.call.documents[0].id)
    if file:
        response = client.post(
            url,
            data={"file": (BytesIO(PDF), "statuts.pdf")},
            content_type="multipart/form-data",
        )
    else:
        response = client.post(url, data=data)

    assert response.status_code == 404
    assert application.association.name_ar not in body(response)
    assert state(session, application.id) == before
    assert stored_files(app) == files_before


# --- a call closed between loading and sending ----------------------------------------------


def test_call_closed_after_the_page_was_loaded_refuses_changes_and_keeps_the_draft(
    complete_application, session, app
):
    """R09: the page was loaded while the call was open; staff close it; then the user sends."""
    client, _user, application = complete_application
    page = client.get(f"/applications/{application.id}/sections/narrative")
    assert page.status_code == 200
    version = services.field_version(application, "context")
    assert f'name="version.context" value="{version}"' in body(page)
    application.call.status = CallStatus.CLOSED
    session.commit()
    files_before = stored_files(app)
    before = state(session, application.id)

    autosave = client.post(
        f"/applications/{application.id}/fields/context",
        data={"context": "نص جديد", "version.context": version},
        headers=HTMX,
    )
    assert autosave.status_code == 422
    assert translated(DEADLINE) in body(autosave)

    saved = client.post(
        f"/applications/{application.id}/sections/narrative",
        data={"context": "نص جديد", "version.context": version},
    )
    assert saved.status_code == 422
    assert translated(DEADLINE) in body(saved)

    uploaded = upload(client, application, application.call.documents[1], PDF, "rapport.pdf")
    assert uploaded.status_code == 422
    assert translated(DEADLINE) in body(uploaded)
    assert stored_files(app) == files_before

    line = client.post(f"/applications/{application.id}/budget/lines", data=GOOD_LINE)
    assert line.status_code == 422
    assert translated(DEADLINE) in body(line)

    submitted = client.post(f"/applications/{application.id}/submit")
    assert submitted.status_code == 409
    assert translated("The deadline has passed") in body(submitted)

    assert state(session, application.id) == before
    assert before["status"] == ApplicationStatus.DRAFT
    assert before["context"] == "سياق"


# --- extra fields ---------------------------------------------------------------------------


def test_extra_fields_posted_with_a_section_are_ignored(draft, session):
    """CHECKLIST S08 (ASVS 5.1.2): status, association_id and version cannot be set by a form."""
    client, _user, application = draft
    own_association_id = application.association_id
    other = factories.AssociationFactory(owner=factories.UserFactory())
    version = application.version

    response = client.post(
        f"/applications/{application.id}/sections/narrative",
        data={
            "context": "سياق المشروع",
            "version.context": 0,
            "status": "submitted",
            "association_id": other.id,
            "call_id": 999,
            "version": 999,
            "submitted_at": "2020-01-01T00:00:00",
            "field_versions": "{}",
        },
    )

    assert response.status_code == 303, body(response)[:2000]
    session.expire_all()
    saved = session.get(Application, application.id)
    assert saved.context == "سياق المشروع"
    assert saved.status == ApplicationStatus.DRAFT
    assert saved.association_id == own_association_id != other.id
    assert saved.call_id == application.call_id
    assert saved.version == version + 1
    assert saved.submitted_at is None
    assert count(session, Submission) == 0


# --- markup in text fields ------------------------------------------------------------------

TITLE = '<script>alert(1)</script> {{7*7}} <b hx-get="/account" hx-trigger="load">x</b>'
NARRATIVE = (
    '</textarea><script>alert(2)</script><a href="javascript:alert(3)">y</a>'
    ' {{ config }} <div hx-post="/account/sign-out" hx-trigger="load">z</div>'
)


def assert_inert(page: str, *texts: str) -> None:
    """No tag or script came from the user's text; the text itself is shown escaped."""
    for tag, attrs, text in tags_of(page):
        assert not (tag == "script" and "alert(" in text), page
        assert attrs.get("hx-get") != "/account", page
        assert attrs.get("hx-post") != "/account/sign-out", page
        assert attrs.get("href") != "javascript:alert(3)", page
    for text in texts:
        assert str(escape(text)) in page


def test_markup_and_template_syntax_in_texts_are_shown_inert(draft, session, login_as):
    """CHECKLIST S16 (ASVS 5.3.3): overview, section page, dashboard and staff list."""
    client, user, application = draft
    services.save_fields(
        session,
        application,
        {"title_ar": TITLE, "title_fr": TITLE, "context": NARRATIVE},
        {},
        actor=user,
    )
    session.commit()
    staff, _staff_user = login_as("staff")
    pages = {
        "overview": (client, f"/applications/{application.id}", (TITLE,)),
        "section": (client, f"/applications/{application.id}/sections/narrative", (NARRATIVE,)),
        "dashboard": (client, "/applications", (TITLE,)),
        "staff overview": (staff, f"/applications/{application.id}", (TITLE,)),
        "staff list": (staff, f"/staff/calls/{application.call_id}/applications", (TITLE,)),
    }
    for label, (who, url, texts) in pages.items():
        response = who.get(url)
        assert response.status_code == 200, label
        page = body(response)
        assert "{{7*7}}" in page, label
        assert "{{ config }}" in page or label != "section", label
        assert_inert(page, *texts)


# --- a long sitting -------------------------------------------------------------------------


def test_autosave_and_submit_work_with_a_token_rendered_61_minutes_earlier(
    complete_application, session, monkeypatch
):
    """CHECKLIST S10 (ASVS 3.3.2): the page's CSRF token still works after a long sitting."""
    client, _user, application = complete_application
    page = body(client.get(f"/applications/{application.id}/sections/narrative"))
    body_tag = next(attrs for tag, attrs, _text in tags_of(page) if tag == "body")
    token = json.loads(body_tag["hx-headers"])["X-CSRFToken"]
    version = services.field_version(application, "context")
    later = time.time() + 61 * 60
    monkeypatch.setattr("itsdangerous.timed.time", types.SimpleNamespace(time=lambda: later))

    saved = client.post(
        f"/applications/{application.id}/fields/context",
        data={"context": "سياق بعد ساعة", "version.context": version},
        headers={**HTMX, "X-CSRFToken": token},
        csrf=False,
    )
    assert saved.status_code == 200, body(saved)[:2000]

    submitted = client.post(
        f"/applications/{application.id}/submit", headers={"X-CSRFToken": token}, csrf=False
    )
    assert submitted.status_code == 303, body(submitted)[:2000]
    session.expire_all()
    kept = session.scalar(select(Submission))
    assert kept.content["context"] == "سياق بعد ساعة"
