"""The error every service raises when a rule refuses a change."""

from __future__ import annotations

from flask_babel.speaklater import LazyString
from markupsafe import escape


class _PlainText(LazyString):
    """A message translated when shown, like any lazy string, but printed by Jinja as text.

    Flask-Babel's lazy strings declare themselves markup, so the user text a message names (a
    participant, a typed number) would reach the page unescaped.
    """

    def __html__(self):
        return escape(str(self))


class RuleRefused(Exception):
    """A change the rules refuse; `message` is shown to the user, next to `field` if given."""

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = message if type(message) is str else _PlainText(str, message)
        self.field = field
