"""What visitors read: the open calls, and a call page with its amounts, eligibility, criteria,
documents and a timeline on Morocco's clock, whose offset changes during Ramadan."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from flask import current_app, url_for

from portal.calls.models import CallStatus, ManualCheck
from portal.db import utcnow
from portal.extensions import db
from portal.web.formatting import format_local_datetime, format_time_left, format_utc_offset
from tests.calls.helpers import plural_shown, shown, text_of
from tests.conftest import sign_in
from tests.factories import UserFactory, published_call, region


def deadline_shown(page: str) -> str:
    """Return the text of the deadline line of a call page: time and offset."""
    match = re.search(r'id="deadline">(.*?)</dd>', page, re.S)
    assert match, "no deadline on the page"
    return re.sub(r"<[^>]+>", "", match.group(1))


# --- the list ---------------------------------------------------------------------------------


def test_an_open_call_is_listed_with_its_lots_deadline_and_time_left(client):
    call = published_call(
        title_ar="طلب عروض مفتوح", closes_at=utcnow() + timedelta(days=10, hours=3, minutes=30)
    )

    page = text_of(client.get(url_for("calls.public_list")))

    assert "طلب عروض مفتوح" in page
    assert call.lots[0].title_ar in page
    assert url_for("calls.public_page", call_id=call.id) in page
    assert re.search(r"\(UTC\+0[01]:00\)", page)
    assert (
        shown(
            "%(days)s and %(hours)s left",
            days=plural_shown("%(num)d day", "%(num)d days", 10),
            hours=plural_shown("%(num)d hour", "%(num)d hours", 3),
        )
        in page
    )


def test_only_published_calls_before_their_deadline_are_listed(client):
    now = utcnow()
    listed = published_call(title_ar="مفتوح")
    upcoming = published_call(title_ar="قادم", opens_at=now + timedelta(days=3))
    published_call(title_ar="مسودة", status=CallStatus.DRAFT)
    published_call(title_ar="مغلق", status=CallStatus.CLOSED)
    published_call(title_ar="مؤرشف", status=CallStatus.ARCHIVED)
    published_call(
        title_ar="فات أجله", opens_at=now - timedelta(days=9), closes_at=now - timedelta(seconds=1)
    )

    page = text_of(client.get(url_for("calls.public_list")))

    titles = set(re.findall(r'class="card-title"><a href="[^"]+">([^<]+)</a>', page))
    assert titles == {listed.title_ar, upcoming.title_ar}
    assert (
        shown("Applications open on %(date)s.", date=format_local_datetime(upcoming.opens_at))
        in page
    )


def test_the_list_says_so_when_no_call_is_open(client):
    page = text_of(client.get(url_for("calls.public_list")))

    assert shown("No call for projects is open at the moment.") in page


# --- the call page ----------------------------------------------------------------------------


@pytest.mark.parametrize("role", [None, "applicant", "staff", "admin"])
def test_a_draft_call_is_not_found_on_its_public_address_by_anyone(app, client, role):
    draft = published_call(status=CallStatus.DRAFT)
    reader = client if role is None else sign_in(app.test_client(), UserFactory(roles=(role,)))

    assert reader.get(url_for("calls.public_page", call_id=draft.id)).status_code == 404


def test_an_unknown_call_is_not_found(client):
    assert client.get(url_for("calls.public_page", call_id=424242)).status_code == 404


@pytest.mark.parametrize("status", [CallStatus.CLOSED, CallStatus.ARCHIVED])
def test_a_closed_call_stays_readable_without_an_apply_button(client, status):
    call = published_call(status=status)

    response = client.get(url_for("calls.public_page", call_id=call.id))

    assert response.status_code == 200
    assert shown("This call is closed.") in text_of(response)
    assert apply_href(call) not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("deadline_utc", "wall_clock", "offset"),
    [
        (datetime(2027, 2, 15, 23, 59, tzinfo=UTC), "23:59", "UTC+00:00"),
        (datetime(2027, 1, 15, 22, 59, tzinfo=UTC), "23:59", "UTC+01:00"),
        (datetime(2026, 6, 1, 22, 59, tzinfo=UTC), "23:59", "UTC+01:00"),
    ],
    ids=["Ramadan 2027", "January 2027", "June 2026"],
)
def test_the_deadline_is_shown_on_moroccos_clock_with_its_offset(
    client, deadline_utc, wall_clock, offset
):
    """R08: Morocco's clock is UTC+0 in Ramadan 2027 (7 February - 14 March), UTC+1 otherwise."""
    call = published_call(
        opens_at=deadline_utc - timedelta(days=40), closes_at=deadline_utc, status=CallStatus.CLOSED
    )

    page = text_of(client.get(url_for("calls.public_page", call_id=call.id)))

    line = deadline_shown(page)
    assert wall_clock in line and f"({offset})" in line
    assert f'datetime="{deadline_utc.isoformat()}"' in page


def test_the_same_wall_clock_time_twice_on_the_night_of_the_change(app):
    """On 7 February 2027 at 03:00 Morocco's clock goes back to 02:00: 02:30 happens twice."""
    before, after = (datetime(2027, 2, 7, hour, 30, tzinfo=UTC) for hour in (1, 2))

    with app.test_request_context():
        shown_before = (format_local_datetime(before), format_utc_offset(before))
        shown_after = (format_local_datetime(after), format_utc_offset(after))

    assert shown_before[0] == shown_after[0] and "02:30" in shown_before[0]
    assert (shown_before[1], shown_after[1]) == ("UTC+01:00", "UTC+00:00")


@pytest.mark.parametrize(
    ("left", "parts"),
    [
        (timedelta(days=3, hours=5, minutes=59), ("days", 3, "hours", 5)),
        (timedelta(hours=2, minutes=5, seconds=30), ("hours", 2, "minutes", 5)),
        (timedelta(minutes=1, seconds=59), ("minute", 1)),
        (timedelta(seconds=20), ("minute", 1)),
    ],
    ids=["days", "hours", "a minute", "seconds"],
)
def test_the_time_left_is_counted_on_the_server(app, left, parts):
    now = datetime(2027, 2, 15, 12, 0, tzinfo=UTC)
    words = {
        "days": ("%(num)d day", "%(num)d days"),
        "hours": ("%(num)d hour", "%(num)d hours"),
        "minutes": ("%(num)d minute", "%(num)d minutes"),
    }
    with app.test_request_context():
        text = format_time_left(now + left, now)
    if len(parts) == 4:
        first, second = parts[0], parts[2]
        expected = shown(
            f"%({first})s and %({second})s left",
            **{
                first: plural_shown(*words[first], parts[1]),
                second: plural_shown(*words[second], parts[3]),
            },
        )
    else:
        expected = plural_shown("%(num)d minute left", "%(num)d minutes left", 1)
    assert text == expected


def test_a_passed_deadline_says_so(app):
    now = datetime(2027, 2, 16, tzinfo=UTC)

    with app.test_request_context():
        assert format_time_left(now, now) == shown("The deadline has passed.")


def test_the_call_page_shows_amounts_eligibility_criteria_and_documents(client):
    call = published_call(
        budget_total=5_000_000,
        min_amount=50_000,
        max_amount=300_000,
        min_cofunding_percent=10,
        min_years_since_founding=2,
        max_applications_per_association=1,
    )
    call.allowed_regions = [region("souss-massa"), region("oriental")]
    call.manual_checks = [ManualCheck(text_ar="وضعية جبائية سليمة", text_fr="Situation fiscale")]
    call.documents[0].max_size_mb = 7
    call.documents[0].allowed_types = ["pdf", "jpeg"]
    db.session.commit()

    page = text_of(client.get(url_for("calls.public_page", call_id=call.id)))

    mad = shown("MAD")
    assert f"5,000,000 {mad}" in page
    assert shown("from %(min)s to %(max)s", min=f"50,000 {mad}", max=f"300,000 {mad}") in page
    assert (
        plural_shown(
            "The association was founded at least %(num)d year before the deadline.",
            "The association was founded at least %(num)d years before the deadline.",
            2,
        )
        in page
    )
    assert (
        plural_shown(
            "At most %(num)d application per association.",
            "At most %(num)d applications per association.",
            1,
        )
        in page
    )
    assert region("souss-massa").name_ar in page and region("oriental").name_ar in page
    assert region("rabat-sale-kenitra").name_ar not in page
    assert "وضعية جبائية سليمة" in page
    for criterion in call.criteria:
        assert criterion.title_ar in page
    assert re.search(r"60\s*‎?%", page) and re.search(r"40\s*‎?%", page)
    assert call.documents[0].name_ar in page and call.documents[1].name_ar in page
    assert shown("%(size)d MB at most", size=7) in page
    assert "PDF" in page and "JPEG" in page
    assert shown("optional") in page and shown("mandatory") in page
    assert call.lots[0].axes[0].title_ar in page


def test_a_french_reader_gets_the_french_texts_with_latin_digits(client):
    call = published_call(budget_total=1_250_000)
    client.set_cookie("locale", "fr")

    page = text_of(client.get(url_for("calls.public_page", call_id=call.id)))

    assert '<html lang="fr" dir="ltr">' in page
    assert call.title_fr in page and call.lots[0].title_fr in page
    assert f"1\u202f250\u202f000 {shown('MAD', 'fr')}" in page
    assert not re.search("[\u0660-\u0669]", page), "Arabic-Indic digits on the page"


def apply_href(call) -> str:
    """Where the apply button leads: the application form once it exists, else sign-in."""
    if "applications.start" in current_app.view_functions:
        return url_for("applications.start", call_id=call.id)
    return url_for("accounts.sign_in", next=url_for("calls.public_page", call_id=call.id))


def test_an_open_call_offers_to_apply(client):
    call = published_call()

    page = client.get(url_for("calls.public_page", call_id=call.id)).get_data(as_text=True)

    assert f'class="button" href="{apply_href(call)}"' in page


def test_a_call_not_open_yet_offers_no_apply_button(client):
    call = published_call(opens_at=utcnow() + timedelta(days=2))

    page = client.get(url_for("calls.public_page", call_id=call.id)).get_data(as_text=True)

    assert apply_href(call) not in page
