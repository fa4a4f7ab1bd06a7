"""Forms of the call pages (staff build a call in parts)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional, Regexp

from portal.calls.models import DEFAULT_WORD_LIMITS, DOCUMENT_TYPES
from portal.forms import ARABIC, FRENCH, NUMBER, choices, max_length, plain_text
from portal.organisations.forms import CheckboxesField

# Amounts are stored in 32-bit integer columns: a billion dirhams is far above any real call.
MAX_MONEY = 10**9
NARRATIVE_LABELS = {
    "context": _l("Context"),
    "objectives": _l("Objectives"),
    "activities": _l("Activities"),
    "expected_results": _l("Expected results"),
    "indicators": _l("Indicators"),
    "sustainability": _l("Sustainability"),
}


def _money(label, minimum: int = 0):
    # InputRequired, not DataRequired: 0 is a real amount (no minimum per application).
    return IntegerField(
        label,
        validators=[
            InputRequired(message=_l("Enter an amount in dirhams.")),
            NumberRange(
                min=minimum,
                max=MAX_MONEY,
                message=_l(
                    "Enter a whole number of dirhams from %(min)s to %(max)s.",
                    min=minimum,
                    max="1,000,000,000",
                ),
            ),
        ],
        render_kw=NUMBER,
    )


def _whole_number(label, minimum: int, maximum: int, default: int | None = None):
    return IntegerField(
        label,
        default=default,
        validators=[
            InputRequired(message=_l("Enter a number.")),
            NumberRange(
                min=minimum,
                max=maximum,
                message=_l("Enter a number from %(min)s to %(max)s.", min=minimum, max=maximum),
            ),
        ],
        render_kw=NUMBER,
    )


def _local_time(label, required: bool = True):
    return DateTimeLocalField(
        label,
        format="%Y-%m-%dT%H:%M",
        # InputRequired, not DataRequired: a date typed wrong is told so, not that none was typed.
        validators=[InputRequired() if required else Optional()],
        description=_l("Moroccan time (Africa/Casablanca)."),
    )


class CallForm(FlaskForm):
    code = StringField(
        _l("Reference code"),
        validators=[
            DataRequired(),
            max_length(40),
            plain_text,
            Regexp(r"^[A-Za-z0-9-]+$", message=_l("Use letters, digits and -")),
        ],
        render_kw={"dir": "ltr"},
    )
    title_ar = StringField(
        _l("Title in Arabic"),
        validators=[DataRequired(), max_length(300), plain_text],
        render_kw=ARABIC,
    )
    title_fr = StringField(
        _l("Title in French"),
        validators=[DataRequired(), max_length(300), plain_text],
        render_kw=FRENCH,
    )
    description_ar = TextAreaField(
        _l("Description in Arabic"),
        default="",
        validators=[max_length(20000), plain_text],
        render_kw=ARABIC,
    )
    description_fr = TextAreaField(
        _l("Description in French"),
        default="",
        validators=[max_length(20000), plain_text],
        render_kw=FRENCH,
    )
    opens_at = _local_time(_l("Opens on"), required=False)
    closes_at = _local_time(_l("Closes on (deadline)"), required=False)
    results_expected_at = _local_time(_l("Results expected on"), required=False)
    budget_total = _money(_l("Budget of the call (MAD)"))
    min_amount = _money(_l("Minimum amount per application (MAD)"))
    max_amount = _money(_l("Maximum amount per application (MAD)"))
    min_cofunding_percent = _whole_number(_l("Minimum co-funding share (%)"), 0, 100, 0)
    max_duration_months = _whole_number(_l("Maximum duration (months)"), 1, 60, 12)
    min_years_since_founding = _whole_number(
        _l("Association founded at least this many years before the deadline"), 0, 100, 0
    )
    max_applications_per_association = _whole_number(
        _l("Applications per association at most"), 1, 20, 1
    )
    max_budget_lines = _whole_number(_l("Budget lines per application at most"), 1, 500, 60)
    region_codes = CheckboxesField(
        _l("Regions where the association must be based (none ticked: all regions)")
    )

    def call_data(self) -> dict:
        names = [name for name in self._fields if name != "csrf_token"]
        return {name: self[name].data for name in names}


class WordLimitsForm(FlaskForm):
    pass


for _name, _default in DEFAULT_WORD_LIMITS.items():
    setattr(WordLimitsForm, _name, _whole_number(NARRATIVE_LABELS[_name], 20, 5000, _default))


class LotForm(FlaskForm):
    title_ar = StringField(
        _l("Title in Arabic"),
        validators=[DataRequired(), max_length(300), plain_text],
        render_kw=ARABIC,
    )
    title_fr = StringField(
        _l("Title in French"),
        validators=[DataRequired(), max_length(300), plain_text],
        render_kw=FRENCH,
    )
    description_ar = TextAreaField(
        _l("Description in Arabic"),
        default="",
        validators=[max_length(5000), plain_text],
        render_kw=ARABIC,
    )
    description_fr = TextAreaField(
        _l("Description in French"),
        default="",
        validators=[max_length(5000), plain_text],
        render_kw=FRENCH,
    )
    budget = _money(_l("Budget of the lot (MAD)"), minimum=1)
    axis_codes = CheckboxesField(
        _l("Strategic axes"), validators=[DataRequired(message=_l("Choose at least one axis."))]
    )
    project_numbers = CheckboxesField(_l("Action-plan projects (optional)"), coerce=int)
    partner_code = SelectField(
        _l("Co-funding partner (optional)"),
        description=_l("A cooperation programme of the action plan that funds part of the lot."),
        validate_choice=False,
    )
    partner_share = IntegerField(
        _l("Partner's share of the lot (%)"),
        validators=[Optional(), NumberRange(min=1, max=100, message=_l("From 1 to 100."))],
        render_kw=NUMBER,
    )


class CriterionForm(FlaskForm):
    title_ar = StringField(
        _l("Title in Arabic"),
        validators=[DataRequired(), max_length(300), plain_text],
        render_kw=ARABIC,
    )
    title_fr = StringField(
        _l("Title in French"),
        validators=[DataRequired(), max_length(300), plain_text],
        render_kw=FRENCH,
    )
    guidance_ar = TextAreaField(
        _l("Guidance in Arabic"),
        default="",
        validators=[max_length(5000), plain_text],
        render_kw=ARABIC,
    )
    guidance_fr = TextAreaField(
        _l("Guidance in French"),
        default="",
        validators=[max_length(5000), plain_text],
        render_kw=FRENCH,
    )
    weight = _whole_number(_l("Weight (%)"), 1, 100)
    max_score = _whole_number(_l("Maximum score"), 1, 100, 10)


TYPE_LABELS = {
    "pdf": "PDF",
    "docx": "Word (.docx)",
    "xlsx": "Excel (.xlsx)",
    "odt": "OpenDocument (.odt)",
    "jpeg": "JPEG",
    "png": "PNG",
}


class DocumentForm(FlaskForm):
    code = StringField(
        _l("Code"),
        validators=[
            DataRequired(),
            max_length(40),
            plain_text,
            Regexp(r"^[a-z0-9-]+$", message=_l("Use small letters, digits and -")),
        ],
        render_kw={"dir": "ltr"},
    )
    name_ar = StringField(
        _l("Name in Arabic"),
        validators=[DataRequired(), max_length(300), plain_text],
        render_kw=ARABIC,
    )
    name_fr = StringField(
        _l("Name in French"),
        validators=[DataRequired(), max_length(300), plain_text],
        render_kw=FRENCH,
    )
    mandatory = BooleanField(_l("Mandatory"), default=True)
    allowed_types = CheckboxesField(
        _l("Allowed file types"),
        choices=choices((kind, TYPE_LABELS[kind]) for kind in DOCUMENT_TYPES),
        validators=[DataRequired(message=_l("Choose at least one file type."))],
    )
    max_size_mb = _whole_number(_l("Maximum size (MB)"), 1, 25, 10)


class ManualCheckForm(FlaskForm):
    text_ar = TextAreaField(
        _l("Rule in Arabic"),
        validators=[DataRequired(), max_length(2000), plain_text],
        render_kw=ARABIC,
    )
    text_fr = TextAreaField(
        _l("Rule in French"),
        validators=[DataRequired(), max_length(2000), plain_text],
        render_kw=FRENCH,
    )


class ExtensionForm(FlaskForm):
    association_id = SelectField(_l("Association"), coerce=int, validate_choice=True)
    until = _local_time(_l("May submit until"))
    reason = TextAreaField(
        _l("Incident that justifies it"), validators=[DataRequired(), max_length(2000), plain_text]
    )


CALL_STATUS_LABELS = {
    "draft": _l("Draft"),
    "published": _l("Published"),
    "closed": _l("Closed"),
    "archived": _l("Archived"),
}
