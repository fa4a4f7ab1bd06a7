"""How money and times read on every page: whole dirhams, Morocco's clock with its offset."""

from __future__ import annotations

from datetime import datetime

from flask_babel import format_date, format_decimal, format_time, ngettext
from flask_babel import gettext as _

from portal.timeutil import format_offset, to_local
from portal.web import bp


@bp.app_template_filter("mad")
def format_mad(amount: int) -> str:
    """Format whole dirhams with Latin digits: '5,000,000 درهم' or '5 000 000 MAD'."""
    unit = _("MAD")
    return f"{format_decimal(amount)} {unit}"


@bp.app_template_filter("local_datetime")
def format_local_datetime(moment: datetime) -> str:
    """Format an instant as the date and time on Morocco's clock (the offset is shown apart)."""
    local = to_local(moment)
    return _(
        "%(date)s at %(time)s",
        date=format_date(local, "long", rebase=False),
        time=format_time(local, "HH:mm", rebase=False),
    )


@bp.app_template_filter("utc_offset")
def format_utc_offset(moment: datetime) -> str:
    """Return the offset of Morocco's clock at that instant, such as 'UTC+00:00' in Ramadan."""
    return format_offset(to_local(moment))


@bp.app_template_filter("time_left")
def format_time_left(deadline: datetime, now: datetime) -> str:
    """Say how long remains before a deadline, computed on the server."""
    seconds = int((deadline - now).total_seconds())
    if seconds <= 0:
        return _("The deadline has passed.")
    days, rest = divmod(seconds, 86400)
    hours, minutes = rest // 3600, rest % 3600 // 60
    if days:
        return _(
            "%(days)s and %(hours)s left",
            days=ngettext("%(num)d day", "%(num)d days", days),
            hours=ngettext("%(num)d hour", "%(num)d hours", hours),
        )
    if hours:
        return _(
            "%(hours)s and %(minutes)s left",
            hours=ngettext("%(num)d hour", "%(num)d hours", hours),
            minutes=ngettext("%(num)d minute", "%(num)d minutes", minutes),
        )
    return ngettext("%(num)d minute left", "%(num)d minutes left", max(minutes, 1))


@bp.app_template_filter("in_language")
def format_in_language(bilingual, field: str) -> str:
    """Return a bilingual object's `field` in the page's language (Arabic when French is empty).

    Macros imported without context do not see the template's `locale`: they use this instead.
    """
    from flask_babel import get_locale

    return bilingual.text_for(field, str(get_locale()))
