"""The `flask --app portal` commands: reference data, demo data, accounts. All idempotent."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal.accounts import passwords
from portal.accounts.models import Role, User, UserRole
from portal.cli import DEMO_PASSWORD, DEMO_USERS
from portal.extensions import db
from portal.organisations.models import Association, AssociationStatus, MemberRole, Membership
from portal.review import demo as review_demo
from portal.strategy.models import (
    PlanProject,
    Region,
    Sdg,
    StrategicAxis,
    UnMechanism,
    plan_project_axis,
)

STRONG_PASSWORD = "a long and quiet river 2026"


@pytest.fixture
def cli(app):
    """Run a command as `flask --app portal <args>` would, on the test database."""
    runner = app.test_cli_runner()

    def run(*args: str):
        result = runner.invoke(args=list(args))
        db.session.expire_all()  # the command committed through its own session
        return result

    return run


def row_counts(*tables) -> dict:
    return {
        getattr(table, "__table__", table).name: db.session.scalar(
            select(func.count()).select_from(table)
        )
        for table in tables
    }


def test_seed_reference_loads_the_reference_data_and_can_run_again(cli):
    tables = (Region, StrategicAxis, PlanProject, Sdg, UnMechanism)

    first = cli("seed-reference")
    after_first = row_counts(*tables)
    second = cli("seed-reference")

    assert first.exit_code == 0, first.output
    assert second.exit_code == 0, second.output
    assert "12 regions" in first.output
    assert "27 plan projects" in first.output
    assert after_first == {
        "region": 12,
        "strategic_axis": 4,
        "plan_project": 27,
        "sdg": 17,
        "un_mechanism": 12,
    }
    assert row_counts(*tables) == after_first


def test_seed_demo_creates_the_demo_associations_and_one_account_per_role(cli):
    result = cli("seed-demo")

    assert result.exit_code == 0, result.output
    rows = db.session.execute(select(Association.registration_number, Association.status))
    statuses = {row.registration_number: row.status for row in rows}
    assert statuses["RB-2011-0457"] == AssociationStatus.VERIFIED
    assert statuses["SM-2019-0112"] == AssociationStatus.PENDING
    held = set(db.session.scalars(select(UserRole.role)))
    assert held == set(Role)
    for email, _name, roles, _locale in DEMO_USERS:
        assert email in result.output
        assert all(role.value in result.output for role in roles)
    assert DEMO_PASSWORD in result.output
    owners = db.session.scalars(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.role == MemberRole.OWNER)
    )
    assert set(owners) >= {"applicant@demo.shiraka.ma", "pending@demo.shiraka.ma"}
    assert db.session.scalar(select(func.count()).select_from(plan_project_axis)) > 0
    assert all(user.is_verified for user in db.session.scalars(select(User)))


def test_seed_demo_twice_gives_the_same_rows(cli):
    tables = (User, UserRole, Association, Membership, plan_project_axis)

    first = cli("seed-demo")
    after_first = row_counts(*tables)
    second = cli("seed-demo")

    assert (first.exit_code, second.exit_code) == (0, 0), second.output
    assert row_counts(*tables) == after_first
    # The demo call in review adds its evaluators and one association (and owner) per project.
    extra_evaluators = len(review_demo.EVALUATORS) - 1
    assert after_first["user_account"] == len(DEMO_USERS) + extra_evaluators + len(
        review_demo.PROJECTS
    )
    assert after_first["association"] == 2 + len(review_demo.PROJECTS)


def test_demo_account_signs_in_with_the_printed_password(cli, client):
    cli("seed-demo")

    response = client.post(
        "/account/sign-in", data={"email": "staff@demo.shiraka.ma", "password": DEMO_PASSWORD}
    )

    assert response.status_code == 303
    assert response.location == "/account"


def test_create_user_makes_a_verified_account_with_the_role(cli):
    result = cli(
        "create-user",
        "--email",
        "  Officer@Example.ORG ",
        "--name",
        "سلمى الفاسي",
        "--role",
        "staff",
        "--locale",
        "fr",
        "--password",
        STRONG_PASSWORD,
    )

    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User))
    assert user.email == "officer@example.org"
    assert user.full_name == "سلمى الفاسي"
    assert user.roles == {Role.STAFF}
    assert user.locale == "fr"
    assert user.is_verified
    assert passwords.verify_password(user.password_hash, STRONG_PASSWORD)
    assert "officer@example.org: staff" in result.output


def test_create_user_again_adds_roles_to_the_same_account(cli):
    args = ["create-user", "--email", "officer@example.org", "--name", "Salma"]
    cli(*args, "--role", "staff", "--password", STRONG_PASSWORD)

    result = cli(*args, "--role", "evaluator", "--password", STRONG_PASSWORD)

    assert result.exit_code == 0, result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 1
    assert db.session.scalar(select(User)).roles == {Role.STAFF, Role.EVALUATOR}


@pytest.mark.parametrize(
    "password",
    ["eleven char", "x" * 129, "password1234"],
    ids=["11-characters", "129-characters", "common"],
)
def test_create_user_refuses_a_weak_password(cli, password):
    """ASVS 4.0.3 V2.1.1 / V2.1.2 / V2.1.7; CHECKLIST S14."""
    problem = passwords.password_problem(password)
    assert problem is not None

    result = cli(
        "create-user",
        "--email",
        "officer@example.org",
        "--name",
        "Salma",
        "--role",
        "staff",
        "--password",
        password,
    )

    assert result.exit_code == 2
    assert str(problem) in result.output
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_create_user_refuses_an_unknown_role(cli):
    result = cli(
        "create-user",
        "--email",
        "officer@example.org",
        "--name",
        "Salma",
        "--role",
        "superuser",
        "--password",
        STRONG_PASSWORD,
    )

    assert result.exit_code == 2
    assert db.session.scalar(select(func.count()).select_from(User)) == 0


def test_prune_figure_changes_keeps_only_the_latest_change_of_each_figures(cli):
    """The kept figures read only the latest token of their name; older rows are forgotten,
    and what the figures are keyed on stays the same."""
    from portal.kept import FiguresChange, latest_token, renew_token

    for name in ("actions", "actions", "actions", "results", "results"):
        renew_token(db.session, name)
    db.session.commit()
    names = set(db.session.scalars(select(FiguresChange.name)))
    latest = {name: latest_token(db.session, name) for name in names}
    rows = db.session.scalar(select(func.count()).select_from(FiguresChange))

    result = cli("prune-figure-changes")

    assert result.exit_code == 0, result.output
    assert f"figure changes pruned: {rows - len(names)}" in result.output
    kept = db.session.execute(select(FiguresChange.name, FiguresChange.token)).all()
    assert sorted(kept) == sorted(latest.items())
    assert cli("prune-figure-changes").output.strip() == "figure changes pruned: 0"
