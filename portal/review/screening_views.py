"""Eligibility screening of submitted applications by staff."""

from __future__ import annotations

from portal.review import bp  # noqa: F401
