"""Eligibility screening of submitted applications by staff."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, ngettext
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required

from portal.accounts.models import User
from portal.applications.services import is_whole_number
from portal.auth.policy import require
from portal.calls.models import Call
from portal.db import utcnow
from portal.extensions import db
from portal.forms import EmptyForm
from portal.htmx import is_htmx, render_page_or_fragment
from portal.pagination import paginate
from portal.review import bp
from portal.review import screening as services
from portal.review.models import Screening, ScreeningDecision

PAGE_SIZE = 50
STATE_LABELS = {
    ScreeningDecision.PENDING: _l("To screen"),
    ScreeningDecision.ELIGIBLE: _l("Eligible"),
    ScreeningDecision.INELIGIBLE: _l("Ineligible"),
}


@bp.context_processor
def screening_context() -> dict:
    """Give the screening pages the names of the decisions."""
    return {"screening_labels": STATE_LABELS}


def _hub_url(call: Call) -> str:
    return url_for("review.call_review", call_id=call.id)


def _call_or_404(call_id: int) -> Call:
    require(current_user, "review.manage")
    call = db.session.get(Call, call_id)
    if call is None:
        abort(404)
    return call


# --- the list -------------------------------------------------------------------------------


def _filters() -> services.ScreeningFilters:
    return services.ScreeningFilters(
        state=request.args.get("state", "")[:20], mine=request.args.get("mine") == "1"
    )


def _list_page(call: Call, status: int = 200):
    filters = _filters()
    context = {"call": call, "filters": filters, "hub_url": _hub_url(call), "page": None}
    context["started"] = services.screening_has_started(call, utcnow())
    if context["started"]:
        query = services.screening_query(call.id, filters, current_user.id)
        context.update(
            page=paginate(db.session, query, request.args.get("page", 1, type=int), PAGE_SIZE),
            progress=services.screening_progress(db.session, call.id),
        )
        if not is_htmx():  # the fragment has no split form
            context.update(staff=services.staff_members(db.session), split_form=EmptyForm())
    page = render_page_or_fragment(
        "review/screening_list.html", "review/_screening_rows.html", **context
    )
    return page, status


@bp.get("/staff/calls/<int:call_id>/screening")
@login_required
def screening_list(call_id: int):
    """List the call's submitted applications with their screening, progress and filters."""
    call = _call_or_404(call_id)
    # Filtering (htmx) follows a visit of the page, which created the missing screenings.
    started = services.screening_has_started(call, utcnow())
    if started and not is_htmx() and services.ensure_screenings(db.session, call):
        db.session.commit()
    return _list_page(call)


@bp.post("/staff/calls/<int:call_id>/screening/split")
@login_required
def split_screening(call_id: int):
    """Share the applications still to screen among the chosen staff members, in turn."""
    call = _call_or_404(call_id)
    raw = request.form.getlist("staff_ids")
    try:
        if not all(is_whole_number(value) for value in raw):
            raise services.ScreeningError(_l("Choose staff members from the list."))
        counts = services.split_screening(
            db.session, call, [int(value) for value in raw], actor=current_user
        )
    except services.ScreeningError as error:
        db.session.rollback()
        flash(str(error.message), "error")
        return _list_page(call, 422)
    db.session.commit()
    shared = sum(counts.values())
    flash(
        ngettext(
            "%(num)d application to screen is shared.",
            "%(num)d applications to screen are shared.",
            shared,
        ),
        "success",
    )
    return redirect(url_for("review.screening_list", call_id=call_id), 303)


# --- one application ------------------------------------------------------------------------


def _application_or_404(application_id: int):
    require(current_user, "review.manage")
    application = services.load_application_for_screening(db.session, application_id)
    if application is None:
        abort(404)
    return application


def _saved_form(record: Screening | None) -> dict:
    """What the decision form shows: the saved decision, or nothing yet."""
    if record is None:
        return {"decision": "", "reason_ar": "", "reason_fr": "", "checks": set(), "version": 0}
    decided = record.decision != ScreeningDecision.PENDING
    return {
        "decision": record.decision.value if decided else "",
        "reason_ar": record.reason_ar,
        "reason_fr": record.reason_fr,
        "checks": {int(key) for key, ticked in (record.checks or {}).items() if ticked},
        "version": record.version,
    }


def _typed_form(version: int) -> dict:
    """What the user sent, kept for them when it was refused."""
    return {
        "decision": request.form.get("decision", ""),
        "reason_ar": request.form.get("reason_ar", ""),
        "reason_fr": request.form.get("reason_fr", ""),
        "checks": {int(v) for v in request.form.getlist("checks") if is_whole_number(v)},
        "version": version,
    }


def _screening_page(application, record, *, form=None, errors=None, status=200, **extra):
    """Render the page (or, for htmx, the decision fragment) of one application's screening."""
    locale = str(get_locale())
    decided_by = None
    if record is not None and record.decided_by_id is not None:
        decided_by = db.session.get(User, record.decided_by_id)
    context = {
        "application": application,
        "call": application.call,
        "association": application.association,
        "record": record,
        "decided_by": decided_by,
        "form": form or _saved_form(record),
        "errors": errors or {},
        "started": record is not None,
        **extra,
    }
    if is_htmx():
        return render_template("review/_screening_decision.html", **context), status
    context["rules"] = services.automatic_rules(db.session, application, locale)
    return render_template("review/screening.html", **context), status


def _decision_from_form() -> services.Decision:
    checks = request.form.getlist("checks")
    return services.Decision(
        decision=request.form.get("decision", ""),
        reason_ar=request.form.get("reason_ar", ""),
        reason_fr=request.form.get("reason_fr", ""),
        checks=tuple(int(value) for value in checks if is_whole_number(value)),
        version=request.form.get("version", 0, type=int),
    )


@bp.route("/staff/applications/<int:application_id>/screening", methods=["GET", "POST"])
@login_required
def screening(application_id: int):
    """Show the automatic rules and the checklist; record the decision eligible or ineligible."""
    application = _application_or_404(application_id)
    if services.screening_has_started(application.call, utcnow()) and services.ensure_screenings(
        db.session, application.call, application.id
    ):
        db.session.commit()
    record = services.find_screening(db.session, application.id)
    if request.method == "GET":
        return _screening_page(application, record)
    data = _decision_from_form()
    if record is None:
        message = _("Screening starts when the call's deadline has passed.")
        return _screening_page(application, record, errors={"": message}, status=422)
    failed = [
        rule.code
        for rule in services.automatic_rules(db.session, application, str(get_locale()))
        if not rule.passed
    ]
    try:
        services.decide_screening(
            db.session, record, application, data, actor=current_user, failed_rules=failed
        )
    except services.ScreeningConflict:
        db.session.rollback()
        # Their decision is shown beside the user's, whose form now carries the saved version:
        # sending it again replaces their decision knowingly.
        return _screening_page(
            application,
            record,
            form=_typed_form(record.version),
            conflict=True,
            status=409,
        )
    except services.ScreeningError as error:
        db.session.rollback()
        return _screening_page(
            application,
            record,
            form=_typed_form(data.version),
            errors={error.field or "": str(error.message)},
            status=422,
        )
    db.session.commit()
    if is_htmx():
        return _screening_page(application, record, saved=True)
    flash(_("The screening decision is saved."), "success")
    return redirect(url_for("review.screening", application_id=application.id), 303)
