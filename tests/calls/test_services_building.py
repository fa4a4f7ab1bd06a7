"""Building a call through the services: values checked, and a frozen call keeps its rules."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from portal.applications.models import Application, Attachment
from portal.audit.models import AuditEvent
from portal.calls import services
from portal.calls.models import Call, CallStatus, Criterion, Lot, ManualCheck, RequiredDocument
from portal.db import utcnow
from portal.extensions import db
from tests.calls.helpers import (
    audit_actions,
    check_data,
    count,
    criterion_data,
    document_data,
    general_data,
    lot_data,
    shown,
)
from tests.factories import AssociationFactory


def refusal(error) -> str:
    return str(error.value.message)


def test_create_call_makes_a_draft_and_records_it(staff_user):
    call = services.create_call(
        db.session, general_data(code=" aap-x ", region_codes=["souss-massa"]), actor=staff_user
    )
    db.session.commit()

    assert call.status == CallStatus.DRAFT
    assert call.code == "AAP-X"
    assert call.max_amount == 300_000
    assert [region.code for region in call.allowed_regions] == ["souss-massa"]
    assert set(call.word_limits) == {
        "context",
        "objectives",
        "activities",
        "expected_results",
        "indicators",
        "sustainability",
    }
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "call.created"))
    assert (event.actor_id, event.object_id, event.details) == (
        staff_user.id,
        call.id,
        {"code": "AAP-X"},
    )


def test_create_call_takes_the_defaults_for_rules_not_given(staff_user):
    call = services.create_call(
        db.session, {"code": "MIN", "title_ar": "أ", "title_fr": "A"}, actor=staff_user
    )

    assert (call.budget_total, call.min_amount, call.max_amount) == (0, 0, 0)
    assert call.max_applications_per_association == 1
    assert call.opens_at is None and call.closes_at is None


def test_create_call_refuses_a_code_another_call_uses_whatever_the_case(staff_user, draft):
    with pytest.raises(services.CallError) as error:
        services.create_call(db.session, general_data(code="aap-test"), actor=staff_user)

    assert error.value.field == "code"
    assert refusal(error) == shown("Another call already uses this reference code.")
    assert count(Call) == 1


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        (
            {"min_amount": 100_000, "max_amount": 99_999},
            "max_amount",
            "The maximum amount must be at least the minimum amount.",
        ),
        (
            {"budget_total": 200_000, "max_amount": 200_001},
            "max_amount",
            "The maximum amount cannot exceed the call's budget.",
        ),
    ],
    ids=["max below min", "max above budget"],
)
def test_amounts_out_of_order_are_refused(staff_user, values, field, message):
    with pytest.raises(services.CallError) as error:
        services.create_call(db.session, general_data(**values), actor=staff_user)

    assert (error.value.field, refusal(error)) == (field, shown(message))
    assert count(Call) == 0
    assert audit_actions() == []


@pytest.mark.parametrize("gap", [timedelta(0), timedelta(minutes=-1)], ids=["same", "before"])
def test_a_call_must_close_after_it_opens(staff_user, draft, gap):
    opens = draft.opens_at
    with pytest.raises(services.CallError) as error:
        services.update_call(db.session, draft, {"closes_at": opens + gap}, actor=staff_user)

    assert (error.value.field, refusal(error)) == (
        "closes_at",
        shown("The call must close after it opens."),
    )
    db.session.commit()
    assert count(Call, Call.closes_at == opens + gap) == 0


def test_update_call_changes_the_fields_and_records_which(staff_user, draft):
    before = len(audit_actions())
    services.update_call(
        db.session,
        draft,
        {"title_fr": "Nouveau titre", "max_amount": 250_000, "region_codes": ["oriental"]},
        actor=staff_user,
    )
    db.session.commit()

    event = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert len(audit_actions()) == before + 1
    assert (event.action, event.details) == (
        "call.updated",
        {"fields": ["title_fr", "max_amount", "allowed_regions"]},
    )
    assert [region.code for region in draft.allowed_regions] == ["oriental"]


def test_update_call_records_nothing_when_nothing_changed(staff_user, draft):
    before = audit_actions()
    services.update_call(
        db.session, draft, {"title_fr": draft.title_fr, "region_codes": []}, actor=staff_user
    )
    db.session.commit()

    assert audit_actions() == before


def test_a_lot_must_serve_a_strategic_axis(staff_user, draft):
    with pytest.raises(services.CallError) as error:
        services.save_lot(db.session, draft, lot_data(axis_codes=[]), actor=staff_user)

    assert (error.value.field, refusal(error)) == (
        "axis_codes",
        shown("Link the lot to at least one strategic axis."),
    )
    db.session.commit()
    assert count(Lot) == 1


def test_a_lot_keeps_its_axes_and_plan_projects(staff_user, draft):
    lot = services.save_lot(
        db.session,
        draft,
        lot_data(axis_codes=["axis-3", "axis-1"], project_numbers=[26, 21]),
        actor=staff_user,
    )
    db.session.commit()

    assert [axis.code for axis in lot.axes] == ["axis-1", "axis-3"]
    assert [project.number for project in lot.plan_projects] == [21, 26]
    assert lot.position == 2


def test_a_lot_records_its_co_funding_partner_and_share(staff_user, draft):
    lot = services.save_lot(
        db.session, draft, lot_data(partner_code="UNFPA", partner_share=30), actor=staff_user
    )
    db.session.commit()

    funder = services.lot_funder(db.session, lot)
    assert (funder.partner.code, funder.share_percent) == ("UNFPA", 30)

    services.save_lot(db.session, draft, lot_data(partner_code=""), actor=staff_user, lot=lot)
    db.session.commit()
    assert services.lot_funder(db.session, lot) is None


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        (
            {"partner_code": "NOBODY", "partner_share": 30},
            "partner_code",
            "Choose a partner from the list.",
        ),
        (
            {"partner_code": "UNFPA", "partner_share": None},
            "partner_share",
            "Give the partner's share of the lot, from %(min)d to %(max)d%%.",
        ),
        (
            {"partner_code": "UNFPA", "partner_share": 120},
            "partner_share",
            "Give the partner's share of the lot, from %(min)d to %(max)d%%.",
        ),
    ],
)
def test_a_lot_partner_must_be_known_and_its_share_a_percentage(
    staff_user, draft, values, field, message
):
    with pytest.raises(services.CallError) as error:
        services.save_lot(db.session, draft, lot_data(**values), actor=staff_user)

    assert (error.value.field, refusal(error)) == (field, shown(message, min=1, max=100))
    db.session.rollback()
    assert count(Lot) == 1


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"allowed_types": []}, "allowed_types", "Choose at least one file type."),
        ({"allowed_types": ["pdf", "exe"]}, "allowed_types", "Choose at least one file type."),
        ({"code": "statutes"}, "code", "Another document of this call uses this code."),
    ],
    ids=["no type", "unknown type", "code taken"],
)
def test_a_required_document_needs_known_types_and_its_own_code(
    staff_user, draft, values, field, message
):
    with pytest.raises(services.CallError) as error:
        services.save_document(db.session, draft, document_data(**values), actor=staff_user)

    assert (error.value.field, refusal(error)) == (field, shown(message))
    db.session.commit()
    assert count(RequiredDocument) == 1


def test_a_document_may_keep_its_own_code_when_changed(staff_user, draft):
    document = draft.documents[0]
    services.save_document(
        db.session, draft, document_data(max_size_mb=5), actor=staff_user, document=document
    )
    db.session.commit()

    assert (document.code, document.max_size_mb) == ("statutes", 5)


# --- a frozen call ---------------------------------------------------------------------------


def _snapshot(call: Call) -> dict:
    """Everything freezing protects, read fresh from the database."""
    db.session.expire_all()
    call = db.session.get(Call, call.id)
    return {
        "lots": [(lot.title_fr, lot.budget, [a.code for a in lot.axes]) for lot in call.lots],
        "criteria": [(c.title_fr, c.weight, c.max_score) for c in call.criteria],
        "documents": [(d.code, d.allowed_types, d.max_size_mb) for d in call.documents],
        "checks": [check.text_fr for check in call.manual_checks],
        "rules": [getattr(call, name) for name in services.RULE_FIELDS],
        "timeline": (call.opens_at, call.closes_at),
        "regions": [region.code for region in call.allowed_regions],
        "word_limits": dict(call.word_limits),
    }


def _update(**values):
    return lambda call, actor: services.update_call(db.session, call, values, actor=actor)


FROZEN_CHANGES = {
    "add a lot": lambda call, actor: services.save_lot(db.session, call, lot_data(), actor=actor),
    "change a lot": lambda call, actor: services.save_lot(
        db.session, call, lot_data(title_fr="Autre"), actor=actor, lot=call.lots[0]
    ),
    "remove a lot": lambda call, actor: services.remove_part(
        db.session, call, call.lots[0], actor=actor
    ),
    "add a criterion": lambda call, actor: services.save_criterion(
        db.session, call, criterion_data(weight=5), actor=actor
    ),
    "change a criterion": lambda call, actor: services.save_criterion(
        db.session, call, criterion_data(weight=50), actor=actor, criterion=call.criteria[0]
    ),
    "remove a criterion": lambda call, actor: services.remove_part(
        db.session, call, call.criteria[0], actor=actor
    ),
    "add a document": lambda call, actor: services.save_document(
        db.session, call, document_data(code="other"), actor=actor
    ),
    "change a document": lambda call, actor: services.save_document(
        db.session, call, document_data(max_size_mb=2), actor=actor, document=call.documents[0]
    ),
    "remove a document": lambda call, actor: services.remove_part(
        db.session, call, call.documents[0], actor=actor
    ),
    "add a manual check": lambda call, actor: services.save_manual_check(
        db.session, call, check_data(), actor=actor
    ),
    "change a manual check": lambda call, actor: services.save_manual_check(
        db.session, call, check_data(text_fr="Autre"), actor=actor, check=call.manual_checks[0]
    ),
    "remove a manual check": lambda call, actor: services.remove_part(
        db.session, call, call.manual_checks[0], actor=actor
    ),
    "change the founding rule": _update(min_years_since_founding=5),
    "change the applications per association": _update(max_applications_per_association=2),
    "change the amounts": _update(max_amount=200_000),
    "change the co-funding share": _update(min_cofunding_percent=20),
    "change the regions": _update(region_codes=["souss-massa"]),
    "change the word limits": _update(word_limits={"context": 10}),
    "move the deadline": lambda call, actor: services.update_call(
        db.session, call, {"closes_at": call.closes_at + timedelta(days=1)}, actor=actor
    ),
}


@pytest.mark.parametrize("change", FROZEN_CHANGES.values(), ids=FROZEN_CHANGES.keys())
def test_every_change_to_a_frozen_call_is_refused_with_the_clear_message(staff_user, draft, change):
    """Once an application is submitted the rules it was written against cannot move."""
    draft.frozen_at = utcnow()
    db.session.commit()
    before, events = _snapshot(draft), audit_actions()

    with pytest.raises(services.CallError) as error:
        change(draft, staff_user)
    db.session.commit()  # a refusal changed nothing, even left uncommitted in the session

    assert refusal(error) == str(services.FROZEN_MESSAGE)
    assert refusal(error) == shown(
        "Applications were already submitted to this call: its lots, criteria, documents and "
        "eligibility rules can no longer change. Create a new version of the call instead."
    )
    assert _snapshot(draft) == before
    assert audit_actions() == events


def test_a_frozen_call_still_takes_corrections_to_its_texts(staff_user, draft):
    draft.frozen_at = utcnow()
    db.session.commit()

    services.update_call(
        db.session,
        draft,
        {"title_fr": "Titre corrigé", "description_ar": "وصف مصحح", "max_amount": 300_000},
        actor=staff_user,
    )
    db.session.commit()

    assert (draft.title_fr, draft.description_ar) == ("Titre corrigé", "وصف مصحح")


def test_freeze_call_sets_the_time_once_and_records_it(draft):
    services.freeze_call(db.session, draft)
    first = draft.frozen_at
    services.freeze_call(db.session, draft)
    db.session.commit()

    assert first is not None and draft.frozen_at == first
    assert audit_actions().count("call.frozen") == 1


@pytest.mark.parametrize("status", [CallStatus.CLOSED, CallStatus.ARCHIVED])
def test_a_closed_or_archived_call_can_no_longer_change(staff_user, draft, status):
    draft.status = status
    db.session.commit()
    message = shown("A closed or archived call can no longer change.")

    with pytest.raises(services.CallError) as on_text:
        services.update_call(db.session, draft, {"title_fr": "Autre"}, actor=staff_user)
    with pytest.raises(services.CallError) as on_lot:
        services.save_lot(db.session, draft, lot_data(), actor=staff_user)

    assert refusal(on_text) == refusal(on_lot) == message
    db.session.commit()
    assert db.session.scalar(select(Call.title_fr)) == "Appel à projets d'essai"
    assert count(Criterion) == 2 and count(ManualCheck) == 1


def test_a_lot_or_document_that_drafts_use_cannot_be_removed(staff_user, draft):
    """Drafts exist before the first submission freezes the call: their lot and files stay."""
    association = AssociationFactory(owner=staff_user)
    application = Application(
        call=draft, association=association, lot=draft.lots[0], created_by_id=staff_user.id
    )
    application.attachments.append(
        Attachment(
            document=draft.documents[0],
            storage_key="k" * 40,
            original_name="statuts.pdf",
            content_type="application/pdf",
            size=10,
            sha256="0" * 64,
            uploaded_by_id=staff_user.id,
        )
    )
    db.session.add(application)
    db.session.commit()
    events = audit_actions()

    with pytest.raises(services.CallError) as on_lot:
        services.remove_part(db.session, draft, draft.lots[0], actor=staff_user)
    with pytest.raises(services.CallError) as on_document:
        services.remove_part(db.session, draft, draft.documents[0], actor=staff_user)

    assert refusal(on_lot) == shown(
        "Applications in preparation chose this lot: it cannot be removed."
    )
    assert refusal(on_document) == shown(
        "Applications in preparation hold files for this document: it cannot be removed."
    )
    db.session.commit()
    assert (count(Lot), count(RequiredDocument)) == (1, 1)
    assert audit_actions() == events
