"""Attendance and certificates: check-in by code, the roster marked per day, certificates and
their public verification."""

from portal.training import bp  # noqa: F401
