"""Forms of appeals: the applicant's motivation, the staff's answer."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.forms import ARABIC, FRENCH, NUMBER, choices
from portal.results.appeals import MAX_TEXT

OUTCOME_CHOICES = [
    ("", _l("Choose")),
    ("funded", _l("Funded")),
    ("reserve", _l("Reserve")),
    ("rejected", _l("Rejected")),
]
VERDICT_CHOICES = [("dismiss", _l("Dismiss the appeal")), ("grant", _l("Grant it: a new decision"))]


class AppealForm(FlaskForm):
    motivation = TextAreaField(
        _l("Why do you appeal against the decision?"),
        validators=[DataRequired(message=_l("Explain why you appeal.")), Length(max=MAX_TEXT)],
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
            Length(max=MAX_TEXT),
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
        ],
        render_kw=NUMBER,
    )
    reserve_rank = IntegerField(
        _l("Position on the reserve list"),
        validators=[Optional(), NumberRange(min=1, message=_l("Enter a position from 1."))],
        render_kw=NUMBER,
    )
    motivation_ar = TextAreaField(
        _l("Motivation (Arabic)"), validators=[Length(max=MAX_TEXT)], render_kw=ARABIC
    )
    motivation_fr = TextAreaField(
        _l("Motivation (French)"), validators=[Length(max=MAX_TEXT)], render_kw=FRENCH
    )
