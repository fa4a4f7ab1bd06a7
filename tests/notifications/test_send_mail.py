"""`flask send-mail` delivers the outbox over SMTP to a real server, once per message, and
retries failures up to MAIL_MAX_ATTEMPTS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import MessageStatus, OutboxMessage
from portal.notifications.services import queue_message
from portal.organisations.models import MemberRole
from tests.conftest import free_port
from tests.factories import AssociationFactory, UserFactory

LINK = "https://shiraka.test/accounts/verify/abc123"


@pytest.fixture
def mail_app(app_factory, smtp_server):
    """An app whose mail settings point at the test SMTP server, with its context pushed."""
    host, port, _sink = smtp_server
    app = app_factory(MAIL_SERVER=host, MAIL_PORT=port, MAIL_MAX_ATTEMPTS=3)
    with app.app_context():
        yield app


@pytest.fixture
def sink(smtp_server):
    return smtp_server[2]


def send_mail(app) -> str:
    """Run `flask send-mail` once and return what it printed."""
    result = app.test_cli_runner().invoke(args=["send-mail"])
    assert result.exit_code == 0, result.output
    return result.output


def queue_verification(locale: str = "fr", full_name: str = "Salma Idrissi") -> OutboxMessage:
    """Queue and commit a verification e-mail for a new user."""
    user = UserFactory(locale=locale, full_name=full_name)
    message = queue_message(db.session, user.email, locale, "verify_email", user=user, link=LINK)
    db.session.commit()
    return message


def outbox() -> list[OutboxMessage]:
    """Return the outbox as the database holds it now."""
    db.session.expire_all()
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def text_part(email) -> str:
    return email.get_body(("plain",)).get_content()


def html_part(email) -> str:
    return email.get_body(("html",)).get_content()


def same_text(a: str, b: str) -> bool:
    """Compare bodies as the reader sees them: line endings and the final newline aside."""
    return a.replace("\r\n", "\n").strip() == b.replace("\r\n", "\n").strip()


def test_send_mail_delivers_each_pending_message_with_both_parts(mail_app, sink):
    """Each pending message arrives with its subject, recipient, text and HTML parts and
    language, and is marked sent."""
    before = utcnow()
    queued = [queue_verification("fr"), queue_verification("ar")]
    expected = {message.recipient: message for message in queued}

    assert "sent 2, failed 0" in send_mail(mail_app)

    assert sorted(email["To"] for email in sink.messages) == sorted(expected)
    for email in sink.messages:
        message = expected[email["To"]]
        assert email["Subject"] == message.subject
        assert email["Content-Language"] == message.locale
        assert email["From"] == mail_app.config["MAIL_DEFAULT_SENDER"]
        assert email.get_content_type() == "multipart/alternative"
        assert same_text(text_part(email), message.body_text)
        assert same_text(html_part(email), message.body_html)
        assert LINK in text_part(email)
    for message in outbox():
        assert message.status == MessageStatus.SENT
        assert message.attempts == 1
        assert message.last_error == ""
        assert before <= message.sent_at <= utcnow() + timedelta(seconds=1)


def test_second_run_sends_nothing_again(mail_app, sink):
    """Each message is delivered exactly once, however often the worker runs. (CHECKLIST R12)"""
    queue_verification()
    send_mail(mail_app)

    assert "sent 0, failed 0" in send_mail(mail_app)

    assert len(sink.messages) == 1
    [message] = outbox()
    assert (message.status, message.attempts) == (MessageStatus.SENT, 1)


def test_only_new_messages_are_sent_on_the_next_run(mail_app, sink):
    """A message queued after a run goes out on the next run, alone."""
    queue_verification()
    send_mail(mail_app)
    later = queue_verification()

    assert "sent 1, failed 0" in send_mail(mail_app)

    assert [email["To"] for email in sink.messages][1:] == [later.recipient]


def test_arabic_subject_and_body_survive_the_round_trip(mail_app, sink):
    """Arabic in the subject, the names and the bodies arrives unchanged. (CHECKLIST R15)"""
    owner = UserFactory(locale="ar", full_name="سلمى الإدريسي")
    association = AssociationFactory(owner=owner, name_ar="جمعية النور للتنمية والتضامن")
    message = queue_message(
        db.session,
        "invitee@example.org",
        "ar",
        "invitation",
        association=association,
        inviter=owner,
        role=MemberRole.EDITOR,
        link=LINK,
    )
    db.session.commit()
    subject, body_text, body_html = message.subject, message.body_text, message.body_html
    assert "جمعية النور للتنمية والتضامن" in subject

    send_mail(mail_app)

    [email] = sink.messages
    assert email["Subject"] == subject
    assert same_text(text_part(email), body_text)
    assert same_text(html_part(email), body_html)
    assert "سلمى الإدريسي" in text_part(email)
    assert 'dir="rtl"' in html_part(email)
    assert email["Content-Language"] == "ar"


def test_failed_delivery_is_retried_until_the_maximum_then_marked_failed(app_factory):
    """With no SMTP server, each run counts an attempt and keeps the error; after
    MAIL_MAX_ATTEMPTS the message is marked failed and no longer tried."""
    app = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_MAX_ATTEMPTS=3)
    with app.app_context():
        queue_verification()

        for attempt in (1, 2):
            assert "sent 0, failed 1" in send_mail(app)
            [message] = outbox()
            assert message.attempts == attempt
            assert message.status == MessageStatus.PENDING
            assert "ConnectionRefusedError" in message.last_error
            assert message.sent_at is None

        assert "sent 0, failed 1" in send_mail(app)
        [message] = outbox()
        assert (message.status, message.attempts) == (MessageStatus.FAILED, 3)
        assert message.last_error

        assert "sent 0, failed 0" in send_mail(app)
        assert outbox()[0].attempts == 3


def test_message_that_failed_once_is_delivered_when_the_server_is_back(
    app_factory, smtp_server, sink
):
    """A delivery that failed is retried on the next run and then sent, exactly once."""
    host, port, _sink = smtp_server
    down = app_factory(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_MAX_ATTEMPTS=3)
    with down.app_context():
        queue_verification()
        assert "sent 0, failed 1" in send_mail(down)
        assert outbox()[0].last_error

    back = app_factory(MAIL_SERVER=host, MAIL_PORT=port, MAIL_MAX_ATTEMPTS=3)
    with back.app_context():
        assert "sent 1, failed 0" in send_mail(back)
        assert "sent 0, failed 0" in send_mail(back)
        [message] = outbox()

    assert len(sink.messages) == 1
    assert sink.messages[0]["To"] == message.recipient
    assert (message.status, message.attempts, message.last_error) == (MessageStatus.SENT, 2, "")
    assert message.sent_at is not None


def test_a_message_that_cannot_be_sent_does_not_block_the_others(mail_app, sink):
    """A message with a malformed address counts a failed attempt; the rest is still sent."""
    refused = queue_message(
        db.session,
        "no-such-recipient@",
        "fr",
        "verify_email",
        user=UserFactory(locale="fr"),
        link=LINK,
    )
    db.session.commit()
    good = queue_verification()

    assert "sent 1, failed 1" in send_mail(mail_app)

    assert [email["To"] for email in sink.messages] == [good.recipient]
    statuses = {message.recipient: (message.status, message.attempts) for message in outbox()}
    assert statuses[refused.recipient] == (MessageStatus.PENDING, 1)
    assert outbox()[0].last_error
    assert statuses[good.recipient] == (MessageStatus.SENT, 1)
