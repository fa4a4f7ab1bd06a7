"""Training pages: the public catalogue and session page, and the staff pages that build the
programme, its modules and sessions."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required

from portal.auth.policy import may, require
from portal.db import utcnow
from portal.extensions import db
from portal.forms import choices, show_refusal
from portal.htmx import render_page_or_fragment
from portal.organisations.vocabulary import FIELDS_OF_WORK
from portal.pagination import paginate
from portal.strategy.services import list_regions
from portal.timeutil import from_local, to_local
from portal.training import bp, programme
from portal.training.forms import (
    LANGUAGE_LABELS,
    STATUS_LABELS,
    CatalogueFilterForm,
    ModuleForm,
    ProgrammeForm,
    SessionForm,
)
from portal.training.models import Module, Programme, SessionStatus, TrainingSession

PAGE_SIZE = 10
LABELS = {"languages": LANGUAGE_LABELS, "statuses": STATUS_LABELS, "fields": FIELDS_OF_WORK}


def _locale() -> str:
    return str(get_locale())


def _region_choices(regions, empty_label: str):
    pairs = [(region.code, region.text_for("name", _locale())) for region in regions]
    return choices([("", empty_label), *pairs])


# --- public ---------------------------------------------------------------------------------


@bp.get("/training")
def catalogue():
    """List the published sessions to come, filtered by module, region, month, language, seats."""
    form = CatalogueFilterForm(request.args)
    modules = programme.list_modules(db.session)
    regions = list_regions(db.session)
    form.module.choices = choices(
        [("", _("Any module"))]
        + [(str(module.id), module.text_for("title", _locale())) for module in modules]
    )
    form.region.choices = _region_choices(regions, _("Any region"))
    valid = form.validate()
    filters = programme.CatalogueFilters(
        module_id=int(form.module.data) if valid and form.module.data else None,
        region_code=form.region.data if valid and form.region.data else None,
        month=form.first_day_of_month() if valid else None,
        language=form.language.data if valid and form.language.data else None,
        seats_left_only=bool(form.seats_left.data),
    )
    today = to_local(utcnow()).date()
    page = paginate(
        db.session,
        programme.catalogue_query(filters, today),
        request.args.get("page", 1, type=int),
        PAGE_SIZE,
    )
    arguments = {key: value for key, value in request.args.items() if key != "page" and value}
    return render_page_or_fragment(
        "training/catalogue.html",
        "training/_session_list.html",
        form=form,
        page=page,
        arguments=arguments,
        labels=LABELS,
    )


@bp.get("/training/sessions/<int:session_id>")
def session_page(session_id: int):
    """Show a session: module, dates and times, place, seats, enrolment window, eligibility."""
    training_session = programme.load_session(db.session, session_id)
    if training_session is None:
        abort(404)
    staff = may(current_user, "training.manage")
    if training_session.status != SessionStatus.PUBLISHED and not staff:
        abort(404)
    now = utcnow()
    region_names = {
        region.code: region.text_for("name", _locale())
        for region in list_regions(db.session)
        if region.code in training_session.eligible_regions
    }
    return render_template(
        "training/session.html",
        training_session=training_session,
        now=now,
        enrolment_open=programme.enrolment_is_open(training_session, now),
        region_names=region_names,
        labels=LABELS,
        staff=staff,
    )


# --- staff ----------------------------------------------------------------------------------


@bp.get("/staff/training")
@login_required
def staff_sessions():
    """List the programmes, their modules and sessions with seats taken and capacity."""
    require(current_user, "training.manage")
    return render_template(
        "training/staff_sessions.html", overview=programme.staff_overview(db.session), labels=LABELS
    )


def _saved_or_refused(form, save, done_message: str, next_url):
    """Run `save()`; commit and redirect, or roll back and show the refusal beside its field."""
    try:
        saved = save()
    except programme.TrainingError as error:
        db.session.rollback()
        show_refusal(form, error)
        return None
    db.session.commit()
    flash(done_message, "success")
    return redirect(next_url(saved), 303)


@bp.route("/staff/training/programmes/new", methods=["GET", "POST"])
@bp.route("/staff/training/programmes/<int:programme_id>", methods=["GET", "POST"])
@login_required
def edit_programme(programme_id: int | None = None):
    """Create the programme, or change its texts and attendance threshold."""
    require(current_user, "training.manage")
    item = db.get_or_404(Programme, programme_id) if programme_id else None
    form = ProgrammeForm() if request.method == "POST" else ProgrammeForm(obj=item)
    if form.validate_on_submit():
        done = _saved_or_refused(
            form,
            lambda: programme.save_programme(
                db.session, item, form.programme_data(), actor=current_user
            ),
            _("The programme is saved."),
            lambda saved: url_for("training.staff_sessions"),
        )
        if done:
            return done
    status = 422 if request.method == "POST" else 200
    return render_template("training/edit_programme.html", form=form, programme=item), status


@bp.route("/staff/training/programmes/<int:programme_id>/modules/new", methods=["GET", "POST"])
@bp.route("/staff/training/modules/<int:module_id>", methods=["GET", "POST"])
@login_required
def edit_module(programme_id: int | None = None, module_id: int | None = None):
    """Add a module to a programme, or change its texts and position."""
    require(current_user, "training.manage")
    module = db.get_or_404(Module, module_id) if module_id else None
    parent = module.programme if module else db.get_or_404(Programme, programme_id)
    form = ModuleForm() if request.method == "POST" else ModuleForm(obj=module)
    if form.validate_on_submit():
        done = _saved_or_refused(
            form,
            lambda: programme.save_module(
                db.session, parent, module, form.module_data(), actor=current_user
            ),
            _("The module is saved."),
            lambda saved: url_for("training.staff_sessions"),
        )
        if done:
            return done
    status = 422 if request.method == "POST" else 200
    page = render_template("training/edit_module.html", form=form, programme=parent, module=module)
    return page, status


def _session_form(training_session: TrainingSession | None) -> SessionForm:
    """The session form, filled from the session on GET (enrolment times on Morocco's clock)."""
    if request.method == "POST" or training_session is None:
        form = SessionForm()
    else:
        values = {name: getattr(training_session, name) for name in programme.SESSION_FIELDS}
        values["status"] = training_session.status.value
        values["capacity"] = training_session.capacity
        values["region_code"] = training_session.region.code if training_session.region else ""
        for name in ("enrolment_opens_at", "enrolment_closes_at"):
            values[name] = to_local(values[name]).replace(tzinfo=None)
        form = SessionForm(data=values)
    regions = list_regions(db.session)
    form.region_code.choices = _region_choices(regions, _("Choose a region"))
    form.eligible_regions.choices = choices(
        (region.code, region.text_for("name", _locale())) for region in regions
    )
    form.eligible_fields.choices = choices(FIELDS_OF_WORK.items())
    return form


def _session_data(form: SessionForm, training_session: TrainingSession | None) -> dict:
    """The form's values, enrolment times read on Morocco's clock (an unchanged minute keeps the
    stored instant)."""
    data = form.session_data()
    for name in ("enrolment_opens_at", "enrolment_closes_at"):
        stored = getattr(training_session, name) if training_session else None
        same_minute = (
            stored is not None
            and to_local(stored).replace(tzinfo=None, second=0, microsecond=0) == data[name]
        )
        data[name] = stored if same_minute else from_local(data[name])
    return data


@bp.route("/staff/training/modules/<int:module_id>/sessions/new", methods=["GET", "POST"])
@bp.route("/staff/training/sessions/<int:session_id>/edit", methods=["GET", "POST"])
@login_required
def edit_session(module_id: int | None = None, session_id: int | None = None):
    """Add a session to a module, or change its dates, place, seats, window and eligibility."""
    require(current_user, "training.manage")
    training_session = programme.load_session(db.session, session_id) if session_id else None
    if session_id and training_session is None:
        abort(404)
    module = training_session.module if training_session else db.get_or_404(Module, module_id)
    form = _session_form(training_session)
    if form.validate_on_submit():
        done = _saved_or_refused(
            form,
            lambda: programme.save_session(
                db.session,
                module,
                training_session,
                _session_data(form, training_session),
                actor=current_user,
            ),
            _("The session is saved."),
            lambda saved: url_for("training.session_page", session_id=saved.id),
        )
        if done:
            return done
    status = 422 if request.method == "POST" else 200
    page = render_template(
        "training/edit_session.html", form=form, module=module, training_session=training_session
    )
    return page, status
