"""Forms shared by several domains."""

from flask import flash
from flask_wtf import FlaskForm
from wtforms import SelectChoice


class EmptyForm(FlaskForm):
    """A CSRF-protected form with no fields, for buttons that change state."""


def choices(pairs) -> list[SelectChoice]:
    """Turn (value, label) pairs into the options of a select or checkbox field."""
    return [SelectChoice(value, label) for value, label in pairs]


def show_refusal(form, refusal) -> None:
    """Show a service's refusal beside its field, or as a message when it names none."""
    field = getattr(form, refusal.field, None) if refusal.field else None
    if field is not None:
        field.errors = [*field.errors, str(refusal.message)]
    else:
        flash(str(refusal.message), "error")
