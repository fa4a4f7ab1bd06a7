"""Forms shared by several domains."""

from flask import flash
from flask_wtf import FlaskForm
from wtforms import SelectChoice

# render_kw of inputs: a field typed in one language keeps its direction whatever the page's;
# numbers are typed with Western digits left to right, with the numeric keypad on phones.
ARABIC = {"dir": "rtl", "lang": "ar"}
FRENCH = {"dir": "ltr", "lang": "fr"}
NUMBER = {"inputmode": "numeric", "dir": "ltr"}


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
