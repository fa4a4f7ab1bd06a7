"""Forms of the action-plan pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms.validators import DataRequired

from portal.forms import choices
from portal.organisations.forms import CheckboxesField


class ProjectAxesForm(FlaskForm):
    axes = CheckboxesField(
        _l("Strategic axes this project serves"),
        validators=[DataRequired(message=_l("Choose at least one axis."))],
    )

    def set_axis_choices(self, axes, locale: str) -> None:
        self.axes.choices = choices(
            (axis.code, f"{axis.number}. {axis.text_for('title', locale)}") for axis in axes
        )
