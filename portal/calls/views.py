"""Call pages: the public list and call page, and the staff pages that build a call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm

from portal.auth.policy import require
from portal.calls import bp, services
from portal.calls.forms import (
    CALL_STATUS_LABELS,
    NARRATIVE_LABELS,
    TYPE_LABELS,
    CallForm,
    CriterionForm,
    DocumentForm,
    ExtensionForm,
    LotForm,
    ManualCheckForm,
    WordLimitsForm,
)
from portal.calls.models import CallStatus, Criterion, Lot, ManualCheck, RequiredDocument
from portal.db import utcnow
from portal.extensions import db
from portal.forms import EmptyForm, choices, show_refusal
from portal.strategy.services import list_axes, list_projects, list_regions
from portal.timeutil import from_local, to_local

LABELS = {"statuses": CALL_STATUS_LABELS, "narrative": NARRATIVE_LABELS, "types": TYPE_LABELS}
TIME_FIELDS = ("opens_at", "closes_at", "results_expected_at")


def _locale() -> str:
    return str(get_locale())


@bp.context_processor
def call_context() -> dict:
    """Give the call pages the refusal shown wherever a frozen call is displayed."""
    return {"frozen_message": services.FROZEN_MESSAGE}


# --- public ---------------------------------------------------------------------------------


@bp.get("/calls")
def public_list():
    """List the published calls whose deadline has not passed."""
    now = utcnow()
    return render_template("calls/list.html", calls=services.open_calls(db.session, now), now=now)


def _apply_link(call, now: datetime) -> dict | None:
    """The call page's button: to the application form, or to sign-in first, while it is open."""
    if not call.is_open_at(now):
        return None
    if "applications.start" in current_app.view_functions:
        return {"url": url_for("applications.start", call_id=call.id), "label": _("Apply")}
    if not current_user.is_authenticated:
        url = url_for("accounts.sign_in", next=url_for("calls.public_page", call_id=call.id))
        return {"url": url, "label": _("Sign in to apply")}
    return None


@bp.get("/calls/<int:call_id>")
def public_page(call_id: int):
    """Show a call that is not a draft: texts, lots, amounts, eligibility, criteria, documents."""
    call = services.load_public_call(db.session, call_id)
    if call is None or call.status == CallStatus.DRAFT:
        abort(404)
    now = utcnow()
    return render_template(
        "calls/page.html", call=call, now=now, labels=LABELS, apply=_apply_link(call, now)
    )


# --- staff: the call itself -----------------------------------------------------------------


def load_call_for_staff(call_id: int):
    """Return the call with its parts if the user may build calls; 404 when it does not exist."""
    require(current_user, "call.manage")
    call = services.load_call(db.session, call_id)
    if call is None:
        abort(404)
    return call


def _call_form(**kwargs) -> CallForm:
    form = CallForm(**kwargs)
    form.region_codes.choices = choices(
        (region.code, region.text_for("name", _locale())) for region in list_regions(db.session)
    )
    return form


def _form_values(call) -> dict:
    """The call's values as the form shows them: times on Morocco's clock, to the minute."""
    names = services.GENERAL_FIELDS + services.RULE_FIELDS
    values = {name: getattr(call, name) for name in names}
    for name in TIME_FIELDS:
        moment = getattr(call, name)
        values[name] = to_local(moment).replace(tzinfo=None) if moment else None
    values["region_codes"] = [region.code for region in call.allowed_regions]
    return values


def _instant(local, stored: datetime | None) -> datetime | None:
    """Read a minute entered on Morocco's clock; an unchanged minute keeps the stored instant."""
    if local is None:
        return None
    if (
        stored is not None
        and to_local(stored).replace(tzinfo=None, second=0, microsecond=0) == local
    ):
        return stored
    return from_local(local)


def _call_data(form: CallForm, call=None) -> dict:
    data = form.call_data()
    for name in TIME_FIELDS:
        data[name] = _instant(data[name], getattr(call, name) if call else None)
    return data


@bp.get("/staff/calls")
@login_required
def staff_list():
    """List every call, with its status and deadline."""
    require(current_user, "call.manage")
    return render_template(
        "calls/staff_list.html", calls=services.staff_calls(db.session), labels=LABELS
    )


@bp.route("/staff/calls/new", methods=["GET", "POST"])
@login_required
def create():
    """Start a new call as a draft."""
    require(current_user, "call.manage")
    form = _call_form()
    if form.validate_on_submit():
        try:
            call = services.create_call(db.session, _call_data(form), actor=current_user)
        except services.CallError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            flash(_("The call is created as a draft."), "success")
            return redirect(url_for("calls.overview", call_id=call.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("calls/edit.html", form=form, limits=None, call=None), status


def _overview_page(call_id: int, status: int = 200):
    call = load_call_for_staff(call_id)
    page = render_template(
        "calls/overview.html",
        call=call,
        missing=services.missing_for_publication(call),
        can_change=services.parts_can_change(call),
        labels=LABELS,
        action_form=EmptyForm(),
    )
    return page, status


@bp.get("/staff/calls/<int:call_id>")
@login_required
def overview(call_id: int):
    """Show a call as staff build it, with what is missing before publication."""
    return _overview_page(call_id)


@bp.route("/staff/calls/<int:call_id>/edit", methods=["GET", "POST"])
@login_required
def edit(call_id: int):
    """Change the call's texts, timeline, amounts and eligibility rules."""
    call = load_call_for_staff(call_id)
    # The word limits ride in the same <form>, whose CSRF token the call form checks.
    if request.method == "GET":
        form = _call_form(data=_form_values(call))
        limits = WordLimitsForm(data=call.word_limits, prefix="words", meta={"csrf": False})
    else:
        form = _call_form()
        limits = WordLimitsForm(prefix="words", meta={"csrf": False})
    # Both forms validate (all of a list), so every wrong field is marked at once.
    if form.is_submitted() and all([form.validate(), limits.validate()]):
        data = _call_data(form, call)
        data["word_limits"] = {name: limits[name].data for name in NARRATIVE_LABELS}
        try:
            services.update_call(db.session, call, data, actor=current_user)
        except services.CallError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            flash(_("The call is saved."), "success")
            return redirect(url_for("calls.overview", call_id=call.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("calls/edit.html", form=form, limits=limits, call=call), status


# --- staff: life cycle ----------------------------------------------------------------------


def _change_status(call_id: int, change: Callable, done: str):
    """Run a status change; a refusal shows the overview again with the reason (422)."""
    call = load_call_for_staff(call_id)
    try:
        change(db.session, call, actor=current_user)
    except services.CallError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _overview_page(call_id, 422)
    db.session.commit()
    flash(done, "success")
    return redirect(url_for("calls.overview", call_id=call_id), 303)


@bp.post("/staff/calls/<int:call_id>/publish")
@login_required
def publish(call_id: int):
    """Publish a complete draft call."""
    return _change_status(call_id, services.publish_call, _("The call is published."))


@bp.post("/staff/calls/<int:call_id>/close")
@login_required
def close(call_id: int):
    """Close a published call."""

    def change(session, call, *, actor):
        return services.advance_call(session, call, CallStatus.CLOSED, actor=actor)

    return _change_status(call_id, change, _("The call is closed."))


@bp.post("/staff/calls/<int:call_id>/archive")
@login_required
def archive(call_id: int):
    """Archive a closed call."""

    def change(session, call, *, actor):
        return services.advance_call(session, call, CallStatus.ARCHIVED, actor=actor)

    return _change_status(call_id, change, _("The call is archived."))


@bp.post("/staff/calls/<int:call_id>/new-version")
@login_required
def new_version(call_id: int):
    """Copy the call into a new draft that can change (the way out of a frozen call)."""
    call = load_call_for_staff(call_id)
    try:
        copy = services.new_version(db.session, call, actor=current_user)
    except services.CallError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _overview_page(call_id, 422)
    db.session.commit()
    flash(_("A new version of the call is created as a draft."), "success")
    return redirect(url_for("calls.overview", call_id=copy.id), 303)


# --- staff: lots, criteria, required documents, manual checks -------------------------------
#
# The four parts of a call are edited alike: a form, a save service, a remove. One set of
# routes with this small registry keeps the four from drifting apart; what differs (form
# choices, values of an existing part) is one function per part, next to its entry.


def _short(text: str, length: int = 120) -> str:
    return text if len(text) <= length else text[: length - 1].rstrip() + "…"


def _lot_choices(form: LotForm) -> None:
    locale = _locale()
    form.axis_codes.choices = choices(
        (axis.code, f"{axis.number}. {axis.text_for('title', locale)}")
        for axis in list_axes(db.session)
    )
    form.project_numbers.choices = choices(
        (project.number, f"{project.number}. {_short(project.text_for('title', locale))}")
        for project in list_projects(db.session)
    )
    form.partner_code.choices = choices(
        [("", _("None"))]
        + [
            (partner.code, partner.text_for("name", locale))
            for partner in services.list_funding_partners(db.session)
        ]
    )


def _lot_values(lot: Lot) -> dict:
    funder = services.lot_funder(db.session, lot)
    return {
        "axis_codes": [axis.code for axis in lot.axes],
        "project_numbers": [project.number for project in lot.plan_projects],
        "partner_code": funder.partner.code if funder else "",
        "partner_share": funder.share_percent if funder else None,
    }


@dataclass(frozen=True)
class PartKind:
    model: type
    form: type[FlaskForm]
    save: Callable
    keyword: str  # the save service's keyword for the part being changed
    new_title: str
    edit_title: str
    set_choices: Callable = lambda form: None
    values: Callable = lambda part: {}


PARTS = {
    "lots": PartKind(
        Lot,
        LotForm,
        services.save_lot,
        "lot",
        _l("Add a lot"),
        _l("Change the lot"),
        _lot_choices,
        _lot_values,
    ),
    "criteria": PartKind(
        Criterion,
        CriterionForm,
        services.save_criterion,
        "criterion",
        _l("Add an evaluation criterion"),
        _l("Change the evaluation criterion"),
    ),
    "documents": PartKind(
        RequiredDocument,
        DocumentForm,
        services.save_document,
        "document",
        _l("Add a required document"),
        _l("Change the required document"),
    ),
    "checks": PartKind(
        ManualCheck,
        ManualCheckForm,
        services.save_manual_check,
        "check",
        _l("Add an eligibility rule checked by staff"),
        _l("Change the eligibility rule checked by staff"),
    ),
}
KIND = "<any(lots, criteria, documents, checks):kind>"


def load_part(call, kind: str, part_id: int):
    """Return the call's part of this kind; a part of another call is 404."""
    part = db.session.get(PARTS[kind].model, part_id)
    if part is None or part.call_id != call.id:
        abort(404)
    return part


def _part_page(call, kind_name: str, part=None):
    kind = PARTS[kind_name]
    if request.method == "GET" and part is not None:
        form = kind.form(obj=part, data=kind.values(part))
    else:
        form = kind.form()
    kind.set_choices(form)
    if form.validate_on_submit():
        data = {name: field.data for name, field in form._fields.items() if name != "csrf_token"}
        try:
            kind.save(db.session, call, data, actor=current_user, **{kind.keyword: part})
        except services.CallError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("calls.overview", call_id=call.id, _anchor=kind_name), 303)
    status = 422 if request.method == "POST" else 200
    title = kind.edit_title if part is not None else kind.new_title
    return render_template(
        "calls/part.html", call=call, form=form, kind=kind_name, part=part, title=title
    ), status


@bp.route(f"/staff/calls/<int:call_id>/{KIND}/new", methods=["GET", "POST"])
@login_required
def add_part(call_id: int, kind: str):
    """Add a lot, criterion, required document or manual check to a call."""
    call = load_call_for_staff(call_id)
    return _part_page(call, kind)


@bp.route(f"/staff/calls/<int:call_id>/{KIND}/<int:part_id>", methods=["GET", "POST"])
@login_required
def edit_part(call_id: int, kind: str, part_id: int):
    """Change a lot, criterion, required document or manual check of a call."""
    call = load_call_for_staff(call_id)
    return _part_page(call, kind, load_part(call, kind, part_id))


@bp.post(f"/staff/calls/<int:call_id>/{KIND}/<int:part_id>/remove")
@login_required
def remove_part(call_id: int, kind: str, part_id: int):
    """Remove a lot, criterion, required document or manual check of a call."""
    call = load_call_for_staff(call_id)
    part = load_part(call, kind, part_id)
    try:
        services.remove_part(db.session, call, part, actor=current_user)
    except services.CallError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _overview_page(call_id, 422)
    db.session.commit()
    flash(_("Removed."), "success")
    return redirect(url_for("calls.overview", call_id=call_id, _anchor=kind), 303)


# --- staff: deadline extensions -------------------------------------------------------------


@bp.route("/staff/calls/<int:call_id>/extensions", methods=["GET", "POST"])
@login_required
def extensions(call_id: int):
    """Grant one association a later deadline for a documented incident; list those granted."""
    call = load_call_for_staff(call_id)
    form = ExtensionForm()
    form.association_id.choices = choices(
        (association.id, association.text_for("name", _locale()))
        for association in services.extension_candidates(db.session)
    )
    if form.validate_on_submit():
        extension = services.ExtensionRequest(
            association_id=form.association_id.data,
            until=from_local(form.until.data),
            reason=form.reason.data,
        )
        try:
            services.grant_extension(db.session, call, extension, actor=current_user)
        except services.CallError as error:
            db.session.rollback()
            show_refusal(form, error)
        else:
            db.session.commit()
            flash(_("The extension is granted."), "success")
            return redirect(url_for("calls.extensions", call_id=call_id), 303)
    status = 422 if request.method == "POST" else 200
    return render_template(
        "calls/extensions.html",
        call=call,
        form=form,
        granted=services.extensions_of(db.session, call),
    ), status
