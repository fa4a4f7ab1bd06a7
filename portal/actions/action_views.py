"""Funded actions' pages: staff list and edit them (agreement, links, tranches, milestones,
report dates); an association's members read their own actions."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.actions import bp, services
from portal.actions.forms import (
    ACTION_STATUS_LABELS,
    REPORT_STATUS_LABELS,
    AgreementForm,
    LinksForm,
    MilestoneDoneForm,
    MilestoneForm,
    ScheduleForm,
    TrancheForm,
)
from portal.auth.policy import may, require
from portal.extensions import db
from portal.forms import EmptyForm, query_id, query_text, show_refusal
from portal.htmx import render_page_or_fragment
from portal.organisations.services import get_association
from portal.pagination import paginate


def _today():
    return services.local_today()


def load_action_or_404(action_id: int, rule: str = "actions.view"):
    """Load an action and ask the policy; another association's action is a 404."""
    action = services.load_action(db.session, action_id)
    if action is None:
        abort(404)
    require(current_user, rule, action, hide=True)
    return action


# --- the association's actions --------------------------------------------------------------


@bp.get("/associations/<int:association_id>/actions")
@login_required
def association_actions(association_id: int):
    """List the association's funded actions with their progress and overdue reports."""
    association = get_association(db.session, association_id)
    if association is None:
        abort(404)
    require(current_user, "association.view", association, hide=True)
    return render_template(
        "actions/association_actions.html",
        association=association,
        rows=services.association_actions(db.session, association.id, _today()),
        statuses=ACTION_STATUS_LABELS,
    )


@bp.get("/actions/<int:action_id>")
@login_required
def action_page(action_id: int):
    """Show an action: agreement, tranches, links, progress and its reports."""
    action = load_action_or_404(action_id)
    return render_template(
        "actions/action.html",
        action=action,
        today=_today(),
        is_overdue=services.is_overdue,
        statuses=ACTION_STATUS_LABELS,
        report_statuses=REPORT_STATUS_LABELS,
        may_manage=may(current_user, "actions.manage"),
    )


# --- staff ----------------------------------------------------------------------------------


def _staff_filters() -> services.ActionFilters:
    return services.ActionFilters(
        call_id=query_id(request.args.get("call")),
        lot_id=query_id(request.args.get("lot")),
        status=query_text(request.args.get("status"), 20),
    )


@bp.get("/staff/actions")
@login_required
def staff_list():
    """List funded actions for staff, filtered by call, lot and status, by pages."""
    require(current_user, "actions.manage")
    filters = _staff_filters()
    page = paginate(
        db.session,
        services.staff_query(filters, _today()),
        request.args.get("page", 1, type=int),
        services.PAGE_SIZE,
    )
    return render_page_or_fragment(
        "actions/staff_list.html",
        "actions/_staff_rows.html",
        page=page,
        filters=filters,
        calls=services.calls_with_actions(db.session),
        statuses=ACTION_STATUS_LABELS,
    )


def _staff_page(action, status: int = 200, **forms):
    locale = str(get_locale())
    links_form = forms.get("links_form")
    if links_form is None:
        links_form = LinksForm(
            formdata=None,
            axes=[axis.code for axis in action.axes],
            plan_projects=[str(project.number) for project in action.plan_projects],
            sdgs=[str(sdg.number) for sdg in action.sdgs],
            un_mechanisms=[mechanism.code for mechanism in action.un_mechanisms],
            un_recommendations=action.un_recommendations,
        )
    links_form.fill_choices(services.link_choices(db.session), locale)
    agreement_form = forms.get("agreement_form") or AgreementForm(
        formdata=None,
        agreement_reference=action.agreement_reference,
        starts_on=action.starts_on,
        ends_on=action.ends_on,
        status=action.status.value,
    )
    edited = forms.get("tranche_form"), forms.get("tranche_id")
    tranche_forms = {
        tranche.id: edited[0]
        if edited[1] == tranche.id
        else TrancheForm(
            formdata=None,
            prefix=f"t{tranche.id}",
            planned_on=tranche.planned_on,
            amount=str(tranche.amount),
            paid_on=tranche.paid_on,
            paid_amount="" if tranche.paid_amount is None else str(tranche.paid_amount),
        )
        for tranche in action.tranches
    }
    edited_milestone = forms.get("milestone_form"), forms.get("milestone_id")
    milestone_forms = {
        milestone.id: edited_milestone[0]
        if edited_milestone[1] == milestone.id
        else _milestone_form(milestone)
        for milestone in action.milestones
    }
    page = render_template(
        "actions/staff_action.html",
        action=action,
        today=_today(),
        is_overdue=services.is_overdue,
        statuses=ACTION_STATUS_LABELS,
        report_statuses=REPORT_STATUS_LABELS,
        agreement_form=agreement_form,
        links_form=links_form,
        tranche_forms=tranche_forms,
        new_tranche_form=forms.get("new_tranche_form") or TrancheForm(formdata=None, prefix="new"),
        milestone_forms=milestone_forms,
        new_milestone_form=forms.get("new_milestone_form")
        or MilestoneForm(formdata=None, prefix="milestone"),
        schedule_form=forms.get("schedule_form") or ScheduleForm(formdata=None),
        action_form=EmptyForm(),
        planned_total=sum(tranche.amount for tranche in action.tranches),
        paid_total=sum(tranche.paid_amount or 0 for tranche in action.tranches),
    )
    return page, status


def _done(action, message: str):
    db.session.commit()
    flash(message, "success")
    return redirect(url_for("actions.staff_action", action_id=action.id), 303)


@bp.get("/staff/actions/<int:action_id>")
@login_required
def staff_action(action_id: int):
    """Show the action's edit page for staff."""
    require(current_user, "actions.manage")
    return _staff_page(load_action_or_404(action_id, "actions.manage"))


@bp.post("/staff/actions/<int:action_id>/agreement")
@login_required
def update_agreement(action_id: int):
    """Set the agreement reference, dates and status."""
    require(current_user, "actions.manage")
    action = load_action_or_404(action_id, "actions.manage")
    form = AgreementForm()
    if form.validate_on_submit():
        try:
            services.update_agreement(
                db.session,
                action,
                agreement_reference=form.agreement_reference.data or "",
                starts_on=form.starts_on.data,
                ends_on=form.ends_on.data,
                status=form.status.data,
                actor=current_user,
            )
        except services.ActionError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            return _done(action, _("The agreement is saved."))
    return _staff_page(load_action_or_404(action_id, "actions.manage"), 422, agreement_form=form)


def _numbers(values) -> list[int]:
    return [int(value) for value in values or [] if str(value).isdigit()]


@bp.post("/staff/actions/<int:action_id>/links")
@login_required
def update_links(action_id: int):
    """Link the action to axes, action-plan projects, SDGs, UN mechanisms and recommendations."""
    require(current_user, "actions.manage")
    action = load_action_or_404(action_id, "actions.manage")
    form = LinksForm()
    form.fill_choices(services.link_choices(db.session), str(get_locale()))
    if form.validate_on_submit():
        try:
            services.update_links(
                db.session,
                action,
                axes=form.axes.data or [],
                plan_projects=_numbers(form.plan_projects.data),
                sdgs=_numbers(form.sdgs.data),
                un_mechanisms=form.un_mechanisms.data or [],
                un_recommendations=form.un_recommendations.data or "",
                actor=current_user,
            )
        except services.ActionError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            return _done(action, _("The links are saved."))
    return _staff_page(load_action_or_404(action_id, "actions.manage"), 422, links_form=form)


def _tranche_data(form: TrancheForm) -> dict:
    return {
        "planned_on": form.planned_on.data,
        "amount": form.amount.data,
        "paid_on": form.paid_on.data,
        "paid_amount": form.paid_amount.data,
    }


def _managed_action(action_id: int):
    require(current_user, "actions.manage")
    return load_action_or_404(action_id, "actions.manage")


def _part_or_404(parts, part_id: int):
    """Return the action's tranche or milestone of this id; 404 for one of another action."""
    part = next((item for item in parts if item.id == part_id), None)
    if part is None:
        abort(404)
    return part


def _save_from_form(action, form, save, saved_message: str, **shown_on_refusal):
    """Run `save()` once `form` validates and answer with the saved message; else, or when a
    rule refuses, the staff page again (422) with the form and its messages."""
    if form.validate_on_submit():
        try:
            save()
        except services.ActionError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            return _done(action, saved_message)
    return _staff_page(load_action_or_404(action.id, "actions.manage"), 422, **shown_on_refusal)


@bp.post("/staff/actions/<int:action_id>/tranches")
@login_required
def add_tranche(action_id: int):
    """Plan a payment tranche, within the awarded amount."""
    action = _managed_action(action_id)
    form = TrancheForm(prefix="new")
    return _save_from_form(
        action,
        form,
        lambda: services.add_tranche(db.session, action, _tranche_data(form), actor=current_user),
        _("The tranche is added."),
        new_tranche_form=form,
    )


@bp.post("/staff/actions/<int:action_id>/tranches/<int:tranche_id>")
@login_required
def update_tranche(action_id: int, tranche_id: int):
    """Change a tranche's plan, or record when and how much was paid."""
    action = _managed_action(action_id)
    tranche = _part_or_404(action.tranches, tranche_id)
    form = TrancheForm(prefix=f"t{tranche.id}")
    return _save_from_form(
        action,
        form,
        lambda: services.update_tranche(
            db.session, action, tranche, _tranche_data(form), actor=current_user
        ),
        _("The tranche is saved."),
        tranche_form=form,
        tranche_id=tranche_id,
    )


@bp.post("/staff/actions/<int:action_id>/tranches/<int:tranche_id>/remove")
@login_required
def remove_tranche(action_id: int, tranche_id: int):
    """Remove a tranche not yet paid."""
    action = _managed_action(action_id)
    tranche = _part_or_404(action.tranches, tranche_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.remove_tranche(db.session, action, tranche, actor=current_user)
    except services.ActionError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("actions.staff_action", action_id=action_id), 303)
    return _done(action, _("The tranche is removed."))


def _milestone_form(milestone) -> MilestoneForm:
    """Return the milestone's edit form, filled with its stored values."""
    return MilestoneForm(
        formdata=None,
        prefix=f"m{milestone.id}",
        title=milestone.title,
        due_on=milestone.due_on,
        done_on=milestone.done_on,
    )


def _milestone_data(form: MilestoneForm) -> dict:
    return {"title": form.title.data, "due_on": form.due_on.data, "done_on": form.done_on.data}


@bp.post("/staff/actions/<int:action_id>/milestones")
@login_required
def add_milestone(action_id: int):
    """Add a milestone: title, due date, and done date if already reached."""
    action = _managed_action(action_id)
    form = MilestoneForm(prefix="milestone")
    return _save_from_form(
        action,
        form,
        lambda: services.add_milestone(
            db.session, action, _milestone_data(form), actor=current_user
        ),
        _("The milestone is added."),
        new_milestone_form=form,
    )


@bp.post("/staff/actions/<int:action_id>/milestones/<int:milestone_id>")
@login_required
def update_milestone(action_id: int, milestone_id: int):
    """Change a milestone's title, due date or done date."""
    action = _managed_action(action_id)
    milestone = _part_or_404(action.milestones, milestone_id)
    form = MilestoneForm(prefix=f"m{milestone.id}")
    return _save_from_form(
        action,
        form,
        lambda: services.update_milestone(
            db.session, action, milestone, _milestone_data(form), actor=current_user
        ),
        _("The milestone is saved."),
        milestone_form=form,
        milestone_id=milestone_id,
    )


@bp.post("/staff/actions/<int:action_id>/milestones/<int:milestone_id>/done")
@login_required
def set_milestone_done(action_id: int, milestone_id: int):
    """Mark a milestone done today (`done=1`; one already done keeps its date) or not done."""
    action = _managed_action(action_id)
    milestone = _part_or_404(action.milestones, milestone_id)
    form = MilestoneDoneForm()
    if not form.validate_on_submit():
        abort(400)
    done = form.done.data == "1"
    try:
        services.set_milestone_done(
            db.session,
            action,
            milestone,
            (milestone.done_on or _today()) if done else None,
            actor=current_user,
        )
    except services.ActionError as error:
        db.session.rollback()
        action = load_action_or_404(action_id, "actions.manage")
        row_form = _milestone_form(_part_or_404(action.milestones, milestone_id))
        show_refusal(row_form, error)
        return _staff_page(action, 422, milestone_form=row_form, milestone_id=milestone_id)
    return _done(
        action,
        _("The milestone is marked done.") if done else _("The milestone is marked not done."),
    )


@bp.post("/staff/actions/<int:action_id>/milestones/<int:milestone_id>/remove")
@login_required
def remove_milestone(action_id: int, milestone_id: int):
    """Remove a milestone."""
    action = _managed_action(action_id)
    milestone = _part_or_404(action.milestones, milestone_id)
    if not EmptyForm().validate_on_submit():
        abort(400)
    services.remove_milestone(db.session, action, milestone, actor=current_user)
    return _done(action, _("The milestone is removed."))


@bp.post("/staff/actions/<int:action_id>/reports")
@login_required
def schedule_report(action_id: int):
    """Add a date on which the association owes a report."""
    require(current_user, "actions.manage")
    action = load_action_or_404(action_id, "actions.manage")
    form = ScheduleForm()
    if form.validate_on_submit():
        try:
            services.schedule_report(
                db.session, action, form.due_on.data, bool(form.final.data), actor=current_user
            )
        except services.ActionError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            return _done(action, _("The report date is added."))
    return _staff_page(load_action_or_404(action_id, "actions.manage"), 422, schedule_form=form)


@bp.post("/staff/actions/<int:action_id>/reports/<int:report_id>/remove")
@login_required
def unschedule_report(action_id: int, report_id: int):
    """Remove a report date the association has not started on."""
    require(current_user, "actions.manage")
    action = load_action_or_404(action_id, "actions.manage")
    report = next((item for item in action.reports if item.id == report_id), None)
    if report is None:
        abort(404)
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        services.unschedule_report(db.session, action, report, actor=current_user)
    except services.ActionError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return redirect(url_for("actions.staff_action", action_id=action_id), 303)
    return _done(action, _("The report date is removed."))
