"""Progress reports: the association saves a draft and sends it (narrative, indicators,
beneficiaries, spending, files); bad figures are refused field by field with nothing written; a
stale save is a conflict; staff accept it (the action takes its progress) or ask for changes,
and owners and editors are told in their language."""

from __future__ import annotations

import hashlib
from io import BytesIO

import pytest
from flask import url_for
from sqlalchemy import select

from portal.actions import reports
from portal.actions.models import ActionStatus, ProgressReport, ReportAttachment, ReportStatus
from portal.extensions import db
from tests import factories
from tests.actions.support import (
    action_with_indicators,
    count,
    due_report,
    events,
    filled,
    messages,
)
from tests.conftest import shown

PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


@pytest.fixture
def member(login_as):
    """(client, user, action, report): the owner of an association with a report due."""
    client, user = login_as("applicant")
    association = factories.AssociationFactory(owner=user)
    action = action_with_indicators(association)
    return client, user, action, due_report(action)


def page_url(report) -> str:
    return url_for("actions.report_page", action_id=report.action_id, report_id=report.id)


def save_url(report) -> str:
    return url_for("actions.save_report", action_id=report.action_id, report_id=report.id)


def refreshed(report) -> ProgressReport:
    db.session.expire_all()
    return db.session.get(ProgressReport, report.id)


# --- writing and sending --------------------------------------------------------------------


def test_the_owner_saves_a_draft_of_every_part_of_the_report(member):
    client, _user, action, report = member
    line = action.application.budget_lines[0]

    answer = client.post(save_url(report), data={**filled(action), "save": "y"})

    assert answer.status_code == 303
    stored = refreshed(report)
    assert stored.status == ReportStatus.DUE
    assert stored.version == 2
    assert stored.progress_percent == 40
    assert stored.indicator_results == [{"index": 0, "reached": "3"}, {"index": 1, "reached": "55"}]
    assert stored.beneficiaries_reached == {"women_18_35": 35, "men_18_35": 20}
    assert stored.spending == {str(line.id): 30000}
    assert events("report.saved") == 1


def test_the_form_shows_the_application_s_indicators_groups_and_budget_lines(member):
    client, _user, action, report = member

    body = client.get(page_url(report)).get_data(as_text=True)

    assert "ورشات منظمة" in body and "مستفيدات مكوَّنات" in body
    assert shown("Target: %(target)s", target="120") in body
    assert shown("Women aged 18 to 35") in body
    assert f'name="spent_{action.application.budget_lines[0].id}"' in body


def test_sending_the_report_puts_it_before_staff(member):
    client, user, action, report = member

    answer = client.post(save_url(report), data={**filled(action), "send": "y"})

    assert answer.status_code == 303
    stored = refreshed(report)
    assert (stored.status, stored.submitted_by_id) == (ReportStatus.SUBMITTED, user.id)
    assert events("report.submitted") == 1


def test_a_report_is_not_sent_without_its_narrative_and_progress(member):
    client, _user, action, report = member

    answer = client.post(
        save_url(report),
        data={**filled(action, activities_done="", progress_percent=""), "send": "y"},
    )

    assert answer.status_code == 422
    body = answer.get_data(as_text=True)
    assert shown("Describe the activities done before sending the report.") in body
    assert shown("Give the progress before sending the report.") in body
    assert refreshed(report).status == ReportStatus.DUE


BAD_FIGURES = [
    ("progress_percent", "-10", "Enter a percentage from 0 to 100."),
    ("progress_percent", "140", "Enter a percentage from 0 to 100."),
    ("progress_percent", "forty", "Enter a percentage from 0 to 100."),
    ("beneficiaries_women_18_35", "-3", "Enter a number that is not negative."),
    (
        "beneficiaries_men_18_35",
        "vingt",
        "Enter a whole number with the digits 0 to 9, without signs.",
    ),
    (
        "beneficiaries_men_18_35",
        "2.5",
        "Enter a whole number with the digits 0 to 9, without signs.",
    ),
    ("spent", "-500", "Enter a number that is not negative."),
    ("spent", "12e3", "Enter a whole number with the digits 0 to 9, without signs."),
]


@pytest.mark.parametrize(("field", "value", "message"), BAD_FIGURES)
def test_negative_or_non_numeric_figures_are_refused_and_nothing_is_written(
    member, field, value, message
):
    client, _user, action, report = member
    if field == "spent":
        field = f"spent_{action.application.budget_lines[0].id}"

    answer = client.post(save_url(report), data={**filled(action, **{field: value}), "send": "y"})

    assert answer.status_code == 422
    body = answer.get_data(as_text=True)
    assert shown(message) in body
    assert f'id="{field}-error"' in body
    stored = refreshed(report)
    assert (stored.version, stored.status, stored.progress_percent) == (1, ReportStatus.DUE, None)
    assert stored.beneficiaries_reached == {} and stored.spending == {}
    assert events("report.saved") + events("report.submitted") == 0


def test_every_bad_figure_gets_its_own_message(member):
    client, _user, action, report = member
    line = action.application.budget_lines[0]

    answer = client.post(
        save_url(report),
        data={
            **filled(action),
            "progress_percent": "x",
            "beneficiaries_women_18_35": "-1",
            f"spent_{line.id}": "abc",
            "save": "y",
        },
    )

    body = answer.get_data(as_text=True)
    for field in ("progress_percent", "beneficiaries_women_18_35", f"spent_{line.id}"):
        assert f'id="{field}-error"' in body
    assert refreshed(report).version == 1


def test_a_stale_save_is_a_conflict_and_the_newer_content_is_kept(member, login_as):
    client, _user, action, report = member
    editor_client, editor = login_as("applicant")
    factories.add_member(action.association, editor, "editor")
    first = editor_client.post(save_url(report), data={**filled(action, progress_percent="60")})
    assert first.status_code == 303

    stale = client.post(save_url(report), data={**filled(action, progress_percent="10")})

    assert stale.status_code == 409
    assert shown(
        "Someone else saved this report after you opened it. Nothing of your changes was "
        "written: open the report again to see its current content."
    ) in stale.get_data(as_text=True)
    stored = refreshed(report)
    assert (stored.version, stored.progress_percent) == (2, 60)
    assert events("report.saved") == 1


def test_two_saves_from_the_same_version_cannot_both_pass(member):
    """CHECKLIST R05: the version is taken by a conditional update, not only compared."""
    _client, user, action, report = member
    db.session.execute(
        ProgressReport.__table__.update().where(ProgressReport.id == report.id).values(version=2)
    )
    # The session still believes version 1: the conditional update must catch it.
    with pytest.raises(reports.ReportConflict):
        reports.save_report(db.session, report, filled(action), 1, actor=user)
    db.session.rollback()


def test_submitting_a_report_already_accepted_is_refused_and_nothing_changes(member):
    client, _user, action, report = member
    report.status = ReportStatus.ACCEPTED
    report.progress_percent = 50
    db.session.commit()

    answer = client.post(save_url(report), data={**filled(action), "send": "y"})

    assert answer.status_code == 422
    assert shown("This report was accepted: it can no longer change.") in answer.get_data(
        as_text=True
    )
    stored = refreshed(report)
    assert (stored.status, stored.version, stored.progress_percent) == (
        ReportStatus.ACCEPTED,
        1,
        50,
    )
    assert events("report.submitted") == 0


def test_a_sent_report_cannot_be_changed_while_staff_read_it(member):
    client, _user, action, report = member
    client.post(save_url(report), data={**filled(action), "send": "y"})

    again = client.post(save_url(report), data={**filled(action, version="2"), "save": "y"})

    assert again.status_code == 422
    assert refreshed(report).version == 2


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_report_on_another_association_s_action_is_not_found(login_as, member, method):
    """ASVS 4.2.1 (CHECKLIST S03): 404, nothing of it shown, nothing written."""
    _client, _user, action, report = member
    report.activities_done = "نشاط سري للجمعية أ"
    db.session.commit()
    stranger, user = login_as("applicant")
    factories.AssociationFactory(owner=user)

    if method == "GET":
        answer = stranger.get(page_url(report))
    else:
        answer = stranger.post(save_url(report), data={**filled(action), "send": "y"})

    assert answer.status_code == 404
    body = answer.get_data(as_text=True)
    assert "نشاط سري" not in body and action.application.title_ar not in body
    assert refreshed(report).version == 1


def test_a_report_id_of_another_action_is_not_found_under_this_one(member):
    client, _user, action, _report = member
    foreign = due_report(factories.funded_action())

    answer = client.get(url_for("actions.report_page", action_id=action.id, report_id=foreign.id))

    assert answer.status_code == 404


def test_a_viewer_reads_the_report_but_cannot_write_it(member, login_as):
    _client, _user, action, report = member
    viewer_client, viewer = login_as("applicant")
    factories.add_member(action.association, viewer, "viewer")

    page = viewer_client.get(page_url(report))
    answer = viewer_client.post(save_url(report), data=filled(action))

    assert page.status_code == 200
    assert 'name="activities_done"' not in page.get_data(as_text=True)
    assert answer.status_code == 403
    assert refreshed(report).version == 1


# --- files ----------------------------------------------------------------------------------


def upload(client, report, content: bytes, name: str):
    return client.post(
        url_for("actions.upload_report_file", action_id=report.action_id, report_id=report.id),
        data={"file": (BytesIO(content), name)},
        content_type="multipart/form-data",
    )


def test_a_file_is_stored_by_key_with_its_sha256_and_downloaded_as_an_attachment(member):
    client, _user, _action, report = member

    answer = upload(client, report, PDF, "تقرير مرحلي.pdf")

    assert answer.status_code == 303
    attachment = db.session.scalar(select(ReportAttachment))
    assert attachment.original_name == "تقرير مرحلي.pdf"
    assert attachment.sha256 == hashlib.sha256(PDF).hexdigest()
    assert attachment.storage_key != attachment.original_name
    download = client.get(
        url_for(
            "actions.report_file",
            action_id=report.action_id,
            report_id=report.id,
            attachment_id=attachment.id,
        )
    )
    assert download.status_code == 200
    assert download.data == PDF
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["X-Content-Type-Options"] == "nosniff"


def test_a_file_that_is_not_an_accepted_type_is_refused(member):
    client, _user, _action, report = member

    answer = upload(client, report, HTML, "report.pdf")

    assert answer.status_code == 422
    assert count(ReportAttachment) == 0


def test_another_association_cannot_download_the_report_s_file(member, login_as):
    """CHECKLIST S04: a download follows its page's permission."""
    client, _user, _action, report = member
    upload(client, report, PDF, "report.pdf")
    attachment = db.session.scalar(select(ReportAttachment))
    stranger, user = login_as("applicant")
    factories.AssociationFactory(owner=user)

    answer = stranger.get(
        url_for(
            "actions.report_file",
            action_id=report.action_id,
            report_id=report.id,
            attachment_id=attachment.id,
        )
    )

    assert answer.status_code == 404
    assert answer.data != PDF


# --- staff review ---------------------------------------------------------------------------


def _sent(client, action, report, **overrides):
    client.post(save_url(report), data={**filled(action, **overrides), "send": "y"})
    return refreshed(report)


def test_staff_accept_a_report_and_the_action_takes_its_progress(member, login_as):
    client, user, action, report = member
    editor = factories.UserFactory(locale="fr")
    factories.add_member(action.association, editor, "editor")
    factories.add_member(action.association, factories.UserFactory(), "viewer")
    _sent(client, action, report)
    staff_client, _staff = login_as("staff")

    answer = staff_client.post(
        url_for("actions.accept_report", action_id=action.id, report_id=report.id)
    )

    assert answer.status_code == 303
    assert refreshed(report).status == ReportStatus.ACCEPTED
    stored_action = refreshed(report).action
    assert (stored_action.progress_percent, stored_action.status) == (40, ActionStatus.IN_PROGRESS)
    sent = messages("actions_report_accepted")
    assert sorted((m.recipient, m.locale) for m in sent) == sorted(
        [(user.email, "ar"), (editor.email, "fr")]
    )
    assert events("report.accepted") == 1


def test_accepting_the_final_report_completes_the_action(member, login_as):
    client, _user, action, _report = member
    final = due_report(
        action, final=True, due_on=_report.due_on.replace(year=_report.due_on.year + 1)
    )
    _sent(client, action, final, progress_percent="100")
    staff_client, _staff = login_as("staff")

    staff_client.post(url_for("actions.accept_report", action_id=action.id, report_id=final.id))

    stored = refreshed(final).action
    assert (stored.status, stored.progress_percent) == (ActionStatus.COMPLETED, 100)


def test_staff_ask_for_changes_with_a_comment_and_the_association_may_write_again(member, login_as):
    client, user, action, report = member
    _sent(client, action, report)
    staff_client, _staff = login_as("staff")
    url = url_for("actions.return_report", action_id=action.id, report_id=report.id)

    empty = staff_client.post(url, data={"comment": "  "})
    assert empty.status_code == 422
    assert shown("Say what the association should change.") in empty.get_data(as_text=True)
    assert refreshed(report).status == ReportStatus.SUBMITTED

    answer = staff_client.post(url, data={"comment": "أضيفوا لوائح الحضور"})

    assert answer.status_code == 303
    stored = refreshed(report)
    assert (stored.status, stored.review_comment) == (
        ReportStatus.CHANGES_REQUESTED,
        "أضيفوا لوائح الحضور",
    )
    assert [m.recipient for m in messages("actions_report_changes")] == [user.email]
    page = client.get(page_url(report)).get_data(as_text=True)
    assert "أضيفوا لوائح الحضور" in page and 'name="activities_done"' in page
    resent = client.post(
        save_url(report), data={**filled(action, version=str(stored.version)), "send": "y"}
    )
    assert resent.status_code == 303
    assert refreshed(report).status == ReportStatus.SUBMITTED


def test_only_a_sent_report_is_accepted(member, login_as):
    _client, _user, action, report = member
    staff_client, _staff = login_as("staff")

    staff_client.post(url_for("actions.accept_report", action_id=action.id, report_id=report.id))

    assert refreshed(report).status == ReportStatus.DUE
    assert refreshed(report).action.status == ActionStatus.NOT_STARTED
    assert messages("actions_report_accepted") == []


def test_the_association_cannot_accept_its_own_report(member):
    client, _user, action, report = member
    _sent(client, action, report)

    accept = client.post(url_for("actions.accept_report", action_id=action.id, report_id=report.id))
    give_back = client.post(
        url_for("actions.return_report", action_id=action.id, report_id=report.id),
        data={"comment": "x"},
    )

    assert (accept.status_code, give_back.status_code) == (403, 403)
    assert refreshed(report).status == ReportStatus.SUBMITTED
