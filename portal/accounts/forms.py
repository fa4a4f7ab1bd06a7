"""Forms of the account pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    EmailField,
    PasswordField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Email, EqualTo, ValidationError

from portal.accounts.models import Role
from portal.accounts.passwords import MAX_LENGTH, password_problem
from portal.forms import choices, max_length, plain_text


def strong_password(form, field) -> None:
    """Refuse passwords the policy does not accept, with its reason."""
    problem = password_problem(field.data or "")
    if problem:
        raise ValidationError(str(problem))


def _email_field(label=None):
    return EmailField(
        label or _l("E-mail address"),
        validators=[
            DataRequired(),
            Email(message=_l("Enter a valid e-mail address.")),
            max_length(254),
            plain_text,
        ],
        render_kw={"autocomplete": "email", "dir": "ltr"},
    )


def _new_password_fields():
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), strong_password],
        description=_l("12 to 128 characters; a phrase in any language is a good choice."),
        render_kw={"autocomplete": "new-password", "maxlength": MAX_LENGTH},
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[DataRequired(), EqualTo("password", message=_l("The two passwords differ."))],
        render_kw={"autocomplete": "new-password"},
    )
    return password, confirm


class SignUpForm(FlaskForm):
    full_name = StringField(
        _l("Full name"),
        validators=[DataRequired(), max_length(120), plain_text],
        render_kw={"autocomplete": "name"},
    )
    email = _email_field()
    password, confirm = _new_password_fields()


class SignInForm(FlaskForm):
    email = _email_field()
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(), max_length(1024), plain_text],
        render_kw={"autocomplete": "current-password"},
    )


class ForgotPasswordForm(FlaskForm):
    email = _email_field()


class ResetPasswordForm(FlaskForm):
    password, confirm = _new_password_fields()


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(), max_length(1024), plain_text],
        render_kw={"autocomplete": "current-password"},
    )
    password, confirm = _new_password_fields()


# The 6 digits of an authenticator app: numeric keypad, offered from the phone's messages/apps,
# typed left to right whatever the page's direction.
CODE_INPUT = {"inputmode": "numeric", "autocomplete": "one-time-code", "dir": "ltr", "maxlength": 7}


def _code_field():
    return StringField(
        _l("Code from the app"),
        validators=[DataRequired(), max_length(16), plain_text],
        description=_l("The 6 digits your authenticator app shows now."),
        render_kw=CODE_INPUT,
    )


class TwoFactorCodeForm(FlaskForm):
    """A current code from the app: confirms the enrolment or new recovery codes."""

    code = _code_field()


class DisableTwoFactorForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(), max_length(1024), plain_text],
        render_kw={"autocomplete": "current-password"},
    )
    code = _code_field()


class SignInCodeForm(FlaskForm):
    """The second step of a sign-in with a code from the app."""

    code = _code_field()


class RecoveryCodeForm(FlaskForm):
    """The second step of a sign-in with a recovery code, when the phone is not at hand."""

    recovery_code = StringField(
        _l("Recovery code"),
        validators=[DataRequired(), max_length(32), plain_text],
        description=_l("One of the codes you kept when you turned two-factor sign-in on."),
        render_kw={
            "autocomplete": "one-time-code",
            "dir": "ltr",
            "autocapitalize": "none",
            "spellcheck": "false",
        },
    )


ROLE_LABELS = {
    Role.APPLICANT: _l("Applicant"),
    Role.EVALUATOR: _l("Evaluator"),
    Role.STAFF: _l("Staff"),
    Role.ADMIN: _l("Administrator"),
}


class RolesForm(FlaskForm):
    roles = SelectMultipleField(
        _l("Roles"),
        choices=choices((role.value, label) for role, label in ROLE_LABELS.items()),
        invalid_choice_message=_l("Choose from the list."),
    )


class TwoFactorResetForm(FlaskForm):
    """An administrator turns off the two-factor sign-in of someone who lost it."""

    reason = TextAreaField(
        _l("Why it is reset"),
        description=_l(
            "For example: phone lost, recovery codes not kept; identity checked by telephone. "
            "Kept in the audit trail."
        ),
        validators=[
            DataRequired(message=_l("Give the reason: it is kept in the audit trail.")),
            max_length(500),
            plain_text,
        ],
        render_kw={"rows": 2},
    )
    confirm = BooleanField(
        _l("I checked who is asking: this account's sessions end and it signs in again."),
        validators=[DataRequired(message=_l("Tick the box to confirm the reset."))],
    )


class UserSearchForm(FlaskForm):
    class Meta:
        csrf = False

    q = StringField(_l("Search by name or e-mail"), validators=[max_length(100), plain_text])
