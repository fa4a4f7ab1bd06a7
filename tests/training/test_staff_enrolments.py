"""Staff see a session's enrolments (seats, confirmed places, the waitlist in order, cancelled
places) and hold seats for associations: add, replace and release reservations, every bad input
refused with a clear message (422) and nothing written."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import url_for
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.extensions import db
from portal.timeutil import to_local
from portal.training import services
from portal.training.models import Enrolment, EnrolmentStatus, SeatReservation
from tests import factories
from tests.conftest import shown
from tests.training.conftest import participant, verified_association


def count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def events(action: str) -> int:
    return count(AuditEvent, AuditEvent.action == action)


def fill(training, places: int) -> list[Enrolment]:
    """Enrol `places` participants through the service, two per new association."""
    made = []
    while len(made) < places:
        association, owner = verified_association()
        for _ in range(min(2, places - len(made))):
            made.append(
                services.enrol(db.session, training.id, association, participant(), actor=owner)
            )
            db.session.commit()
    return made


@pytest.fixture
def staff_client(login_as):
    return login_as("staff")[0]


def page_url(training) -> str:
    return url_for("training.staff_enrolments", session_id=training.id)


def reserve_url(training) -> str:
    return url_for("training.reserve_seats", session_id=training.id)


def local_input(moment: datetime) -> str:
    """Type an instant as staff do: on Morocco's clock, to the minute."""
    return to_local(moment).strftime("%Y-%m-%dT%H:%M")


# --- the page -------------------------------------------------------------------------------


def test_the_page_lists_the_confirmed_the_waitlist_in_order_and_the_cancelled(
    staff_client, make_session
):
    training = make_session(capacity=2)
    seated, _other_seated, first, second, third = fill(training, 5)
    services.cancel(db.session, seated, actor=factories.UserFactory(), by_staff=True)
    db.session.commit()  # `first` took the freed seat; `second` and `third` wait, in that order

    body = staff_client.get(page_url(training)).get_data(as_text=True)

    waitlist = body.split('id="waitlist-title"', 1)[1].split('id="cancelled-title"', 1)[0]
    assert waitlist.index(second.full_name) < waitlist.index(third.full_name)
    assert first.full_name not in waitlist
    confirmed = body.split('id="confirmed-title"', 1)[1].split('id="waitlist-title"', 1)[0]
    assert first.full_name in confirmed and first.registration_code in confirmed
    assert second.email in waitlist  # the contact, to reach them
    assert seated.full_name in body.split('id="cancelled-title"', 1)[1]
    assert shown("Waitlisted:") in body and shown("Held by reservations:") in body


def test_the_page_is_for_staff_only(login_as, training, owner, association):
    owner_client = login_as(user=owner)[0]

    assert owner_client.get(page_url(training)).status_code == 403


def test_the_session_page_and_the_staff_list_link_to_the_enrolments(staff_client, training):
    link = page_url(training)

    assert link in staff_client.get(
        url_for("training.session_page", session_id=training.id)
    ).get_data(as_text=True)
    assert link in staff_client.get(url_for("training.staff_sessions")).get_data(as_text=True)


def _crowd(how_many: int, training) -> None:
    """Enrol `how_many` participants (some waiting, some cancelled) and a reservation."""
    places = fill(training, how_many)
    for enrolment in places[::4]:
        services.cancel(db.session, enrolment, actor=factories.UserFactory(), by_staff=True)
    association, _owner = verified_association()
    factories.seat_reservation(training, association, seats=1)
    db.session.commit()


def test_the_page_runs_the_same_queries_for_2_and_12_enrolments(
    staff_client, make_session, count_queries
):
    training = make_session(capacity=5, per_association_cap=2)
    url = page_url(training)
    _crowd(2, training)
    staff_client.get(url)
    with count_queries() as few:
        assert staff_client.get(url).status_code == 200
    _crowd(10, training)
    staff_client.get(url)
    with count_queries() as many:
        assert staff_client.get(url).status_code == 200

    assert few.count == many.count, "\n\n".join(few.statements + ["----"] + many.statements)
    assert many.count <= 10


# --- reservations ---------------------------------------------------------------------------


def test_staff_reserve_seats_for_an_association_by_its_registration_number(
    staff_client, training, association
):
    until = utcnow().replace(second=0, microsecond=0) + timedelta(days=3)

    response = staff_client.post(
        reserve_url(training),
        data={
            "registration_number": f"  {association.registration_number.lower()} ",
            "seats": "3",
            "until": local_input(until),
            "reason": "مستفيدة من طلب المشاريع",
        },
    )

    reservation = db.session.scalar(select(SeatReservation))
    assert response.status_code == 303
    assert (reservation.association_id, reservation.seats) == (association.id, 3)
    assert reservation.until.astimezone(UTC) == until  # typed on Morocco's clock
    assert events("training.seats_reserved") == 1
    body = staff_client.get(page_url(training)).get_data(as_text=True)
    assert association.registration_number in body
    assert shown("Held by reservations:") in body


def test_reserving_again_for_the_same_association_replaces_the_reservation(
    staff_client, training, association
):
    factories.seat_reservation(training, association, seats=2)

    response = staff_client.post(
        reserve_url(training),
        data={
            "registration_number": association.registration_number,
            "seats": "4",
            "until": local_input(utcnow() + timedelta(days=5)),
        },
    )

    assert response.status_code == 303
    assert db.session.scalars(select(SeatReservation.seats)).all() == [4]


def reservation_refused(client, training, data: dict, message: str, field: str):
    before = (count(SeatReservation), count(AuditEvent))
    response = client.post(reserve_url(training), data=data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in body.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0]
    assert (count(SeatReservation), count(AuditEvent)) == before
    return body


def test_an_unknown_registration_number_is_refused_with_a_clear_message(staff_client, training):
    reservation_refused(
        staff_client,
        training,
        {
            "registration_number": "RC-404",
            "seats": "2",
            "until": local_input(utcnow() + timedelta(days=3)),
        },
        shown("No association is registered under the number %(number)s.", number="RC-404"),
        "registration_number",
    )


def test_a_reservation_ending_in_the_past_is_refused(staff_client, training, association):
    reservation_refused(
        staff_client,
        training,
        {
            "registration_number": association.registration_number,
            "seats": "2",
            "until": local_input(utcnow() - timedelta(hours=1)),
        },
        shown("The reservation must end in the future."),
        "until",
    )


def test_reserving_more_seats_than_are_free_is_refused(staff_client, make_session, association):
    training = make_session(capacity=3)
    fill(training, 2)

    reservation_refused(
        staff_client,
        training,
        {
            "registration_number": association.registration_number,
            "seats": "2",
            "until": local_input(utcnow() + timedelta(days=3)),
        },
        shown("Only %(n)d seats can still be reserved in this session.", n=1),
        "seats",
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("seats", "0", "Enter a number from %(min)s to %(max)s."),
        ("seats", "two", "Enter a number from %(min)s to %(max)s."),
        ("until", "next week", "Enter a date and time."),
        ("registration_number", "", "Enter the association's registration number."),
    ],
)
def test_a_malformed_reservation_is_refused_beside_its_field(
    staff_client, training, association, field, value, message
):
    data = {
        "registration_number": association.registration_number,
        "seats": "2",
        "until": local_input(utcnow() + timedelta(days=3)),
        field: value,
    }

    reservation_refused(staff_client, training, data, shown(message, min=1, max=10000), field)


def test_only_staff_reserve_seats(login_as, training, owner, association):
    response = login_as(user=owner)[0].post(
        reserve_url(training),
        data={
            "registration_number": association.registration_number,
            "seats": "2",
            "until": local_input(utcnow() + timedelta(days=3)),
        },
    )

    assert response.status_code == 403
    assert count(SeatReservation) == 0


def test_releasing_a_reservation_gives_its_seats_back_to_the_pool(
    staff_client, make_session, association
):
    training = make_session(capacity=2)
    reservation = factories.seat_reservation(training, association, seats=2)
    outsider, outsider_owner = verified_association()
    waiting = services.enrol(db.session, training.id, outsider, participant(), actor=outsider_owner)
    db.session.commit()
    assert waiting.status == EnrolmentStatus.WAITLISTED  # every seat is held

    response = staff_client.post(
        url_for("training.release_reservation", reservation_id=reservation.id)
    )

    assert response.status_code == 303
    assert response.location.endswith(page_url(training))
    assert count(SeatReservation) == 0
    assert events("training.reservation_released") == 1
    seated = services.enrol(db.session, training.id, outsider, participant(), actor=outsider_owner)
    assert seated.status == EnrolmentStatus.CONFIRMED


def test_only_staff_release_a_reservation(login_as, training, owner, association):
    reservation = factories.seat_reservation(training, association)

    response = login_as(user=owner)[0].post(
        url_for("training.release_reservation", reservation_id=reservation.id)
    )

    assert response.status_code == 403
    assert count(SeatReservation) == 1


def test_releasing_an_unknown_reservation_is_not_found(staff_client):
    response = staff_client.post(url_for("training.release_reservation", reservation_id=999))

    assert response.status_code == 404


# --- cancelling a place from the staff page -------------------------------------------------


def test_staff_cancel_a_place_and_return_to_the_session_page(staff_client, make_session):
    training = make_session(capacity=1)
    seated, waiting = fill(training, 2)

    response = staff_client.post(
        url_for("training.cancel_enrolment", enrolment_id=seated.id),
        data={"next": page_url(training)},
    )

    db.session.expire_all()
    assert response.status_code == 303 and response.location.endswith(page_url(training))
    assert db.session.get(Enrolment, waiting.id).status == EnrolmentStatus.CONFIRMED
    page = staff_client.get(page_url(training)).get_data(as_text=True)
    assert shown("The freed seat went to the first person on the waitlist, who was told.") in page
