"""The outbox: e-mails are rendered in the recipient's language and stored with the change that
causes them; development copies are written only for messages that were committed."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default as default_policy

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from portal.extensions import db
from portal.notifications.models import MessageStatus, OutboxMessage
from portal.notifications.services import queue_message
from portal.organisations.models import AssociationStatus, MemberRole
from tests.factories import AssociationFactory, UserFactory

LINK = "https://shiraka.test/link/abc123"
OTHER_LINK = "https://shiraka.test/link/other456"

OPENING_TAG = {"ar": '<html lang="ar" dir="rtl">', "fr": '<html lang="fr" dir="ltr">'}


def outbox_count() -> int:
    """Return how many messages the outbox holds, read from the database."""
    return db.session.scalar(select(func.count()).select_from(OutboxMessage))


def _association(locale: str, **fields):
    owner = UserFactory(locale=locale, full_name="Salma Idrissi")
    return AssociationFactory(
        owner=owner, name_ar="جمعية النور للتنمية", name_fr="Association Nour", **fields
    )


# Each builder makes the objects a template needs and returns, under the recipient's locale:
# (recipient, context, expected subject, phrases the text and HTML bodies must contain,
#  texts that must not appear — the association's name in the other language).


def verify_email(locale: str):
    user = UserFactory(locale=locale, full_name="Salma Idrissi")
    phrases = [
        gettext("Hello %(name)s,", name=user.full_name),
        gettext("To confirm your e-mail address, open this link (it works for 48 hours, once):"),
        gettext("If you did not create an account, ignore this message."),
    ]
    return user.email, {"user": user}, gettext("Confirm your e-mail address"), phrases, []


def reset_password(locale: str):
    user = UserFactory(locale=locale, full_name="Salma Idrissi")
    phrases = [
        gettext("Hello %(name)s,", name=user.full_name),
        gettext("To choose a new password, open this link (it works for one hour, once):"),
        gettext("If you did not ask for this, ignore this message: your password stays the same."),
    ]
    return user.email, {"user": user}, gettext("Choose a new password"), phrases, []


def invitation(locale: str):
    association = _association(locale)
    inviter = association.memberships[0].user
    name = association.text_for("name", locale)
    other = association.text_for("name", "fr" if locale == "ar" else "ar")
    context = {"association": association, "inviter": inviter, "role": MemberRole.EDITOR}
    phrases = [
        gettext(
            "%(inviter)s invites you to join %(name)s on Shiraka.",
            inviter=inviter.full_name,
            name=name,
        ),
        gettext(
            "To accept, sign in or create an account with this e-mail address, then open this "
            "link (it works for 14 days, once):"
        ),
    ]
    subject = gettext("Invitation to join %(name)s", name=name)
    return "invitee@example.org", context, subject, phrases, [other]


def association_verified(locale: str):
    association = _association(locale, status=AssociationStatus.VERIFIED)
    owner = association.memberships[0].user
    name = association.text_for("name", locale)
    other = association.text_for("name", "fr" if locale == "ar" else "ar")
    phrases = [
        gettext("%(name)s is verified. It can now apply to the calls for projects.", name=name)
    ]
    subject = gettext("Your association is verified")
    return owner.email, {"association": association}, subject, phrases, [other]


def association_rejected(locale: str):
    association = _association(
        locale, status=AssociationStatus.REJECTED, status_reason="Statuts non signés"
    )
    owner = association.memberships[0].user
    name = association.text_for("name", locale)
    other = association.text_for("name", "fr" if locale == "ar" else "ar")
    phrases = [
        gettext("The registration of %(name)s was not accepted.", name=name),
        gettext("Reason given by staff:"),
        "Statuts non signés",
    ]
    subject = gettext("Your association's registration needs changes")
    return owner.email, {"association": association}, subject, phrases, [other]


TEMPLATES = [
    ("verify_email", verify_email),
    ("reset_password", reset_password),
    ("invitation", invitation),
    ("association_status", association_verified),
    ("association_status", association_rejected),
]


@pytest.mark.parametrize("locale", ["ar", "fr"])
@pytest.mark.parametrize(
    ("template", "build"), TEMPLATES, ids=[build.__name__ for _, build in TEMPLATES]
)
def test_message_is_rendered_in_the_recipients_language(session, template, build, locale):
    """Subject, text and HTML bodies are in the recipient's language; Arabic HTML is RTL."""
    with force_locale(locale):
        recipient, context, subject, phrases, absent = build(locale)

    queue_message(session, recipient, locale, template, link=LINK, **context)
    session.commit()

    message = session.scalars(select(OutboxMessage)).one()
    assert (message.recipient, message.locale, message.template) == (recipient, locale, template)
    assert message.status == MessageStatus.PENDING
    assert message.attempts == 0
    assert message.subject == subject
    assert OPENING_TAG[locale] in message.body_html
    assert f'<a href="{LINK}">{LINK}</a>' in message.body_html
    assert LINK in message.body_text
    for phrase in phrases:
        assert phrase in message.body_text
        assert phrase in message.body_html
    for text in absent:
        assert text not in message.subject + message.body_text + message.body_html


def test_markup_in_names_is_escaped_in_the_html_body(session):
    """A name holding markup is shown as text in the HTML e-mail, never as markup. (ASVS 5.3.3,
    CHECKLIST S16)"""
    association = AssociationFactory(name_fr='<img src=x onerror="alert(1)">')
    inviter = UserFactory(full_name="<script>alert(1)</script>", locale="fr")

    message = queue_message(
        session,
        "invitee@example.org",
        "fr",
        "invitation",
        association=association,
        inviter=inviter,
        role=MemberRole.VIEWER,
        link=LINK,
    )

    assert "<script>" not in message.body_html
    assert "<img" not in message.body_html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.body_html
    assert "<script>alert(1)</script>" in message.body_text


def test_nothing_reaches_the_outbox_when_the_transaction_rolls_back(session):
    """A message belongs to the transaction of its change: rolled back, it is gone."""
    user = UserFactory()

    queue_message(session, user.email, "ar", "verify_email", user=user, link=LINK)
    session.flush()
    session.rollback()

    assert outbox_count() == 0


def test_message_queued_inside_a_rolled_back_savepoint_is_dropped_with_it(session):
    """A message queued in a savepoint that is rolled back is not sent; one queued before is."""
    user = UserFactory()
    queue_message(session, user.email, "ar", "verify_email", user=user, link=LINK)
    savepoint = session.begin_nested()
    queue_message(session, user.email, "ar", "reset_password", user=user, link=OTHER_LINK)
    savepoint.rollback()
    session.commit()

    assert session.scalars(select(OutboxMessage.template)).all() == ["verify_email"]


# --- development copies ----------------------------------------------------------------------


def read_copies(directory) -> list:
    """Return the e-mails written to the copy directory, parsed."""
    return [
        message_from_bytes(path.read_bytes(), policy=default_policy)
        for path in sorted(directory.glob("*.eml"))
    ]


def queue_verification(link: str, user=None):
    """Queue a verification e-mail (for a new user unless given); return the user."""
    user = user or UserFactory(full_name="سلمى الإدريسي", locale="ar")
    queue_message(db.session, user.email, user.locale, "verify_email", user=user, link=link)
    return user


@pytest.fixture
def copy_dir(tmp_path):
    return tmp_path / "mail"


@pytest.fixture
def copying_app(app_factory, copy_dir):
    """An app that writes a copy of each committed e-mail to `copy_dir`."""
    app = app_factory(MAIL_COPY_DIR=str(copy_dir))
    with app.app_context():
        yield app


def test_committed_message_is_copied_to_the_mail_directory_with_its_link(copying_app, copy_dir):
    """In development, each committed e-mail is written as .eml so its link can be clicked."""
    user = queue_verification(LINK)
    assert read_copies(copy_dir) == []

    db.session.commit()

    [email] = read_copies(copy_dir)
    stored = db.session.scalars(select(OutboxMessage)).one()
    assert email["To"] == user.email
    assert email["Subject"] == stored.subject
    assert email["Content-Language"] == "ar"
    assert LINK in email.get_body(("plain",)).get_content()
    assert f'href="{LINK}"' in email.get_body(("html",)).get_content()
    assert "سلمى الإدريسي" in email.get_body(("plain",)).get_content()


def test_rolled_back_message_is_never_copied(copying_app, copy_dir):
    """A rolled-back e-mail leaves no copy, not even when a later transaction commits."""
    queue_verification(LINK)
    db.session.rollback()
    queue_verification(OTHER_LINK)
    db.session.commit()

    [email] = read_copies(copy_dir)
    assert OTHER_LINK in email.get_body(("plain",)).get_content()
    assert LINK not in email.as_string()


def test_message_is_copied_only_when_the_outer_transaction_commits(copying_app, copy_dir):
    """Releasing a savepoint is not a commit: nothing is copied until the transaction ends."""
    queue_verification(LINK)
    with db.session.begin_nested():
        db.session.flush()

    assert read_copies(copy_dir) == []
    db.session.rollback()
    assert read_copies(copy_dir) == []
    assert outbox_count() == 0


def test_rolled_back_savepoint_drops_its_own_copies_and_keeps_earlier_ones(copying_app, copy_dir):
    """A message queued before a failed savepoint is copied; one queued inside it is not."""
    user = queue_verification(LINK)
    savepoint = db.session.begin_nested()
    queue_verification(OTHER_LINK, user)
    savepoint.rollback()
    db.session.commit()

    [email] = read_copies(copy_dir)
    assert LINK in email.get_body(("plain",)).get_content()
    assert OTHER_LINK not in email.as_string()
    assert outbox_count() == 1
