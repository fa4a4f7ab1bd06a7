"""Forms of the funded actions' pages: staff edits, the progress report, staff review."""

from __future__ import annotations

from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    HiddenField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Optional

from portal.actions.models import ActionStatus, ReportStatus
from portal.actions.reports import (
    MAX_INDICATOR_RESULT,
    MAX_NARRATIVE,
    beneficiary_field,
    indicators,
    spending_field,
)
from portal.applications.sections import CATEGORY_LABELS, FIELD_LABELS
from portal.applications.services import BENEFICIARY_GROUPS
from portal.forms import NUMBER, choices, max_length, plain_text
from portal.organisations.forms import CheckboxesField

ACTION_STATUS_LABELS = {
    ActionStatus.NOT_STARTED: _l("Not started"),
    ActionStatus.IN_PROGRESS: _l("In progress"),
    ActionStatus.COMPLETED: _l("Completed"),
    ActionStatus.SUSPENDED: _l("Suspended"),
    ActionStatus.WITHDRAWN: _l("Withdrawn"),
}
REPORT_STATUS_LABELS = {
    ReportStatus.DUE: _l("To write"),
    ReportStatus.SUBMITTED: _l("Sent, waiting for staff"),
    ReportStatus.CHANGES_REQUESTED: _l("Changes requested"),
    ReportStatus.ACCEPTED: _l("Accepted"),
}
BENEFICIARY_LABELS = {group: FIELD_LABELS[f"beneficiaries.{group}"] for group in BENEFICIARY_GROUPS}


def _optional_date(label):
    return DateField(label, validators=[Optional()])


class AgreementForm(FlaskForm):
    """The agreement reference, the action's dates and its status (staff)."""

    agreement_reference = StringField(
        _l("Agreement reference"), validators=[max_length(60), plain_text], render_kw={"dir": "ltr"}
    )
    starts_on = _optional_date(_l("Start date"))
    ends_on = _optional_date(_l("End date"))
    status = SelectField(
        _l("Status"),
        choices=choices((status.value, label) for status, label in ACTION_STATUS_LABELS.items()),
    )


class LinksForm(FlaskForm):
    """The action's links to the action plan and the UN human-rights system (staff)."""

    axes = CheckboxesField(_l("Strategic axes of the action plan"), choices=[])
    plan_projects = CheckboxesField(_l("Projects of the action plan"), choices=[])
    sdgs = CheckboxesField(_l("Sustainable Development Goals"), choices=[])
    un_mechanisms = CheckboxesField(_l("UN human-rights mechanisms"), choices=[])
    un_recommendations = TextAreaField(
        _l("Recommendations the action follows up (one per line)"),
        validators=[max_length(5000), plain_text],
        render_kw={"rows": 4},
    )

    def fill_choices(self, links: dict, locale: str) -> None:
        """Offer every axis, project, SDG and mechanism, named in the page's language."""
        self.axes.choices = choices(
            (axis.code, f"{axis.number}. {axis.text_for('title', locale)}")
            for axis in links["axes"]
        )
        self.plan_projects.choices = choices(
            (str(project.number), f"{project.number}. {project.text_for('title', locale)}")
            for project in links["plan_projects"]
        )
        self.sdgs.choices = choices(
            (str(sdg.number), f"{sdg.number}. {sdg.text_for('title', locale)}")
            for sdg in links["sdgs"]
        )
        self.un_mechanisms.choices = choices(
            (mechanism.code, mechanism.text_for("name", locale))
            for mechanism in links["un_mechanisms"]
        )


class TrancheForm(FlaskForm):
    """A payment tranche: planned date and amount; paid date and amount once paid (staff)."""

    planned_on = DateField(_l("Planned date"), validators=[InputRequired(_l("Enter a date."))])
    amount = StringField(_l("Planned amount (MAD)"), render_kw=NUMBER)
    paid_on = _optional_date(_l("Date paid"))
    paid_amount = StringField(_l("Amount paid (MAD)"), render_kw=NUMBER)


REAL_DATE = _l("Enter a real date, such as 2026-03-31.")


class MilestoneForm(FlaskForm):
    """A milestone: what the action is to reach, by when, and when it was reached (staff)."""

    # Required, trimmed and checked by the service (one message, whatever the blank typed).
    title = StringField(_l("Milestone"), render_kw={"maxlength": 200})
    due_on = DateField(
        _l("Due on"),
        validators=[InputRequired(_l("Enter a date."))],
        invalid_value_message=REAL_DATE,
    )
    done_on = DateField(
        _l("Done on"),
        description=_l("Leave empty while the milestone is not reached."),
        validators=[Optional()],
        invalid_value_message=REAL_DATE,
    )


class MilestoneDoneForm(FlaskForm):
    """The button marking a milestone reached today ("1") or not reached (anything else)."""

    done = HiddenField()


class ScheduleForm(FlaskForm):
    """A date on which the association owes a report (staff)."""

    due_on = DateField(_l("Report due on"), validators=[InputRequired(_l("Enter a date."))])
    final = BooleanField(_l("Final report"))


class ReviewForm(FlaskForm):
    """Staff's comment when they send a report back for changes."""

    comment = TextAreaField(
        _l("What should the association change?"),
        validators=[max_length(5000), plain_text],
        render_kw={"rows": 4},
    )


class ReportForm(FlaskForm):
    """The fields every report has; `report_form_class` adds the action's own."""

    # The version the page was opened at: a save based on an older one is refused.
    version = HiddenField(validators=[InputRequired()])
    activities_done = TextAreaField(
        _l("Activities done since the last report"),
        validators=[max_length(MAX_NARRATIVE), plain_text],
        render_kw={"rows": 8},
    )
    progress_percent = StringField(
        _l("Progress of the action (percent)"),
        description=_l("From 0 to 100: how much of the action is done."),
        render_kw={**NUMBER, "maxlength": 3},
    )
    save = SubmitField(_l("Save the draft"))
    send = SubmitField(_l("Save and send to staff"))


def report_form_class(action, locale: str):
    """Return the report form of this action: a field per indicator of the application, per
    beneficiary group and per budget line, labelled with what the application planned."""

    class ActionReportForm(ReportForm):
        pass

    for indicator in indicators(action):
        setattr(
            ActionReportForm,
            indicator.field,
            StringField(
                indicator.name or _l("Indicator"),
                # Built per request: a plain string, escaped like any text (a lazy one with the
                # association's words in it would be printed as markup).
                description=gettext("Target: %(target)s", target=indicator.target),
                validators=[max_length(MAX_INDICATOR_RESULT), plain_text],
                render_kw={"maxlength": MAX_INDICATOR_RESULT},
            ),
        )
    for group in BENEFICIARY_GROUPS:
        setattr(
            ActionReportForm,
            beneficiary_field(group),
            StringField(BENEFICIARY_LABELS[group], render_kw=NUMBER),
        )
    for line in action.application.budget_lines:
        category = CATEGORY_LABELS.get(line.category, line.category)
        setattr(
            ActionReportForm,
            spending_field(line.id),
            StringField(f"{category} — {line.description}", render_kw=NUMBER),
        )
    return ActionReportForm
