"""The evaluator's dashboard and scoring pages."""

from __future__ import annotations

from portal.review import bp  # noqa: F401
