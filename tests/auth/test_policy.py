"""Every rule of the authorization policy, for every kind of user (ASVS 4.1.3, 4.2.1)."""

from __future__ import annotations

import pytest
from flask_login import AnonymousUserMixin
from sqlalchemy import select
from werkzeug.exceptions import Forbidden, NotFound

from portal.applications.models import Application
from portal.auth.policy import RULES, may, require
from portal.extensions import db
from portal.review.models import PoolMember
from tests import factories

ACTORS = (
    "visitor (None)",
    "visitor (anonymous)",
    "applicant of another association",
    "unverified applicant",
    "owner",
    "editor",
    "viewer",
    "staff",
    "admin",
    "disabled admin and owner",
    "evaluator",
    "evaluator of another review",
)
VERIFIED_USERS = frozenset(
    {
        "applicant of another association",
        "owner",
        "editor",
        "viewer",
        "staff",
        "admin",
        "evaluator",
        "evaluator of another review",
    }
)
EVALUATORS = {"evaluator", "evaluator of another review"}

# rule -> (what it is asked about, the actors it allows); every other actor is refused.
EXPECTED = {
    "account.manage_users": (None, {"admin"}),
    # Offered to everyone signed in whose roles do not require it (staff and admin by default).
    "account.disable_two_factor": (
        None,
        {
            "applicant of another association",
            "unverified applicant",
            "owner",
            "editor",
            "viewer",
            "evaluator",
            "evaluator of another review",
        },
    ),
    "association.create": (None, VERIFIED_USERS),
    "association.view": ("association", {"owner", "editor", "viewer", "staff", "admin"}),
    "association.edit": ("association", {"owner", "editor"}),
    "association.manage_members": ("association", {"owner"}),
    "association.review": (None, {"staff", "admin"}),
    "strategy.edit_links": (None, {"staff", "admin"}),
    "application.start": ("association", {"owner", "editor"}),
    "application.view": ("application", {"owner", "editor", "viewer", "staff", "admin"}),
    "application.edit": ("application", {"owner", "editor"}),
    "application.list_all": (None, {"staff", "admin"}),
    "call.manage": (None, {"staff", "admin"}),
    "review.manage": (None, {"staff", "admin"}),
    "results.decide": (None, {"staff", "admin"}),
    "results.appeal": ("application", {"owner", "editor"}),
    "actions.manage": (None, {"staff", "admin"}),
    "actions.view": ("action", {"owner", "editor", "viewer", "staff", "admin"}),
    "actions.report": ("action", {"owner", "editor"}),
    "training.manage": (None, {"staff", "admin"}),
    "training.enrol": ("association", {"owner", "editor"}),
    "training.cancel_enrolment": ("enrolment", {"owner", "editor", "staff", "admin"}),
    "training.view_certificate": ("certificate", {"owner", "editor", "viewer", "staff", "admin"}),
    "review.evaluate": (None, EVALUATORS),
    # The evaluator's own place in the call's pool, and their own review of the application.
    "review.declare_conflicts": ("pool member", {"evaluator"}),
    "review.score": ("review", {"evaluator"}),
}


@pytest.fixture
def people(app):
    """One user of each kind around one association, plus the association itself."""
    make = factories.UserFactory
    owner = make(roles=("applicant",))
    association = factories.AssociationFactory(owner=owner)
    editor, viewer = make(roles=("applicant",)), make(roles=("applicant",))
    factories.add_member(association, editor, "editor")
    factories.add_member(association, viewer, "viewer")
    outsider = make(roles=("applicant",))
    factories.AssociationFactory(owner=outsider)
    disabled = make(roles=("applicant", "staff", "admin"), is_enabled=False)
    factories.add_member(association, disabled, "owner")
    call = factories.closed_call()
    return association, {
        "visitor (None)": None,
        "visitor (anonymous)": AnonymousUserMixin(),
        "applicant of another association": outsider,
        "unverified applicant": make(roles=("applicant",), email_verified_at=None),
        "owner": owner,
        "editor": editor,
        "viewer": viewer,
        "staff": make(roles=("staff",)),
        "admin": make(roles=("admin",)),
        "disabled admin and owner": disabled,
        "evaluator": factories.evaluator(call),
        "evaluator of another review": factories.evaluator(call),
    }


def application_of(association) -> Application:
    """Return a draft application of the association to a published call."""
    call = factories.published_call()
    application = Application(
        call=call, association=association, created_by_id=association.memberships[0].user_id
    )
    db.session.add(application)
    db.session.commit()
    return application


def subject_of(kind: str | None, association, evaluator):
    """Build what a rule is asked about: the association, its application, its enrolment in a
    training session or its certificate, or an evaluator's place in a pool and review of one of
    its applications."""
    if kind == "association":
        return association
    if kind == "application":
        return application_of(association)
    if kind is None:
        return None
    if kind == "enrolment":
        return factories.training_enrolment(factories.training_session(), association)
    if kind == "action":
        return factories.funded_action(association)
    if kind == "certificate":
        enrolment = factories.training_enrolment(factories.training_session(), association)
        return factories.training_certificate(enrolment)
    call = db.session.get(PoolMember, _pool_id(evaluator)).call
    if kind == "pool member":
        return db.session.get(PoolMember, _pool_id(evaluator))
    application = factories.submitted_application(call, association)
    return factories.assign(application, evaluator)


def _pool_id(evaluator) -> int:
    return db.session.scalar(select(PoolMember.id).where(PoolMember.user_id == evaluator.id))


@pytest.mark.parametrize("action", sorted(EXPECTED))
def test_rule_allows_exactly_the_actors_of_its_row(people, action):
    """Each rule answers every kind of user as its row says, visitors and disabled users refused."""
    association, actors = people
    subject, allowed = EXPECTED[action]
    obj = subject_of(subject, association, actors["evaluator"])
    observed = {name: may(actors[name], action, obj) for name in ACTORS}
    assert observed == {name: name in allowed for name in ACTORS}


def test_every_rule_of_the_policy_has_a_row():
    """A rule added to the policy without a row in the table above fails here."""
    missing = sorted(set(RULES) - set(EXPECTED))
    stale = sorted(set(EXPECTED) - set(RULES))
    assert not missing, f"add a row to EXPECTED in {__name__} for: {', '.join(missing)}"
    assert not stale, f"EXPECTED names rules the policy no longer has: {', '.join(stale)}"


def test_every_row_allows_only_known_actors():
    """A misspelt actor in the table would silently mean 'refused'."""
    for action, (_subject, allowed) in EXPECTED.items():
        assert set(allowed) <= set(ACTORS), action


@pytest.mark.parametrize("user", [None, AnonymousUserMixin()], ids=["None", "anonymous"])
def test_an_unknown_action_raises_key_error(app, user):
    """A misspelt action is a programming error, never a silent yes or no."""
    with pytest.raises(KeyError, match="association.destroy"):
        may(user, "association.destroy")


def test_an_unknown_action_raises_even_for_an_admin(app):
    """The unknown action fails before any user is considered."""
    admin = factories.UserFactory(roles=("admin",))
    with pytest.raises(KeyError):
        may(admin, "no.such.rule")


def test_association_rules_refuse_a_missing_association(people):
    """Asked about no association, a member-only rule refuses even an owner."""
    _association, actors = people
    for action in ("association.edit", "association.manage_members"):
        assert may(actors["owner"], action, None) is False


def test_require_aborts_with_403_or_hidden_404(people):
    """require() passes when allowed, answers 403, or 404 when the object's existence is private."""
    association, actors = people
    require(actors["owner"], "association.edit", association)
    with pytest.raises(Forbidden):
        require(actors["viewer"], "association.edit", association)
    with pytest.raises(NotFound):
        require(
            actors["applicant of another association"], "association.view", association, hide=True
        )
    with pytest.raises(Forbidden):
        require(None, "association.review")
