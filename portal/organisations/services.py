"""Association rules: profile, members and invitations, staff verification."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from flask_babel import lazy_gettext as _l
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload, selectinload

from portal.accounts import tokens
from portal.accounts.models import User
from portal.audit.services import record_event
from portal.db import utcnow
from portal.notifications.services import queue_message
from portal.organisations.models import (
    Association,
    AssociationStatus,
    Invitation,
    InvitationStatus,
    MemberRole,
    Membership,
)
from portal.organisations.vocabulary import FIELDS_OF_WORK, LEGAL_FORMS, TARGET_GROUPS
from portal.rules import RuleRefused
from portal.strategy.models import Region
from portal.web.links import external_url

INVITATION_PURPOSE = "association-invitation"

PROFILE_FIELDS = (
    "name_ar",
    "name_fr",
    "acronym",
    "legal_form",
    "registration_number",
    "founded_on",
    "city",
    "address",
    "email",
    "phone",
    "website",
    "fields_of_work",
    "target_groups",
    "description_ar",
    "description_fr",
)


class AssociationError(RuleRefused):
    """A change to an association that the rules refuse; the message is shown to the user."""


@dataclass(frozen=True)
class AssociationFilters:
    text: str = ""
    region_code: str = ""
    status: str = ""


# --- profile --------------------------------------------------------------------------------


def _region(session: Session, code: str) -> Region:
    region = session.scalar(select(Region).where(Region.code == code))
    if region is None:
        raise AssociationError(_l("Choose one of Morocco's 12 regions."), field="region")
    return region


def _clean_profile(data: dict) -> dict:
    values = {name: data[name] for name in PROFILE_FIELDS if name in data}
    for name, value in values.items():
        if isinstance(value, str):
            values[name] = value.strip()
    if values.get("legal_form") not in LEGAL_FORMS:
        raise AssociationError(_l("Choose a legal form from the list."), field="legal_form")
    if not set(values.get("fields_of_work", [])) <= FIELDS_OF_WORK.keys():
        raise AssociationError(_l("Choose fields of work from the list."), field="fields_of_work")
    if not set(values.get("target_groups", [])) <= TARGET_GROUPS.keys():
        raise AssociationError(_l("Choose target groups from the list."), field="target_groups")
    values["registration_number"] = " ".join(values["registration_number"].split()).upper()
    values["email"] = values["email"].lower()
    return values


def _registration_taken(session: Session, number: str, except_id: int | None = None) -> bool:
    query = select(Association.id).where(
        func.upper(Association.registration_number) == number.upper()
    )
    if except_id is not None:
        query = query.where(Association.id != except_id)
    return session.scalar(query) is not None


DUPLICATE_REGISTRATION = _l("An association with this registration number is already registered.")


def _flush_profile(session: Session) -> None:
    """Write the profile; a registration number taken meanwhile is reported, not a crash."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as error:
        raise AssociationError(DUPLICATE_REGISTRATION, field="registration_number") from error


def create_association(session: Session, data: dict, *, creator: User) -> Association:
    """Register an association awaiting verification; its creator becomes its owner."""
    values = _clean_profile(data)
    if _registration_taken(session, values["registration_number"]):
        raise AssociationError(DUPLICATE_REGISTRATION, field="registration_number")
    association = Association(**values, region=_region(session, data["region"]))
    association.memberships.append(Membership(user=creator, role=MemberRole.OWNER))
    session.add(association)
    _flush_profile(session)
    record_event(session, creator, "association.created", association)
    return association


def update_association(
    session: Session, association: Association, data: dict, *, actor: User
) -> Association:
    """Change the profile; a rejected association goes back to awaiting verification."""
    values = _clean_profile(data)
    if _registration_taken(session, values["registration_number"], except_id=association.id):
        raise AssociationError(DUPLICATE_REGISTRATION, field="registration_number")
    changed = sorted(name for name, value in values.items() if getattr(association, name) != value)
    for name, value in values.items():
        setattr(association, name, value)
    region = _region(session, data["region"])
    if association.region_id != region.id:
        association.region = region
        changed.append("region")
    if association.status == AssociationStatus.REJECTED and changed:
        association.status = AssociationStatus.PENDING
        association.status_changed_at = utcnow()
        association.status_changed_by_id = actor.id
    _flush_profile(session)
    record_event(session, actor, "association.updated", association, fields=changed)
    return association


def profile_values(association: Association) -> dict:
    """Return the profile as the edit form expects it (region as its code)."""
    values = {name: getattr(association, name) for name in PROFILE_FIELDS}
    values["region"] = association.region.code
    return values


# --- reading --------------------------------------------------------------------------------


def associations_of(session: Session, user: User) -> list[tuple[Association, MemberRole]]:
    """Return the user's associations with the user's role in each."""
    query = (
        select(Association, Membership.role)
        .join(Membership, Membership.association_id == Association.id)
        .options(joinedload(Association.region))
        .where(Membership.user_id == user.id)
        .order_by(Association.name_fr)
    )
    return [(association, role) for association, role in session.execute(query)]


class Recipient(NamedTuple):
    """Someone the portal writes to, and the language they read (Arabic unless French)."""

    email: str
    locale: str


def writers_by_association(
    session: Session, association_ids: list[int]
) -> dict[int, list[Recipient]]:
    """Return the owners and editors of each association (those who write its applications and
    reports, and hear of decisions), in one query."""
    if not association_ids:
        return {}
    rows = session.execute(
        select(Membership.association_id, User.email, User.locale)
        .join(User, User.id == Membership.user_id)
        .where(
            Membership.association_id.in_(association_ids),
            Membership.role.in_((MemberRole.OWNER, MemberRole.EDITOR)),
        )
        .order_by(Membership.id)
    )
    found: dict[int, list[Recipient]] = {}
    for association_id, email, locale in rows:
        language = locale if locale in ("ar", "fr") else "ar"
        found.setdefault(association_id, []).append(Recipient(email, language))
    return found


def writers_of(session: Session, association_id: int) -> list[Recipient]:
    """Return the owners and editors of one association, each with their language."""
    return writers_by_association(session, [association_id]).get(association_id, [])


def get_association(session: Session, association_id: int) -> Association | None:
    """Return the association with its region."""
    query = (
        select(Association)
        .options(joinedload(Association.region))
        .where(Association.id == association_id)
    )
    return session.scalar(query)


def staff_query(filters: AssociationFilters) -> Select:
    """Return the staff list query for these filters, newest first."""
    query = select(Association).options(joinedload(Association.region))
    if filters.region_code:
        query = query.join(Region).where(Region.code == filters.region_code)
    if filters.status in {status.value for status in AssociationStatus}:
        query = query.where(Association.status == AssociationStatus(filters.status))
    text = filters.text.strip()
    if text:
        pattern = f"%{text.lower()}%"
        query = query.where(
            or_(
                func.lower(Association.name_fr).like(pattern),
                Association.name_ar.like(f"%{text}%"),
                func.lower(Association.acronym).like(pattern),
                func.lower(Association.registration_number).like(pattern),
                func.lower(Association.city).like(pattern),
            )
        )
    return query.order_by(Association.created_at.desc(), Association.id.desc())


def status_counts(session: Session) -> dict[AssociationStatus, int]:
    """Return how many associations are in each status."""
    rows = session.execute(
        select(Association.status, func.count()).group_by(Association.status)
    ).all()
    counts = dict.fromkeys(AssociationStatus, 0)
    counts.update(dict(rows))
    return counts


# --- verification ---------------------------------------------------------------------------


def _notify_owners(session: Session, association: Association, template: str, **context) -> None:
    for membership in association.memberships:
        if membership.role == MemberRole.OWNER:
            user = membership.user
            queue_message(
                session, user.email, user.locale, template, association=association, **context
            )


def decide_verification(
    session: Session, association: Association, decision: str, reason: str, *, actor: User
) -> Association:
    """Verify or reject an association (a rejection needs a reason); owners are told."""
    if decision not in (AssociationStatus.VERIFIED, AssociationStatus.REJECTED):
        raise AssociationError(_l("Choose to verify or to reject."), field="decision")
    reason = (reason or "").strip()
    if decision == AssociationStatus.REJECTED and not reason:
        raise AssociationError(_l("Give the reason for the rejection."), field="reason")
    before = association.status
    association.status = AssociationStatus(decision)
    association.status_reason = reason if decision == AssociationStatus.REJECTED else ""
    association.status_changed_at = utcnow()
    association.status_changed_by_id = actor.id
    record_event(
        session,
        actor,
        f"association.{decision}",
        association,
        before=before.value,
        reason=association.status_reason,
    )
    link = external_url("organisations.detail", association_id=association.id)
    _notify_owners(session, association, "association_status", link=link)
    session.flush()
    return association


# --- members and invitations ----------------------------------------------------------------


def list_members(session: Session, association: Association) -> list[Membership]:
    """Return the members with their accounts, owners first."""
    order = {MemberRole.OWNER: 0, MemberRole.EDITOR: 1, MemberRole.VIEWER: 2}
    query = (
        select(Membership)
        .options(joinedload(Membership.user))
        .where(Membership.association_id == association.id)
    )
    return sorted(session.scalars(query), key=lambda m: (order[m.role], m.user.full_name))


def pending_invitations(session: Session, association: Association) -> list[Invitation]:
    """Return invitations not yet accepted or revoked."""
    query = (
        select(Invitation)
        .where(
            Invitation.association_id == association.id,
            Invitation.status == InvitationStatus.PENDING,
        )
        .order_by(Invitation.created_at)
    )
    return list(session.scalars(query))


def get_membership(session: Session, association: Association, membership_id: int) -> Membership:
    """Return a membership of this association, or raise LookupError."""
    membership = session.get(Membership, membership_id)
    if membership is None or membership.association_id != association.id:
        raise LookupError(membership_id)
    return membership


def _invitation_state(invitation: Invitation) -> str:
    return tokens.fingerprint(invitation.id, invitation.email, invitation.status.value)


def invite_member(
    session: Session, association: Association, email: str, role: str, *, actor: User
) -> Invitation:
    """Invite someone by e-mail; the link is signed, expires and works once."""
    email = email.strip().lower()
    role = MemberRole(role)
    already = session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(Membership.association_id == association.id, User.email == email)
    )
    if already is not None:
        raise AssociationError(_l("This person is already a member."), field="email")
    invitation = Invitation(association=association, email=email, role=role, invited_by_id=actor.id)
    session.add(invitation)
    session.flush()
    token = tokens.make_token(INVITATION_PURPOSE, invitation.id, _invitation_state(invitation))
    link = external_url("organisations.accept_invitation", token=token)
    invitee = session.scalar(select(User).where(User.email == email))
    locale = invitee.locale if invitee is not None else actor.locale
    queue_message(
        session,
        email,
        locale,
        "invitation",
        association=association,
        inviter=actor,
        role=role,
        link=link,
    )
    record_event(session, actor, "association.member_invited", association, email=email, role=role)
    return invitation


def invitation_for(session: Session, token: str, max_age: int) -> Invitation:
    """Return the pending invitation a link is for; used, altered or expired links are refused."""
    invitation_id, state = tokens.read_token(INVITATION_PURPOSE, token, max_age)
    invitation = session.get(Invitation, invitation_id)
    if invitation is None or state != _invitation_state(invitation):
        raise tokens.TokenInvalid
    return invitation


def accept_invitation(session: Session, token: str, max_age: int, *, user: User) -> Membership:
    """Make the signed-in user a member, if the invitation was sent to their address."""
    invitation = invitation_for(session, token, max_age)
    if invitation.email != user.email:
        raise AssociationError(
            _l("This invitation was sent to another e-mail address. Sign in with that address.")
        )
    membership = session.scalar(
        select(Membership).where(
            Membership.association_id == invitation.association_id,
            Membership.user_id == user.id,
        )
    )
    if membership is None:
        membership = Membership(
            association_id=invitation.association_id, user_id=user.id, role=invitation.role
        )
        session.add(membership)
    invitation.status = InvitationStatus.ACCEPTED
    invitation.accepted_at = utcnow()
    invitation.accepted_by_id = user.id
    record_event(
        session,
        user,
        "association.invitation_accepted",
        invitation.association,
        role=invitation.role,
    )
    session.flush()
    return membership


def revoke_invitation(session: Session, invitation: Invitation, *, actor: User) -> None:
    """Cancel a pending invitation; its link stops working."""
    if invitation.status != InvitationStatus.PENDING:
        return
    invitation.status = InvitationStatus.REVOKED
    record_event(
        session,
        actor,
        "association.invitation_revoked",
        invitation.association,
        email=invitation.email,
    )


def _owner_count(session: Session, association_id: int) -> int:
    return session.scalar(
        select(func.count())
        .select_from(Membership)
        .where(Membership.association_id == association_id, Membership.role == MemberRole.OWNER)
    )


LAST_OWNER = _l("An association keeps at least one owner. Name another owner first.")


def change_member_role(
    session: Session, membership: Membership, role: str, *, actor: User
) -> Membership:
    """Give a member another role; the last owner stays owner."""
    role = MemberRole(role)
    if membership.role == role:
        return membership
    if (
        membership.role == MemberRole.OWNER
        and _owner_count(session, membership.association_id) <= 1
    ):
        raise AssociationError(LAST_OWNER)
    before = membership.role
    membership.role = role
    record_event(
        session,
        actor,
        "association.member_role_changed",
        membership.association,
        member=membership.user_id,
        before=before,
        after=role,
    )
    session.flush()
    return membership


def remove_member(session: Session, membership: Membership, *, actor: User) -> None:
    """Remove a member; the last owner cannot be removed."""
    if (
        membership.role == MemberRole.OWNER
        and _owner_count(session, membership.association_id) <= 1
    ):
        raise AssociationError(LAST_OWNER)
    record_event(
        session,
        actor,
        "association.member_removed",
        membership.association,
        member=membership.user_id,
        role=membership.role,
    )
    session.delete(membership)
    session.flush()


def members_with_details(session: Session, association: Association):
    """Return members and pending invitations for the members page."""
    return list_members(session, association), pending_invitations(session, association)


def load_for_staff(session: Session, association_id: int) -> Association | None:
    """Return the association with region and members, for the staff review page."""
    query = (
        select(Association)
        .options(
            joinedload(Association.region),
            selectinload(Association.memberships).joinedload(Membership.user),
        )
        .where(Association.id == association_id)
    )
    return session.scalar(query)
