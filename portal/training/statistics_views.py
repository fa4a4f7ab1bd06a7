"""Training statistics for staff: participants and seats by sex, region, association, module and
session, with charts and exports."""

from portal.training import bp  # noqa: F401
