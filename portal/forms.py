"""Forms shared by several domains."""

from flask_wtf import FlaskForm
from wtforms import SelectChoice


class EmptyForm(FlaskForm):
    """A CSRF-protected form with no fields, for buttons that change state."""


def choices(pairs) -> list[SelectChoice]:
    """Turn (value, label) pairs into the options of a select or checkbox field."""
    return [SelectChoice(value, label) for value, label in pairs]
