"""The error every service raises when a rule refuses a change."""

from __future__ import annotations


class RuleRefused(Exception):
    """A change the rules refuse; `message` is shown to the user, next to `field` if given."""

    def __init__(self, message, field: str | None = None):
        super().__init__(str(message))
        self.message = message
        self.field = field
