"""Application pages: start, sections with autosave, budget, documents, completeness, submit."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from portal import exports
from portal.applications import bp, services
from portal.applications.models import Application, ApplicationStatus, BudgetLine
from portal.applications.sections import (
    CATEGORY_LABELS,
    FIELD_HINTS,
    FIELD_LABELS,
    GENDER_MARKERS,
    SECTIONS,
    section_fields,
)
from portal.auth.policy import may, require
from portal.calls.models import CallStatus
from portal.calls.services import load_call
from portal.db import utcnow
from portal.extensions import db
from portal.forms import EmptyForm, query_id, query_text
from portal.htmx import is_htmx
from portal.organisations.models import Association, MemberRole, Membership
from portal.organisations.vocabulary import TARGET_GROUPS
from portal.strategy.services import list_axes, list_regions, list_sdgs, list_un_mechanisms


def load_application(
    application_id: int, action: str = "application.view", loader=services.load_application
) -> Application:
    """Return the application if the user may do `action`; anyone else gets 404."""
    application = loader(db.session, application_id)
    if application is None:
        abort(404)
    require(current_user, "application.view", application, hide=True)
    if action != "application.view":
        require(current_user, action, application)
    return application


def _page_context(application: Application) -> dict:
    return {
        "application": application,
        "sections": SECTIONS,
        # Only a hint for the page: every save checks the deadline again on the database clock.
        "can_edit": may(current_user, "application.edit", application)
        and application.status == ApplicationStatus.DRAFT
        and utcnow() < services.effective_deadline(db.session, application),
        "summary": services.budget_summary(application),
        "missing": services.missing_items(application),
        "final": services.final_submission(application),
        "action_form": EmptyForm(),
    }


# --- start ----------------------------------------------------------------------------------


def _associations_that_may_apply() -> list[Association]:
    query = (
        select(Association)
        .join(Membership, Membership.association_id == Association.id)
        .where(
            Membership.user_id == current_user.id,
            Membership.role.in_((MemberRole.OWNER, MemberRole.EDITOR)),
        )
        .order_by(Association.name_fr)
    )
    return list(db.session.scalars(query))


@bp.route("/calls/<int:call_id>/apply", methods=["GET", "POST"])
@login_required
def start(call_id: int):
    """Start an application to a call for one of the user's associations."""
    call = load_call(db.session, call_id)
    if call is None or call.status == CallStatus.DRAFT:
        abort(404)
    associations = _associations_that_may_apply()
    if request.method == "POST":
        chosen = request.form.get("association_id", type=int)
        association = next((a for a in associations if a.id == chosen), None)
        if association is None:
            flash(_("Choose one of your associations."), "error")
        else:
            try:
                application = services.start_application(
                    db.session, call, association, actor=current_user
                )
            except services.ApplicationError as error:
                db.session.rollback()
                flash(str(error.message), "error")
            else:
                db.session.commit()
                return redirect(
                    url_for("applications.overview", application_id=application.id), 303
                )
    status = 422 if request.method == "POST" else 200
    return render_template(
        "applications/start.html", call=call, associations=associations, form=EmptyForm()
    ), status


# --- overview and dashboard -----------------------------------------------------------------


@bp.get("/applications")
@login_required
def dashboard():
    """List the applications of the user's associations."""
    association_ids = list(
        db.session.scalars(
            select(Membership.association_id).where(Membership.user_id == current_user.id)
        )
    )
    applications = services.applications_of(db.session, association_ids)
    return render_template("applications/dashboard.html", applications=applications)


@bp.get("/applications/<int:application_id>")
@login_required
def overview(application_id: int):
    """Show the application: its sections, what is missing, its submissions."""
    application = load_application(application_id)
    return render_template("applications/overview.html", **_page_context(application))


# --- sections and autosave ------------------------------------------------------------------


def _choices() -> dict:
    locale = str(get_locale())
    return {
        "regions": [(r.code, r.text_for("name", locale)) for r in list_regions(db.session)],
        "target_groups": [(code, str(label)) for code, label in TARGET_GROUPS.items()],
        "axes": [
            (a.code, f"{a.number}. {a.text_for('title', locale)}") for a in list_axes(db.session)
        ],
        "sdgs": [
            (str(s.number), f"{s.number}. {s.text_for('title', locale)}")
            for s in list_sdgs(db.session)
        ],
        "un_mechanisms": [
            (m.code, m.text_for("name", locale)) for m in list_un_mechanisms(db.session)
        ],
        "gender_marker": [(str(value), str(label)) for value, label in GENDER_MARKERS.items()],
    }


def _submitted_value(name: str):
    spec = services.FIELDS[name]
    if spec.kind in ("codes", "links"):
        return request.form.getlist(name)
    return request.form.get(name, "")


@bp.route("/applications/<int:application_id>/sections/<section>", methods=["GET", "POST"])
@login_required
def section(application_id: int, section: str):
    """Show one section as a form; saving it (without JavaScript) checks every field's version."""
    application = load_application(application_id)
    if section not in SECTIONS or section in ("budget", "documents"):
        abort(404)
    conflicts, errors = {}, {}
    if request.method == "POST":
        require(current_user, "application.edit", application)
        names = section_fields(section, application)
        changes = {name: _submitted_value(name) for name in names}
        versions = {name: request.form.get(f"version.{name}", 0, type=int) for name in names}
        try:
            services.save_fields(db.session, application, changes, versions, actor=current_user)
        except services.EditConflict as conflict:
            db.session.rollback()
            conflicts[conflict.field] = conflict
        except services.ApplicationError as error:
            db.session.rollback()
            errors[error.field] = str(error.message)
            if error.field is None:  # about the whole application (deadline passed, submitted)
                flash(str(error.message), "error")
        else:
            db.session.commit()
            flash(_("The section is saved."), "success")
            return redirect(
                url_for("applications.section", application_id=application.id, section=section), 303
            )
    status = 409 if conflicts else 422 if errors else 200
    return render_template(
        "applications/section.html",
        section=section,
        fields=section_fields(section, application),
        conflicts=conflicts,
        errors=errors,
        submitted=request.form if request.method == "POST" else {},
        choices=_choices(),
        **_page_context(application),
    ), status


@bp.post("/applications/<int:application_id>/fields/<name>")
@login_required
def autosave(application_id: int, name: str):
    """Save one field as the user types (htmx); answer with the field's save status."""
    application = load_application(
        application_id, "application.edit", loader=services.load_application_for_saving
    )
    if name not in services.FIELDS:
        abort(404)
    value = _submitted_value(name)
    version = request.form.get(f"version.{name}", 0, type=int)
    context = {"application": application, "name": name, "value": value}
    try:
        services.save_fields(
            db.session, application, {name: value}, {name: version}, actor=current_user
        )
    except services.EditConflict as conflict:
        db.session.rollback()
        return render_template("applications/_save_status.html", conflict=conflict, **context), 409
    except services.ApplicationError as error:
        db.session.rollback()
        return render_template(
            "applications/_save_status.html", error=str(error.message), **context
        ), 422
    # Rendered before the commit, which expires every object: nothing is read again. A failed
    # commit still raises, so no "saved" answer is sent for a save that did not happen.
    answer = render_template(
        "applications/_save_status.html",
        saved=True,
        version=services.field_version(application, name),
        **context,
    )
    db.session.commit()
    return answer


# --- budget ---------------------------------------------------------------------------------


def _budget_page(
    application: Application, errors: dict | None = None, status: int = 200, form=None
):
    template = "applications/_budget.html" if is_htmx() else "applications/budget.html"
    return render_template(
        template,
        errors=errors or {},
        submitted=form or {},
        categories=services.BUDGET_CATEGORIES,
        **_page_context(application),
    ), status


def _after_budget_change(application: Application):
    if is_htmx():
        return _budget_page(application)
    return redirect(url_for("applications.budget", application_id=application.id), 303)


@bp.get("/applications/<int:application_id>/budget")
@login_required
def budget(application_id: int):
    """Show the budget lines with totals computed on the server."""
    return _budget_page(load_application(application_id))


@bp.post("/applications/<int:application_id>/budget/lines")
@login_required
def add_budget_line(application_id: int):
    """Add a budget line."""
    application = load_application(application_id, "application.edit")
    try:
        services.add_budget_line(db.session, application, request.form, actor=current_user)
    except services.ApplicationError as error:
        db.session.rollback()
        return _budget_page(application, {"new": error}, 422, request.form)
    db.session.commit()
    return _after_budget_change(application)


def _line_or_404(application: Application, line_id: int) -> BudgetLine:
    line = next((line for line in application.budget_lines if line.id == line_id), None)
    if line is None:
        abort(404)
    return line


@bp.post("/applications/<int:application_id>/budget/lines/<int:line_id>")
@login_required
def update_budget_line(application_id: int, line_id: int):
    """Change a budget line (htmx refreshes the totals)."""
    application = load_application(application_id, "application.edit")
    line = _line_or_404(application, line_id)
    try:
        services.update_budget_line(db.session, application, line, request.form, actor=current_user)
    except services.ApplicationError as error:
        db.session.rollback()
        return _budget_page(application, {line_id: error}, 422, request.form)
    db.session.commit()
    return _after_budget_change(application)


@bp.post("/applications/<int:application_id>/budget/lines/<int:line_id>/remove")
@login_required
def remove_budget_line(application_id: int, line_id: int):
    """Remove a budget line."""
    application = load_application(application_id, "application.edit")
    line = _line_or_404(application, line_id)
    try:
        services.remove_budget_line(db.session, application, line, actor=current_user)
    except services.ApplicationError as error:
        db.session.rollback()
        return _budget_page(application, {line_id: error}, 422)
    db.session.commit()
    return _after_budget_change(application)


# --- completeness, submission, receipts -----------------------------------------------------


@bp.get("/applications/<int:application_id>/completeness")
@login_required
def completeness(application_id: int):
    """List everything missing before submission, each with a link to its field."""
    application = load_application(application_id)
    return render_template("applications/completeness.html", **_page_context(application))


@bp.post("/applications/<int:application_id>/submit")
@login_required
def submit(application_id: int):
    """Submit the application now; a second click gives the same receipt."""
    application = load_application(application_id, "application.edit")
    try:
        submission = services.submit_application(db.session, application, actor=current_user)
    except services.DeadlinePassed as late:
        db.session.rollback()
        return render_template(
            "applications/late.html", deadline=late.deadline, now=late.now, application=application
        ), 409
    except services.Incomplete:
        db.session.rollback()
        flash(_("The application is not complete yet. Here is what is missing."), "error")
        return redirect(url_for("applications.completeness", application_id=application.id), 303)
    except services.ApplicationError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("applications.overview", application_id=application.id), 303)
    db.session.commit()
    return redirect(
        url_for(
            "applications.receipt",
            application_id=application.id,
            submission_number=submission.number,
        ),
        303,
    )


def _state_change(application_id: int, change, done_message: str):
    application = load_application(application_id, "application.edit")
    try:
        change(db.session, application, actor=current_user)
    except services.ApplicationError as error:
        db.session.rollback()
        flash(str(error.message), "error")
    else:
        db.session.commit()
        flash(done_message, "success")
    return redirect(url_for("applications.overview", application_id=application.id), 303)


@bp.post("/applications/<int:application_id>/reopen")
@login_required
def reopen(application_id: int):
    """Reopen a submitted application to change it before the deadline."""
    return _state_change(
        application_id,
        services.reopen_application,
        _(
            "The application is open for changes. Submit it again before the deadline; until then "
            "your last submission counts."
        ),
    )


@bp.post("/applications/<int:application_id>/withdraw")
@login_required
def withdraw(application_id: int):
    """Withdraw the application."""
    return _state_change(
        application_id, services.withdraw_application, _("The application is withdrawn.")
    )


def _submission_or_404(application: Application, submission_number: int):
    submission = next((s for s in application.submissions if s.number == submission_number), None)
    if submission is None:
        abort(404)
    return submission


@bp.get("/applications/<int:application_id>/submissions/<int:submission_number>")
@login_required
def receipt(application_id: int, submission_number: int):
    """Show the receipt of one submission."""
    from portal.applications.receipts import build_receipt

    application = load_application(application_id)
    submission = _submission_or_404(application, submission_number)
    return render_template(
        "applications/receipt.html",
        receipt=build_receipt(submission),
        submission=submission,
        **_page_context(application),
    )


@bp.get("/applications/<int:application_id>/submissions/<int:submission_number>/receipt-<lang>.pdf")
@login_required
def receipt_pdf(application_id: int, submission_number: int, lang: str):
    """Download the receipt as a PDF in Arabic or French."""
    from flask import make_response

    from portal.applications.receipts import render_receipt_pdf

    if lang not in ("ar", "fr"):
        abort(404)
    application = load_application(application_id)
    submission = _submission_or_404(application, submission_number)
    response = make_response(render_receipt_pdf(submission, lang))
    response.headers["Content-Type"] = "application/pdf"
    response.headers["Content-Disposition"] = (
        f'attachment; filename="{submission.reference}-{lang}.pdf"'
    )
    return response


# --- what the application templates share ---------------------------------------------------

STATUS_LABELS = {
    ApplicationStatus.DRAFT: _l("Draft"),
    ApplicationStatus.SUBMITTED: _l("Submitted"),
    ApplicationStatus.WITHDRAWN: _l("Withdrawn"),
}


@bp.app_context_processor
def application_helpers() -> dict:
    """Give templates the labels and readers of application fields."""
    locale = str(get_locale())
    return {
        "status_label": lambda value: STATUS_LABELS[ApplicationStatus(value)],
        "field_specs": services.FIELDS,
        "field_labels": FIELD_LABELS,
        "field_hints": FIELD_HINTS,
        "category_labels": CATEGORY_LABELS,
        "gender_markers": GENDER_MARKERS,
        "field_value": services.field_value,
        "field_version": services.field_version,
        "lot_choices": lambda application: [
            (str(lot.id), lot.text_for("title", locale)) for lot in application.call.lots
        ],
        "language_choices": lambda: [("ar", "العربية"), ("fr", "Français")],
        "current_files": services.current_attachments,
    }


# --- documents ------------------------------------------------------------------------------


@bp.get("/applications/<int:application_id>/documents")
@login_required
def documents(application_id: int):
    """List the required documents with the current file of each and its history."""
    application = load_application(application_id)
    return render_template("applications/documents.html", errors={}, **_page_context(application))


@bp.post("/applications/<int:application_id>/documents/<int:document_id>")
@login_required
def upload(application_id: int, document_id: int):
    """Upload (or replace) the file of one required document."""
    from portal.applications.uploads import UploadRefused, check_upload
    from portal.storage import FileTooLarge, file_store

    application = load_application(application_id, "application.edit")
    document = next((d for d in application.call.documents if d.id == document_id), None)
    if document is None:
        abort(404)
    upload_file = request.files.get("file")
    limit = document.max_size_mb * 1024 * 1024
    store = file_store()
    stored = None
    try:
        if upload_file is None or not upload_file.filename:
            raise UploadRefused(_l("Choose a file to send."))
        checked = check_upload(
            upload_file.filename, upload_file.stream, document.allowed_types, limit
        )
        stored = store.save(upload_file.stream, max_size=limit)
        services.attach_document(
            db.session, application, document, stored, checked, actor=current_user
        )
    except (services.ApplicationError, UploadRefused) as error:
        db.session.rollback()
        if stored is not None:
            store.delete(stored.key)
        errors = {document.id: str(error.message)}
        return render_template(
            "applications/documents.html", errors=errors, **_page_context(application)
        ), 422
    except FileTooLarge:
        db.session.rollback()
        abort(413)
    db.session.commit()
    flash(_("The document is saved."), "success")
    return redirect(url_for("applications.documents", application_id=application.id), 303)


@bp.get("/applications/<int:application_id>/attachments/<int:attachment_id>")
@login_required
def download(application_id: int, attachment_id: int):
    """Send an uploaded file, as an attachment, to those who may see its application."""
    from flask import send_file

    from portal.storage import file_store

    application = load_application(application_id)
    attachment = next((a for a in application.attachments if a.id == attachment_id), None)
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


# --- staff ----------------------------------------------------------------------------------

STAFF_PAGE_SIZE = 50


def _staff_filters():
    from portal.applications.staff import ApplicationFilters

    return ApplicationFilters(
        lot_id=query_id(request.args.get("lot")),
        region_code=query_text(request.args.get("region"), 60),
        status=query_text(request.args.get("status"), 20),
        text=query_text(request.args.get("q"), 100),
    )


def _call_for_staff(call_id: int):
    from sqlalchemy.orm import selectinload

    from portal.calls.models import Call

    require(current_user, "application.list_all")
    call = db.session.scalar(
        select(Call).options(selectinload(Call.lots)).where(Call.id == call_id)
    )
    if call is None:
        abort(404)
    return call


@bp.get("/staff/calls/<int:call_id>/applications")
@login_required
def staff_list(call_id: int):
    """List a call's applications for staff: filters, search, counts, totals, pages."""
    from portal.applications import staff
    from portal.htmx import render_page_or_fragment
    from portal.pagination import paginate

    call = _call_for_staff(call_id)
    filters = _staff_filters()
    totals = staff.totals(db.session, call.id, filters)
    page = paginate(
        db.session,
        staff.staff_query(call.id, filters),
        request.args.get("page", 1, type=int),
        STAFF_PAGE_SIZE,
        total=totals["count"],
    )
    return render_page_or_fragment(
        "applications/staff_list.html",
        "applications/_staff_rows.html",
        call=call,
        page=page,
        filters=filters,
        totals=totals,
        regions=list_regions(db.session),
        statuses=STATUS_LABELS,
    )


@bp.get("/staff/calls/<int:call_id>/applications.<fmt>")
@login_required
def staff_export(call_id: int, fmt: str):
    """Export the filtered list as CSV (streamed) or XLSX, Arabic preserved."""
    from portal.applications import staff

    if fmt not in ("csv", "xlsx"):
        abort(404)
    call = _call_for_staff(call_id)
    query = staff.staff_query(call.id, _staff_filters())
    locale = str(get_locale())
    return exports.download(
        fmt,
        staff.EXPORT_COLUMNS,
        staff.export_rows(db.session, query, locale),
        name=f"{call.code}-applications",
        sheet="applications",
        right_to_left=locale == "ar",
    )


# --- activity plan and indicators -----------------------------------------------------------


def _plan_answer(application: Application, errors: dict | None = None, status: int = 200):
    if is_htmx() or errors:
        template = "applications/_plan.html" if is_htmx() else "applications/section.html"
        context = _page_context(application)
        if template.endswith("section.html"):
            context.update(
                section="narrative",
                fields=section_fields("narrative"),
                conflicts={},
                errors={},
                submitted={},
                choices=_choices(),
            )
        return render_template(template, plan_errors=errors or {}, **context), status
    return redirect(
        url_for("applications.section", application_id=application.id, section="narrative"), 303
    )


@bp.post("/applications/<int:application_id>/plan/<kind>")
@login_required
def add_plan_row(application_id: int, kind: str):
    """Add an activity with its months, or an indicator with its target."""
    if kind not in services.PLAN_KINDS:
        abort(404)
    application = load_application(application_id, "application.edit")
    try:
        services.add_plan_row(db.session, application, kind, request.form, actor=current_user)
    except services.ApplicationError as error:
        db.session.rollback()
        return _plan_answer(application, {kind: str(error.message)}, 422)
    db.session.commit()
    return _plan_answer(application)


@bp.post("/applications/<int:application_id>/plan/<kind>/<int:index>/remove")
@login_required
def remove_plan_row(application_id: int, kind: str, index: int):
    """Remove one activity or indicator."""
    if kind not in services.PLAN_KINDS:
        abort(404)
    application = load_application(application_id, "application.edit")
    try:
        services.remove_plan_row(db.session, application, kind, index, actor=current_user)
    except LookupError:
        abort(404)
    except services.ApplicationError as error:
        db.session.rollback()
        return _plan_answer(application, {kind: str(error.message)}, 422)
    db.session.commit()
    return _plan_answer(application)
