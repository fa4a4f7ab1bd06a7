"""The evaluator pool of a call (invitations, removal), the associations an evaluator declares
they are tied to, and the conflicts of interest they declare on a call's applications."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import and_, case, exists, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from portal.accounts import tokens
from portal.accounts.models import Role, User, UserRole
from portal.applications.models import Application
from portal.audit.services import record_event
from portal.calls.models import Call, CallStatus
from portal.db import utcnow
from portal.forms import has_control_characters
from portal.notifications.services import queue_message
from portal.organisations.models import Association, Membership
from portal.review.models import (
    ConflictDeclaration,
    DeclaredTie,
    PoolMember,
    PoolStatus,
    Review,
    ReviewStatus,
    Screening,
    ScreeningDecision,
)
from portal.rules import RuleRefused
from portal.strategy.models import StrategicAxis
from portal.web.links import external_url

INVITATION_PURPOSE = "evaluator-invitation"
LANGUAGES = ("ar", "fr")
MAX_REASON = 1000
UNSUBMITTED = (ReviewStatus.ASSIGNED, ReviewStatus.DRAFT)


class PoolError(RuleRefused):
    """A change to the pool, ties or conflicts that the rules refuse."""


# --- the pool -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PoolRow:
    """One pool member with their load in the call."""

    member: PoolMember
    assigned: int  # active reviews: assigned, draft or submitted
    submitted: int

    @property
    def progress(self) -> int:
        """Return the share of their reviews already submitted, in percent."""
        return round(100 * self.submitted / self.assigned) if self.assigned else 0


def pool_rows(session: Session, call_id: int) -> list[PoolRow]:
    """Return the call's pool with each member's load, in one statement."""
    active = Review.status.in_((*UNSUBMITTED, ReviewStatus.SUBMITTED))
    loads = (
        select(
            Review.evaluator_id.label("user_id"),
            func.count().label("assigned"),
            func.sum(case((Review.status == ReviewStatus.SUBMITTED, 1), else_=0)).label(
                "submitted"
            ),
        )
        .where(Review.call_id == call_id, active)
        .group_by(Review.evaluator_id)
        .subquery()
    )
    order = case(
        (PoolMember.status == PoolStatus.ACTIVE, 0),
        (PoolMember.status == PoolStatus.INVITED, 1),
        else_=2,
    )
    query = (
        select(PoolMember, loads.c.assigned, loads.c.submitted)
        .outerjoin(loads, loads.c.user_id == PoolMember.user_id)
        .options(joinedload(PoolMember.user))
        .where(PoolMember.call_id == call_id)
        .order_by(order, PoolMember.email)
    )
    return [
        PoolRow(member=member, assigned=assigned or 0, submitted=int(submitted or 0))
        for member, assigned, submitted in session.execute(query)
    ]


def axis_codes(session: Session) -> set[str]:
    """Return the codes of the strategic axes (an evaluator's expertise is a set of them)."""
    return set(session.scalars(select(StrategicAxis.code)))


def _clean_profile(session: Session, languages, expertise) -> tuple[list[str], list[str]]:
    languages = [code for code in LANGUAGES if code in set(languages or ())]
    if not languages or set(languages or ()) - set(LANGUAGES):
        raise PoolError(_l("Choose the languages the evaluator reads: Arabic, French or both."))
    known = axis_codes(session)
    expertise = sorted(set(expertise or ()))
    if set(expertise) - known:
        raise PoolError(_l("Choose areas of expertise from the list of strategic axes."))
    return languages, expertise


def _invitation_state(member: PoolMember) -> str:
    # The invitation time is part of the state: sending the invitation again retires older links.
    return tokens.fingerprint(
        member.id, member.email, member.status.value, member.invited_at.isoformat()
    )


def invite_evaluator(
    session: Session, call: Call, email: str, languages, expertise, *, actor: User
) -> PoolMember:
    """Invite someone to the call's pool by e-mail; the signed link works once.

    Inviting again an address still invited, or one removed earlier, sends a new link (older
    links stop working); an address already active in the pool is refused.
    """
    if call.status in (CallStatus.DRAFT, CallStatus.ARCHIVED):
        raise PoolError(_l("Evaluators are invited to a published call."))
    email = (email or "").strip().lower()
    if "@" not in email:
        raise PoolError(_l("Enter a valid e-mail address."), field="email")
    languages, expertise = _clean_profile(session, languages, expertise)
    member = session.scalar(
        select(PoolMember).where(PoolMember.call_id == call.id, PoolMember.email == email)
    )
    if member is not None and member.status == PoolStatus.ACTIVE:
        raise PoolError(_l("This person is already in the call's pool."), field="email")
    if member is None:
        member = PoolMember(call_id=call.id, email=email, invited_by_id=actor.id)
        session.add(member)
    member.status = PoolStatus.INVITED
    member.languages, member.expertise = languages, expertise
    member.invited_by_id, member.invited_at = actor.id, utcnow()
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:  # invited by someone else meanwhile
        raise PoolError(_l("This person was just invited."), field="email") from error
    _send_invitation(session, call, member, actor)
    record_event(
        session, actor, "review.evaluator_invited", member, email=email, languages=languages
    )
    return member


def _send_invitation(session: Session, call: Call, member: PoolMember, actor: User) -> None:
    token = tokens.make_token(INVITATION_PURPOSE, member.id, _invitation_state(member))
    invitee = session.scalar(select(User).where(func.lower(User.email) == member.email))
    locale = invitee.locale if invitee is not None else actor.locale
    queue_message(
        session,
        member.email,
        locale,
        "evaluator_invitation",
        call=call,
        inviter=actor,
        link=external_url("review.accept_evaluator_invitation", token=token),
    )


def invitation_for(session: Session, token: str, max_age: int) -> PoolMember:
    """Return the pending invitation a link is for; used, altered or expired links are refused."""
    member_id, state = tokens.read_token(INVITATION_PURPOSE, token, max_age)
    member = session.get(PoolMember, member_id)
    if member is None or member.status != PoolStatus.INVITED or state != _invitation_state(member):
        raise tokens.TokenInvalid
    return member


def accept_evaluator_invitation(
    session: Session, token: str, max_age: int, *, user: User
) -> PoolMember:
    """Put the signed-in user in the pool, if the invitation was sent to their address; they
    get the evaluator role."""
    member = invitation_for(session, token, max_age)
    if member.email != user.email.lower():
        raise PoolError(
            _l("This invitation was sent to another e-mail address. Sign in with that address.")
        )
    if not user.has_role(Role.EVALUATOR):
        user.role_rows.append(UserRole(role=Role.EVALUATOR))
        record_event(session, user, "account.role_granted", user, role=Role.EVALUATOR)
    member.status = PoolStatus.ACTIVE
    member.user_id = user.id
    member.accepted_at = utcnow()
    record_event(session, user, "review.evaluator_joined", member, call=member.call_id)
    session.flush()
    return member


def get_member(session: Session, call_id: int, member_id: int) -> PoolMember | None:
    """Return the call's pool member with this id, or None."""
    member = session.get(PoolMember, member_id)
    return member if member is not None and member.call_id == call_id else None


def remove_evaluator(session: Session, member: PoolMember, *, actor: User) -> int:
    """Take the member out of the pool; their unsubmitted reviews are removed (submitted ones
    stay). Return how many reviews were removed."""
    if member.status == PoolStatus.REMOVED:
        raise PoolError(_l("This evaluator is no longer in the pool."))
    before = member.status
    member.status = PoolStatus.REMOVED
    removed = 0
    if member.user_id is not None:
        removed = _remove_unsubmitted(
            session, Review.call_id == member.call_id, Review.evaluator_id == member.user_id
        )
    record_event(
        session,
        actor,
        "review.evaluator_removed",
        member,
        before=before.value,
        reviews_removed=removed,
    )
    session.flush()
    return removed


def _remove_unsubmitted(session: Session, *where) -> int:
    """Mark the matching unsubmitted reviews removed; return how many."""
    result = session.execute(
        update(Review)
        .where(*where, Review.status.in_(UNSUBMITTED))
        .values(status=ReviewStatus.REMOVED)
        .execution_options(synchronize_session="fetch")
    )
    return result.rowcount


# --- declared ties --------------------------------------------------------------------------


def list_ties(session: Session, user: User) -> list[DeclaredTie]:
    """Return the associations the user declared being tied to, with the associations."""
    return list(
        session.scalars(
            select(DeclaredTie)
            .options(joinedload(DeclaredTie.association))
            .where(DeclaredTie.user_id == user.id)
            .order_by(DeclaredTie.created_at, DeclaredTie.id)
        )
    )


def _clean_reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise PoolError(_l("Give the reason."), field="reason")
    if len(reason) > MAX_REASON:
        raise PoolError(_l("Keep the reason under %(n)s characters.", n=MAX_REASON), field="reason")
    if has_control_characters(reason, multiline=True):
        raise PoolError(_l("Control characters are not allowed."), field="reason")
    return reason


def declare_tie(session: Session, user: User, registration_number: str, reason: str) -> DeclaredTie:
    """Declare a tie with the association registered under this number; the user is never
    assigned its applications, and their unsubmitted reviews of them are removed."""
    number = " ".join((registration_number or "").split()).upper()
    if not number:
        raise PoolError(
            _l("Enter the association's registration number."), field="registration_number"
        )
    reason = _clean_reason(reason)
    association = session.scalar(
        select(Association).where(func.upper(Association.registration_number) == number)
    )
    if association is None:
        raise PoolError(
            _l("No association is registered under this number."), field="registration_number"
        )
    already = session.scalar(
        select(DeclaredTie.id).where(
            DeclaredTie.user_id == user.id, DeclaredTie.association_id == association.id
        )
    )
    if already is not None:
        raise PoolError(_l("You already declared this association."), field="registration_number")
    tie = DeclaredTie(user_id=user.id, association=association, reason=reason)
    session.add(tie)
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:  # the same declaration sent twice at once
        raise PoolError(
            _l("You already declared this association."), field="registration_number"
        ) from error
    of_association = select(Application.id).where(Application.association_id == association.id)
    removed = _remove_unsubmitted(
        session, Review.evaluator_id == user.id, Review.application_id.in_(of_association)
    )
    record_event(
        session,
        user,
        "review.tie_declared",
        tie,
        association=association.id,
        reason=reason,
        reviews_removed=removed,
    )
    return tie


def get_tie(session: Session, user: User, tie_id: int) -> DeclaredTie | None:
    """Return the user's own tie with this id, or None."""
    tie = session.get(DeclaredTie, tie_id)
    return tie if tie is not None and tie.user_id == user.id else None


def remove_tie(session: Session, tie: DeclaredTie, *, actor: User) -> None:
    """Withdraw a declared tie (audited with what it said)."""
    record_event(
        session,
        actor,
        "review.tie_removed",
        tie,
        association=tie.association_id,
        reason=tie.reason,
    )
    session.delete(tie)
    session.flush()


# --- declared conflicts ---------------------------------------------------------------------


def conflicts_open(call: Call, now: datetime) -> bool:
    """Tell whether the call's list of applications is complete (its deadline has passed)."""
    return call.status != CallStatus.DRAFT and call.closes_at is not None and now >= call.closes_at


@dataclass(frozen=True)
class ConflictRow:
    """One application of the call as the evaluator sees it before declaring conflicts."""

    application: Application
    association: Association
    automatic: str | None  # "member" or "tie": conflicted whatever they declare
    declared: ConflictDeclaration | None


def _received(call_id: int):
    """The call's applications received and not found ineligible at screening."""
    from portal.review.screening import received_clause

    ineligible = exists().where(
        Screening.application_id == Application.id,
        Screening.decision == ScreeningDecision.INELIGIBLE,
    )
    return and_(Application.call_id == call_id, received_clause(), ~ineligible)


def conflict_rows(session: Session, call: Call, user: User) -> list[ConflictRow]:
    """Return the call's applications with the user's automatic and declared conflicts, in two
    statements."""
    member_of = exists().where(
        Membership.user_id == user.id, Membership.association_id == Application.association_id
    )
    tied_to = exists().where(
        DeclaredTie.user_id == user.id, DeclaredTie.association_id == Application.association_id
    )
    automatic = case((member_of, "member"), (tied_to, "tie"), else_=None)
    query = (
        select(Application, Association, automatic.label("automatic"))
        .join(Association, Association.id == Application.association_id)
        .where(_received(call.id))
        .order_by(Application.id)
    )
    declared = {
        declaration.application_id: declaration
        for declaration in session.scalars(
            select(ConflictDeclaration).where(
                ConflictDeclaration.call_id == call.id,
                ConflictDeclaration.evaluator_id == user.id,
            )
        )
    }
    return [
        ConflictRow(application, association, reason, declared.get(application.id))
        for application, association, reason in session.execute(query)
    ]


def declare_conflicts(
    session: Session,
    call: Call,
    member: PoolMember,
    declarations: dict[int, str],
    *,
    confirmed: bool,
    actor: User,
) -> int:
    """Record the evaluator's conflicts {application id: reason} and that they went through the
    list; an unsubmitted review of a newly conflicted application is removed. Return how many
    conflicts were new.

    Declarations add up: a conflict once declared stays (staff may still see why a review was
    taken away)."""
    if not conflicts_open(call, utcnow()):
        raise PoolError(_l("Conflicts are declared once the call's deadline has passed."))
    if not confirmed:
        raise PoolError(
            _l("Confirm that you went through the whole list of applications."), field="confirm"
        )
    known = set(session.scalars(select(Application.id).where(_received(call.id))))
    if not set(declarations) <= known:
        raise PoolError(_l("Choose applications from the list."))
    already = set(
        session.scalars(
            select(ConflictDeclaration.application_id).where(
                ConflictDeclaration.call_id == call.id,
                ConflictDeclaration.evaluator_id == actor.id,
            )
        )
    )
    new = {
        application_id: _clean_reason(reason)
        for application_id, reason in sorted(declarations.items())
        if application_id not in already
    }
    for application_id, reason in new.items():
        session.add(
            ConflictDeclaration(
                call_id=call.id, application_id=application_id, evaluator_id=actor.id, reason=reason
            )
        )
        removed = _remove_unsubmitted(
            session, Review.evaluator_id == actor.id, Review.application_id == application_id
        )
        record_event(
            session,
            actor,
            "review.conflict_declared",
            member,
            application=application_id,
            reason=reason,
            review_removed=bool(removed),
        )
    member.conflicts_declared_at = utcnow()
    record_event(session, actor, "review.conflicts_declared", member, new_conflicts=len(new))
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:  # the same form sent twice at once
        raise PoolError(_l("These conflicts were just declared. Reload the page.")) from error
    return len(new)
