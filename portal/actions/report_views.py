"""Progress reports' pages: the association writes, saves and sends a report with its files;
staff accept it or send it back with a comment; files are downloaded by those who may read it."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from portal.actions import bp, reports
from portal.actions.action_views import load_action_or_404
from portal.actions.forms import (
    BENEFICIARY_LABELS,
    REPORT_STATUS_LABELS,
    ReviewForm,
    report_form_class,
)
from portal.actions.services import is_overdue
from portal.applications.sections import CATEGORY_LABELS
from portal.applications.services import BENEFICIARY_GROUPS, is_whole_number
from portal.applications.uploads import UploadRefused, check_upload
from portal.auth.policy import may, require
from portal.db import utcnow
from portal.extensions import db
from portal.forms import EmptyForm
from portal.storage import FileTooLarge, file_store
from portal.timeutil import to_local


def _report_or_404(action, report_id: int):
    report = reports.load_report(db.session, action, report_id)
    if report is None:
        abort(404)
    return report


def _report_form(action, report, *, bound: bool):
    form_class = report_form_class(action, str(get_locale()))
    if bound:
        return form_class()
    return form_class(
        formdata=None, version=str(report.version), **reports.report_values(action, report)
    )


def _report_page(action, report, form=None, review_form=None, upload_error=None, status=200):
    editable = report.status in (reports.ReportStatus.DUE, reports.ReportStatus.CHANGES_REQUESTED)
    may_write = editable and may(current_user, "actions.report", action)
    if may_write and form is None:
        form = _report_form(action, report, bound=False)
    page = render_template(
        "actions/report.html",
        action=action,
        report=report,
        form=form if may_write else None,
        values=reports.report_values(action, report),
        indicators=reports.indicators(action),
        groups=BENEFICIARY_GROUPS,
        group_labels=BENEFICIARY_LABELS,
        categories=CATEGORY_LABELS,
        field_of=reports,
        statuses=REPORT_STATUS_LABELS,
        overdue=is_overdue(report, to_local(utcnow()).date()),
        may_review=report.status == reports.ReportStatus.SUBMITTED
        and may(current_user, "actions.manage"),
        review_form=review_form or ReviewForm(formdata=None),
        action_form=EmptyForm(),
        upload_error=upload_error,
        accepted_types=", ".join(kind.upper() for kind in reports.ATTACHMENT_TYPES),
        max_megabytes=reports.ATTACHMENT_MAX_BYTES // (1024 * 1024),
    )
    return page, status


@bp.get("/actions/<int:action_id>/reports/<int:report_id>")
@login_required
def report_page(action_id: int, report_id: int):
    """Show a report: the form while the association may write it, else its content."""
    action = load_action_or_404(action_id)
    return _report_page(action, _report_or_404(action, report_id))


def _version(form) -> int | None:
    text = (form.version.data or "").strip()
    return int(text) if is_whole_number(text) else None


@bp.post("/actions/<int:action_id>/reports/<int:report_id>")
@login_required
def save_report(action_id: int, report_id: int):
    """Save the report as a draft, or save and send it to staff."""
    action = load_action_or_404(action_id)
    require(current_user, "actions.report", action)
    report = _report_or_404(action, report_id)
    form = _report_form(action, report, bound=True)
    if not form.validate_on_submit():
        return _report_page(action, report, form=form, status=422)
    sending = bool(form.send.data)
    change = reports.submit_report if sending else reports.save_report
    try:
        change(db.session, report, form.data, _version(form), actor=current_user)
    except reports.ReportInvalid as error:
        db.session.rollback()
        for name, message in error.errors.items():
            getattr(form, name).errors = [*getattr(form, name).errors, str(message)]
        return _report_page(*_reload(action_id, report_id), form=form, status=422)
    except reports.ReportError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        action, report = _reload(action_id, report_id)
        return _report_page(action, report, status=409 if _is_conflict(error) else 422)
    db.session.commit()
    flash(
        _("The report is sent to staff.") if sending else _("The draft of the report is saved."),
        "success",
    )
    return redirect(url_for("actions.report_page", action_id=action_id, report_id=report_id), 303)


def _is_conflict(error) -> bool:
    return isinstance(error, reports.ReportConflict)


def _reload(action_id: int, report_id: int):
    action = load_action_or_404(action_id)
    return action, _report_or_404(action, report_id)


# --- files ----------------------------------------------------------------------------------


@bp.post("/actions/<int:action_id>/reports/<int:report_id>/files")
@login_required
def upload_report_file(action_id: int, report_id: int):
    """Attach a file to the report (checked by content and size, stored by random key)."""
    action = load_action_or_404(action_id)
    require(current_user, "actions.report", action)
    report = _report_or_404(action, report_id)
    upload_file = request.files.get("file")
    store = file_store()
    stored = None
    try:
        if upload_file is None or not upload_file.filename:
            raise UploadRefused(_l("Choose a file to send."))
        reports.ensure_editable(report)
        checked = check_upload(
            upload_file.filename,
            upload_file.stream,
            reports.ATTACHMENT_TYPES,
            reports.ATTACHMENT_MAX_BYTES,
        )
        stored = store.save(upload_file.stream, max_size=reports.ATTACHMENT_MAX_BYTES)
        reports.attach_file(db.session, report, stored, checked, actor=current_user)
    except (reports.ReportError, UploadRefused) as error:
        db.session.rollback()
        if stored is not None:
            store.delete(stored.key)
        action, report = _reload(action_id, report_id)
        return _report_page(action, report, upload_error=str(error.message), status=422)
    except FileTooLarge:
        db.session.rollback()
        abort(413)
    db.session.commit()
    flash(_("The file is attached to the report."), "success")
    return redirect(url_for("actions.report_page", action_id=action_id, report_id=report_id), 303)


@bp.get("/actions/<int:action_id>/reports/<int:report_id>/files/<int:attachment_id>")
@login_required
def report_file(action_id: int, report_id: int, attachment_id: int):
    """Send a report's file, as an attachment, to those who may read the action."""
    action = load_action_or_404(action_id)
    report = _report_or_404(action, report_id)
    attachment = next((item for item in report.attachments if item.id == attachment_id), None)
    if attachment is None:
        abort(404)
    response = send_file(
        file_store().open(attachment.storage_key),
        mimetype=attachment.content_type,
        as_attachment=True,
        download_name=attachment.original_name,
        max_age=0,
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# --- staff review ---------------------------------------------------------------------------


@bp.post("/staff/actions/<int:action_id>/reports/<int:report_id>/accept")
@login_required
def accept_report(action_id: int, report_id: int):
    """Accept a sent report; the action takes its progress."""
    require(current_user, "actions.manage")
    action = load_action_or_404(action_id, "actions.manage")
    report = _report_or_404(action, report_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        reports.accept_report(db.session, report, actor=current_user)
    except reports.ReportError as error:
        db.session.rollback()
        flash(str(error.message), "error")
    else:
        db.session.commit()
        flash(_("The report is accepted and the association was told."), "success")
    return redirect(url_for("actions.report_page", action_id=action_id, report_id=report_id), 303)


@bp.post("/staff/actions/<int:action_id>/reports/<int:report_id>/return")
@login_required
def return_report(action_id: int, report_id: int):
    """Send a report back to the association with what to change."""
    require(current_user, "actions.manage")
    action = load_action_or_404(action_id, "actions.manage")
    report = _report_or_404(action, report_id)
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            reports.request_changes(db.session, report, form.comment.data, actor=current_user)
        except reports.ReportError as error:
            db.session.rollback()
            if error.field == "comment":
                form.comment.errors = [*form.comment.errors, str(error.message)]
            else:
                flash(str(error.message), "error")
        else:
            db.session.commit()
            flash(_("The report is sent back and the association was told."), "success")
            return redirect(
                url_for("actions.report_page", action_id=action_id, report_id=report_id), 303
            )
    action, report = _reload(action_id, report_id)
    return _report_page(action, report, review_form=form, status=422)
