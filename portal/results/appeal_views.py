"""Appeals: the applicant files one from the application page; staff list and answer them."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from portal.applications.services import load_application as load_full_application
from portal.auth.policy import require
from portal.calls.models import Call
from portal.extensions import db
from portal.forms import show_refusal
from portal.results import appeals as services
from portal.results import bp
from portal.results.appeal_forms import AnswerForm, AppealForm
from portal.results.models import AppealStatus
from portal.rules import RuleRefused
from portal.timeutil import format_offset, to_local
from portal.web.formatting import format_local_datetime

STATUS_LABELS = {
    AppealStatus.PENDING: _l("Pending"),
    AppealStatus.GRANTED: _l("Granted"),
    AppealStatus.DISMISSED: _l("Dismissed"),
}


@bp.app_template_global()
def results_feedback(application):
    """Return the published decision on an application with its feedback (None before)."""
    return services.feedback_for(db.session, application)


def _closing(deadline) -> str:
    """Say when the appeal period closes, on Morocco's clock with its offset."""
    return f"{format_local_datetime(deadline)} ({format_offset(to_local(deadline))})"


# --- the applicant --------------------------------------------------------------------------


def _application_or_404(application_id: int):
    application = load_full_application(db.session, application_id)
    if application is None:
        abort(404)
    require(current_user, "results.appeal", application, hide=True)
    return application


@bp.route("/applications/<int:application_id>/appeal", methods=["GET", "POST"])
@login_required
def appeal(application_id: int):
    """File an appeal against the published decision on the application, with a motivation."""
    application = _application_or_404(application_id)
    feedback = services.feedback_for(db.session, application)
    if feedback is None:
        abort(404)
    form = AppealForm()
    if form.validate_on_submit():
        try:
            services.file_appeal(
                db.session,
                feedback.decision,
                form.motivation.data,
                actor=current_user,
                closes=_closing(feedback.deadline),
            )
        except RuleRefused as refusal:
            db.session.rollback()
            show_refusal(form, refusal)
        else:
            db.session.commit()
            flash(_("Your appeal is filed; staff will answer it by e-mail."), "success")
            return redirect(url_for("applications.overview", application_id=application.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "results/appeal_form.html",
        application=application,
        feedback=feedback,
        closes=_closing(feedback.deadline),
        form=form,
    ), status


# --- staff ----------------------------------------------------------------------------------


@bp.get("/staff/calls/<int:call_id>/appeals")
@login_required
def appeals(call_id: int):
    """List the call's appeals, pending first."""
    require(current_user, "results.decide")
    call = db.session.get(Call, call_id)
    if call is None:
        abort(404)
    return render_template(
        "results/appeal_list.html",
        call=call,
        appeals=services.appeals_of_call(db.session, call.id),
        labels=STATUS_LABELS,
    )


def _answer(appeal, form: AnswerForm) -> None:
    if form.verdict.data == "dismiss":
        services.dismiss_appeal(db.session, appeal, form.answer.data, actor=current_user)
        return
    data = services.NewDecision(
        outcome=form.outcome.data or "",
        amount_awarded=form.amount_awarded.data,
        reserve_rank=form.reserve_rank.data,
        motivation_ar=form.motivation_ar.data or "",
        motivation_fr=form.motivation_fr.data or "",
    )
    services.grant_appeal(db.session, appeal, form.answer.data, data, actor=current_user)


@bp.route("/staff/appeals/<int:appeal_id>", methods=["GET", "POST"])
@login_required
def answer_appeal(appeal_id: int):
    """Show an appeal; dismiss it, or grant it with a new decision. The applicant is mailed."""
    require(current_user, "results.decide")
    appeal = services.load_appeal(db.session, appeal_id)
    if appeal is None:
        abort(404)
    form = AnswerForm()
    if appeal.status == AppealStatus.PENDING and form.validate_on_submit():
        try:
            _answer(appeal, form)
        except RuleRefused as refusal:
            db.session.rollback()
            show_refusal(form, refusal)
        else:
            db.session.commit()
            flash(_("The answer is recorded and sent to the applicant."), "success")
            return redirect(url_for("results.appeals", call_id=appeal.application.call_id), 303)
    elif request.method == "POST" and appeal.status != AppealStatus.PENDING:
        flash(_("This appeal is already answered."), "error")
    status = 422 if request.method == "POST" else 200
    return render_template(
        "results/appeal_answer.html", appeal=appeal, form=form, labels=STATUS_LABELS
    ), status
