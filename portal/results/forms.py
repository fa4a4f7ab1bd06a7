"""Forms of the decisions, the committee and the withdrawal of an award."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, IntegerField, RadioField, SelectField, TextAreaField
from wtforms.validators import InputRequired, NumberRange, Optional

from portal.forms import ARABIC, FRENCH, NUMBER, choices, max_length, plain_text
from portal.results.decisions import DecisionData

OUTCOME_LABELS = {
    "funded": _l("Funded"),
    "reserve": _l("Reserve"),
    "rejected": _l("Rejected"),
}
GENDER_MARKER_LABELS = {
    0: _l("0 — gender equality not targeted"),
    1: _l("1 — gender equality a significant objective"),
    2: _l("2 — gender equality the principal objective"),
}
WITHDRAWAL_LABELS = {
    "withdrawn": _l("The association withdrew"),
    "disqualified": _l("The association was disqualified"),
}


def _optional_number(label, minimum: int, maximum: int):
    return IntegerField(
        label,
        validators=[
            Optional(),
            NumberRange(
                min=minimum,
                max=maximum,
                message=_l("Enter a number from %(min)s to %(max)s.", min=minimum, max=maximum),
            ),
        ],
        render_kw=NUMBER,
    )


class DecisionForm(FlaskForm):
    outcome = RadioField(
        _l("Decision"),
        choices=choices(OUTCOME_LABELS.items()),
        validators=[InputRequired(message=_l("Choose funded, reserve or rejected."))],
    )
    amount_awarded = _optional_number(_l("Amount awarded (MAD)"), 1, 10**12)
    reserve_rank = _optional_number(_l("Position on the reserve list"), 1, 10_000)
    gender_marker = SelectField(
        _l("Gender marker (OECD DAC), as staff confirm it"),
        choices=choices(
            [("", "—"), *((str(key), label) for key, label in GENDER_MARKER_LABELS.items())]
        ),
        validators=[Optional()],
    )
    motivation_ar = TextAreaField(
        _l("Motivation in Arabic"), validators=[max_length(5000), plain_text], render_kw=ARABIC
    )
    motivation_fr = TextAreaField(
        _l("Motivation in French"), validators=[max_length(5000), plain_text], render_kw=FRENCH
    )
    deviation_reason = TextAreaField(
        _l("Why the decision departs from the proposal"),
        validators=[max_length(5000), plain_text],
        description=_l("Required when the outcome or the amount differs from the proposal."),
    )

    def data_for_service(self, partners) -> DecisionData:
        marker = self.gender_marker.data
        return DecisionData(
            outcome=self.outcome.data or "",
            amount_awarded=self.amount_awarded.data,
            reserve_rank=self.reserve_rank.data,
            motivation_ar=self.motivation_ar.data or "",
            motivation_fr=self.motivation_fr.data or "",
            gender_marker=int(marker) if marker not in (None, "") else None,
            deviation_reason=self.deviation_reason.data or "",
            funders={
                partner.id: self[f"share_{partner.id}"].data
                for partner in partners
                if self[f"share_{partner.id}"].data
            },
        )


def decision_form_class(partners, locale: str) -> type[DecisionForm]:
    """Return the decision form with one share field per funding partner."""

    class Form(DecisionForm):
        pass

    for partner in partners:
        setattr(
            Form,
            f"share_{partner.id}",
            _optional_number(
                _l("Share of %(partner)s (%%)", partner=partner.text_for("name", locale)), 1, 100
            ),
        )
    return Form


def decision_values(decision, default_marker) -> dict:
    """Return the stored decision as the form's values (or the defaults for a new one)."""
    if decision is None:
        return {"gender_marker": "" if default_marker is None else str(default_marker)}
    values = {
        "outcome": decision.outcome.value,
        "amount_awarded": decision.amount_awarded,
        "reserve_rank": decision.reserve_rank,
        "gender_marker": "" if decision.gender_marker is None else str(decision.gender_marker),
        "motivation_ar": decision.motivation_ar,
        "motivation_fr": decision.motivation_fr,
        "deviation_reason": decision.deviation_reason,
    }
    for funder in decision.funders:
        values[f"share_{funder.partner_id}"] = funder.share_percent
    return values


class SittingForm(FlaskForm):
    held_on = DateField(_l("Date the committee sat"), validators=[Optional()])
    members_present = TextAreaField(
        _l("Members present"),
        validators=[max_length(5000), plain_text],
        description=_l("One name and function per line."),
    )


class ReasonForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason"),
        validators=[InputRequired(message=_l("Give the reason.")), max_length(2000), plain_text],
    )


class WithdrawalForm(FlaskForm):
    kind = RadioField(
        _l("What happened"),
        choices=choices(WITHDRAWAL_LABELS.items()),
        validators=[InputRequired(message=_l("Choose withdrawn or disqualified."))],
    )
    reason = TextAreaField(
        _l("Reason"),
        validators=[InputRequired(message=_l("Give the reason.")), max_length(2000), plain_text],
        description=_l("Recorded as the motivation of the corrected decision."),
    )
