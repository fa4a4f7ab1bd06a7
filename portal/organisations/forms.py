"""Forms of the association pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    DateField,
    EmailField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    URLField,
)
from wtforms.validators import (
    URL,
    DataRequired,
    Email,
    InputRequired,
    Optional,
    Regexp,
    ValidationError,
)
from wtforms.widgets import CheckboxInput, ListWidget

from portal.db import utcnow
from portal.forms import choices, max_length, plain_text
from portal.organisations.models import AssociationStatus, MemberRole
from portal.organisations.vocabulary import FIELDS_OF_WORK, LEGAL_FORMS, TARGET_GROUPS

MEMBER_ROLE_LABELS = {
    MemberRole.OWNER: _l("Owner"),
    MemberRole.EDITOR: _l("Editor"),
    MemberRole.VIEWER: _l("Viewer"),
}

STATUS_LABELS = {
    AssociationStatus.PENDING: _l("Awaiting verification"),
    AssociationStatus.VERIFIED: _l("Verified"),
    AssociationStatus.REJECTED: _l("Rejected"),
}


# WTForms' own "not a valid choice" has no Arabic translation: say it in the portal's words.
NOT_IN_THE_LIST = _l("Choose from the list.")


class CheckboxesField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()

    def __init__(self, *args, invalid_choice_message=NOT_IN_THE_LIST, **kwargs):
        super().__init__(*args, invalid_choice_message=invalid_choice_message, **kwargs)


def not_in_future(form, field) -> None:
    """Refuse a founding date after today."""
    if field.data and field.data > utcnow().date():
        raise ValidationError(_l("The founding date cannot be in the future."))


class AssociationForm(FlaskForm):
    """The fields an association's owner or editor may set (never status or owner)."""

    name_ar = StringField(
        _l("Name in Arabic"),
        validators=[DataRequired(), max_length(200), plain_text],
        render_kw={"dir": "rtl"},
    )
    name_fr = StringField(
        _l("Name in French"),
        validators=[DataRequired(), max_length(200), plain_text],
        render_kw={"dir": "ltr"},
    )
    acronym = StringField(_l("Acronym"), validators=[Optional(), max_length(30), plain_text])
    legal_form = SelectField(_l("Legal form"), choices=choices(LEGAL_FORMS.items()))
    registration_number = StringField(
        _l("Registration number"),
        validators=[
            DataRequired(),
            max_length(60),
            plain_text,
            Regexp(r"^[\w./ -]+$", message=_l("Use letters, digits, spaces and . / -")),
        ],
        description=_l("As written on the receipt of the declaration (récépissé)."),
        render_kw={"dir": "ltr"},
    )
    # InputRequired, not DataRequired: a date typed wrong is told so, not that none was typed.
    founded_on = DateField(_l("Founding date"), validators=[InputRequired(), not_in_future])
    region = SelectField(_l("Region"), validators=[DataRequired()], validate_choice=True)
    city = StringField(_l("City"), validators=[DataRequired(), max_length(120), plain_text])
    address = StringField(_l("Address"), validators=[Optional(), max_length(300), plain_text])
    email = EmailField(
        _l("Association e-mail"),
        validators=[
            DataRequired(),
            Email(message=_l("Enter a valid e-mail address.")),
            max_length(254),
            plain_text,
        ],
        render_kw={"dir": "ltr"},
    )
    phone = StringField(
        _l("Phone"),
        validators=[
            Optional(),
            max_length(30),
            plain_text,
            Regexp(
                r"^\+?[0-9 ().-]{6,}$",
                message=_l("Enter a phone number, such as +212 5 37 00 00 00."),
            ),
        ],
        render_kw={"dir": "ltr", "inputmode": "tel"},
    )
    website = URLField(
        _l("Website"),
        validators=[
            Optional(),
            max_length(300),
            plain_text,
            URL(message=_l("Enter a full address starting with https://")),
        ],
        render_kw={"dir": "ltr"},
    )
    # WTForms' own "not a valid choice" has no Arabic translation: say it in the portal's words.
    fields_of_work = CheckboxesField(
        _l("Fields of work"),
        choices=choices(FIELDS_OF_WORK.items()),
        invalid_choice_message=_l("Choose fields of work from the list."),
    )
    target_groups = CheckboxesField(
        _l("Target groups"),
        choices=choices(TARGET_GROUPS.items()),
        invalid_choice_message=_l("Choose target groups from the list."),
    )
    description_ar = TextAreaField(
        _l("Description in Arabic"),
        validators=[Optional(), max_length(5000), plain_text],
        render_kw={"dir": "rtl"},
    )
    description_fr = TextAreaField(
        _l("Description in French"),
        validators=[Optional(), max_length(5000), plain_text],
        render_kw={"dir": "ltr"},
    )

    def set_region_choices(self, regions, locale: str) -> None:
        self.region.choices = choices(
            [("", _l("Choose a region"))]
            + [(region.code, region.text_for("name", locale)) for region in regions]
        )

    def validate_region(self, field) -> None:
        if field.data not in {choice.value for choice in self.region.choices if choice.value}:
            raise ValidationError(_l("Choose one of Morocco's 12 regions."))

    def profile_data(self) -> dict:
        """Return the profile values, region as its code."""
        names = [name for name in self._fields if name != "csrf_token"]
        # A text field left out of the request reads None: store it as empty, not as NULL.
        return {
            name: ""
            if self[name].data is None and isinstance(self[name], StringField)
            else self[name].data
            for name in names
        }


class InvitationForm(FlaskForm):
    email = EmailField(
        _l("E-mail address of the person to invite"),
        validators=[
            DataRequired(),
            Email(message=_l("Enter a valid e-mail address.")),
            max_length(254),
            plain_text,
        ],
        render_kw={"dir": "ltr"},
    )
    role = SelectField(
        _l("Role"),
        choices=choices((role.value, label) for role, label in MEMBER_ROLE_LABELS.items()),
        default=MemberRole.EDITOR.value,
    )


class MemberRoleForm(FlaskForm):
    role = SelectField(
        _l("Role"),
        choices=choices((role.value, label) for role, label in MEMBER_ROLE_LABELS.items()),
    )


class VerificationForm(FlaskForm):
    decision = SelectField(
        _l("Decision"),
        choices=choices([("verified", _l("Verify")), ("rejected", _l("Reject"))]),
    )
    reason = TextAreaField(
        _l("Reason (shown to the association)"),
        validators=[Optional(), max_length(2000), plain_text],
    )

    def validate_reason(self, field) -> None:
        if self.decision.data == "rejected" and not (field.data or "").strip():
            raise ValidationError(_l("Give the reason for the rejection."))


class AssociationFilterForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Search"), validators=[Optional(), max_length(100), plain_text])
    region = SelectField(_l("Region"), validate_choice=False)
    status = SelectField(
        _l("Status"),
        choices=choices(
            [("", _l("All statuses"))]
            + [(status.value, label) for status, label in STATUS_LABELS.items()]
        ),
        validate_choice=False,
    )
