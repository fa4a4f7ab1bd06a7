"""Forms of appeals: the applicant's motivation, the staff's answer."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from portal.forms import ARABIC, FRENCH, NUMBER, choices, max_length, plain_text
from portal.results.appeals import MAX_TEXT

OUTCOME_CHOICES = [
    ("", _l("Choose")),
    ("funded", _l("Funded")),
    ("reserve", _l("Reserve")),
    ("rejected", _l("Rejected")),
]
# Above these an amount or a position is a typing mistake (and would not fit its column).
MAX_AMOUNT = 10**9
MAX_RESERVE_RANK = 10_000
VERDICT_CHOICES = [("dismiss", _l("Dismiss the appeal")), ("grant", _l("Grant it: a new decision"))]


class AppealForm(FlaskForm):
    motivation = TextAreaField(
        _l("Why do you appeal against the decision?"),
        validators=[
            DataRequired(message=_l("Explain why you appeal.")),
            max_length(MAX_TEXT),
            plain_text,
        ],
    )


class AnswerForm(FlaskForm):
    verdict = RadioField(
        _l("Answer"),
        choices=choices(VERDICT_CHOICES),
        validators=[InputRequired(message=_l("Choose to dismiss or to grant the appeal."))],
    )
    answer = TextAreaField(
        _l("Answer sent to the applicant"),
        validators=[
            DataRequired(message=_l("Write the answer the applicant will receive.")),
            max_length(MAX_TEXT),
            plain_text,
        ],
    )
    outcome = SelectField(
        _l("New decision"),
        choices=choices(OUTCOME_CHOICES),
        validators=[Optional()],
        description=_l("Only when the appeal is granted."),
    )
    amount_awarded = IntegerField(
        _l("Amount awarded (MAD)"),
        validators=[
            Optional(),
            NumberRange(min=1, message=_l("Enter a whole number of dirhams above 0.")),
            NumberRange(max=MAX_AMOUNT, message=_l("This amount is not realistic.")),
        ],
        render_kw=NUMBER,
    )
    reserve_rank = IntegerField(
        _l("Position on the reserve list"),
        validators=[
            Optional(),
            NumberRange(min=1, message=_l("Enter a position from 1.")),
            NumberRange(
                max=MAX_RESERVE_RANK,
                message=_l("Enter a number from %(min)s to %(max)s.", min=1, max=MAX_RESERVE_RANK),
            ),
        ],
        render_kw=NUMBER,
    )
    motivation_ar = TextAreaField(
        _l("Motivation (Arabic)"), validators=[max_length(MAX_TEXT), plain_text], render_kw=ARABIC
    )
    motivation_fr = TextAreaField(
        _l("Motivation (French)"), validators=[max_length(MAX_TEXT), plain_text], render_kw=FRENCH
    )
