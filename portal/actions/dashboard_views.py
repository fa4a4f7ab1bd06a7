"""The dashboards of the funded actions for staff (per axis, lot, region, SDG, UN mechanism,
gender marker and funder, with charts and tables) and the annual report (XLSX and PDF)."""

from __future__ import annotations

from flask import Response, abort, render_template, request
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user, login_required
from flask_wtf import FlaskForm
from wtforms import SelectField, ValidationError

from portal.actions import bp
from portal.actions import dashboards as figures
from portal.auth.policy import require
from portal.db import utcnow
from portal.exports import XLSX_MIMETYPE
from portal.extensions import db
from portal.forms import choices
from portal.htmx import is_htmx
from portal.pdf import html_to_pdf
from portal.timeutil import to_local
from portal.web.i18n import text_direction

BREAKDOWN_TITLES = {
    "axis": _l("By strategic axis"),
    "lot": _l("By lot"),
    "region": _l("By region"),
    "sdg": _l("By Sustainable Development Goal"),
    "un_mechanism": _l("By UN human-rights mechanism"),
}
BREAKDOWN_HEADINGS = {
    "axis": _l("Strategic axis"),
    "lot": _l("Lot"),
    "region": _l("Region"),
    "sdg": _l("Goal"),
    "un_mechanism": _l("Mechanism"),
}
MARKER_LABELS = {
    "0": _l("0 – Not targeted"),
    "1": _l("1 – Significant objective"),
    "2": _l("2 – Principal objective"),
    "none": _l("Not set"),
}
FIRST_YEAR, LAST_YEAR = 2000, 2100


def _listed(message):
    """Refuse a value that is not one of the field's options (a hand-edited URL)."""

    def check(form, field) -> None:
        if field.data and field.data not in {choice.value for choice in field.choices}:
            raise ValidationError(message)

    return check


class DashboardFilterForm(FlaskForm):
    """The dashboards' filters: a GET form, so it needs no CSRF token."""

    class Meta:
        csrf = False

    call = SelectField(
        _l("Call for projects"),
        default="",
        validate_choice=False,
        validators=[_listed(_l("Choose a call from the list."))],
    )
    year = SelectField(
        _l("Year the results were published"),
        default="",
        validate_choice=False,
        validators=[_listed(_l("Choose a year from the list."))],
    )

    def filters(self) -> figures.DashboardFilters:
        """Return the chosen filters (call after a successful validate())."""
        return figures.DashboardFilters(
            call_id=int(self.call.data) if self.call.data else None,
            year=int(self.year.data) if self.year.data else None,
        )


def _this_year() -> int:
    return to_local(utcnow()).year


def _filtered():
    """Read the filters; return (form, filters or None when a filter is refused)."""
    require(current_user, "actions.manage")
    form = DashboardFilterForm(request.args)
    calls, years, latest = figures.published_calls(db.session, _this_year())
    form.call.choices = choices(
        [("", _("Every call"))] + [(str(call.id), call.code) for call in calls]
    )
    form.year.choices = choices([("", _("Every year"))] + [(str(year), year) for year in years])
    # The annual report offered by default: the latest year results were published in.
    form.latest_year = latest
    if not form.validate():
        return form, None
    return form, form.filters()


@bp.get("/staff/dashboards", endpoint="dashboards")
@login_required
def dashboards_page():
    """Show what the funded actions achieved per axis, lot, region, SDG and UN mechanism."""
    form, filters = _filtered()
    dashboard = None
    if filters is not None:
        reference = figures.load_reference(db.session, filters)
        dashboard = figures.dashboard(db.session, filters, reference)
    arguments = {key: value for key, value in request.args.items() if value}
    template = "actions/_dashboard.html" if is_htmx() else "actions/dashboard.html"
    page = render_template(
        template,
        form=form,
        dashboard=dashboard,
        arguments=arguments,
        report_year=(filters.year if filters and filters.year else form.latest_year),
        **_labels(),
    )
    return page, 200 if dashboard is not None else 422


def _labels() -> dict:
    return {
        "breakdowns": figures.BREAKDOWNS,
        "breakdown_titles": BREAKDOWN_TITLES,
        "breakdown_headings": BREAKDOWN_HEADINGS,
        "marker_labels": MARKER_LABELS,
    }


def _report_labels() -> dict:
    """The workbook's headings, in the language forced around the call."""
    return {
        "group": _("Group"),
        "actions": _("Funded actions"),
        "awarded": _("Amount awarded (MAD)"),
        "paid": _("Amount paid (MAD)"),
        "planned_women": _("Women planned"),
        "planned_men": _("Men planned"),
        "reached_women": _("Women reached"),
        "reached_men": _("Men reached"),
        "regions": _("Regions covered"),
        "projects": _("Action-plan projects served"),
        "progress": _("Progress weighted by amount (%)"),
        "marker": _("Gender equality marker"),
        "funder": _("Funder"),
        "delegation": _("Ministerial Delegation for Human Rights"),
        "by": {key: str(value) for key, value in BREAKDOWN_HEADINGS.items()},
        "markers": {key: str(value) for key, value in MARKER_LABELS.items()},
        "sheets": {
            "axis": _("Axes"),
            "lot": _("Lots"),
            "region": _("Regions"),
            "sdg": _("SDGs"),
            "un_mechanism": _("UN mechanisms"),
            "gender_marker": _("Gender marker"),
            "funder": _("Funders"),
        },
    }


@bp.get("/staff/dashboards/annual-report-<int:year>-<any(ar, fr):lang>.<any(xlsx, pdf):fmt>")
@login_required
def annual_report(year: int, lang: str, fmt: str):
    """Export the year's figures as a workbook (one sheet per breakdown) or a PDF, in `lang`."""
    require(current_user, "actions.manage")
    if not FIRST_YEAR <= year <= LAST_YEAR:
        abort(404)
    filters = figures.DashboardFilters(year=year)
    reference = figures.load_reference(db.session, filters)
    dashboard = figures.dashboard(db.session, filters, reference)
    with force_locale(lang):
        if fmt == "xlsx":
            sheets = figures.report_sheets(dashboard, _report_labels(), lang)
            body = figures.workbook_bytes(sheets, right_to_left=lang == "ar")
            mimetype = XLSX_MIMETYPE
        else:
            html = render_template(
                "actions/annual_report_pdf.html",
                dashboard=dashboard,
                year=year,
                locale=lang,
                direction=text_direction(lang),
                generated_on=to_local(utcnow()).date(),
                **_labels(),
            )
            body, mimetype = html_to_pdf(html), "application/pdf"
    response = Response(body, mimetype=mimetype)
    name = f"annual-report-{year}-{lang}.{fmt}"
    response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
