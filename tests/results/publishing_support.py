"""A call whose decisions are taken, for the publishing, appeal and public-results tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.results.models import Appeal, Committee, Decision
from tests import factories
from tests.review.test_ranking import eligible_application


@dataclass
class World:
    call: object
    committee: Committee
    funded: object  # applications
    reserve: object
    rejected: object
    evaluator: object
    french_editor: object  # an editor of the rejected association who reads French
    viewer: object  # a viewer of the funded association: never mailed


def results_world(status: str = "approved") -> World:
    """Three decided applications (funded, reserve, rejected) of one call, with reviews."""
    call = factories.closed_call()
    funded = eligible_application(call, title_fr="Projet financé")
    reserve = eligible_application(call, title_fr="Projet en réserve")
    rejected = eligible_application(call, title_fr="Projet refusé")
    evaluator = factories.evaluator(call, full_name="Évaluatrice Secrète")
    other = factories.evaluator(call, full_name="Autre Évaluateur")
    factories.scored_review(funded, evaluator, [9, 9])
    factories.scored_review(reserve, evaluator, [6, 6])
    shared = factories.scored_review(rejected, evaluator, [4, 2])
    shared.shared_comment = "Les indicateurs gagneraient à être chiffrés."
    shared.overall_comment = "Note interne jamais partagée."
    private = factories.scored_review(rejected, other, [2, 4])
    private.overall_comment = "Autre note interne."
    db.session.commit()
    french_editor = factories.UserFactory(locale="fr")
    factories.add_member(rejected.association, french_editor, "editor")
    viewer = factories.UserFactory()
    factories.add_member(funded.association, viewer, "viewer")
    sitting = factories.committee(call, status=status)
    factories.decision(funded, "funded", sitting=sitting)
    factories.decision(reserve, "reserve", sitting=sitting, reserve_rank=2)
    factories.decision(
        rejected,
        "rejected",
        sitting=sitting,
        motivation_ar="المشروع غير مكتمل",
        motivation_fr="Le projet est incomplet",
    )
    return World(call, sitting, funded, reserve, rejected, evaluator, french_editor, viewer)


def outbox() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def audit(action: str) -> list[AuditEvent]:
    return list(
        db.session.scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


def count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def publish_now(world: World) -> None:
    """Publish through the service, as a staff member."""
    from portal.results.publishing import publish_results

    publish_results(db.session, world.call, actor=factories.UserFactory(roles=("staff",)))
    db.session.commit()


__all__ = ["Appeal", "Decision", "World", "audit", "count", "outbox", "publish_now"]


def published_awards(call, n: int, *, start: int = 0) -> None:
    """Add `n` funded, published awards to `call` in one commit (for query counts)."""
    from datetime import date

    from portal.applications.models import Application, ApplicationStatus
    from portal.organisations.models import Association, AssociationStatus
    from portal.results.models import CommitteeStatus, DecisionFunder, Outcome
    from portal.strategy.models import FundingPartner, StrategicAxis

    sitting = db.session.scalar(select(Committee).where(Committee.call_id == call.id))
    if sitting is None:
        sitting = factories.committee(
            call, status="published", published_at=factories.utcnow(), held_on=date(2026, 5, 4)
        )
    assert sitting.status == CommitteeStatus.PUBLISHED
    staff = factories.UserFactory(roles=("staff",))
    axes = list(db.session.scalars(select(StrategicAxis).order_by(StrategicAxis.number)))
    partner = db.session.scalar(select(FundingPartner).where(FundingPartner.code == "UNFPA"))
    region = factories.region()
    for number in range(start, start + n):
        association = Association(
            name_ar=f"جمعية ممولة {number}",
            name_fr=f"Association financée {number}",
            legal_form="association",
            registration_number=f"BULK-{call.id}-{number:06d}",
            founded_on=date(2015, 1, 1),
            region=region,
            city="Rabat",
            email=f"bulk{call.id}-{number}@example.org",
            status=AssociationStatus.VERIFIED,
        )
        application = Application(
            call=call,
            association=association,
            lot=call.lots[0],
            status=ApplicationStatus.SUBMITTED,
            title_ar=f"مشروع ممول {number}",
            title_fr=f"Projet financé {number}",
            regions=["rabat-sale-kenitra", "oriental"],
            axes=axes[number % len(axes) : number % len(axes) + 2],
            created_by_id=staff.id,
        )
        decision = Decision(
            application=application,
            call_id=call.id,
            lot_id=call.lots[0].id,
            committee_id=sitting.id,
            outcome=Outcome.FUNDED,
            amount_awarded=50_000 + number,
            created_by_id=staff.id,
        )
        if number % 3 == 0:
            decision.funders = [DecisionFunder(partner=partner, share_percent=30)]
        db.session.add_all([association, application, decision])
    db.session.commit()
