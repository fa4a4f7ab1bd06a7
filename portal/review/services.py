"""Rules shared by every part of the review: who is in a call's pool, who is conflicted."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from portal.applications.models import Application
from portal.organisations.models import Membership
from portal.review.models import (
    ConflictDeclaration,
    DeclaredTie,
    PoolMember,
    PoolStatus,
    Review,
    ReviewStatus,
)


def active_pool_member(session: Session, user_id: int, call_id: int) -> PoolMember | None:
    """Return the user's active place in the call's evaluator pool, or None."""
    return session.scalar(
        select(PoolMember).where(
            PoolMember.call_id == call_id,
            PoolMember.user_id == user_id,
            PoolMember.status == PoolStatus.ACTIVE,
        )
    )


def conflict_reason(session: Session, user_id: int, application: Application) -> str | None:
    """Say why the evaluator may not review this application ('member', 'tie', 'declared').

    One statement: the three kinds of conflict are asked as three EXISTS side by side.
    """
    member = exists().where(
        Membership.user_id == user_id, Membership.association_id == application.association_id
    )
    tie = exists().where(
        DeclaredTie.user_id == user_id, DeclaredTie.association_id == application.association_id
    )
    declared = exists().where(
        ConflictDeclaration.evaluator_id == user_id,
        ConflictDeclaration.application_id == application.id,
    )
    found = session.execute(select(member, tie, declared)).one()
    return next(
        (reason for reason, yes in zip(("member", "tie", "declared"), found, strict=True) if yes),
        None,
    )


def conflicts_in_call(session: Session, call_id: int) -> dict[int, set[int]]:
    """Return {evaluator user id: ids of the call's applications they are conflicted with}.

    Three statements whatever the size of the call: memberships, declared ties, declarations.
    """
    pool_users = select(PoolMember.user_id).where(
        PoolMember.call_id == call_id, PoolMember.user_id.is_not(None)
    )
    conflicts: dict[int, set[int]] = defaultdict(set)
    for link in (Membership, DeclaredTie):
        rows = session.execute(
            select(link.user_id, Application.id)
            .join(Application, Application.association_id == link.association_id)
            .where(Application.call_id == call_id, link.user_id.in_(pool_users))
        )
        for user_id, application_id in rows:
            conflicts[user_id].add(application_id)
    rows = session.execute(
        select(ConflictDeclaration.evaluator_id, ConflictDeclaration.application_id).where(
            ConflictDeclaration.call_id == call_id
        )
    )
    for user_id, application_id in rows:
        conflicts[user_id].add(application_id)
    return conflicts


def may_open_review(session: Session, user, review: Review) -> bool:
    """Tell whether `user` may open, read and score this review right now."""
    if review.evaluator_id != user.id or review.status == ReviewStatus.REMOVED:
        return False
    member = active_pool_member(session, user.id, review.call_id)
    if member is None or member.conflicts_declared_at is None:
        return False
    return conflict_reason(session, user.id, review.application) is None
