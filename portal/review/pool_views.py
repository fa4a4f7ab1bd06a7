"""Evaluator pool, invitations, declared ties and conflicts, and assignments."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, StringField, TextAreaField
from wtforms.validators import DataRequired, Email

from portal.accounts import tokens
from portal.applications.services import is_whole_number
from portal.auth.policy import require
from portal.calls.models import Call
from portal.db import utcnow
from portal.extensions import account_or_address, configured_limit, db, limiter
from portal.forms import EmptyForm, choices, max_length, plain_text, show_refusal
from portal.htmx import is_htmx
from portal.organisations.forms import CheckboxesField
from portal.pagination import paginate
from portal.review import assignment, bp, pool
from portal.review.models import PoolStatus, ReviewStatus
from portal.review.services import active_pool_member
from portal.strategy.models import StrategicAxis
from portal.web.errors import log_denial

PAGE_SIZE = 25
LANGUAGE_LABELS = {"ar": _l("Arabic"), "fr": _l("French")}
POOL_STATUS_LABELS = {
    PoolStatus.INVITED: _l("Invited"),
    PoolStatus.ACTIVE: _l("Active"),
    PoolStatus.REMOVED: _l("Removed"),
}
REVIEW_STATUS_LABELS = {
    ReviewStatus.ASSIGNED: _l("Not started"),
    ReviewStatus.DRAFT: _l("Draft"),
    ReviewStatus.SUBMITTED: _l("Submitted"),
    ReviewStatus.REMOVED: _l("Removed"),
}


@bp.context_processor
def pool_context() -> dict:
    """Give the pool and assignment pages the names of languages and statuses."""
    return {
        "language_labels": LANGUAGE_LABELS,
        "pool_status_labels": POOL_STATUS_LABELS,
        "review_status_labels": REVIEW_STATUS_LABELS,
    }


# --- forms ----------------------------------------------------------------------------------


class InviteEvaluatorForm(FlaskForm):
    email = EmailField(
        _l("E-mail address"),
        validators=[
            DataRequired(message=_l("Enter the evaluator's e-mail address.")),
            Email(message=_l("Enter a valid e-mail address.")),
            max_length(254),
            plain_text,
        ],
        render_kw={"dir": "ltr", "autocomplete": "off"},
    )
    languages = CheckboxesField(
        _l("Languages read"),
        choices=choices(LANGUAGE_LABELS.items()),
        validators=[DataRequired(message=_l("Choose at least one language."))],
    )
    expertise = CheckboxesField(_l("Areas of expertise (strategic axes)"))


class TieForm(FlaskForm):
    registration_number = StringField(
        _l("The association's registration number"),
        validators=[
            DataRequired(message=_l("Enter the association's registration number.")),
            max_length(60),
            plain_text,
        ],
        render_kw={"dir": "ltr"},
    )
    reason = TextAreaField(
        _l("Your tie with it"),
        validators=[
            DataRequired(message=_l("Give the reason.")),
            max_length(pool.MAX_REASON),
            plain_text,
        ],
        description=_l("For example: member of its board, employee, relative of a leader."),
    )


def _axes() -> list[StrategicAxis]:
    return list(db.session.scalars(select(StrategicAxis).order_by(StrategicAxis.number)))


def _invite_form(axes: list[StrategicAxis], **kwargs) -> InviteEvaluatorForm:
    form = InviteEvaluatorForm(**kwargs)
    locale = str(get_locale())
    form.expertise.choices = choices(
        (axis.code, f"{axis.number}. {axis.text_for('title', locale)}") for axis in axes
    )
    return form


def _hub_url(call: Call) -> str:
    return url_for("review.call_review", call_id=call.id)


def _dashboard_url() -> str:
    return url_for("review.dashboard")


def _call_for_staff(call_id: int) -> Call:
    require(current_user, "review.manage")
    call = db.session.get(Call, call_id)
    if call is None:
        abort(404)
    return call


# --- the pool (staff) -----------------------------------------------------------------------


def _pool_page(call: Call, form: InviteEvaluatorForm | None = None, status: int = 200):
    axes = _axes()
    context = {
        "call": call,
        "rows": pool.pool_rows(db.session, call.id),
        "form": form or _invite_form(axes, formdata=None, languages=["ar"]),
        "axis_titles": {axis.code: axis for axis in axes},
        "hub_url": _hub_url(call),
        "remove_form": EmptyForm(),
    }
    return render_template("review/pool.html", **context), status


@bp.get("/staff/calls/<int:call_id>/evaluators", endpoint="pool")
@login_required
def pool_page(call_id: int):
    """Show the call's evaluator pool with each one's load, and the invite form."""
    return _pool_page(_call_for_staff(call_id))


@bp.post("/staff/calls/<int:call_id>/evaluators")
@login_required
@limiter.limit(configured_limit("RATELIMIT_EVALUATOR_INVITATION"), key_func=account_or_address)
def invite_evaluator(call_id: int):
    """Invite an evaluator to the call's pool by e-mail."""
    call = _call_for_staff(call_id)
    form = _invite_form(_axes())
    if not form.validate_on_submit():
        return _pool_page(call, form, 422)
    try:
        pool.invite_evaluator(
            db.session,
            call,
            form.email.data,
            form.languages.data,
            form.expertise.data,
            actor=current_user,
        )
    except pool.PoolError as error:
        db.session.rollback()
        show_refusal(form, error)
        return _pool_page(call, form, 422)
    db.session.commit()
    flash(_("An invitation was sent to %(email)s.", email=form.email.data.strip()), "success")
    return redirect(url_for("review.pool", call_id=call.id), 303)


@bp.post("/staff/calls/<int:call_id>/evaluators/<int:member_id>/remove")
@login_required
def remove_evaluator(call_id: int, member_id: int):
    """Take an evaluator out of the pool; their unsubmitted reviews are removed."""
    call = _call_for_staff(call_id)
    member = pool.get_member(db.session, call.id, member_id)
    if member is None:
        abort(404)
    if EmptyForm().validate_on_submit():
        try:
            removed = pool.remove_evaluator(db.session, member, actor=current_user)
        except pool.PoolError as error:
            db.session.rollback()
            flash(str(error.message), "error")
        else:
            db.session.commit()
            flash(
                ngettext(
                    "%(email)s is out of the pool; %(num)d unsubmitted review was removed.",
                    "%(email)s is out of the pool; %(num)d unsubmitted reviews were removed.",
                    removed,
                    email=member.email,
                ),
                "success",
            )
    return redirect(url_for("review.pool", call_id=call.id), 303)


# --- accepting an invitation ----------------------------------------------------------------


@bp.route("/reviews/invitations/<token>", methods=["GET", "POST"])
@login_required
def accept_evaluator_invitation(token: str):
    """Join a call's evaluator pool from the link received by e-mail."""
    max_age = current_app.config["INVITATION_MAX_AGE"]
    try:
        member = pool.invitation_for(db.session, token, max_age)
    except tokens.TokenExpired:
        return _invitation_problem(_("This invitation has expired. Ask for a new one."))
    except tokens.TokenInvalid:
        return _invitation_problem(_("This invitation is not valid or was already used."))
    form = EmptyForm()
    if form.validate_on_submit():
        try:
            pool.accept_evaluator_invitation(db.session, token, max_age, user=current_user)
        except pool.PoolError as error:
            db.session.rollback()
            log_denial(403)
            return _invitation_problem(str(error.message), 403)
        db.session.commit()
        flash(_("You joined the call's evaluators."), "success")
        return redirect(url_for("review.declare_conflicts", call_id=member.call_id), 303)
    return render_template("review/invitation.html", member=member, call=member.call, form=form)


def _invitation_problem(message: str, status: int = 400):
    return render_template("accounts/link_problem.html", message=message), status


# --- declared ties (evaluators) -------------------------------------------------------------


def _ties_page(form: TieForm | None = None, status: int = 200):
    context = {
        "ties": pool.list_ties(db.session, current_user),
        "form": form or TieForm(formdata=None),
        "remove_form": EmptyForm(),
    }
    if is_htmx() and form is None:
        return render_template("review/_ties.html", **context), status
    return render_template("review/ties.html", **context), status


@bp.route("/reviews/ties", methods=["GET", "POST"])
@login_required
def ties():
    """List and declare the associations the evaluator is tied to (never assigned to them)."""
    require(current_user, "review.evaluate")
    if request.method == "GET":
        return _ties_page()
    form = TieForm()
    if not form.validate_on_submit():
        return _ties_page(form, 422)
    try:
        pool.declare_tie(db.session, current_user, form.registration_number.data, form.reason.data)
    except pool.PoolError as error:
        db.session.rollback()
        show_refusal(form, error)
        return _ties_page(form, 422)
    db.session.commit()
    flash(_("The tie is declared: you will not review this association's applications."), "success")
    return redirect(url_for("review.ties"), 303)


@bp.post("/reviews/ties/<int:tie_id>/remove")
@login_required
def remove_tie(tie_id: int):
    """Withdraw one of the evaluator's declared ties."""
    require(current_user, "review.evaluate")
    tie = pool.get_tie(db.session, current_user, tie_id)
    if tie is None:
        abort(404)
    if EmptyForm().validate_on_submit():
        pool.remove_tie(db.session, tie, actor=current_user)
        db.session.commit()
        if not is_htmx():
            flash(_("The tie is withdrawn."), "success")
    if is_htmx():
        return _ties_page()
    return redirect(url_for("review.ties"), 303)


# --- declared conflicts (evaluators) --------------------------------------------------------


def _member_for_conflicts(call_id: int):
    require(current_user, "review.evaluate")
    call = db.session.get(Call, call_id)
    member = active_pool_member(db.session, current_user.id, call_id) if call else None
    if member is None:
        abort(404)
    require(current_user, "review.declare_conflicts", member, hide=True)
    return call, member


def _typed_declarations() -> dict[int, str]:
    return {
        int(value): request.form.get(f"reason-{value}", "")
        for value in request.form.getlist("conflict")
        if is_whole_number(value)
    }


def _conflicts_page(call, member, *, typed=None, error=None, status=200):
    is_open = pool.conflicts_open(call, utcnow())
    context = {
        "call": call,
        "member": member,
        "open": is_open,
        "rows": pool.conflict_rows(db.session, call, current_user) if is_open else [],
        "typed": typed or {},
        "error": error,
        "dashboard_url": _dashboard_url(),
        "form": EmptyForm(),
    }
    return render_template("review/conflicts.html", **context), status


@bp.route("/reviews/calls/<int:call_id>/conflicts", methods=["GET", "POST"])
@login_required
def declare_conflicts(call_id: int):
    """Show the call's applications (titles and associations) and declare conflicts."""
    call, member = _member_for_conflicts(call_id)
    if request.method == "GET":
        return _conflicts_page(call, member)
    typed = _typed_declarations()
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        declared = pool.declare_conflicts(
            db.session,
            call,
            member,
            typed,
            confirmed=request.form.get("confirm") == "1",
            actor=current_user,
        )
    except pool.PoolError as error:
        db.session.rollback()
        return _conflicts_page(call, member, typed=typed, error=error, status=422)
    db.session.commit()
    flash(
        ngettext(
            "Your declaration is saved, with %(num)d new conflict.",
            "Your declaration is saved, with %(num)d new conflicts.",
            declared,
        ),
        "success",
    )
    return redirect(_dashboard_url(), 303)


# --- assignments (staff) --------------------------------------------------------------------


def _row_context(call: Call, items: list) -> dict:
    """What each application row needs: reviews, candidates and loads, in a fixed count."""
    ids = [application.id for application, _association in items]
    reviews = assignment.reviews_of(db.session, ids)
    members = assignment.active_members(db.session, call.id)
    conflicts = assignment.conflicts_for(db.session, ids)
    loads = assignment.loads_of(db.session, call.id)
    candidates = {
        application.id: assignment.candidates_for(
            application,
            members,
            conflicts.get(application.id, set()),
            [review.evaluator_id for review in reviews[application.id]],
            loads,
            call.max_reviews_per_evaluator,
        )
        for application, _association in items
    }
    return {"reviews": reviews, "candidates": candidates, "loads": loads}


def _assignments_page(call: Call, *, plan=None, status: int = 200):
    query = assignment.assignments_query(call.id)
    page = paginate(db.session, query, request.args.get("page", 1, type=int), PAGE_SIZE)
    context = {
        "call": call,
        "page": page,
        "plan": plan,
        "hub_url": _hub_url(call),
        "form": EmptyForm(),
        **_row_context(call, page.items),
    }
    return render_template("review/assignments.html", **context), status


@bp.get("/staff/calls/<int:call_id>/assignments")
@login_required
def assignments(call_id: int):
    """List the eligible applications with their evaluators; add, remove and move them."""
    return _assignments_page(_call_for_staff(call_id))


@bp.post("/staff/calls/<int:call_id>/assignments/automatic")
@login_required
def assign_automatically(call_id: int):
    """Assign every eligible application its reviewers at once, or explain why not."""
    call = _call_for_staff(call_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        plan = assignment.assign_automatically(db.session, call, actor=current_user)
    except assignment.PoolTooSmall as refusal:
        db.session.rollback()
        flash(str(refusal.message), "error")
        return _assignments_page(call, plan=refusal.plan, status=422)
    except assignment.AssignmentError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _assignments_page(call, status=422)
    db.session.commit()
    _report_plan(plan)
    return redirect(url_for("review.assignments", call_id=call.id), 303)


def _report_plan(plan: assignment.Plan) -> None:
    flash(
        ngettext("%(num)d review was assigned.", "%(num)d reviews were assigned.", len(plan.pairs)),
        "success",
    )
    if plan.without_expert:
        flash(
            ngettext(
                "%(num)d application got no evaluator expert in its axes (none was available).",
                "%(num)d applications got no evaluator expert in their axes (none was available).",
                len(plan.without_expert),
            ),
            "warning",
        )
    if plan.spread > 1:
        flash(
            _(
                "Loads differ by %(spread)s reviews between the most and the least loaded "
                "evaluators: languages, conflicts or the cap did not allow an even share.",
                spread=plan.spread,
            ),
            "warning",
        )


def _application_for_staff(application_id: int):
    require(current_user, "review.manage")
    application = assignment.load_application(db.session, application_id)
    if application is None:
        abort(404)
    return application


def _review_for_staff(review_id: int):
    require(current_user, "review.manage")
    review = assignment.load_review(db.session, review_id)
    if review is None:
        abort(404)
    return review


def _chosen_evaluator() -> int | None:
    value = request.form.get("evaluator_id", "")
    return int(value) if is_whole_number(value) else None


def _ids(application) -> tuple[int, int]:
    """(application id, call id), read before a commit or rollback expires the application."""
    return application.id, application.call_id


def _after_change(ids: tuple[int, int]):
    """Answer an assignment change: the application's row for htmx, else back to the list
    (or to the moderation page the form came from, with return_to=moderation)."""
    application_id, call_id = ids
    if is_htmx():
        return _row(application_id)
    if _back_to_moderation():
        return redirect(url_for("review.moderation", application_id=application_id), 303)
    target = url_for("review.assignments", call_id=call_id)
    return redirect(f"{target}#assignment-{application_id}", 303)


def _back_to_moderation() -> bool:
    return request.form.get("return_to") == "moderation"


def _row(application_id: int, *, error=None, status: int = 200):
    # Reload the application with its call and association in one statement.
    application = assignment.load_application(db.session, application_id)
    association = application.association
    context = {
        "call": application.call,
        "application": application,
        "association": association,
        "error": error,
        "form": EmptyForm(),
        **_row_context(application.call, [(application, association)]),
    }
    return render_template("review/_assignment_row.html", **context), status


def _refused(ids: tuple[int, int], error):
    """A refused change: 422 with the message (the row for htmx, the list page otherwise)."""
    application_id, call_id = ids
    if is_htmx():
        return _row(application_id, error=error, status=422)
    flash(str(error.message), "error")
    if _back_to_moderation():
        return redirect(url_for("review.moderation", application_id=application_id), 303)
    return _assignments_page(db.session.get(Call, call_id), status=422)


@bp.post("/staff/applications/<int:application_id>/assignments")
@login_required
def add_assignment(application_id: int):
    """Assign one more evaluator (field evaluator_id) to the application."""
    application = _application_for_staff(application_id)
    ids = _ids(application)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        assignment.add_assignment(db.session, application, _chosen_evaluator(), actor=current_user)
    except assignment.AssignmentError as error:
        db.session.rollback()
        return _refused(ids, error)
    db.session.commit()
    if not is_htmx():
        flash(_("The evaluator is assigned and told by e-mail."), "success")
    return _after_change(ids)


@bp.post("/staff/reviews/<int:review_id>/remove")
@login_required
def remove_assignment(review_id: int):
    """Take an unsubmitted review away from its evaluator."""
    review = _review_for_staff(review_id)
    ids = _ids(review.application)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        assignment.remove_assignment(db.session, review, actor=current_user)
    except assignment.AssignmentError as error:
        db.session.rollback()
        return _refused(ids, error)
    db.session.commit()
    if not is_htmx():
        flash(_("The assignment is removed."), "success")
    return _after_change(ids)


@bp.post("/staff/reviews/<int:review_id>/move")
@login_required
def move_assignment(review_id: int):
    """Give an unsubmitted review to another evaluator (field evaluator_id), from scratch."""
    review = _review_for_staff(review_id)
    ids = _ids(review.application)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        assignment.move_assignment(db.session, review, _chosen_evaluator(), actor=current_user)
    except assignment.AssignmentError as error:
        db.session.rollback()
        return _refused(ids, error)
    db.session.commit()
    if not is_htmx():
        flash(
            _("The review is moved; the new evaluator starts afresh and is told by e-mail."),
            "success",
        )
    return _after_change(ids)
