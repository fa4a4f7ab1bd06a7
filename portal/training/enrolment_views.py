"""Enrolment pages: associations enrol and cancel participants; staff see a session's enrolments,
reserve seats and cancel a session."""

from portal.training import bp  # noqa: F401
