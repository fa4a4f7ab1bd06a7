"""The participant's pass, opened without signing in from the signed link of the confirmation
e-mail: name, session, dates, place, the registration code and its QR code (which encodes the
staff check-in page). An altered or forged link is "not found"; a cancelled place shows no code."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from flask import url_for
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.training import services
from portal.training.models import EnrolmentStatus
from tests import factories
from tests.conftest import shown
from tests.training.conftest import participant


@pytest.fixture
def confirmed(training, association, owner):
    enrolment = services.enrol(
        db.session, training.id, association, participant(full_name="Amina Alaoui"), actor=owner
    )
    db.session.commit()
    return enrolment


def pass_link_in_mail(enrolment) -> str:
    """Return the path of the pass link e-mailed to the participant."""
    body = db.session.scalar(
        select(OutboxMessage.body_text)
        .where(OutboxMessage.recipient == enrolment.email)
        .order_by(OutboxMessage.id.desc())
    )
    link = re.search(r"https://shiraka\.test(/training/pass/\S+)", body)
    assert link, body
    return link.group(1)


def test_the_mailed_link_opens_the_pass_with_name_session_code_and_qr(client, confirmed):
    response = client.get(pass_link_in_mail(confirmed))

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Amina Alaoui" in body
    assert confirmed.session.module.title_ar in body
    assert confirmed.session.venue in body
    assert f'<bdi dir="ltr">{confirmed.registration_code}</bdi>' in body
    assert '<svg role="img"' in body
    assert shown("QR code of the registration code %(code)s", code=confirmed.registration_code) in (
        body
    )
    assert response.headers["Cache-Control"] == "no-store"


def test_the_qr_code_encodes_the_staff_check_in_page_of_the_code(confirmed):
    link = services.check_in_url(confirmed.registration_code)

    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == "https://shiraka.test"
    assert parts.path == url_for("training.check_in")
    assert parts.query == f"code={confirmed.registration_code}"


def test_the_confirmation_mail_carries_the_code_the_link_and_the_qr_image(confirmed):
    mail = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.template == "training_confirmed")
    )

    assert confirmed.registration_code in mail.body_text
    assert "https://shiraka.test/training/pass/" in mail.body_html
    assert re.search(
        r'<img src="data:image/png;base64,[A-Za-z0-9+/=]+"[^>]* alt="[^"]+"', mail.body_html
    )


def test_the_promotion_mail_carries_the_pass_link_too(make_session, association, owner):
    training = make_session(capacity=1)
    first = services.enrol(db.session, training.id, association, participant(), actor=owner)
    waiting = services.enrol(db.session, training.id, association, participant(), actor=owner)
    db.session.commit()

    services.cancel(db.session, first, actor=owner, by_staff=False)
    db.session.commit()

    mail = db.session.scalar(
        select(OutboxMessage).where(OutboxMessage.template == "training_promoted")
    )
    assert mail.recipient == waiting.email
    assert "https://shiraka.test/training/pass/" in mail.body_text
    assert 'src="data:image/png;base64,' in mail.body_html


def test_a_forged_token_is_not_found_with_a_clear_message(client, confirmed):
    forged = URLSafeSerializer("another-secret", salt="shiraka.training-admission").dumps(
        confirmed.id
    )

    response = client.get(url_for("training.participant_pass", token=forged))

    body = response.get_data(as_text=True)
    assert response.status_code == 404
    assert shown("This pass link is not valid") in body
    assert "Amina Alaoui" not in body


def test_a_token_signed_for_another_purpose_is_not_found(client, app, confirmed):
    other_purpose = URLSafeSerializer(app.config["SECRET_KEY"], salt="shiraka.other").dumps(
        confirmed.id
    )

    response = client.get(url_for("training.participant_pass", token=other_purpose))

    assert response.status_code == 404


@pytest.mark.parametrize("token", ["nonsense", "MQ", "x.y"])
def test_a_cut_or_changed_link_is_not_found(client, confirmed, token):
    response = client.get(url_for("training.participant_pass", token=token))

    assert response.status_code == 404
    assert shown("This pass link is not valid") in response.get_data(as_text=True)


def test_a_token_for_an_enrolment_that_does_not_exist_is_not_found(client):
    response = client.get(url_for("training.participant_pass", token=services.pass_token(4242)))

    assert response.status_code == 404


def test_a_cancelled_place_shows_no_code_and_no_qr(client, confirmed, owner):
    code = confirmed.registration_code
    link = pass_link_in_mail(confirmed)
    services.cancel(db.session, confirmed, actor=owner, by_staff=False)
    db.session.commit()

    response = client.get(link)

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert shown("This place is cancelled: this pass is no longer valid.") in body
    assert code not in body and "<svg" not in body


def test_a_waitlisted_participant_sees_their_place_without_code(
    client, make_session, association, owner
):
    training = make_session(capacity=1)
    factories.training_enrolment(training, association)
    training.seats_taken = 1
    db.session.commit()
    waiting = services.enrol(db.session, training.id, association, participant(), actor=owner)
    db.session.commit()
    assert waiting.status == EnrolmentStatus.WAITLISTED

    response = client.get(
        url_for("training.participant_pass", token=services.pass_token(waiting.id))
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<svg" not in body
    assert (
        shown(
            "You are on the waitlist of this session. If a place becomes free and it is yours, you "
            "receive an e-mail and this page shows your registration code."
        )
        in body
    )
