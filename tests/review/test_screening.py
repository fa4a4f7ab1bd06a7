"""Eligibility screening: the list and its progress, sharing the work, the automatic rules, the
decision with its checklist, reasons, mail to the applicants, audit and version conflicts."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from flask import url_for
from sqlalchemy import func, select

from portal.applications.models import ApplicationStatus, Submission
from portal.audit.models import AuditEvent
from portal.calls.models import ManualCheck
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.review.models import Screening, ScreeningDecision
from tests import factories
from tests.conftest import shown
from tests.security.conftest import translated

HTMX = {"HX-Request": "true"}


def screening_of(application) -> Screening | None:
    db.session.expire_all()
    return db.session.scalar(select(Screening).where(Screening.application_id == application.id))


def events(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def outbox() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def add_checks(call, count: int = 2) -> list[ManualCheck]:
    for number in range(count):
        call.manual_checks.append(
            ManualCheck(position=number + 1, text_ar=f"تحقق {number}", text_fr=f"Contrôle {number}")
        )
    db.session.commit()
    return list(call.manual_checks)


def open_screening(client, application):
    """Open the screening page (which creates the row) and return the screening."""
    response = client.get(url_for("review.screening", application_id=application.id))
    assert response.status_code == 200
    return screening_of(application)


def decide(client, application, decision, *, version=None, headers=None, **fields):
    record = screening_of(application)
    data = {
        "decision": decision,
        "version": record.version if version is None else version,
        **fields,
    }
    return client.post(
        url_for("review.screening", application_id=application.id),
        data=data,
        headers=headers or {},
    )


# --- the list -------------------------------------------------------------------------------


def test_before_the_deadline_the_list_shows_a_message_and_no_application(staff):
    client, _user = staff
    call = factories.published_call()
    factories.submitted_application(call)

    response = client.get(url_for("review.screening_list", call_id=call.id))

    assert response.status_code == 200
    assert shown(
        "Screening starts when the call's deadline has passed. The applications will be listed "
        "here then."
    ) in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Screening)) == 0


def test_opening_the_list_gives_each_received_application_a_screening(call, staff):
    client, _user = staff
    submitted = factories.submitted_application(call)
    withdrawn = factories.submitted_application(call, status=ApplicationStatus.WITHDRAWN)
    never_submitted = factories.submitted_application(call, status=ApplicationStatus.DRAFT)
    reopened = factories.submitted_application(call, status=ApplicationStatus.DRAFT)
    db.session.add(
        Submission(
            application=reopened,
            number=1,
            reference="REF-REOPENED",
            submitted_at=utcnow() - timedelta(days=3),
            submitted_by_id=reopened.created_by_id,
            application_version=1,
            content={},
            content_sha256="",
            signature="",
        )
    )
    db.session.commit()

    response = client.get(url_for("review.screening_list", call_id=call.id))

    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert screening_of(submitted) is not None
    assert screening_of(reopened) is not None
    assert screening_of(withdrawn) is None
    assert screening_of(never_submitted) is None
    assert submitted.association.name_ar in body
    assert shown("%(done)d screened of %(total)d", done=0, total=2) in body
    # Opening it again creates nothing more.
    client.get(url_for("review.screening_list", call_id=call.id))
    assert db.session.scalar(select(func.count()).select_from(Screening)) == 2


def test_the_list_filters_by_state_and_by_the_applications_given_to_me(call, staff):
    client, user = staff
    mine = factories.submitted_application(call, title_fr="Projet à moi")
    decided = factories.submitted_application(call, title_fr="Projet décidé")
    client.get(url_for("review.screening_list", call_id=call.id))
    mine_record, decided_record = screening_of(mine), screening_of(decided)
    mine_record.screener_id = user.id
    decided_record.decision = ScreeningDecision.ELIGIBLE
    db.session.commit()
    client.post("/language/fr", data={"next": "/"})

    pending = client.get(url_for("review.screening_list", call_id=call.id, state="pending"))
    only_mine = client.get(url_for("review.screening_list", call_id=call.id, mine="1"))
    eligible = client.get(
        url_for("review.screening_list", call_id=call.id, state="eligible"), headers=HTMX
    )

    assert "Projet à moi" in pending.get_data(as_text=True)
    assert "Projet décidé" not in pending.get_data(as_text=True)
    assert "Projet à moi" in only_mine.get_data(as_text=True)
    assert "Projet décidé" not in only_mine.get_data(as_text=True)
    fragment = eligible.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="screening-rows">')
    assert "Projet décidé" in fragment and "Projet à moi" not in fragment


def test_progress_counts_screened_of_total_and_per_screener(call, staff, login_as):
    client, user = staff
    applications = [factories.submitted_application(call) for _ in range(3)]
    client.get(url_for("review.screening_list", call_id=call.id))
    first, second = screening_of(applications[0]), screening_of(applications[1])
    first.screener_id, first.decision = user.id, ScreeningDecision.INELIGIBLE
    second.screener_id = user.id
    db.session.commit()
    from portal.review.screening import screening_progress

    progress = screening_progress(db.session, call.id)

    assert (progress.total, progress.done, progress.ineligible) == (3, 1, 1)
    by_screener = {entry.user_id: (entry.total, entry.done) for entry in progress.screeners}
    assert by_screener == {user.id: (2, 1), None: (1, 0)}


# --- sharing the work -----------------------------------------------------------------------


def test_split_shares_undecided_applications_in_turn_in_a_fixed_order(call, staff, login_as):
    client, user = staff
    _other_client, other = login_as("staff")
    applications = [factories.submitted_application(call) for _ in range(5)]
    client.get(url_for("review.screening_list", call_id=call.id))
    decided = screening_of(applications[0])
    decided.decision, decided.screener_id = ScreeningDecision.ELIGIBLE, other.id
    db.session.commit()

    response = client.post(
        url_for("review.split_screening", call_id=call.id),
        data={"staff_ids": [str(other.id), str(user.id)]},
    )

    assert response.status_code == 303
    first, second = sorted([user.id, other.id])
    screeners = [screening_of(application).screener_id for application in applications]
    assert screeners == [other.id, first, second, first, second]
    assert len(events("screening.split")) == 1


@pytest.mark.parametrize(
    "chosen", [[], ["not-a-number"], ["applicant"]], ids=["nobody", "garbage", "not-staff"]
)
def test_split_without_valid_staff_members_is_refused_and_changes_nothing(
    call, staff, login_as, chosen
):
    client, _user = staff
    _applicant_client, applicant = login_as("applicant")
    application = factories.submitted_application(call)
    client.get(url_for("review.screening_list", call_id=call.id))
    values = [str(applicant.id) if value == "applicant" else value for value in chosen]

    response = client.post(
        url_for("review.split_screening", call_id=call.id), data={"staff_ids": values}
    )

    assert response.status_code == 422
    body = response.get_data(as_text=True)
    refusals = ("Choose at least one staff member.", "Choose staff members from the list.")
    assert any(shown(refusal) in body for refusal in refusals)
    assert screening_of(application).screener_id is None
    assert events("screening.split") == []


def test_split_before_the_deadline_is_refused(staff):
    client, user = staff
    call = factories.published_call()

    response = client.post(
        url_for("review.split_screening", call_id=call.id), data={"staff_ids": [str(user.id)]}
    )

    assert response.status_code == 422
    assert shown("Screening starts when the call's deadline has passed.") in response.get_data(
        as_text=True
    )


# --- automatic rules ------------------------------------------------------------------------


def _rules(client, application) -> str:
    response = client.get(url_for("review.screening", application_id=application.id))
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _result_of(body: str, code: str) -> str:
    row = body.split(f'id="rule-{code}"', 1)[1].split("</tr>", 1)[0]
    return "Failed" if "status-rejected" in row else "Passed"


def test_automatic_rules_pass_for_a_regular_application(call, staff):
    client, _user = staff
    call.min_years_since_founding = 2
    call.min_cofunding_percent = 0
    db.session.commit()
    application = factories.submitted_application(call)
    factories_attach(application)

    body = _rules(client, application)

    for code in ("verified", "founded", "count", "amount", "cofunding", "duration", "documents"):
        assert _result_of(body, code) == "Passed", code


def test_automatic_rules_show_each_failure_with_its_detail(call, staff):
    client, _user = staff
    call.min_years_since_founding = 3
    call.max_duration_months = 6
    call.allowed_regions = [factories.region("oriental")]
    db.session.commit()
    association = factories.AssociationFactory(
        owner=factories.UserFactory(),
        status="pending",
        founded_on=date.today() - timedelta(days=365),
    )
    application = factories.submitted_application(call, association)
    factories.submitted_application(call, association)  # one more than the call allows

    body = _rules(client, application)

    for code in ("verified", "founded", "region", "count", "duration", "documents"):
        assert _result_of(body, code) == "Failed", code
    # 100,000 MAD asked with no co-funding: within the amounts, below the 10 % share.
    assert _result_of(body, "amount") == "Passed"
    assert _result_of(body, "cofunding") == "Failed"
    assert shown("This association sent %(n)d applications to this call.", n=2) in body
    assert shown("Missing: %(names)s.", names="|").split("|")[0] in body


def factories_attach(application) -> None:
    from portal.applications.models import Attachment

    document = application.call.documents[0]
    application.attachments.append(
        Attachment(
            document=document,
            storage_key=f"key-{application.id}",
            original_name="statuts.pdf",
            content_type="application/pdf",
            size=10,
            sha256="0" * 64,
            uploaded_by_id=application.created_by_id,
        )
    )
    application.budget_lines[0].cofunding = 20_000
    db.session.commit()


# --- the decision ---------------------------------------------------------------------------


def test_an_eligible_decision_with_every_check_ticked_is_saved_and_audited(call, staff):
    client, user = staff
    checks = add_checks(call)
    application = factories.submitted_application(call)
    open_screening(client, application)

    response = decide(client, application, "eligible", checks=[str(check.id) for check in checks])

    assert response.status_code == 303
    record = screening_of(application)
    assert record.decision == ScreeningDecision.ELIGIBLE
    assert record.decided_by_id == user.id and record.screener_id == user.id
    assert record.checks == {str(check.id): True for check in checks}
    assert record.version == 2
    [event] = events("screening.decided")
    assert event.details["before"] == "pending" and event.details["after"] == "eligible"
    assert outbox() == []


def test_eligible_with_a_manual_check_not_ticked_is_refused(call, staff):
    client, _user = staff
    checks = add_checks(call)
    application = factories.submitted_application(call)
    open_screening(client, application)

    response = decide(client, application, "eligible", checks=[str(checks[0].id)])

    assert response.status_code == 422
    assert shown("Tick every manual check before finding the application eligible.") in (
        response.get_data(as_text=True)
    )
    assert screening_of(application).decision == ScreeningDecision.PENDING


@pytest.mark.parametrize("language", ["ar", "fr"])
def test_ineligible_needs_a_reason_in_the_language_of_the_application(call, staff, language):
    client, _user = staff
    application = factories.submitted_application(call, language=language)
    open_screening(client, application)
    other = "fr" if language == "ar" else "ar"

    response = decide(client, application, "ineligible", **{f"reason_{other}": "Only this"})

    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert shown("Give the reason in the language of the application at least.") in body
    assert "Only this" in body  # what was typed is kept
    assert screening_of(application).decision == ScreeningDecision.PENDING
    assert events("screening.decided") == [] and outbox() == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"decision": ""}, "Choose eligible or ineligible."),
        ({"decision": "approved"}, "Choose eligible or ineligible."),
        ({"decision": "ineligible", "reason_ar": "x" * 2001}, "reason_ar-error"),
    ],
    ids=["no-decision", "unknown-decision", "reason-too-long"],
)
def test_bad_decisions_are_refused_with_a_message(call, staff, fields, message):
    client, _user = staff
    application = factories.submitted_application(call)
    open_screening(client, application)
    decision = fields.pop("decision")

    response = decide(client, application, decision, **fields)

    assert response.status_code == 422
    assert (shown(message) if " " in message else message) in response.get_data(as_text=True)
    assert screening_of(application).version == 1


def test_ineligible_mails_each_owner_and_editor_the_reason_in_their_language(call, staff, login_as):
    client, _user = staff
    owner = factories.UserFactory(locale="fr")
    association = factories.AssociationFactory(owner=owner)
    editor = factories.UserFactory(locale="ar")
    viewer = factories.UserFactory(locale="fr")
    factories.add_member(association, editor, "editor")
    factories.add_member(association, viewer, "viewer")
    application = factories.submitted_application(call, association)
    open_screening(client, application)

    response = decide(
        client,
        application,
        "ineligible",
        reason_ar="الوثائق ناقصة",
        reason_fr="Les statuts manquent",
    )

    assert response.status_code == 303
    messages = {message.recipient: message for message in outbox()}
    assert set(messages) == {owner.email, editor.email}
    assert messages[owner.email].locale == "fr"
    assert "Les statuts manquent" in messages[owner.email].body_text
    assert "الوثائق ناقصة" in messages[editor.email].body_text
    assert call.title_fr in messages[owner.email].subject
    assert all(message.template == "screening_ineligible" for message in messages.values())


def test_a_reason_only_in_arabic_reaches_a_french_reader_in_arabic(call, staff):
    client, _user = staff
    owner = factories.UserFactory(locale="fr")
    application = factories.submitted_application(call, factories.AssociationFactory(owner=owner))
    open_screening(client, application)

    decide(client, application, "ineligible", reason_ar="خارج المجال")

    [message] = outbox()
    assert "خارج المجال" in message.body_text


def test_changing_a_decision_is_audited_and_mails_only_when_it_becomes_ineligible(call, staff):
    client, _user = staff
    application = factories.submitted_application(call)
    open_screening(client, application)

    decide(client, application, "ineligible", reason_ar="سبب أول")
    decide(client, application, "ineligible", reason_ar="سبب مصحح")
    decide(client, application, "eligible")
    decide(client, application, "ineligible", reason_ar="سبب ثالث")

    assert len(outbox()) == 2
    changes = events("screening.changed")
    assert [(e.details["before"], e.details["after"]) for e in changes] == [
        ("ineligible", "ineligible"),
        ("ineligible", "eligible"),
        ("eligible", "ineligible"),
    ]
    assert screening_of(application).version == 5


def test_a_decision_from_a_stale_page_gets_a_conflict_and_overwrites_nothing(call, staff, login_as):
    client, _user = staff
    other_client, other = login_as("staff", full_name="Nadia Staff")
    application = factories.submitted_application(call)
    record = open_screening(client, application)
    stale_version = record.version
    decide(other_client, application, "ineligible", reason_ar="قرار الزميلة")

    response = decide(client, application, "eligible", version=stale_version)

    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert translated("ar", "Nothing was overwritten.") in body
    assert "قرار الزميلة" in body and "Nadia Staff" in body
    saved = screening_of(application)
    assert saved.decision == ScreeningDecision.INELIGIBLE and saved.decided_by_id == other.id
    # The form now carries the saved version: sending it again replaces the decision knowingly.
    assert f'name="version" value="{saved.version}"' in body
    assert decide(client, application, "eligible").status_code == 303


def test_an_htmx_decision_answers_with_the_decision_fragment(call, staff):
    client, _user = staff
    application = factories.submitted_application(call)
    open_screening(client, application)

    saved = decide(client, application, "eligible", headers=HTMX)
    refused = decide(client, application, "ineligible", headers=HTMX)

    assert saved.status_code == 200
    assert saved.get_data(as_text=True).lstrip().startswith('<div id="screening-decision">')
    assert shown("The screening decision is saved.") in saved.get_data(as_text=True)
    assert refused.status_code == 422
    assert refused.get_data(as_text=True).lstrip().startswith('<div id="screening-decision">')


def test_a_decision_before_the_deadline_is_refused(staff):
    client, _user = staff
    call = factories.published_call()
    application = factories.submitted_application(call)

    page = client.get(url_for("review.screening", application_id=application.id))
    response = client.post(
        url_for("review.screening", application_id=application.id),
        data={"decision": "eligible", "version": 1},
    )

    assert page.status_code == 200
    assert shown("Screening starts when the call's deadline has passed.") in page.get_data(
        as_text=True
    )
    assert response.status_code == 422
    assert screening_of(application) is None


def test_fields_outside_the_form_are_ignored(call, staff, login_as):
    client, user = staff
    _other_client, other = login_as("staff")
    application = factories.submitted_application(call)
    open_screening(client, application)

    decide(
        client,
        application,
        "eligible",
        status="withdrawn",
        association_id="999",
        decided_by_id=str(other.id),
        screener_id=str(other.id),
        score="100",
    )

    record = screening_of(application)
    assert record.decided_by_id == user.id and record.screener_id == user.id
    db.session.refresh(application)
    assert application.status == ApplicationStatus.SUBMITTED


def test_a_withdrawn_or_unknown_application_has_no_screening_page(call, staff):
    client, _user = staff
    withdrawn = factories.submitted_application(call, status=ApplicationStatus.WITHDRAWN)

    assert client.get(url_for("review.screening", application_id=withdrawn.id)).status_code == 404
    assert client.get(url_for("review.screening", application_id=99999)).status_code == 404
    assert client.get(url_for("review.screening_list", call_id=99999)).status_code == 404


@pytest.mark.parametrize("role", ["applicant", "evaluator"])
def test_only_staff_screen(call, login_as, role):
    client, _user = login_as(role)
    application = factories.submitted_application(call)

    assert client.get(url_for("review.screening_list", call_id=call.id)).status_code == 403
    assert client.get(url_for("review.screening", application_id=application.id)).status_code == 403
    response = client.post(
        url_for("review.screening", application_id=application.id),
        data={"decision": "eligible", "version": 1},
    )
    assert response.status_code == 403
    assert screening_of(application) is None
