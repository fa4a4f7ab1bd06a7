"""Staff pages of the decisions: the ranking with the funding proposal and one decision per
application, the committee (sitting, minutes, four-eyes approval), withdrawal of an award."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from sqlalchemy import select

from portal.accounts.models import User
from portal.applications.models import Application
from portal.auth.policy import require
from portal.calls.models import Call
from portal.calls.services import load_call_with_criteria
from portal.extensions import db
from portal.forms import EmptyForm, show_refusal
from portal.htmx import is_htmx
from portal.results import bp, decisions
from portal.results.forms import (
    GENDER_MARKER_LABELS,
    OUTCOME_LABELS,
    WITHDRAWAL_LABELS,
    ReasonForm,
    SittingForm,
    WithdrawalForm,
    decision_form_class,
    decision_values,
)
from portal.results.models import Decision
from portal.rules import RuleRefused
from portal.strategy.models import FundingPartner

MINUTES_MAX_BYTES = 20 * 1024 * 1024


# --- loading --------------------------------------------------------------------------------


def _locale() -> str:
    return str(get_locale())


def load_call(call_id: int) -> Call:
    """Return the call with its lots and criteria for staff who decide; else 403/404."""
    require(current_user, "results.decide")
    call = load_call_with_criteria(db.session, call_id)
    if call is None:
        abort(404)
    return call


def _partners() -> list[FundingPartner]:
    return list(db.session.scalars(select(FundingPartner).order_by(FundingPartner.code)))


@bp.app_context_processor
def decision_labels() -> dict:
    """Give templates the labels of outcomes, gender markers and withdrawals."""
    return {
        "outcome_labels": OUTCOME_LABELS,
        "gender_marker_labels": GENDER_MARKER_LABELS,
        "withdrawal_labels": WITHDRAWAL_LABELS,
    }


# --- the decisions page ---------------------------------------------------------------------


def _forms(board, partners, bound=None) -> dict:
    """One form per ranked application: its stored decision, or what was just sent."""
    form_class = decision_form_class(partners, _locale())
    forms = {}
    for lot in board.lots:
        for row in lot.rows:
            application_id = row.item.application_id
            if bound is not None and bound[0] == application_id:
                forms[application_id] = bound[1]
                continue
            forms[application_id] = form_class(
                formdata=None,
                prefix=f"a{application_id}",
                data=decision_values(row.decision, row.gender_marker),
            )
    return forms


def _board_context(call: Call, bound=None) -> dict:
    board = decisions.decision_board(db.session, call)
    partners = _partners()
    return {
        "call": call,
        "board": board,
        "partners": partners,
        "forms": _forms(board, partners, bound),
        "button_form": EmptyForm(),
    }


@bp.get("/staff/calls/<int:call_id>/decisions")
@login_required
def decisions_page(call_id: int):
    """Show the ranking per lot with the funding proposal, the decisions and the envelopes."""
    call = load_call(call_id)
    return render_template("results/decisions.html", **_board_context(call))


def _row_of(board, application_id: int):
    for lot in board.lots:
        for row in lot.rows:
            if row.item.application_id == application_id:
                return lot, row
    abort(404)
    return None


def _show_on_card(form, refusal) -> None:
    """Show a refusal beside its field, or at the top of the card (never only as a flash:
    htmx swaps the card alone)."""
    field = getattr(form, refusal.field, None) if refusal.field else None
    if field is not None:
        field.errors = [*field.errors, str(refusal.message)]
    else:
        form.form_errors.append(str(refusal.message))


@bp.post("/staff/calls/<int:call_id>/decisions/<int:application_id>")
@login_required
def record_decision(call_id: int, application_id: int):
    """Record or change the decision on one application (htmx: the card and the totals)."""
    call = load_call(call_id)
    application = db.session.get(Application, application_id)
    if application is None or application.call_id != call.id:
        abort(404)
    partners = _partners()
    form = decision_form_class(partners, _locale())(prefix=f"a{application_id}")
    status = 200
    if form.validate_on_submit():
        try:
            decisions.record_decision(
                db.session, call, application, form.data_for_service(partners), actor=current_user
            )
        except RuleRefused as refusal:
            db.session.rollback()
            _show_on_card(form, refusal)
            status = 422
        else:
            db.session.commit()
            if not is_htmx():
                flash(_("The decision is recorded."), "success")
                return redirect(
                    url_for(
                        "results.decisions_page",
                        call_id=call.id,
                        _anchor=f"decision-{application_id}",
                    ),
                    303,
                )
    else:
        status = 422
    bound = (application_id, form) if status == 422 else None
    context = _board_context(call, bound)
    if not is_htmx():
        return render_template("results/decisions.html", **context), status
    lot, row = _row_of(context["board"], application_id)
    return render_template(
        "results/_decision_answer.html",
        lot=lot,
        row=row,
        saved=status == 200,
        **context,
    ), status


@bp.post("/staff/calls/<int:call_id>/decisions/proposal")
@login_required
def apply_proposal(call_id: int):
    """Record the funding proposal for every reviewed application still without a decision."""
    call = load_call(call_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        recorded, skipped = decisions.apply_proposal(db.session, call, actor=current_user)
    except RuleRefused as refusal:
        db.session.rollback()
        flash(str(refusal.message), "error")
    else:
        db.session.commit()
        flash(_("%(n)d decisions recorded from the proposal.", n=recorded), "success")
        if skipped:
            flash(
                _(
                    "%(n)d proposed awards no longer fit the envelope and were left undecided.",
                    n=skipped,
                ),
                "warning",
            )
    return redirect(url_for("results.decisions_page", call_id=call.id), 303)


# --- the committee --------------------------------------------------------------------------


def _committee_page(call: Call, *, sitting_form=None, reason_form=None, status: int = 200):
    committee = decisions.committee_of(db.session, call)
    people = {}
    if committee is not None:
        ids = {committee.submitted_by_id, committee.approved_by_id} - {None}
        if ids:
            people = {
                user.id: user for user in db.session.scalars(select(User).where(User.id.in_(ids)))
            }
    if sitting_form is None:
        sitting_form = SittingForm(
            formdata=None,
            data={
                "held_on": committee.held_on if committee else None,
                "members_present": committee.members_present if committee else "",
            },
        )
    page = render_template(
        "results/committee.html",
        call=call,
        committee=committee,
        people=people,
        missing=decisions.missing_decisions(db.session, call),
        sitting_form=sitting_form,
        reason_form=reason_form or ReasonForm(formdata=None),
        button_form=EmptyForm(),
        max_megabytes=MINUTES_MAX_BYTES // (1024 * 1024),
    )
    return page, status


@bp.get("/staff/calls/<int:call_id>/committee")
@login_required
def committee(call_id: int):
    """Show the committee's sitting, its minutes and where its approval stands."""
    return _committee_page(load_call(call_id))


@bp.post("/staff/calls/<int:call_id>/committee")
@login_required
def save_sitting(call_id: int):
    """Record the date of the sitting and the members present."""
    call = load_call(call_id)
    form = SittingForm()
    if form.validate_on_submit():
        try:
            sitting = decisions.ensure_committee(db.session, call, actor=current_user)
            decisions.update_sitting(
                db.session,
                sitting,
                held_on=form.held_on.data,
                members_present=form.members_present.data,
                actor=current_user,
            )
        except RuleRefused as refusal:
            db.session.rollback()
            show_refusal(form, refusal)
        else:
            db.session.commit()
            flash(_("The sitting is saved."), "success")
            return redirect(url_for("results.committee", call_id=call.id), 303)
    return _committee_page(call, sitting_form=form, status=422)


@bp.post("/staff/calls/<int:call_id>/committee/minutes")
@login_required
def upload_minutes(call_id: int):
    """Upload the minutes of the sitting (PDF)."""
    from portal.applications.uploads import UploadRefused, check_upload
    from portal.storage import FileTooLarge, file_store

    call = load_call(call_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    upload = request.files.get("minutes")
    store = file_store()
    stored = None
    try:
        if upload is None or not upload.filename:
            raise UploadRefused(_l("Choose a file to send."))
        checked = check_upload(upload.filename, upload.stream, ["pdf"], MINUTES_MAX_BYTES)
        sitting = decisions.ensure_committee(db.session, call, actor=current_user)
        stored = store.save(upload.stream, max_size=MINUTES_MAX_BYTES)
        decisions.attach_minutes(db.session, sitting, stored, checked, actor=current_user)
    except RuleRefused as refusal:
        db.session.rollback()
        if stored is not None:
            store.delete(stored.key)
        flash(str(refusal.message), "error")
        return _committee_page(call, status=422)
    except FileTooLarge:
        db.session.rollback()
        abort(413)
    db.session.commit()
    flash(_("The minutes are saved."), "success")
    return redirect(url_for("results.committee", call_id=call.id), 303)


@bp.get("/staff/calls/<int:call_id>/committee/minutes")
@login_required
def minutes(call_id: int):
    """Send the minutes of the sitting, as an attachment, to staff."""
    from portal.storage import file_store

    call = load_call(call_id)
    sitting = decisions.committee_of(db.session, call)
    if sitting is None or not sitting.minutes_key:
        abort(404)
    response = send_file(
        file_store().open(sitting.minutes_key),
        mimetype=sitting.minutes_type,
        as_attachment=True,
        download_name=sitting.minutes_name,
        max_age=0,
    )
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


def _committee_step(call_id: int, step, done_message: str):
    call = load_call(call_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    sitting = decisions.committee_of(db.session, call)
    if sitting is None:
        flash(_("Record the decisions and the sitting first."), "error")
        return _committee_page(call, status=422)
    try:
        step(db.session, sitting, actor=current_user)
    except RuleRefused as refusal:
        db.session.rollback()
        flash(str(refusal.message), "error")
        return _committee_page(call, status=422)
    db.session.commit()
    flash(done_message, "success")
    return redirect(url_for("results.committee", call_id=call.id), 303)


@bp.post("/staff/calls/<int:call_id>/committee/submit")
@login_required
def submit_committee(call_id: int):
    """Send the decisions for approval by another staff member."""
    return _committee_step(
        call_id,
        decisions.submit_committee,
        _("The decisions are submitted: another staff member must approve them."),
    )


@bp.post("/staff/calls/<int:call_id>/committee/approve")
@login_required
def approve_committee(call_id: int):
    """Approve the decisions another staff member submitted."""
    return _committee_step(call_id, decisions.approve_committee, _("The decisions are approved."))


@bp.post("/staff/calls/<int:call_id>/committee/return")
@login_required
def return_committee(call_id: int):
    """Send the submitted decisions back to a draft, with the reason."""
    call = load_call(call_id)
    form = ReasonForm()
    sitting = decisions.committee_of(db.session, call)
    if sitting is None:
        flash(_("Only submitted or approved decisions can go back to a draft."), "error")
        return _committee_page(call, reason_form=form, status=422)
    if form.validate_on_submit():
        try:
            decisions.return_to_draft(db.session, sitting, form.reason.data, actor=current_user)
        except RuleRefused as refusal:
            db.session.rollback()
            show_refusal(form, refusal)
        else:
            db.session.commit()
            flash(_("The decisions are back to a draft."), "success")
            return redirect(url_for("results.committee", call_id=call.id), 303)
    return _committee_page(call, reason_form=form, status=422)


# --- withdrawal of an award -----------------------------------------------------------------


def _load_decision(decision_id: int) -> Decision:
    require(current_user, "results.decide")
    decision = db.session.get(Decision, decision_id)
    if decision is None:
        abort(404)
    return decision


@bp.route("/staff/decisions/<int:decision_id>/withdraw", methods=["GET", "POST"])
@login_required
def withdraw_award(decision_id: int):
    """Take back a published award; the first reserve of the lot is offered the place."""
    decision = _load_decision(decision_id)
    form = WithdrawalForm()
    if form.validate_on_submit():
        try:
            _corrected, promoted = decisions.withdraw_award(
                db.session,
                decision,
                kind=form.kind.data,
                reason=form.reason.data,
                actor=current_user,
            )
        except RuleRefused as refusal:
            db.session.rollback()
            show_refusal(form, refusal)
        else:
            db.session.commit()
            flash(_("The award is withdrawn."), "success")
            if promoted is not None:
                flash(
                    _("The first application in reserve is now funded; its association is told."),
                    "success",
                )
            else:
                flash(_("No application in reserve could be funded in its place."), "warning")
            return redirect(url_for("results.decisions_page", call_id=decision.call_id), 303)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "results/withdraw.html",
        decision=decision,
        call=decision.call,
        application=decision.application,
        form=form,
    ), status
