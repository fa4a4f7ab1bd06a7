"""Forms of the training pages: the catalogue's filters, the staff forms, enrolment."""

from __future__ import annotations

from datetime import date

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    IntegerField,
    RadioField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import (
    DataRequired,
    InputRequired,
    Length,
    NumberRange,
    Optional,
    Regexp,
)

from portal.forms import ARABIC, FRENCH, NUMBER, choices, max_length, plain_text
from portal.organisations.forms import CheckboxesField
from portal.training.models import SessionStatus

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
            max_length(7),
            plain_text,
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
        _l("Title in Arabic"),
        validators=[DataRequired(), max_length(300), plain_text],
        render_kw=ARABIC,
    )
    title_fr = StringField(
        _l("Title in French"),
        validators=[DataRequired(), max_length(300), plain_text],
        render_kw=FRENCH,
    )
    objectives_ar = TextAreaField(
        _l("Objectives in Arabic"),
        default="",
        validators=[max_length(20000), plain_text],
        render_kw=ARABIC,
    )
    objectives_fr = TextAreaField(
        _l("Objectives in French"),
        default="",
        validators=[max_length(20000), plain_text],
        render_kw=FRENCH,
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
    city = StringField(_l("City"), default="", validators=[max_length(120), plain_text])
    venue = StringField(_l("Venue"), default="", validators=[max_length(300), plain_text])
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


# --- enrolment ------------------------------------------------------------------------------

SEX_LABELS = {"female": _l("Female"), "male": _l("Male")}


def _typed(maximum: int) -> list:
    """Refuse what the service never accepts (too long, control characters), in its words."""
    return [Length(max=maximum, message=_l("At most %(n)d characters.", n=maximum)), plain_text]


class EnrolmentForm(FlaskForm):
    """A participant an owner or editor enrols; the service checks every value and rule."""

    association_id = SelectField(_l("Association"), validate_choice=False)
    full_name = StringField(
        _l("Full name"),
        validators=_typed(120),
        render_kw={"required": True, "maxlength": 120, "autocomplete": "off"},
    )
    sex = RadioField(_l("Sex"), choices=choices(SEX_LABELS.items()), validate_choice=False)
    role = StringField(
        _l("Role in the association"),
        description=_l("For example: president, project officer, volunteer."),
        validators=_typed(120),
        render_kw={"maxlength": 120},
    )
    email = StringField(
        _l("E-mail address"),
        description=_l("The confirmation, the registration code and the pass are sent here."),
        validators=_typed(254),
        render_kw={
            "type": "email",
            "required": True,
            "maxlength": 254,
            "dir": "ltr",
            "autocomplete": "off",
        },
    )
    phone = StringField(
        _l("Phone"),
        validators=_typed(30),
        render_kw={"type": "tel", "maxlength": 30, "dir": "ltr", "inputmode": "tel"},
    )
    locale = RadioField(
        _l("Language of the participant's e-mails"),
        choices=choices(LANGUAGE_LABELS.items()),
        default="ar",
        validate_choice=False,
    )
    accessibility_needs = TextAreaField(
        _l("Accessibility needs"),
        description=_l("Anything the team should prepare so that the participant can take part."),
        validators=_typed(1000),
        render_kw={"maxlength": 1000, "rows": 3},
    )

    def participant_data(self) -> dict:
        """Return the participant's details as typed (the service cleans and checks them)."""
        return {
            name: getattr(self, name).data or ""
            for name in (
                "full_name",
                "sex",
                "role",
                "email",
                "phone",
                "locale",
                "accessibility_needs",
            )
        }


class ReservationForm(FlaskForm):
    """Staff hold seats of a session for one association until a date."""

    registration_number = StringField(
        _l("Registration number of the association"),
        validators=[
            DataRequired(message=_l("Enter the association's registration number.")),
            max_length(60),
            plain_text,
        ],
        render_kw={"dir": "ltr", "autocomplete": "off"},
    )
    seats = _whole_number(_l("Seats to hold"), 1, 10000, 1)
    until = _local_time(_l("Held until"))
    reason = TextAreaField(
        _l("Reason"),
        description=_l("For example: funded under the 2026 call, or invited."),
        validators=[max_length(1000), plain_text],
        render_kw={"rows": 2},
    )


class SessionCancellationForm(FlaskForm):
    """Staff cancel a whole session: a reason every participant receives, and a confirmation."""

    reason = TextAreaField(
        _l("Reason given to the participants"),
        description=_l(
            "Each participant receives it as you write it: write it in Arabic and in French when "
            "they do not all read the same language."
        ),
        validators=[
            DataRequired(message=_l("Give the reason: every participant receives it by e-mail.")),
            max_length(2000),
            plain_text,
        ],
        render_kw={"rows": 3},
    )
    confirm = BooleanField(
        _l("I understand: every place is cancelled and every participant is told by e-mail."),
        validators=[DataRequired(message=_l("Tick the box to confirm the cancellation."))],
    )
