"""Training statistics for staff: participants and seats by sex, region, association, module and
session, with charts and exports; the satisfaction survey participants answer from their e-mail
link, and its results for staff."""

from __future__ import annotations

import re
from datetime import date

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
from sqlalchemy import select
from wtforms import RadioField, SelectField, StringField, TextAreaField, ValidationError
from wtforms.validators import Length

from portal import exports
from portal.accounts import tokens
from portal.auth.policy import require
from portal.db import utcnow
from portal.extensions import db
from portal.forms import choices, max_length, plain_text, show_refusal
from portal.htmx import is_htmx
from portal.strategy.services import list_regions
from portal.timeutil import to_local
from portal.training import bp, programme, survey
from portal.training import statistics as figures
from portal.training.models import SURVEY_QUESTIONS, TrainingSession

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
SEX_LABELS = {"female": _l("Women"), "male": _l("Men")}
QUESTION_LABELS = {
    "content": _l("The content of the session"),
    "trainers": _l("The trainers"),
    "organisation": _l("The organisation: place, timing, materials"),
    "usefulness": _l("Its usefulness for your association's work"),
}
RATING_LABELS = {
    "1": _l("1 – Very poor"),
    "2": _l("2 – Poor"),
    "3": _l("3 – Fair"),
    "4": _l("4 – Good"),
    "5": _l("5 – Very good"),
}


def _locale() -> str:
    return str(get_locale())


def _listed(message):
    """Refuse a value that is not one of the field's options (a hand-edited URL)."""

    def check(form, field) -> None:
        if field.data and field.data not in {choice.value for choice in field.choices}:
            raise ValidationError(message)

    return check


def _day(field) -> date | None:
    if not field.data:
        return None
    if not ISO_DATE.match(field.data):
        raise ValidationError(_("Enter a date as YYYY-MM-DD."))
    try:
        return date.fromisoformat(field.data)
    except ValueError:
        raise ValidationError(_("Enter a date as YYYY-MM-DD.")) from None


class StatisticsFilterForm(FlaskForm):
    """The statistics' filters: a GET form, so it needs no CSRF token."""

    class Meta:
        csrf = False

    programme = SelectField(
        _l("Programme"),
        default="",
        validate_choice=False,
        validators=[_listed(_l("Choose a programme from the list."))],
    )
    module = SelectField(
        _l("Module"),
        default="",
        validate_choice=False,
        validators=[_listed(_l("Choose a module from the list."))],
    )
    year = SelectField(
        _l("Year"),
        default="",
        validate_choice=False,
        validators=[_listed(_l("Choose a year from the list."))],
    )
    date_from = StringField(
        _l("Or sessions starting from"),
        validators=[max_length(10), plain_text],
        render_kw={"type": "date", "dir": "ltr"},
    )
    date_to = StringField(
        _l("Until"),
        validators=[max_length(10), plain_text],
        render_kw={"type": "date", "dir": "ltr"},
    )
    region = SelectField(
        _l("Region where the session takes place"),
        default="",
        validate_choice=False,
        validators=[_listed(_l("Choose a region from the list."))],
    )

    def validate_date_from(self, field) -> None:
        first = _day(field)
        if first and self.year.data:
            raise ValidationError(_("Choose either a year or a date range, not both."))

    def validate_date_to(self, field) -> None:
        last = _day(field)
        try:
            first = _day(self.date_from)
        except ValidationError:
            return
        if first and last and last < first:
            raise ValidationError(_("The end of the period cannot be before its start."))

    def filters(self) -> figures.StatisticsFilters:
        """Return the chosen filters (call after a successful validate())."""
        if self.year.data:
            year = int(self.year.data)
            starts_from, starts_until = date(year, 1, 1), date(year, 12, 31)
        else:
            starts_from, starts_until = _day(self.date_from), _day(self.date_to)
        return figures.StatisticsFilters(
            programme_id=int(self.programme.data) if self.programme.data else None,
            module_id=int(self.module.data) if self.module.data else None,
            starts_from=starts_from,
            starts_until=starts_until,
            region_code=self.region.data or None,
        )


def _filtered_statistics():
    """Read the filters; return (form, statistics or None when a filter is refused)."""
    require(current_user, "training.manage")
    locale = _locale()
    modules = programme.list_modules(db.session)
    regions = list_regions(db.session)
    programmes = {module.programme.id: module.programme for module in modules}
    form = StatisticsFilterForm(request.args)
    form.programme.choices = choices(
        [("", _("Every programme"))]
        + [(str(item.id), item.text_for("title", locale)) for item in programmes.values()]
    )
    form.module.choices = choices(
        [("", _("Every module"))]
        + [(str(module.id), module.text_for("title", locale)) for module in modules]
    )
    years = figures.session_years(db.session, to_local(utcnow()).date())
    form.year.choices = choices([("", _("Every year"))] + [(str(year), year) for year in years])
    form.region.choices = choices(
        [("", _("Every region"))]
        + [(region.code, region.text_for("name", locale)) for region in regions]
    )
    if not form.validate():
        return form, None
    statistics = figures.programme_statistics(
        db.session, form.filters(), regions=regions, modules=modules
    )
    return form, statistics


def _page(form, statistics):
    arguments = {key: value for key, value in request.args.items() if value}
    template = "training/_statistics.html" if is_htmx() else "training/statistics.html"
    page = render_template(
        template,
        form=form,
        statistics=statistics,
        arguments=arguments,
        sex_labels=SEX_LABELS,
        questions=QUESTION_LABELS,
        top=figures.TOP_ASSOCIATIONS,
    )
    return page, 200 if statistics is not None else 422


@bp.get("/staff/training/statistics", endpoint="statistics")
@login_required
def statistics_page():
    """Show seats, participants (by sex, region, association, module, session) and attendance."""
    return _page(*_filtered_statistics())


@bp.get("/staff/training/statistics.<any(csv, xlsx):fmt>")
@login_required
def statistics_export(fmt: str):
    """Export one row per session of the filtered statistics, as CSV (streamed) or XLSX."""
    form, statistics = _filtered_statistics()
    if statistics is None:
        return _page(form, statistics)
    return exports.download(
        fmt,
        figures.EXPORT_COLUMNS,
        figures.export_rows(statistics),
        name="training-statistics",
        sheet="sessions",
        right_to_left=_locale() == "ar",
    )


# --- the satisfaction survey ----------------------------------------------------------------


def _rated(form, field) -> None:
    if field.data not in RATING_LABELS:
        raise ValidationError(_("Choose a rating from 1 to 5."))


def _rating(question: str) -> RadioField:
    return RadioField(
        QUESTION_LABELS[question],
        choices=choices(RATING_LABELS.items()),
        validate_choice=False,
        validators=[_rated],
    )


class SurveyForm(FlaskForm):
    """Four ratings from 1 to 5 and a comment."""

    content = _rating("content")
    trainers = _rating("trainers")
    organisation = _rating("organisation")
    usefulness = _rating("usefulness")
    comment = TextAreaField(
        _l("Comments (optional)"),
        default="",
        validators=[
            Length(max=survey.COMMENT_MAX, message=_l("At most %(n)d characters.", n=2000)),
            plain_text,
        ],
        render_kw={"maxlength": survey.COMMENT_MAX},
    )

    def answers(self) -> dict:
        """Return the answers as the survey service takes them."""
        values = {question: self[question].data for question in SURVEY_QUESTIONS}
        return {**values, "comment": self.comment.data or ""}


def _survey_page(enrolment, form, *, answered: bool, status: int = 200):
    training = enrolment.session
    page = render_template(
        "training/survey.html",
        form=form,
        answered=answered,
        training_session=training,
        module=training.module,
        questions=SURVEY_QUESTIONS,
    )
    return page, status


# The endpoint is named apart from the function: `survey` is the service module.
@bp.route("/training/survey/<token>", methods=["GET", "POST"], endpoint="survey")
def survey_form(token: str):
    """Let a participant rate the session they attended, once, from the link in their e-mail."""
    try:
        enrolment = survey.enrolment_for_token(db.session, token)
    except tokens.TokenExpired:
        message = _("This survey link has expired: the survey is closed.")
        return render_template("accounts/link_problem.html", message=message), 410
    except tokens.TokenInvalid:
        abort(404)
    answered = survey.response_of(db.session, enrolment) is not None
    form = SurveyForm()
    if answered:
        # A second answer is refused whatever it holds: the first one stays.
        status = 409 if request.method == "POST" else 200
        return _survey_page(enrolment, form, answered=True, status=status)
    if request.method == "GET":
        return _survey_page(enrolment, form, answered=False)
    if form.validate():
        try:
            survey.record_survey_response(db.session, enrolment, form.answers())
        except survey.SurveyAlreadyAnswered:
            db.session.rollback()
            return _survey_page(enrolment, form, answered=True, status=409)
        except programme.TrainingError as refusal:
            db.session.rollback()
            show_refusal(form, refusal)
        else:
            db.session.commit()
            flash(_("Thank you: your answers are recorded."), "success")
            return redirect(url_for("training.survey", token=token), 303)
    return _survey_page(enrolment, form, answered=False, status=422)


@bp.get("/staff/training/sessions/<int:session_id>/survey")
@login_required
def survey_results(session_id: int):
    """Show a session's survey: response rate, the mean of each question, the comments."""
    require(current_user, "training.manage")
    training = programme.load_session(db.session, session_id)
    if training is None:
        abort(404)
    summary = survey.survey_summary(
        db.session, select(TrainingSession.id).where(TrainingSession.id == training.id)
    )
    return render_template(
        "training/survey_results.html",
        training_session=training,
        module=training.module,
        summary=summary,
        comments=survey.session_comments(db.session, training.id),
        questions=QUESTION_LABELS,
    )
