"""Local time for people, UTC for storage: conversions through zoneinfo (Morocco's clock moves
back to UTC+0 during Ramadan, so no fixed offset is ever assumed)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import current_app


def local_zone() -> ZoneInfo:
    """Return the zone times are shown and entered in (Africa/Casablanca by default)."""
    return ZoneInfo(current_app.config["TIMEZONE"])


def from_local(naive: datetime, zone: ZoneInfo | None = None) -> datetime:
    """Read a wall-clock time entered by a person as an instant in UTC."""
    return naive.replace(tzinfo=zone or local_zone()).astimezone(UTC)


def to_local(moment: datetime, zone: ZoneInfo | None = None) -> datetime:
    """Return an instant as the local wall-clock time, with its offset."""
    return moment.astimezone(zone or local_zone())


def format_offset(moment: datetime) -> str:
    """Return the UTC offset of a local time, such as 'UTC+01:00' or 'UTC+00:00'."""
    offset = moment.utcoffset()
    total = int(offset.total_seconds()) if offset is not None else 0
    sign = "+" if total >= 0 else "-"
    hours, minutes = divmod(abs(total) // 60, 60)
    return f"UTC{sign}{hours:02d}:{minutes:02d}"
