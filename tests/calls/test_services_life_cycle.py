"""A call's life: publication only when complete, draft -> published -> closed -> archived,
new versions, and deadline extensions for one association."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import select

from portal.audit.models import AuditEvent
from portal.calls import services
from portal.calls.models import Call, CallStatus, DeadlineExtension
from portal.extensions import db
from portal.organisations.models import AssociationStatus
from tests.calls.helpers import audit_actions, count, criterion_data, general_data, shown
from tests.factories import AssociationFactory

# --- publication -----------------------------------------------------------------------------


def test_publishing_an_empty_call_is_refused_with_the_exact_list_of_what_is_missing(staff_user):
    call = services.create_call(
        db.session, {"code": "EMPTY", "title_ar": "عنوان", "title_fr": "Titre"}, actor=staff_user
    )
    db.session.commit()
    events = audit_actions()

    with pytest.raises(services.CallIncomplete) as error:
        services.publish_call(db.session, call, actor=staff_user)

    assert str(error.value.message) == shown("The call cannot be published yet.")
    assert error.value.missing == [
        shown("The description in Arabic and in French."),
        shown("The opening and closing dates."),
        shown("The call's budget."),
        shown("The maximum amount per application."),
        shown("At least one lot."),
        shown("Evaluation criteria."),
        shown("The list of required documents."),
    ]
    db.session.commit()
    assert db.session.get(Call, call.id).status == CallStatus.DRAFT
    assert audit_actions() == events


def test_a_complete_draft_lacks_nothing(draft):
    assert services.missing_for_publication(draft) == []


@pytest.mark.parametrize(("weights", "total"), [((60, 30), 90), ((60, 41), 101)])
def test_weights_must_add_up_to_100_before_publication(staff_user, draft, weights, total):
    for criterion, weight in zip(draft.criteria, weights, strict=True):
        services.save_criterion(
            db.session, draft, criterion_data(weight=weight), actor=staff_user, criterion=criterion
        )

    assert services.missing_for_publication(draft) == [
        shown("Criteria weights that add up to 100 (now %(total)d).", total=total)
    ]
    with pytest.raises(services.CallIncomplete):
        services.publish_call(db.session, draft, actor=staff_user)


def test_lot_budgets_must_fit_in_the_call_budget(staff_user, draft):
    services.update_call(
        db.session, draft, {"budget_total": 350_000, "max_amount": 300_000}, actor=staff_user
    )

    assert services.missing_for_publication(draft) == [
        shown("Lot budgets that fit within the call's budget.")
    ]


def test_a_call_whose_deadline_has_passed_cannot_be_published(draft):
    later = draft.closes_at + timedelta(seconds=1)

    assert services.missing_for_publication(draft, now=draft.closes_at - timedelta(seconds=1)) == []
    assert services.missing_for_publication(draft, now=later) == [
        shown("A closing date that has not passed yet.")
    ]


def test_the_missing_list_is_in_the_readers_language(app):
    call = Call(code="X", title_ar="", title_fr="Titre", description_ar="", description_fr="")
    call.budget_total = call.max_amount = 0

    with app.test_request_context(), force_locale("fr"):
        missing = services.missing_for_publication(call)

    assert missing[0] == shown("The title in Arabic and in French.", "fr")


# --- transitions (CHECKLIST R11) -------------------------------------------------------------


def test_a_call_goes_from_draft_to_published_to_closed_to_archived(staff_user, draft):
    """Each step is recorded in the audit trail (R13)."""
    services.publish_call(db.session, draft, actor=staff_user)
    assert draft.published_at is not None
    services.advance_call(db.session, draft, CallStatus.CLOSED, actor=staff_user)
    services.advance_call(db.session, draft, CallStatus.ARCHIVED, actor=staff_user)
    db.session.commit()

    assert draft.status == CallStatus.ARCHIVED
    assert audit_actions()[-3:] == ["call.published", "call.closed", "call.archived"]
    closed = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "call.closed"))
    assert closed.details == {"before": "published"}


ILLEGAL = [
    (CallStatus.DRAFT, CallStatus.CLOSED),
    (CallStatus.DRAFT, CallStatus.ARCHIVED),
    (CallStatus.DRAFT, CallStatus.DRAFT),
    (CallStatus.PUBLISHED, CallStatus.PUBLISHED),
    (CallStatus.PUBLISHED, CallStatus.ARCHIVED),
    (CallStatus.PUBLISHED, CallStatus.DRAFT),
    (CallStatus.CLOSED, CallStatus.PUBLISHED),
    (CallStatus.CLOSED, CallStatus.CLOSED),
    (CallStatus.CLOSED, CallStatus.DRAFT),
    (CallStatus.ARCHIVED, CallStatus.PUBLISHED),
    (CallStatus.ARCHIVED, CallStatus.CLOSED),
    (CallStatus.ARCHIVED, CallStatus.ARCHIVED),
    (CallStatus.ARCHIVED, CallStatus.DRAFT),
]


@pytest.mark.parametrize(("start", "target"), ILLEGAL, ids=[f"{a}->{b}" for a, b in ILLEGAL])
def test_every_illegal_change_of_status_is_refused(staff_user, draft, start, target):
    """R11: every illegal state transition is refused, and nothing is recorded."""
    draft.status = start
    db.session.commit()
    events = audit_actions()

    with pytest.raises(services.CallError) as error:
        if target == CallStatus.PUBLISHED:
            services.publish_call(db.session, draft, actor=staff_user)
        else:
            services.advance_call(db.session, draft, target, actor=staff_user)

    expected = (
        "Only a draft call can be published."
        if target == CallStatus.PUBLISHED
        else "This change of status is not possible."
    )
    assert str(error.value.message) == shown(expected)
    db.session.commit()
    assert db.session.get(Call, draft.id).status == start
    assert audit_actions() == events


# --- new versions ----------------------------------------------------------------------------


def test_a_new_version_copies_everything_into_a_draft_that_can_change(staff_user, draft):
    services.update_call(
        db.session,
        draft,
        {"region_codes": ["oriental", "souss-massa"], "word_limits": {"context": 100}},
        actor=staff_user,
    )
    services.publish_call(db.session, draft, actor=staff_user)
    services.freeze_call(db.session, draft)
    db.session.commit()

    copy = services.new_version(db.session, draft, actor=staff_user)
    db.session.commit()

    assert (copy.code, copy.status, copy.frozen_at, copy.published_at) == (
        "AAP-TEST-V2",
        CallStatus.DRAFT,
        None,
        None,
    )
    assert copy.previous_version_id == draft.id
    same = ("title_ar", "title_fr", "description_ar", "description_fr", "results_expected_at")
    for name in same + services.TIMELINE_FIELDS + services.RULE_FIELDS:
        assert getattr(copy, name) == getattr(draft, name), name
    assert copy.word_limits == {"context": 100}
    assert [r.code for r in copy.allowed_regions] == [r.code for r in draft.allowed_regions]

    def parts(call):
        return (
            [
                (
                    lot.title_fr,
                    lot.budget,
                    [a.code for a in lot.axes],
                    [p.number for p in lot.plan_projects],
                )
                for lot in call.lots
            ],
            [(c.position, c.title_fr, c.weight, c.max_score) for c in call.criteria],
            [(d.code, d.mandatory, d.allowed_types, d.max_size_mb) for d in call.documents],
            [(m.text_ar, m.text_fr) for m in call.manual_checks],
        )

    assert parts(copy) == parts(draft)
    assert {lot.id for lot in copy.lots}.isdisjoint(lot.id for lot in draft.lots)
    assert services.missing_for_publication(copy) == []
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (event.action, event.object_id, event.details) == (
        "call.new_version",
        copy.id,
        {"previous": draft.id},
    )


def test_version_codes_count_up_from_the_original_code(staff_user, draft):
    second = services.new_version(db.session, draft, actor=staff_user)
    third = services.new_version(db.session, second, actor=staff_user)
    fourth = services.new_version(db.session, draft, actor=staff_user)

    assert [second.code, third.code, fourth.code] == ["AAP-TEST-V2", "AAP-TEST-V3", "AAP-TEST-V4"]


def test_a_code_containing_v_is_not_mistaken_for_a_version(staff_user):
    call = services.create_call(db.session, general_data(code="AAP-VIOLENCE"), actor=staff_user)

    assert services.new_version(db.session, call, actor=staff_user).code == "AAP-VIOLENCE-V2"


# --- deadline extensions (CHECKLIST R10) -----------------------------------------------------


@pytest.fixture
def published(staff_user, draft):
    services.publish_call(db.session, draft, actor=staff_user)
    db.session.commit()
    return draft


def _request(call, association, **values):
    data = {
        "association_id": association.id,
        "until": call.closes_at + timedelta(days=2),
        "reason": "Coupure d'électricité le jour de la date limite",
    }
    data.update(values)
    return services.ExtensionRequest(**data)


def test_an_extension_is_granted_to_one_association_and_audited(staff_user, published):
    association = AssociationFactory()

    extension = services.grant_extension(
        db.session, published, _request(published, association), actor=staff_user
    )
    db.session.commit()

    assert (extension.association_id, extension.granted_by_id) == (association.id, staff_user.id)
    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event.action == "call.extension_granted"
    assert event.details == {
        "association": association.id,
        "until": extension.until.isoformat(),
        "reason": "Coupure d'électricité le jour de la date limite",
    }
    assert services.extensions_of(db.session, published) == [(extension, association)]


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"until": "deadline"}, "until", "The extension must end after the call's deadline."),
        ({"until": "before"}, "until", "The extension must end after the call's deadline."),
        ({"reason": "   "}, "reason", "Describe the incident that justifies the extension."),
        ({"association_id": 999_999}, "association_id", "Choose an association."),
    ],
    ids=["at the deadline", "before the deadline", "no reason", "unknown association"],
)
def test_an_extension_needs_a_later_time_a_reason_and_an_association(
    staff_user, published, values, field, message
):
    association = AssociationFactory()
    moments = {"deadline": published.closes_at, "before": published.closes_at - timedelta(hours=1)}
    values = {key: moments.get(value, value) for key, value in values.items()}
    events = audit_actions()

    with pytest.raises(services.CallError) as error:
        services.grant_extension(
            db.session, published, _request(published, association, **values), actor=staff_user
        )

    assert (error.value.field, str(error.value.message)) == (field, shown(message))
    db.session.commit()
    assert count(DeadlineExtension) == 0
    assert audit_actions() == events


def test_an_association_gets_one_extension_per_call(staff_user, published):
    association = AssociationFactory()
    services.grant_extension(
        db.session, published, _request(published, association), actor=staff_user
    )
    db.session.commit()

    with pytest.raises(services.CallError) as error:
        services.grant_extension(
            db.session,
            published,
            _request(published, association, until=published.closes_at + timedelta(days=9)),
            actor=staff_user,
        )

    assert str(error.value.message) == shown(
        "This association already has an extension for this call."
    )
    assert count(DeadlineExtension) == 1


@pytest.mark.parametrize("status", [CallStatus.DRAFT, CallStatus.ARCHIVED])
def test_only_a_published_or_closed_call_is_extended(staff_user, draft, status):
    draft.status = status
    db.session.commit()

    with pytest.raises(services.CallError) as error:
        services.grant_extension(
            db.session, draft, _request(draft, AssociationFactory()), actor=staff_user
        )

    assert str(error.value.message) == shown("Only a published or closed call can be extended.")
    assert count(DeadlineExtension) == 0


def test_a_closed_call_can_still_be_extended_for_an_incident(staff_user, published):
    services.advance_call(db.session, published, CallStatus.CLOSED, actor=staff_user)
    association = AssociationFactory()

    services.grant_extension(
        db.session, published, _request(published, association), actor=staff_user
    )
    db.session.commit()

    assert count(DeadlineExtension) == 1


def test_extensions_are_offered_for_verified_associations_only(app):
    verified = AssociationFactory(name_fr="B verified")
    AssociationFactory(status=AssociationStatus.PENDING)
    AssociationFactory(status=AssociationStatus.REJECTED)

    assert services.extension_candidates(db.session) == [verified]
