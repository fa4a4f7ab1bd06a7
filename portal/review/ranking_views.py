"""Aggregated scores, moderation, consensus, ranking and its exports; review settings."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, IntegerField, StringField, TextAreaField
from wtforms.validators import (
    DataRequired,
    InputRequired,
    NumberRange,
    Optional,
    ValidationError,
)

from portal import exports
from portal.auth.policy import require
from portal.calls.models import Call
from portal.calls.services import load_call_with_criteria
from portal.extensions import db
from portal.forms import NUMBER, max_length, plain_text, show_refusal
from portal.htmx import is_htmx
from portal.review import bp, moderation, ranking
from portal.rules import RuleRefused
from portal.timeutil import from_local, to_local

RANKING_VIEWS = ("standard", "normalised")
# Rows of the ranking page; the exports hold the whole ranking.
RANKING_PAGE_SIZE = 100


# --- forms ----------------------------------------------------------------------------------


def _whole_number(label, minimum: int, maximum: int, required: bool = True):
    return IntegerField(
        label,
        validators=[
            InputRequired(message=_l("Enter a number.")) if required else Optional(),
            NumberRange(
                min=minimum,
                max=maximum,
                message=_l("Enter a number from %(min)s to %(max)s.", min=minimum, max=maximum),
            ),
        ],
        render_kw=NUMBER,
    )


class ReviewSettingsForm(FlaskForm):
    reviews_per_application = _whole_number(_l("Reviews per application"), 1, 20)
    max_reviews_per_evaluator = _whole_number(_l("Reviews per evaluator at most"), 1, 1000)
    review_deadline = DateTimeLocalField(
        _l("Review deadline"),
        format="%Y-%m-%dT%H:%M",
        validators=[Optional()],
        description=_l("Moroccan time (Africa/Casablanca)."),
    )
    blind_review = BooleanField(
        _l("Blind review: evaluators do not see who applied"),
    )
    disagreement_threshold = _whole_number(
        _l("Disagreement when the totals are further apart than (points on 100)"), 0, 100
    )
    overall_minimum = _whole_number(_l("Overall minimum score (on 100)"), 0, 100)


def settings_form(call: Call, **kwargs) -> ReviewSettingsForm:
    """Build the settings form with one minimum field per criterion of the call."""

    class Form(ReviewSettingsForm):
        pass

    for criterion in call.criteria:
        label = _(
            "Minimum mean score on “%(criterion)s” (0 to %(max)s; empty: none)",
            criterion=criterion.text_for("title", _locale()),
            max=criterion.max_score,
        )
        field = _whole_number(
            label,
            0,
            criterion.max_score,
            required=False,
        )
        setattr(Form, f"minimum_{criterion.id}", field)
    return Form(**kwargs)


class ConsensusForm(FlaskForm):
    score = StringField(
        _l("Consensus score (0 to 100)"),
        validators=[DataRequired(message=_l("Enter a score from 0 to 100."))],
        render_kw={"inputmode": "decimal", "dir": "ltr"},
    )
    justification = TextAreaField(
        _l("Justification"),
        validators=[
            DataRequired(message=_l("Explain how the consensus was reached.")),
            max_length(5000),
            plain_text,
        ],
    )

    def validate_score(self, field) -> None:
        try:
            value = Decimal((field.data or "").strip().replace(",", "."))
        except InvalidOperation:
            value = None
        if value is None or not value.is_finite() or not 0 <= value <= 100:
            raise ValidationError(_("Enter a score from 0 to 100."))
        field.number = float(value)


# --- loading --------------------------------------------------------------------------------


def _locale() -> str:
    return str(get_locale())


def load_call(call_id: int) -> Call:
    """Return the call with its criteria and lots if the user may run reviews; else 403/404."""
    require(current_user, "review.manage")
    call = load_call_with_criteria(db.session, call_id)
    if call is None:
        abort(404)
    return call


def load_application(application_id: int):
    """Return the application with its call for staff running reviews; else 403/404."""
    require(current_user, "review.manage")
    application = moderation.load_application(db.session, application_id)
    if application is None:
        abort(404)
    return application


# --- the call's review hub ------------------------------------------------------------------


@bp.get("/staff/calls/<int:call_id>/review")
@login_required
def call_review(call_id: int):
    """Show where the call's review stands, with links to each of its steps."""
    call = load_call(call_id)
    progress = moderation.review_progress(db.session, call)
    return render_template("review/call_review.html", call=call, progress=progress)


# --- settings -------------------------------------------------------------------------------


def _stored_values(call: Call) -> dict:
    values = {name: getattr(call, name) for name in moderation.SETTING_FIELDS}
    if call.review_deadline:
        values["review_deadline"] = to_local(call.review_deadline).replace(tzinfo=None)
    for criterion in call.criteria:
        values[f"minimum_{criterion.id}"] = criterion.minimum_score
    return values


def _deadline(entered, stored):
    """Read the minute entered on Morocco's clock; an unchanged minute keeps the stored instant."""
    if entered is None:
        return None
    if stored is not None and to_local(stored).replace(tzinfo=None, second=0, microsecond=0) == (
        entered
    ):
        return stored
    return from_local(entered)


def _settings_of(form, call: Call) -> moderation.ReviewSettings:
    return moderation.ReviewSettings(
        reviews_per_application=form.reviews_per_application.data,
        max_reviews_per_evaluator=form.max_reviews_per_evaluator.data,
        review_deadline=_deadline(form.review_deadline.data, call.review_deadline),
        blind_review=bool(form.blind_review.data),
        disagreement_threshold=form.disagreement_threshold.data,
        overall_minimum=form.overall_minimum.data,
        criterion_minimums={
            criterion.id: form[f"minimum_{criterion.id}"].data for criterion in call.criteria
        },
    )


@bp.route("/staff/calls/<int:call_id>/review/settings", methods=["GET", "POST"])
@login_required
def settings(call_id: int):
    """Change how many reviews each application gets, the deadline, blindness, thresholds."""
    call = load_call(call_id)
    if request.method == "GET":
        form = settings_form(call, data=_stored_values(call))
    else:
        form = settings_form(call)
    if form.validate_on_submit():
        try:
            moderation.update_review_settings(
                db.session, call, _settings_of(form, call), actor=current_user
            )
        except RuleRefused as refusal:
            db.session.rollback()
            show_refusal(form, refusal)
        else:
            db.session.commit()
            flash(_("The review settings are saved."), "success")
            return redirect(url_for("review.call_review", call_id=call.id), 303)
    status = 422 if request.method == "POST" else 200
    return render_template("review/settings.html", call=call, form=form), status


# --- ranking --------------------------------------------------------------------------------


def _ranking_choice(call: Call) -> tuple[int | None, bool]:
    """Read ?lot= (one of the call's lots, else the whole call) and ?view=normalised."""
    lot_id = request.args.get("lot", type=int)
    if lot_id not in {lot.id for lot in call.lots}:
        lot_id = None
    return lot_id, request.args.get("view") == "normalised"


# Endpoints named apart from their functions: `ranking` and `moderation` are service modules.
@bp.get("/staff/calls/<int:call_id>/ranking", endpoint="ranking")
@login_required
def ranking_page(call_id: int):
    """Rank the call's eligible applications, per lot or for the whole call."""
    call = load_call(call_id)
    lot_id, normalised = _ranking_choice(call)
    page = ranking.ranking_page(
        db.session,
        call,
        request.args.get("page", 1, type=int),
        RANKING_PAGE_SIZE,
        lot_id=lot_id,
        normalised=normalised,
    )
    template = "review/_ranking.html" if is_htmx() else "review/ranking.html"
    return render_template(
        template,
        call=call,
        page=page,
        lot_id=lot_id,
        normalised=normalised,
        heaviest=ranking.heaviest_criterion(call),
        criteria={criterion.id: criterion for criterion in call.criteria},
    )


@bp.get("/staff/calls/<int:call_id>/ranking.<fmt>")
@login_required
def ranking_export(call_id: int, fmt: str):
    """Export the ranking shown on the page as CSV (streamed) or XLSX."""
    if fmt not in ("csv", "xlsx"):
        abort(404)
    call = load_call(call_id)
    lot_id, normalised = _ranking_choice(call)
    ranked = ranking.rank_call(db.session, call, lot_id=lot_id, normalised=normalised)
    return exports.download(
        fmt,
        ranking.EXPORT_COLUMNS,
        ranking.export_rows(ranked, call),
        name=f"{call.code}-ranking",
        sheet="ranking",
        right_to_left=_locale() == "ar",
    )


# --- moderation -----------------------------------------------------------------------------


def _moderation_page(application, form: ConsensusForm | None = None, status: int = 200):
    call = application.call
    reviews = moderation.active_reviews(db.session, application)
    consensus = moderation.consensus_of(db.session, application.id)
    if form is None and consensus is not None:
        data = {"score": f"{consensus.score:g}", "justification": consensus.justification}
        form = ConsensusForm(data=data)
    elif form is None:
        form = ConsensusForm()
    page = render_template(
        "review/moderation.html",
        application=application,
        call=call,
        reviews=reviews,
        totals={review.id: moderation.review_total(review, call.criteria) for review in reviews},
        standing=ranking.application_standing(db.session, call, application.id),
        consensus=consensus,
        candidates=moderation.extra_evaluator_candidates(db.session, application, reviews),
        form=form,
    )
    return page, status


@bp.get("/staff/applications/<int:application_id>/moderation", endpoint="moderation")
@login_required
def moderation_page(application_id: int):
    """Show an application's reviews side by side, its statistics, and the moderation actions."""
    return _moderation_page(load_application(application_id))


@bp.post("/staff/applications/<int:application_id>/consensus")
@login_required
def record_consensus(application_id: int):
    """Record (or replace) the consensus score of an application, with its justification."""
    application = load_application(application_id)
    form = ConsensusForm()
    if form.validate_on_submit():
        try:
            moderation.record_consensus(
                db.session,
                application,
                form.score.number,
                form.justification.data,
                actor=current_user,
            )
        except RuleRefused as refusal:
            db.session.rollback()
            show_refusal(form, refusal)
        else:
            db.session.commit()
            flash(_("The consensus score is recorded."), "success")
            return redirect(
                url_for("review.moderation", application_id=application.id, _anchor="consensus"),
                303,
            )
    return _moderation_page(application, form, 422)
