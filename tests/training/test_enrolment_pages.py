"""Enrolling through the pages: an owner or editor of an association enrols a participant (a
seat, or the waitlist), lists the association's places and cancels them; every refusal answers
422 with the message beside its field and writes nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import url_for
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.organisations.models import AssociationStatus
from portal.training import services
from portal.training.models import Enrolment, EnrolmentStatus, TrainingSession
from tests import factories
from tests.conftest import shown
from tests.training.conftest import participant, verified_association


def count(model, *conditions) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*conditions))


def written() -> tuple[int, int, int]:
    """What an enrolment writes: enrolments, audit events, e-mails."""
    return count(Enrolment), count(AuditEvent), count(OutboxMessage)


def form_for(association, **fields) -> dict:
    return {"association_id": str(association.id), **participant(**fields)}


def enrol_url(training) -> str:
    return url_for("training.enrol", session_id=training.id)


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
def owner_client(login_as, owner, association):
    return login_as(user=owner)[0]


def refused(client, training, data, message: str, field: str | None = None):
    """Post an enrolment that must be refused: 422, the message on the page (beside `field`),
    the typed values kept, nothing written."""
    before = written()
    response = client.post(enrol_url(training), data=data)
    body = response.get_data(as_text=True)
    assert response.status_code == 422, body
    assert message in body
    if field:
        assert f'id="{field}-error"' in body
        assert message in body.split(f'id="{field}-error"', 1)[1].split("</p>", 1)[0]
    assert data["full_name"] in body  # what was typed is shown again
    assert written() == before
    assert db.session.get(TrainingSession, training.id).seats_taken == training.seats_taken
    return body


# --- the form -------------------------------------------------------------------------------


def test_the_form_explains_the_waitlist_and_preselects_the_only_association(
    owner_client, training, association
):
    response = owner_client.get(enrol_url(training))

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert (
        shown(
            "When every seat is taken, the participant joins the waitlist: you see their position, "
            "and the first on the list gets the next seat that becomes free, with an e-mail."
        )
        in body
    )
    assert f'<input type="hidden" name="association_id" value="{association.id}">' in body
    for name in ("full_name", "sex", "role", "email", "phone", "locale", "accessibility_needs"):
        assert f'name="{name}"' in body


def test_the_form_lists_only_the_associations_the_user_owns_or_edits(login_as, training):
    first, user = verified_association()
    second = factories.AssociationFactory(owner=factories.UserFactory())
    factories.add_member(second, user, "editor")
    only_viewer = factories.AssociationFactory(owner=factories.UserFactory())
    factories.add_member(only_viewer, user, "viewer")
    client = login_as(user=user)[0]

    body = client.get(enrol_url(training)).get_data(as_text=True)

    assert f'<option value="{first.id}"' in body and f'<option value="{second.id}"' in body
    assert f'value="{only_viewer.id}"' not in body


def test_with_several_associations_one_must_be_chosen(login_as, training):
    first, user = verified_association()
    second = factories.AssociationFactory(owner=factories.UserFactory())
    factories.add_member(second, user, "editor")

    refused(
        login_as(user=user)[0],
        training,
        {**form_for(first), "association_id": ""},
        shown("Choose one of the associations you manage."),
        field="association_id",
    )


def test_a_visitor_is_sent_to_sign_in_and_then_back_to_the_form(client, training):
    response = client.get(enrol_url(training))

    assert response.status_code == 302
    assert "/account/sign-in" in response.location
    assert "next=" in response.location and f"/training/sessions/{training.id}/enrol" in (
        response.location.replace("%2F", "/")
    )


def test_the_session_page_offers_enrolment_only_while_it_is_open(client, training, make_session):
    closed = make_session(enrolment_closes_at=utcnow() - timedelta(hours=1))

    open_page = client.get(url_for("training.session_page", session_id=training.id))
    closed_page = client.get(url_for("training.session_page", session_id=closed.id))

    assert enrol_url(training) in open_page.get_data(as_text=True)
    assert shown("Enrol participants") in open_page.get_data(as_text=True)
    assert enrol_url(closed) not in closed_page.get_data(as_text=True)


def test_a_plain_member_of_an_association_may_not_enrol(login_as, training, association):
    viewer = factories.UserFactory()
    factories.add_member(association, viewer, "viewer")
    client = login_as(user=viewer)[0]

    assert client.get(enrol_url(training)).status_code == 403
    assert client.post(enrol_url(training), data=form_for(association)).status_code == 403
    assert written() == (0, 0, 0)


def test_a_user_without_any_association_may_not_enrol(login_as, training):
    client = login_as("staff")[0]

    assert client.get(enrol_url(training)).status_code == 403


def test_a_draft_session_cannot_be_enrolled_in(owner_client, make_session, association):
    draft = make_session(status="draft")

    assert owner_client.get(enrol_url(draft)).status_code == 404
    assert owner_client.post(enrol_url(draft), data=form_for(association)).status_code == 404


# --- a seat, or the waitlist ----------------------------------------------------------------


def test_an_owner_enrols_a_participant_who_is_confirmed_and_mailed_in_their_language(
    owner_client, training, association
):
    data = form_for(association, locale="fr", email="Amina@Example.org", full_name="Amina Alaoui")

    response = owner_client.post(enrol_url(training), data=data)

    enrolment = db.session.scalar(select(Enrolment))
    assert response.status_code == 303
    assert response.location.endswith(
        url_for("training.association_enrolments", association_id=association.id)
    )
    assert enrolment.status == EnrolmentStatus.CONFIRMED and enrolment.email == "amina@example.org"
    mail = db.session.scalar(select(OutboxMessage))
    assert (mail.recipient, mail.locale, mail.template) == (
        "amina@example.org",
        "fr",
        "training_confirmed",
    )
    assert enrolment.registration_code in mail.body_text
    assert "https://shiraka.test/training/pass/" in mail.body_text
    assert 'src="data:image/png;base64,' in mail.body_html
    page = owner_client.get(response.location).get_data(as_text=True)
    assert (
        shown(
            "%(name)s is enrolled: the place is confirmed and the registration code was "
            "e-mailed to %(email)s.",
            name="Amina Alaoui",
            email="amina@example.org",
        )
        in page
    )
    assert enrolment.registration_code in page


def test_an_editor_may_enrol_too(login_as, training, association):
    editor = factories.UserFactory()
    factories.add_member(association, editor, "editor")

    response = login_as(user=editor)[0].post(enrol_url(training), data=form_for(association))

    assert response.status_code == 303
    assert count(Enrolment) == 1


def test_enrolling_in_a_full_session_puts_the_participant_on_the_waitlist_with_position(
    owner_client, make_session, association
):
    training = make_session(capacity=2)
    fill(training, 3)  # two seats taken, one waiting

    response = owner_client.post(enrol_url(training), data=form_for(association, full_name="Salma"))

    enrolment = db.session.scalar(select(Enrolment).order_by(Enrolment.id.desc()))
    assert response.status_code == 303
    assert enrolment.status == EnrolmentStatus.WAITLISTED
    page = owner_client.get(response.location).get_data(as_text=True)
    message = (
        "The session is full: %(name)s is number %(position)d on the waitlist and was told so "
        "by e-mail."
    )
    assert shown(message, name="Salma", position=2) in page
    assert shown("Number %(position)s on the waitlist", position=2) in page


# --- refusals -------------------------------------------------------------------------------


def test_enrolling_beyond_the_associations_cap_is_refused(owner_client, training, association):
    fill_owner = association.memberships[0].user
    for _ in range(2):
        services.enrol(db.session, training.id, association, participant(), actor=fill_owner)
        db.session.commit()

    refused(
        owner_client,
        training,
        form_for(association),
        shown("An association may enrol at most %(n)d participants in this session.", n=2),
    )


def test_enrolling_after_the_window_closed_is_refused(owner_client, make_session, association):
    training = make_session(enrolment_closes_at=utcnow() - timedelta(minutes=1))

    refused(
        owner_client,
        training,
        form_for(association),
        shown("Enrolment for this session is closed."),
    )


def test_enrolling_before_the_window_opens_is_refused(owner_client, make_session, association):
    training = make_session(enrolment_opens_at=utcnow() + timedelta(days=1))

    refused(
        owner_client,
        training,
        form_for(association),
        shown("Enrolment for this session has not opened yet."),
    )


def test_the_same_person_twice_is_refused_beside_the_email(owner_client, training, association):
    first = form_for(association, email="same@example.org")
    assert owner_client.post(enrol_url(training), data=first).status_code == 303

    refused(
        owner_client,
        training,
        form_for(association, email="SAME@example.org"),
        shown("This person is already enrolled in this session."),
        field="email",
    )


def test_an_unverified_association_is_refused(login_as, training):
    user = factories.UserFactory()
    pending = factories.AssociationFactory(owner=user, status=AssociationStatus.PENDING)

    refused(
        login_as(user=user)[0],
        training,
        form_for(pending),
        shown("The association must be verified by staff first."),
    )


@pytest.mark.parametrize("email", ["amina", "amina@", "amina@example", "a b@example.org"])
def test_a_malformed_email_is_refused_beside_the_field(owner_client, training, association, email):
    refused(
        owner_client,
        training,
        form_for(association, email=email),
        shown("Enter a valid e-mail address, like name@example.org."),
        field="email",
    )


@pytest.mark.parametrize("phone", ["06 12", "+212 6 ab 34 56 78", "1" * 21])
def test_a_malformed_phone_is_refused_beside_the_field(owner_client, training, association, phone):
    refused(
        owner_client,
        training,
        form_for(association, phone=phone),
        shown("Enter a phone number of 8 to 20 digits; spaces and + - ( ) are allowed."),
        field="phone",
    )


def test_a_participant_without_a_name_is_refused_beside_the_field(
    owner_client, training, association
):
    data = {**form_for(association), "full_name": "  "}
    before = written()

    response = owner_client.post(enrol_url(training), data=data)

    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert shown("Enter the participant's full name.") in body.split('id="full_name-error"')[1]
    assert written() == before


def test_a_sex_other_than_female_or_male_is_refused_beside_the_field(
    owner_client, training, association
):
    data = {**form_for(association), "sex": "other"}

    refused(owner_client, training, data, shown("Choose female or male."), field="sex")


def test_an_association_of_another_region_is_refused(owner_client, make_session, association):
    training = make_session(eligible_regions=["oriental"])

    refused(
        owner_client,
        training,
        form_for(association),
        shown("This session is open to associations of other regions."),
    )


def test_choosing_an_association_the_user_does_not_manage_is_refused(
    owner_client, training, association
):
    other, _other_owner = verified_association()

    refused(
        owner_client,
        training,
        form_for(other),
        shown("Choose one of the associations you manage."),
        field="association_id",
    )


def test_status_and_association_sent_as_extra_fields_are_ignored(
    owner_client, make_session, association
):
    """CHECKLIST S08: a full session stays full whatever the form claims."""
    training = make_session(capacity=1)
    fill(training, 1)

    owner_client.post(
        enrol_url(training),
        data={**form_for(association), "status": "confirmed", "registration_code": "AAAAAAAA"},
    )

    enrolment = db.session.scalar(select(Enrolment).order_by(Enrolment.id.desc()))
    assert enrolment.status == EnrolmentStatus.WAITLISTED
    assert enrolment.registration_code is None


# --- the association's list -----------------------------------------------------------------


def test_the_list_groups_places_by_session_upcoming_first_with_status(
    owner_client, make_session, association, owner
):
    today = utcnow().date()
    later = make_session(
        capacity=1, starts_on=today + timedelta(days=60), ends_on=today + timedelta(days=61)
    )
    sooner = make_session(starts_on=today + timedelta(days=10), ends_on=today + timedelta(days=11))
    past = make_session(starts_on=today - timedelta(days=10), ends_on=today - timedelta(days=9))
    fill(later, 1)
    services.enrol(db.session, later.id, association, participant(full_name="Waiting"), actor=owner)
    services.enrol(db.session, sooner.id, association, participant(full_name="Seated"), actor=owner)
    services.enrol(db.session, past.id, association, participant(full_name="Before"), actor=owner)
    db.session.commit()

    body = owner_client.get(
        url_for("training.association_enrolments", association_id=association.id)
    ).get_data(as_text=True)

    assert body.index("Seated") < body.index("Waiting") < body.index("Before")
    assert shown("Number %(position)s on the waitlist", position=1) in body
    code = db.session.scalar(
        select(Enrolment.registration_code).where(Enrolment.full_name == "Seated")
    )
    assert code in body


def test_the_list_links_the_certificates_of_past_participants(
    owner_client, make_session, association, owner
):
    today = utcnow().date()
    past = make_session(starts_on=today - timedelta(days=10), ends_on=today - timedelta(days=9))
    certified = factories.training_enrolment(past, association, created_by_id=owner.id)
    factories.training_enrolment(past, association, created_by_id=owner.id)  # none for them
    certificate = factories.training_certificate(certified)

    body = owner_client.get(
        url_for("training.association_enrolments", association_id=association.id)
    ).get_data(as_text=True)

    pdf = url_for("training.certificate_pdf", certificate_id=certificate.id)
    assert body.count(shown("Certificate (PDF)")) == 1
    assert f'href="{pdf}"' in body
    assert owner_client.get(pdf).data.startswith(b"%PDF-")


def test_a_plain_member_reads_the_list_without_cancel_buttons(
    login_as, training, association, owner
):
    services.enrol(db.session, training.id, association, participant(), actor=owner)
    db.session.commit()
    viewer = factories.UserFactory()
    factories.add_member(association, viewer, "viewer")

    response = login_as(user=viewer)[0].get(
        url_for("training.association_enrolments", association_id=association.id)
    )

    assert response.status_code == 200
    assert "/cancel" not in response.get_data(as_text=True)


def test_another_associations_list_is_not_found(login_as, association):
    _other, other_owner = verified_association()

    response = login_as(user=other_owner)[0].get(
        url_for("training.association_enrolments", association_id=association.id)
    )

    assert response.status_code == 404
    assert association.name_ar not in response.get_data(as_text=True)


def _places(association, owner, how_many: int) -> None:
    """Give the association `how_many` places: confirmed, waitlisted and cancelled ones."""
    for number in range(how_many):
        training = factories.training_session(capacity=1, per_association_cap=3)
        if number % 3 == 1:
            fill(training, 1)  # the next one waits
        enrolment = services.enrol(db.session, training.id, association, participant(), actor=owner)
        if number % 3 == 2:
            services.cancel(db.session, enrolment, actor=owner, by_staff=False)
        db.session.commit()


def test_the_list_runs_the_same_queries_for_2_and_12_places(
    owner_client, association, owner, count_queries
):
    url = url_for("training.association_enrolments", association_id=association.id)
    _places(association, owner, 2)
    owner_client.get(url)
    with count_queries() as few:
        assert owner_client.get(url).status_code == 200
    _places(association, owner, 10)
    owner_client.get(url)
    with count_queries() as many:
        assert owner_client.get(url).status_code == 200

    assert few.count == many.count, "\n\n".join(few.statements + ["----"] + many.statements)
    assert many.count <= 10


# --- cancelling -----------------------------------------------------------------------------


def cancel_url(enrolment) -> str:
    return url_for("training.cancel_enrolment", enrolment_id=enrolment.id)


def test_cancelling_a_place_promotes_the_first_waitlisted_and_mails_both_in_the_request(
    owner_client, make_session, association, owner
):
    training = make_session(capacity=1)
    mine = services.enrol(db.session, training.id, association, participant(), actor=owner)
    db.session.commit()
    first_waiting, second_waiting = fill(training, 2)
    db.session.expire_all()

    response = owner_client.post(cancel_url(mine))

    db.session.expire_all()
    assert response.status_code == 303
    assert db.session.get(Enrolment, mine.id).status == EnrolmentStatus.CANCELLED
    promoted = db.session.get(Enrolment, first_waiting.id)
    assert promoted.status == EnrolmentStatus.CONFIRMED and promoted.registration_code
    assert db.session.get(Enrolment, second_waiting.id).status == EnrolmentStatus.WAITLISTED
    templates = dict(
        db.session.execute(
            select(OutboxMessage.recipient, OutboxMessage.template).where(
                OutboxMessage.template.in_(["training_cancelled", "training_promoted"])
            )
        ).all()
    )
    assert templates == {mine.email: "training_cancelled", promoted.email: "training_promoted"}
    page = owner_client.get(response.location).get_data(as_text=True)
    assert (
        shown(
            "The place of %(name)s is cancelled and they were told by e-mail.", name=mine.full_name
        )
        in page
    )


def test_cancelling_goes_back_to_a_local_next_only(owner_client, training, association, owner):
    first, second = (
        services.enrol(db.session, training.id, association, participant(), actor=owner)
        for _ in range(2)
    )
    db.session.commit()

    local = owner_client.post(cancel_url(first), data={"next": "/training"})
    evil = owner_client.post(cancel_url(second), data={"next": "https://evil.example/x"})

    assert local.location.endswith("/training")
    assert "evil.example" not in evil.location


def test_the_association_cannot_cancel_after_the_window_but_staff_can(
    owner_client, login_as, make_session, association, owner
):
    training = make_session()
    enrolment = services.enrol(db.session, training.id, association, participant(), actor=owner)
    training.enrolment_closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    before = written()

    response = owner_client.post(cancel_url(enrolment))

    page = owner_client.get(response.location).get_data(as_text=True)
    db.session.expire_all()
    assert response.status_code == 303
    assert shown("Enrolment is closed: ask the programme staff to cancel this place.") in page
    assert db.session.get(Enrolment, enrolment.id).status == EnrolmentStatus.CONFIRMED
    assert written() == before

    staff_response = login_as("staff")[0].post(cancel_url(enrolment))

    db.session.expire_all()
    assert staff_response.status_code == 303
    assert staff_response.location.endswith(
        url_for("training.staff_enrolments", session_id=training.id)
    )
    assert db.session.get(Enrolment, enrolment.id).status == EnrolmentStatus.CANCELLED
    assert db.session.get(TrainingSession, training.id).seats_taken == 0


def test_another_associations_enrolment_cannot_be_cancelled(owner_client, training, association):
    other, other_owner = verified_association()
    theirs = services.enrol(db.session, training.id, other, participant(), actor=other_owner)
    db.session.commit()
    before = written()

    response = owner_client.post(cancel_url(theirs))

    db.session.expire_all()
    assert response.status_code == 404
    assert theirs.full_name not in response.get_data(as_text=True)
    assert db.session.get(Enrolment, theirs.id).status == EnrolmentStatus.CONFIRMED
    assert written() == before


def test_a_plain_member_cannot_cancel(login_as, training, association, owner):
    enrolment = services.enrol(db.session, training.id, association, participant(), actor=owner)
    db.session.commit()
    viewer = factories.UserFactory()
    factories.add_member(association, viewer, "viewer")

    response = login_as(user=viewer)[0].post(cancel_url(enrolment))

    db.session.expire_all()
    assert response.status_code == 403
    assert db.session.get(Enrolment, enrolment.id).status == EnrolmentStatus.CONFIRMED


def test_a_cancelled_place_cannot_be_cancelled_again(owner_client, training, association, owner):
    enrolment = services.enrol(db.session, training.id, association, participant(), actor=owner)
    db.session.commit()
    owner_client.post(cancel_url(enrolment))
    before = written()

    response = owner_client.post(cancel_url(enrolment))

    page = owner_client.get(response.location).get_data(as_text=True)
    assert shown("This enrolment is already cancelled.") in page
    assert written() == before


def test_cancelling_with_htmx_answers_with_the_refreshed_list(
    owner_client, training, association, owner
):
    enrolment = services.enrol(db.session, training.id, association, participant(), actor=owner)
    db.session.commit()

    response = owner_client.post(
        cancel_url(enrolment), headers={"HX-Request": "true"}, follow_redirects=True
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="association-enrolments"')
    assert shown("Cancelled") in body
