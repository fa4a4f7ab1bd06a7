"""Forms of the attendance and certificate pages: the check-in code and the public
verification code (both forgiving of case, spaces and dashes)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from portal.forms import plain_text

CODE_INPUT = {
    "dir": "ltr",
    "autocomplete": "off",
    "autocapitalize": "characters",
    "spellcheck": "false",
    "maxlength": 40,
}


class CheckInForm(FlaskForm):
    """The registration code typed or scanned at the door."""

    code = StringField(
        _l("Registration code"),
        description=_l("The 8 letters and digits on the participant's pass or e-mail."),
        validators=[
            DataRequired(_l("Enter the registration code of the participant.")),
            Length(max=40, message=_l("A registration code has 8 letters and digits.")),
            plain_text,
        ],
        render_kw={**CODE_INPUT, "class": "code-input", "autofocus": True},
    )


class VerifyForm(FlaskForm):
    """The code printed on a certificate (a GET lookup: no CSRF token)."""

    class Meta:
        csrf = False

    code = StringField(
        _l("Verification code"),
        description=_l("As printed on the certificate, for example SHK-ABCD-2345."),
        # Any other text is simply a code no certificate has: the page says so.
        validators=[DataRequired(_l("Enter the verification code of the certificate."))],
        render_kw={**CODE_INPUT, "class": "code-input"},
    )
