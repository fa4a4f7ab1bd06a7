"""Administration of users: list and search, grant and remove roles, the last administrator."""

from __future__ import annotations

import pytest

from portal.accounts.models import Role, User, UserRole
from portal.extensions import db
from tests.accounts.helpers import events, fresh, row_counts, shows, translated
from tests.factories import UserFactory

USERS = "/admin/users"
LAST_ADMIN = "The portal needs at least one administrator."


def roles_url(user) -> str:
    """Return the address of one account's roles page."""
    return f"/admin/users/{user.id}/roles"


def save_roles(client, user, *roles: str, **kwargs):
    """Send the roles form of one account with these boxes ticked."""
    return client.post(roles_url(user), data={"roles": list(roles)}, **kwargs)


def add_users(count: int, roles=(Role.APPLICANT,), prefix="bulk") -> None:
    """Insert many accounts in one transaction (the factory commits one at a time)."""
    db.session.add_all(
        User(
            email=f"{prefix}{number}@example.org",
            full_name=f"{prefix.title()} {number}",
            password_hash="not-a-usable-hash",
            role_rows=[UserRole(role=role) for role in roles],
        )
        for number in range(count)
    )
    db.session.commit()


# --- list and search ------------------------------------------------------------------------


def test_admin_sees_every_account_with_its_roles(login_as):
    """The list shows name, address and roles of each account."""
    client, admin = login_as("admin")
    UserFactory(email="hind@example.org", full_name="Hind Berrada", roles=("staff", "evaluator"))

    response = client.get(USERS)

    assert response.status_code == 200
    assert shows(response, "hind@example.org")
    assert shows(response, "Hind Berrada")
    assert shows(response, translated("ar", "Evaluator"))
    assert shows(response, admin.email)


@pytest.mark.parametrize("term", ["hind", "HIND", "berr", "hind@exa"])
def test_search_finds_accounts_by_name_or_email(login_as, term):
    """Search matches a part of the name or address, without case."""
    client, _admin = login_as("admin")
    UserFactory(email="hind@example.org", full_name="Hind Berrada")
    UserFactory(email="omar@example.org", full_name="Omar Tazi")

    response = client.get(USERS, query_string={"q": term})

    assert shows(response, "hind@example.org")
    assert not shows(response, "omar@example.org")


def test_search_with_no_match_says_so(login_as):
    """An empty result says so instead of showing an empty table."""
    client, _admin = login_as("admin")

    response = client.get(USERS, query_string={"q": "nobody-at-all"})

    assert shows(response, translated("ar", "No account matches."))


def test_htmx_search_returns_only_the_rows_fragment(login_as):
    """An htmx request (HX-Request: true) gets the rows to swap, not a whole page."""
    client, _admin = login_as("admin")
    UserFactory(email="hind@example.org")

    response = client.get(USERS, query_string={"q": "hind"}, headers={"HX-Request": "true"})

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="user-rows">')
    assert "<html" not in body
    assert "<main" not in body
    assert "hind@example.org" in body
    vary = {value.strip() for value in response.headers.get("Vary", "").split(",")}
    assert "HX-Request" in vary


@pytest.mark.parametrize(
    ("headers", "most"),
    # A fragment may run 3 statements, plus the 2 that load the signed-in user and its roles.
    [({}, 10), ({"HX-Request": "true"}, 3 + 2)],
    ids=["page", "fragment"],
)
def test_user_list_runs_the_same_number_of_queries_for_10_and_200_users(
    app, login_as, count_queries, headers, most
):
    """CHECKLIST P01: no query per row; the page stays at a fixed, small count."""
    client, _admin = login_as("admin")
    client.get(USERS)  # warm-up: the first request loads the app's lazy parts

    add_users(9)
    with count_queries() as few:
        assert client.get(USERS, headers=headers).status_code == 200
    add_users(190, roles=(Role.STAFF, Role.EVALUATOR), prefix="more")
    with count_queries() as many:
        assert client.get(USERS, headers=headers).status_code == 200

    assert few.count == many.count, "\n".join(many.statements)
    assert many.count <= most, "\n".join(many.statements)


# --- roles ----------------------------------------------------------------------------------


def test_admin_grants_roles_with_one_audit_event_per_role(login_as):
    """Each granted role is an audit event naming the administrator and the role."""
    client, admin = login_as("admin")
    user = UserFactory(roles=("applicant",))

    response = save_roles(client, user, "applicant", "evaluator", "staff")

    assert response.status_code == 303
    assert fresh(user).roles == {Role.APPLICANT, Role.EVALUATOR, Role.STAFF}
    granted = events("account.role_granted")
    assert sorted(event.details["role"] for event in granted) == ["evaluator", "staff"]
    assert {(event.actor_id, event.object_id) for event in granted} == {(admin.id, user.id)}
    page = client.get(roles_url(user))
    assert shows(page, translated("ar", "Roles of %(name)s saved.", name=user.full_name))


def test_admin_removes_a_role_with_an_audit_event(login_as):
    """A removed role is an audit event naming the administrator and the role."""
    client, admin = login_as("admin")
    user = UserFactory(roles=("applicant", "staff"))

    save_roles(client, user, "applicant")

    assert fresh(user).roles == {Role.APPLICANT}
    [event] = events("account.role_removed")
    assert (event.actor_id, event.object_id, event.details) == (
        admin.id,
        user.id,
        {"role": "staff"},
    )
    assert events("account.role_granted") == []


def test_saving_unchanged_roles_records_nothing(login_as):
    """Saving the form as it is writes no role and no audit event."""
    client, _admin = login_as("admin")
    user = UserFactory(roles=("applicant", "evaluator"))
    before = row_counts()

    assert save_roles(client, user, "applicant", "evaluator").status_code == 303

    assert row_counts() == before


def test_the_last_admin_cannot_lose_the_admin_role(login_as):
    """The portal always keeps one administrator; the refusal is explained; nothing changes."""
    client, admin = login_as("admin", "staff")
    before = row_counts()

    response = save_roles(client, admin, "applicant")

    assert response.status_code == 303
    page = client.get(roles_url(admin))
    assert shows(page, translated("ar", LAST_ADMIN))
    assert fresh(admin).roles == {Role.ADMIN, Role.STAFF}
    assert row_counts() == before


def test_an_admin_can_remove_another_admin(login_as):
    """While another administrator remains, the admin role can be taken away."""
    client, _admin = login_as("admin")
    other = UserFactory(roles=("admin",))

    save_roles(client, other, "staff")

    assert fresh(other).roles == {Role.STAFF}
    assert len(events("account.role_removed")) == 1


def test_unknown_role_is_refused_and_nothing_changes(login_as):
    """ASVS 5.1.3: only the four roles exist; an invented one is not stored."""
    client, _admin = login_as("admin")
    user = UserFactory(roles=("applicant",))
    before = row_counts()

    response = save_roles(client, user, "applicant", "superuser")

    assert response.status_code == 200
    assert fresh(user).roles == {Role.APPLICANT}
    assert row_counts() == before


def test_roles_form_without_csrf_token_is_refused(login_as):
    """ASVS 4.2.2 — CHECKLIST S09."""
    client, _admin = login_as("admin")
    user = UserFactory(roles=("applicant",))

    assert save_roles(client, user, "admin", csrf=False).status_code == 400
    assert fresh(user).roles == {Role.APPLICANT}


def test_roles_of_a_missing_account_answer_404(login_as):
    """An unknown account id is a 404, not an error page."""
    client, _admin = login_as("admin")

    assert client.get("/admin/users/999999/roles").status_code == 404


# --- access ---------------------------------------------------------------------------------

ADMIN_REQUESTS = [
    ("GET", lambda target: USERS),
    ("GET", roles_url),
    ("POST", roles_url),
]


@pytest.mark.parametrize(
    "roles", [("applicant",), ("evaluator",), ("staff",), ("staff", "evaluator")]
)
@pytest.mark.parametrize(("method", "url"), ADMIN_REQUESTS, ids=["list", "roles page", "save"])
def test_non_admins_get_403_on_admin_pages(login_as, roles, method, url):
    """ASVS 4.1.1, 4.1.3 — CHECKLIST S02: only administrators manage accounts."""
    client, user = login_as(*roles)
    target = UserFactory(roles=("applicant",))

    response = client.open(url(target), method=method, data={"roles": ["admin"]})

    assert response.status_code == 403
    assert fresh(target).roles == {Role.APPLICANT}
    assert fresh(user).roles == set(map(Role, roles))


@pytest.mark.parametrize(("method", "url"), ADMIN_REQUESTS, ids=["list", "roles page", "save"])
def test_visitors_are_sent_to_sign_in_from_admin_pages(app, client, method, url):
    """ASVS 4.1.1 — CHECKLIST S01."""
    target = UserFactory(roles=("applicant",))

    response = client.open(url(target), method=method, data={"roles": ["admin"]})

    assert response.status_code == 302
    assert "/account/sign-in" in response.headers["Location"]
    assert fresh(target).roles == {Role.APPLICANT}


def test_htmx_fragment_is_refused_to_non_admins_too(login_as):
    """CHECKLIST S01: the fragment has its own permission check."""
    client, _user = login_as("staff")

    response = client.get(USERS, headers={"HX-Request": "true"})

    assert response.status_code == 403
    assert "user-rows" not in response.get_data(as_text=True)
