"""The one place that decides who may do what to which object.

Every view, fragment, download and export asks `may(user, action, obj)`. Each rule is a small
function registered under its action name; an unknown action is refused.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import abort
from sqlalchemy import select

from portal.accounts.browser_session import required_roles
from portal.accounts.models import Role, User
from portal.accounts.two_factor import required_for
from portal.extensions import db
from portal.organisations.models import Association, MemberRole, Membership

Rule = Callable[[User | None, object], bool]
RULES: dict[str, Rule] = {}

# Endpoints a visitor may reach without signing in; every other one sends them to sign-in.
# tests/security/test_route_matrix.py holds every endpoint to this list.
PUBLIC_ENDPOINTS = frozenset(
    {
        "static",
        "web.home",
        "web.health",
        "web.switch_language",
        "strategy.axes",
        "strategy.project",
        "accounts.sign_in",
        "accounts.sign_in_code",
        "accounts.sign_up",
        "accounts.forgot_password",
        "accounts.reset_password",
        "accounts.verify_email",
        "calls.public_list",
        "calls.public_page",
        "applications.receipt_check",
        "training.catalogue",
        "training.session_page",
        "training.participant_pass",
        "training.certificate_by_link",
        "training.verify_certificate",
        "training.verify_certificate_code",
        "training.survey",
        "results.public_list",
        "results.public_call",
        "results.open_data",
        "results.open_data_call",
    }
)


def rule(action: str):
    """Register the function below as the rule for `action`."""

    def register(function: Rule) -> Rule:
        RULES[action] = function
        return function

    return register


def may(user, action: str, obj: object = None) -> bool:
    """Tell whether `user` (None or anonymous for a visitor) may do `action` to `obj`."""
    check = RULES.get(action)
    if check is None:
        raise KeyError(f"no policy rule for {action!r}")
    signed_in = user if user is not None and getattr(user, "is_authenticated", False) else None
    if signed_in is not None and not signed_in.is_active:
        return False
    return bool(check(signed_in, obj))


def require(user, action: str, obj: object = None, *, hide: bool = False) -> None:
    """Abort with 403 (or 404 when the object's existence itself is private) unless allowed."""
    if not may(user, action, obj):
        abort(404 if hide else 403)


def has_role(user: User | None, *roles: Role) -> bool:
    """Tell whether the user holds any of these roles."""
    return user is not None and any(role in user.roles for role in roles)


def member_role(user: User | None, association: Association) -> MemberRole | None:
    """Return the user's role inside the association, or None."""
    if user is None or association is None or association.id is None:
        return None
    return db.session.scalar(
        select(Membership.role).where(
            Membership.association_id == association.id, Membership.user_id == user.id
        )
    )


# --- accounts -------------------------------------------------------------------------------


@rule("account.manage_users")
def _manage_users(user, obj) -> bool:
    return has_role(user, Role.ADMIN)


@rule("account.disable_two_factor")
def _disable_two_factor(user, obj) -> bool:
    # Only where it is offered, not where a role requires it (TWO_FACTOR_REQUIRED_ROLES).
    return user is not None and not required_for(user, required_roles())


# --- associations ---------------------------------------------------------------------------


@rule("association.create")
def _create_association(user, obj) -> bool:
    return user is not None and user.is_verified


@rule("association.view")
def _view_association(user, association) -> bool:
    return has_role(user, Role.STAFF, Role.ADMIN) or member_role(user, association) is not None


@rule("association.edit")
def _edit_association(user, association) -> bool:
    return member_role(user, association) in (MemberRole.OWNER, MemberRole.EDITOR)


@rule("association.manage_members")
def _manage_members(user, association) -> bool:
    return member_role(user, association) == MemberRole.OWNER


@rule("association.review")
def _review_associations(user, obj) -> bool:
    return has_role(user, Role.STAFF, Role.ADMIN)


# --- strategy -------------------------------------------------------------------------------


@rule("strategy.edit_links")
def _edit_strategy_links(user, obj) -> bool:
    return has_role(user, Role.STAFF, Role.ADMIN)


# --- applications ---------------------------------------------------------------------------


@rule("application.start")
def _start_application(user, association) -> bool:
    return member_role(user, association) in (MemberRole.OWNER, MemberRole.EDITOR)


@rule("application.view")
def _view_application(user, application) -> bool:
    return (
        has_role(user, Role.STAFF, Role.ADMIN)
        or member_role(user, application.association) is not None
    )


@rule("application.edit")
def _edit_application(user, application) -> bool:
    return member_role(user, application.association) in (MemberRole.OWNER, MemberRole.EDITOR)


@rule("application.list_all")
def _list_all_applications(user, obj) -> bool:
    return has_role(user, Role.STAFF, Role.ADMIN)


# --- calls ----------------------------------------------------------------------------------


@rule("call.manage")
def _manage_calls(user, obj) -> bool:
    return has_role(user, Role.STAFF, Role.ADMIN)


# --- training -------------------------------------------------------------------------------


@rule("training.manage")
def _manage_training(user, obj) -> bool:
    """The programme, its modules and sessions; draft and cancelled sessions."""
    return has_role(user, Role.STAFF, Role.ADMIN)


@rule("training.enrol")
def _enrol_participants(user, association) -> bool:
    """Enrol the association's participants and see to their places."""
    return member_role(user, association) in (MemberRole.OWNER, MemberRole.EDITOR)


@rule("training.cancel_enrolment")
def _cancel_enrolment(user, enrolment) -> bool:
    """Staff at any time; the association's owners and editors while enrolment is open (the
    service refuses them, with a message, once it has closed)."""
    return has_role(user, Role.STAFF, Role.ADMIN) or member_role(user, enrolment.association) in (
        MemberRole.OWNER,
        MemberRole.EDITOR,
    )


@rule("training.view_certificate")
def _view_certificate(user, certificate) -> bool:
    """Staff, and every member of the participant's association."""
    return (
        has_role(user, Role.STAFF, Role.ADMIN)
        or member_role(user, certificate.enrolment.association) is not None
    )


# --- review ---------------------------------------------------------------------------------


@rule("results.decide")
def _decide(user, obj) -> bool:
    """Record decisions, the committee, approve (another staff member's) and publish results."""
    return has_role(user, Role.STAFF, Role.ADMIN)


@rule("results.appeal")
def _appeal(user, application) -> bool:
    """Appeal against the published decision on one of the association's applications."""
    return member_role(user, application.association) in (MemberRole.OWNER, MemberRole.EDITOR)


@rule("actions.manage")
def _manage_actions(user, obj) -> bool:
    """Edit funded actions, their tranches and links; accept or return progress reports."""
    return has_role(user, Role.STAFF, Role.ADMIN)


@rule("actions.view")
def _view_action(user, action) -> bool:
    """Read a funded action: the association's members and staff."""
    return has_role(user, Role.STAFF, Role.ADMIN) or member_role(user, action.association) in (
        MemberRole.OWNER,
        MemberRole.EDITOR,
        MemberRole.VIEWER,
    )


@rule("actions.report")
def _report_on_action(user, action) -> bool:
    """Write and send the progress reports of one of the association's funded actions."""
    return member_role(user, action.association) in (MemberRole.OWNER, MemberRole.EDITOR)


@rule("review.manage")
def _manage_review(user, obj) -> bool:
    """Screening, the evaluator pool, assignments, moderation and the ranking."""
    return has_role(user, Role.STAFF, Role.ADMIN)


@rule("review.evaluate")
def _evaluate(user, obj) -> bool:
    """The evaluator's own pages: dashboard, declared ties."""
    return has_role(user, Role.EVALUATOR)


@rule("review.declare_conflicts")
def _declare_conflicts(user, pool_member) -> bool:
    from portal.review.models import PoolStatus

    return (
        has_role(user, Role.EVALUATOR)
        and pool_member.user_id == user.id
        and pool_member.status == PoolStatus.ACTIVE
    )


@rule("review.score")
def _score(user, review) -> bool:
    """Only the assigned evaluator, active in the call's pool, conflicts declared, no conflict."""
    from portal.review.services import may_open_review

    return has_role(user, Role.EVALUATOR) and may_open_review(db.session, user, review)
