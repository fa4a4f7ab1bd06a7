"""Queue messages in the outbox (same transaction as the change) and deliver them over SMTP."""

from __future__ import annotations

import logging
import smtplib
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

from flask import current_app, render_template
from flask_babel import force_locale
from sqlalchemy import event, inspect, select
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.notifications.models import MessageStatus, OutboxMessage

log = logging.getLogger("portal.mail")

EMAIL_TEMPLATES = "notifications/email"


def queue_message(
    session: Session, recipient: str, locale: str, template: str, **context
) -> OutboxMessage:
    """Render an e-mail in the recipient's language and store it in the outbox."""
    with force_locale(locale):
        subject = render_template(f"{EMAIL_TEMPLATES}/{template}.subject.txt", **context)
        body_text = render_template(f"{EMAIL_TEMPLATES}/{template}.txt", **context)
        body_html = render_template(f"{EMAIL_TEMPLATES}/{template}.html", **context)
    message = OutboxMessage(
        recipient=recipient,
        locale=locale,
        template=template,
        subject=" ".join(subject.split()),
        body_text=body_text,
        body_html=body_html,
    )
    session.add(message)
    copy_dir = current_app.config.get("MAIL_COPY_DIR")
    if copy_dir:
        session.info.setdefault("mail_copies", []).append((Path(copy_dir), message))
    return message


def build_email(message: OutboxMessage, sender: str) -> EmailMessage:
    """Turn an outbox row into a MIME message with text and HTML parts."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.recipient
    email["Subject"] = message.subject
    email["Message-ID"] = make_msgid(domain="shiraka.local")
    email.set_content(message.body_text)
    email.add_alternative(message.body_html, subtype="html")
    # After the parts: set_content() drops every Content-* header already set.
    email["Content-Language"] = message.locale
    return email


@event.listens_for(Session, "after_commit")
def _write_development_copies(session: Session) -> None:
    """Write committed messages to instance/mail/ so a developer can click their links."""
    if session.in_nested_transaction():
        return  # only a savepoint was released: nothing is committed yet
    copies = session.info.pop("mail_copies", [])
    for directory, message in copies:
        if not inspect(message).persistent:
            continue  # queued inside a savepoint that was rolled back
        try:
            directory.mkdir(parents=True, exist_ok=True)
            email = build_email(message, "Shiraka <no-reply@shiraka.local>")
            name = f"{utcnow():%Y%m%dT%H%M%S}-{message.id}-{message.template}.eml"
            (directory / name).write_bytes(email.as_bytes())
        except Exception:  # a copy is a convenience; never fail a request for it
            log.exception("could not write a development copy of message %s", message.id)


@event.listens_for(Session, "after_transaction_end")
def _forget_development_copies(session: Session, transaction) -> None:
    # Only when the whole transaction ends: a savepoint rolled back keeps earlier messages.
    if transaction.parent is None:
        session.info.pop("mail_copies", None)


SmtpFactory = Callable[[], smtplib.SMTP]


def smtp_from_config(config) -> SmtpFactory:
    """Return a function that opens an SMTP connection as the settings say."""

    def connect() -> smtplib.SMTP:
        host, port = config["MAIL_SERVER"], config["MAIL_PORT"]
        if config["MAIL_USE_SSL"]:
            smtp = smtplib.SMTP_SSL(host, port, timeout=30)
        else:
            smtp = smtplib.SMTP(host, port, timeout=30)
            if config["MAIL_USE_TLS"]:
                smtp.starttls()
        if config["MAIL_USERNAME"]:
            smtp.login(config["MAIL_USERNAME"], config["MAIL_PASSWORD"] or "")
        return smtp

    return connect


def next_pending_message(
    session: Session, max_attempts: int, skip_ids: set[int]
) -> OutboxMessage | None:
    """Take the next message to send, locked so that two workers never send the same one."""
    query = (
        select(OutboxMessage)
        .where(
            OutboxMessage.status == MessageStatus.PENDING,
            OutboxMessage.attempts < max_attempts,
        )
        .order_by(OutboxMessage.id)
        .limit(1)
    )
    if skip_ids:
        query = query.where(OutboxMessage.id.not_in(skip_ids))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return session.scalar(query)


def deliver_pending(
    session: Session, connect: SmtpFactory, sender: str, max_attempts: int
) -> tuple[int, int]:
    """Send pending messages once each; count sent and failed. Each is committed on its own."""
    sent = failed = 0
    tried: set[int] = set()
    while (message := next_pending_message(session, max_attempts, tried)) is not None:
        tried.add(message.id)
        message.attempts += 1
        try:
            with connect() as smtp:
                smtp.send_message(build_email(message, sender))
        # Any error, not only SMTP's: a message that cannot be built (a malformed address
        # raises IndexError in the e-mail package) must not stop the whole outbox.
        except Exception as error:
            log.warning("message %s not delivered: %r", message.id, error)
            message.last_error = f"{type(error).__name__}: {error}"[:2000]
            if message.attempts >= max_attempts:
                message.status = MessageStatus.FAILED
            failed += 1
        else:
            message.status = MessageStatus.SENT
            message.sent_at = utcnow()
            message.last_error = ""
            sent += 1
        session.commit()
    return sent, failed
