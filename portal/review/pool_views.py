"""Evaluator pool, invitations, declared ties and conflicts, and assignments."""

from __future__ import annotations

from portal.review import bp  # noqa: F401
