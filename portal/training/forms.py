"""Forms of the training pages: the catalogue's filters and the staff forms."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from portal.forms import choices
from portal.organisations.forms import CheckboxesField
from portal.training.models import SessionStatus

ARABIC = {"dir": "rtl", "lang": "ar"}
FRENCH = {"dir": "ltr", "lang": "fr"}
NUMBER = {"inputmode": "numeric", "dir": "ltr"}
LANGUAGE_LABELS = {"ar": _l("Arabic"), "fr": _l("French")}
STATUS_LABELS = {
    SessionStatus.DRAFT.value: _l("Draft"),
    SessionStatus.PUBLISHED.value: _l("Published"),
    SessionStatus.CANCELLED.value: _l("Cancelled"),
}


def _whole_number(label, minimum: int, maximum: int, default: int | None = None, **kwargs):
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
        **kwargs,
    )


class CatalogueFilterForm(FlaskForm):
    """The catalogue's filters: a GET form, so it needs no CSRF token."""

    class Meta:
        csrf = False

    module = SelectField(_l("Module"), default="", validators=[Optional()])
    region = SelectField(_l("Region"), default="", validators=[Optional()])
    month = StringField(
        _l("Month"),
        validators=[
            Optional(),
            Regexp(r"^\d{4}-(0[1-9]|1[0-2])$", message=_l("Enter a month as YYYY-MM.")),
        ],
        render_kw={"type": "month", "dir": "ltr", "placeholder": "YYYY-MM"},
    )
    language = SelectField(
        _l("Language"),
        default="",
        choices=choices([("", _l("Any language")), *LANGUAGE_LABELS.items()]),
        validators=[Optional()],
    )
    seats_left = BooleanField(_l("Only sessions with seats left"))

    def first_day_of_month(self) -> date | None:
        """Return the first day of the chosen month, if a valid one was given."""
        if not self.month.data or self.month.errors:
            return None
        year, month = self.month.data.split("-")
        return date(int(year), int(month), 1)


class ProgrammeForm(FlaskForm):
    title_ar = StringField(
        _l("Title in Arabic"), validators=[DataRequired(), Length(max=300)], render_kw=ARABIC
    )
    title_fr = StringField(
        _l("Title in French"), validators=[DataRequired(), Length(max=300)], render_kw=FRENCH
    )
    objectives_ar = TextAreaField(
        _l("Objectives in Arabic"), default="", validators=[Length(max=20000)], render_kw=ARABIC
    )
    objectives_fr = TextAreaField(
        _l("Objectives in French"), default="", validators=[Length(max=20000)], render_kw=FRENCH
    )
    attendance_threshold_percent = _whole_number(
        _l("Attendance needed for a certificate (%)"), 1, 100, 80
    )

    def programme_data(self) -> dict:
        """Return the values a service takes, texts trimmed."""
        return {
            "title_ar": self.title_ar.data.strip(),
            "title_fr": self.title_fr.data.strip(),
            "objectives_ar": (self.objectives_ar.data or "").strip(),
            "objectives_fr": (self.objectives_fr.data or "").strip(),
            "attendance_threshold_percent": self.attendance_threshold_percent.data,
        }


class ModuleForm(FlaskForm):
    position = _whole_number(_l("Position in the programme"), 1, 100, 1)
    title_ar = StringField(
        _l("Title in Arabic"), validators=[DataRequired(), Length(max=300)], render_kw=ARABIC
    )
    title_fr = StringField(
        _l("Title in French"), validators=[DataRequired(), Length(max=300)], render_kw=FRENCH
    )
    description_ar = TextAreaField(
        _l("Description in Arabic"), default="", validators=[Length(max=20000)], render_kw=ARABIC
    )
    description_fr = TextAreaField(
        _l("Description in French"), default="", validators=[Length(max=20000)], render_kw=FRENCH
    )

    def module_data(self) -> dict:
        """Return the values a service takes, texts trimmed."""
        return {
            "position": self.position.data,
            "title_ar": self.title_ar.data.strip(),
            "title_fr": self.title_fr.data.strip(),
            "description_ar": (self.description_ar.data or "").strip(),
            "description_fr": (self.description_fr.data or "").strip(),
        }


def _local_time(label):
    return DateTimeLocalField(
        label,
        format="%Y-%m-%dT%H:%M",
        validators=[DataRequired(message=_l("Enter a date and time."))],
        description=_l("Moroccan time (Africa/Casablanca)."),
    )


class SessionForm(FlaskForm):
    status = SelectField(_l("Status"), choices=choices(STATUS_LABELS.items()), default="draft")
    language = SelectField(_l("Language"), choices=choices(LANGUAGE_LABELS.items()), default="ar")
    starts_on = DateField(_l("First day"), validators=[DataRequired(message=_l("Enter a date."))])
    ends_on = DateField(_l("Last day"), validators=[DataRequired(message=_l("Enter a date."))])
    daily_start = TimeField(
        _l("Each day starts at"),
        validators=[DataRequired(message=_l("Enter a time."))],
        description=_l("Moroccan time (Africa/Casablanca)."),
    )
    daily_end = TimeField(
        _l("Each day ends at"),
        validators=[DataRequired(message=_l("Enter a time."))],
        description=_l("Moroccan time (Africa/Casablanca)."),
    )
    online = BooleanField(_l("Online session"))
    region_code = SelectField(_l("Region of the venue"), default="", validators=[Optional()])
    city = StringField(_l("City"), default="", validators=[Length(max=120)])
    venue = StringField(_l("Venue"), default="", validators=[Length(max=300)])
    capacity = _whole_number(_l("Seats"), 1, 10000, 20)
    enrolment_opens_at = _local_time(_l("Enrolment opens on"))
    enrolment_closes_at = _local_time(_l("Enrolment closes on"))
    per_association_cap = _whole_number(_l("Participants per association at most"), 1, 100, 2)
    verified_only = BooleanField(_l("Verified associations only"), default=True)
    eligible_regions = CheckboxesField(
        _l("Regions whose associations may enrol (none ticked: all regions)")
    )
    eligible_fields = CheckboxesField(
        _l("Fields of work the association must have (none ticked: any field)")
    )

    def session_data(self) -> dict:
        """Return the values a service takes (enrolment times still on Morocco's clock)."""
        return {
            "status": SessionStatus(self.status.data),
            "language": self.language.data,
            "starts_on": self.starts_on.data,
            "ends_on": self.ends_on.data,
            "daily_start": self.daily_start.data,
            "daily_end": self.daily_end.data,
            "online": bool(self.online.data),
            "region_code": self.region_code.data or None,
            "city": (self.city.data or "").strip(),
            "venue": (self.venue.data or "").strip(),
            "capacity": self.capacity.data,
            "enrolment_opens_at": self.enrolment_opens_at.data,
            "enrolment_closes_at": self.enrolment_closes_at.data,
            "per_association_cap": self.per_association_cap.data,
            "verified_only": bool(self.verified_only.data),
            "eligible_regions": list(self.eligible_regions.data or []),
            "eligible_fields": list(self.eligible_fields.data or []),
        }
