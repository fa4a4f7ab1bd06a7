"""Staff cancel a whole session: every live place is cancelled, every confirmed and waitlisted
participant is told the reason in their language, the seats return to zero, all in one
transaction; a second cancellation and a form without a reason are refused."""

from __future__ import annotations

import pytest
from flask import url_for
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.notifications import services as notifications
from portal.notifications.models import OutboxMessage
from portal.training import services
from portal.training.models import Enrolment, EnrolmentStatus, SessionStatus, TrainingSession
from portal.training.services import EnrolmentError
from tests import factories
from tests.conftest import shown, shown_plural
from tests.training.conftest import participant, verified_association

REASON = "تعذر توفير القاعة في التاريخ المحدد.\nسنعلن عن دورة جديدة قريبًا."


def count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def snapshot(training) -> tuple:
    """Everything a cancellation changes."""
    db.session.expire_all()
    return (
        db.session.get(TrainingSession, training.id).status,
        db.session.get(TrainingSession, training.id).seats_taken,
        tuple(db.session.scalars(select(Enrolment.status).order_by(Enrolment.id))),
        count(OutboxMessage),
        count(AuditEvent),
    )


def crowd(training, places: int, locales=("ar", "fr")) -> list[Enrolment]:
    """Enrol `places` participants, two per new association, alternating their language."""
    made = []
    while len(made) < places:
        association, owner = verified_association()
        for _ in range(min(2, places - len(made))):
            locale = locales[len(made) % len(locales)]
            made.append(
                services.enrol(
                    db.session, training.id, association, participant(locale=locale), actor=owner
                )
            )
            db.session.commit()
    return made


@pytest.fixture
def staff_client(login_as):
    return login_as("staff")[0]


def cancel_url(training) -> str:
    return url_for("training.cancel_session", session_id=training.id)


def test_cancelling_a_session_cancels_every_place_frees_the_seats_and_tells_everyone(
    staff_client, make_session
):
    training = make_session(capacity=3)
    places = crowd(training, 5)  # three confirmed, two waiting
    cancelled_before = places[0]
    services.cancel(db.session, cancelled_before, actor=factories.UserFactory(), by_staff=True)
    db.session.commit()
    mails_before = count(OutboxMessage)

    response = staff_client.post(cancel_url(training), data={"reason": REASON, "confirm": "y"})

    db.session.expire_all()
    assert response.status_code == 303
    session_row = db.session.get(TrainingSession, training.id)
    assert (session_row.status, session_row.seats_taken) == (SessionStatus.CANCELLED, 0)
    assert set(db.session.scalars(select(Enrolment.status))) == {EnrolmentStatus.CANCELLED}
    mails = db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "training_session_cancelled")
    ).all()
    assert count(OutboxMessage) == mails_before + 4
    assert {mail.recipient for mail in mails} == {place.email for place in places[1:]}
    for mail in mails:
        place = next(place for place in places if place.email == mail.recipient)
        assert mail.locale == place.locale
        assert "تعذر توفير القاعة في التاريخ المحدد." in mail.body_text
        assert "تعذر توفير القاعة في التاريخ المحدد.<br>" in mail.body_html
    assert count(AuditEvent, AuditEvent.action == "training.session_cancelled") == 1
    page = staff_client.get(response.location).get_data(as_text=True)
    assert (
        shown_plural(
            "The session is cancelled; %(num)d participant was told by e-mail.",
            "The session is cancelled; %(num)d participants were told by e-mail.",
            4,
        )
        in page
    )
    assert (
        shown("This session is cancelled: its places were cancelled and its participants told.")
        in page
    )


def test_a_cancelled_session_leaves_the_catalogue(client, staff_client, make_session):
    training = make_session()

    staff_client.post(cancel_url(training), data={"reason": REASON, "confirm": "y"})

    assert client.get(url_for("training.session_page", session_id=training.id)).status_code == 404


def test_a_session_cannot_be_cancelled_twice(staff_client, make_session):
    training = make_session()
    crowd(training, 2)
    staff_client.post(cancel_url(training), data={"reason": REASON, "confirm": "y"})
    before = snapshot(training)

    response = staff_client.post(cancel_url(training), data={"reason": REASON, "confirm": "y"})

    assert response.status_code == 422
    assert shown("This session is already cancelled.") in response.get_data(as_text=True)
    assert snapshot(training) == before


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"reason": "", "confirm": "y"},
            "reason",
            "Give the reason: every participant receives it by e-mail.",
        ),
        ({"reason": REASON}, "confirm", "Tick the box to confirm the cancellation."),
    ],
    ids=["no reason", "not confirmed"],
)
def test_a_cancellation_without_reason_or_confirmation_is_refused(
    staff_client, make_session, data, field, message
):
    training = make_session()
    crowd(training, 2)
    before = snapshot(training)

    response = staff_client.post(cancel_url(training), data=data)

    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert shown(message) in body.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0]
    assert snapshot(training) == before


def test_only_staff_cancel_a_session(login_as, training, owner, association):
    services.enrol(db.session, training.id, association, participant(), actor=owner)
    db.session.commit()
    before = snapshot(training)

    response = login_as(user=owner)[0].post(
        cancel_url(training), data={"reason": REASON, "confirm": "y"}
    )

    assert response.status_code == 403
    assert snapshot(training) == before


def test_the_cancellation_is_all_or_nothing(session, make_session, monkeypatch):
    """A failure while telling the fourth participant leaves every place and seat as it was."""
    training = make_session(capacity=3)
    crowd(training, 5)
    before = snapshot(training)
    real_queue = notifications.queue_message
    sent = []

    def failing_queue(*args, **kwargs):
        sent.append(args)
        if len(sent) == 4:
            raise RuntimeError("the outbox is unavailable")
        return real_queue(*args, **kwargs)

    monkeypatch.setattr(services, "queue_message", failing_queue)
    staff = factories.UserFactory(roles=("staff",))

    with pytest.raises(RuntimeError):
        services.cancel_session(session, training, REASON, actor=staff)
    session.rollback()

    assert snapshot(training) == before


def test_a_reason_with_control_characters_is_refused(session, make_session):
    training = make_session()
    staff = factories.UserFactory(roles=("staff",))

    with pytest.raises(EnrolmentError) as refused:
        services.cancel_session(session, training, "raison\x07", actor=staff)

    assert refused.value.field == "reason"
