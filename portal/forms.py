"""Forms shared by several domains."""

import re

from flask import flash
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectChoice, TextAreaField
from wtforms.validators import Length, ValidationError

# render_kw of inputs: a field typed in one language keeps its direction whatever the page's;
# numbers are typed with Western digits left to right, with the numeric keypad on phones.
ARABIC = {"dir": "rtl", "lang": "ar"}
FRENCH = {"dir": "ltr", "lang": "fr"}
NUMBER = {"inputmode": "numeric", "dir": "ltr"}

# Characters nobody types: pasted or sent by a script, they break storage (PostgreSQL refuses
# NUL), exports and the way a text reads (U+202D/U+202E reverse what follows them, so that a
# name ending in "fdp.exe" shows as "exe.pdf"). Marks that Arabic text uses (U+200E, U+200F,
# U+200C, U+200D) and the isolates U+2066-U+2069 are kept.
_CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202d\u202e]")
_LINE_BREAKS_AND_TABS = re.compile("[\t\n\r]")
# Ids are 32-bit integer columns: a larger number in a URL is no id, not a database error.
MAX_ID = 2**31 - 1


class EmptyForm(FlaskForm):
    """A CSRF-protected form with no fields, for buttons that change state."""


def has_control_characters(text: str, *, multiline: bool) -> bool:
    """Tell whether a typed text holds control characters (a multi-line one may break lines)."""
    return bool(
        _CONTROL_CHARACTERS.search(text) or (not multiline and _LINE_BREAKS_AND_TABS.search(text))
    )


def plain_text(form, field) -> None:
    """Refuse control characters in a typed text; a multi-line one keeps its line breaks."""
    if has_control_characters(field.data or "", multiline=isinstance(field, TextAreaField)):
        raise ValidationError(_l("Control characters are not allowed."))


def max_length(maximum: int) -> Length:
    """Refuse a text longer than `maximum` characters, saying so in the portal's words
    (WTForms' own message has no Arabic translation)."""
    return Length(max=maximum, message=_l("Use at most %(n)d characters.", n=maximum))


def query_id(value: str | None) -> int | None:
    """Read an id from a URL's query: None unless it is a whole number an id column holds."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > len(str(MAX_ID)):
        return None
    return int(text) if 0 < int(text) <= MAX_ID else None


def query_text(value: str | None, limit: int) -> str:
    """Read a filter from a URL's query: control characters dropped, at most `limit` long."""
    text = _LINE_BREAKS_AND_TABS.sub(" ", _CONTROL_CHARACTERS.sub("", value or ""))
    return text[:limit]


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
