"""Aggregated scores, moderation, consensus, ranking and its exports; review settings."""

from __future__ import annotations

from portal.review import bp  # noqa: F401
