"""Direct object references, OWASP ASVS 4.0.3 V4 at level 2: 4.1.1 (access enforced on the
server), 4.1.2 (ids in URLs are not trusted), 4.1.3 (least privilege), 4.2.1 (no insecure direct
object reference) — CHECKLIST S03, S04, S05.

tests/security/test_route_matrix.py already proves, for every id-bearing URL of association A
(applications, their attachments, receipts, budget lines and plan rows; funded actions, their
progress reports and report files; appeals; enrolments; certificates; the association's own
pages) and of the review (a review's page, documents, scores, comments, submission), plain and
htmx, GET and POST: the owner of association B, the evaluators of the pool who are not assigned
or are conflicted, staff where they have no business, and visitors are refused, B's refusal shows
none of A's data and is logged. Those cases are not repeated here.

What the matrix cannot see, proved here:
- parent and child ids that do not belong together: a user entitled to the parent (A's
  application, action, association, the evaluator's own review) naming a child of someone
  else's (B's attachment, budget line, report, report file, membership, invitation; another
  call's document) gets 404 and nothing is written;
- the roles inside association A (editor, viewer) and a former member, on every URL of A the
  matrix lists: an editor works like the owner but manages no members, a viewer reads and changes
  nothing, a former member gets what a stranger gets;
- an evaluator assigned to another application of the same call is a stranger to this review;
- another association's id answers exactly like an id that does not exist: nothing tells an
  object exists.
"""

from __future__ import annotations

import re
from io import BytesIO
from typing import NamedTuple

import pytest

from portal.extensions import db
from portal.organisations import services as organisation_services
from tests import factories
from tests.security.conftest import (
    _application_of,
    _funding_of,
    client_as,
    request_as,
)
from tests.security.test_route_matrix import (
    EXPECTED,
    LOGIN,
    OF_ASSOCIATION_A,
    counting_writes,
    observed,
)

MISSING = 999_999  # an id no object has
PDF = b"%PDF-1.4\n%%EOF\n"


class Others(NamedTuple):
    """Objects of association B, next to the world's objects of A."""

    application: object
    attachment: object
    line: object
    action: object
    report: object
    report_file: object
    membership: object
    invitation: object


@pytest.fixture
def others(world) -> Others:
    owner_b = world.users["member_b"]
    application = _application_of(world.association_b, owner_b)
    funding = _funding_of(
        world.association_b, owner_b, world.association_a, world.users["member_a"]
    )
    invitation = organisation_services.invite_member(
        db.session, world.association_b, "invited-to-b@example.org", "editor", actor=owner_b
    )
    db.session.commit()
    return Others(
        application=application,
        attachment=application.attachments[0],
        line=application.budget_lines[0],
        action=funding.action,
        report=funding.report,
        report_file=funding.report_file,
        membership=world.association_b.memberships[0],
        invitation=invitation,
    )


def secrets_of_b(world) -> list[str]:
    b = world.association_b
    return [b.name_ar, b.name_fr, b.registration_number, b.email]


# --- ids that do not belong together ---------------------------------------------------------


class Mixed(NamedTuple):
    actor: str
    method: str
    url: str
    data: dict | None = None


def mixed_requests(world, others: Others) -> dict[str, Mixed]:
    """Requests naming one of the actor's own parents and a child of someone else's."""
    application, action, report = world.application, world.funding.action, world.funding.report
    association = world.association_a
    line = {"category": "activities", "description": "x", "quantity": "1", "unit_cost": "1"}
    report_text = {"version": "1", "summary": "x"}
    return {
        "attachment of B under A's application": Mixed(
            "member_a", "GET", f"/applications/{application.id}/attachments/{others.attachment.id}"
        ),
        "budget line of B under A's application, changed": Mixed(
            "member_a",
            "POST",
            f"/applications/{application.id}/budget/lines/{others.line.id}",
            line,
        ),
        "budget line of B under A's application, removed": Mixed(
            "member_a",
            "POST",
            f"/applications/{application.id}/budget/lines/{others.line.id}/remove",
        ),
        "document of another call, uploaded to A's application": Mixed(
            "member_a",
            "POST",
            f"/applications/{application.id}/documents/{others.application.call.documents[0].id}",
            {"file": (BytesIO(PDF), "statuts.pdf")},
        ),
        "report of B under A's action": Mixed(
            "member_a", "GET", f"/actions/{action.id}/reports/{others.report.id}"
        ),
        "report of B under A's action, saved": Mixed(
            "member_a", "POST", f"/actions/{action.id}/reports/{others.report.id}", report_text
        ),
        "report of B under A's action, file sent": Mixed(
            "member_a",
            "POST",
            f"/actions/{action.id}/reports/{others.report.id}/files",
            {"file": (BytesIO(PDF), "rapport.pdf")},
        ),
        "report file of B under A's report": Mixed(
            "member_a",
            "GET",
            f"/actions/{action.id}/reports/{report.id}/files/{others.report_file.id}",
        ),
        "report and file of B under A's action": Mixed(
            "member_a",
            "GET",
            f"/actions/{action.id}/reports/{others.report.id}/files/{others.report_file.id}",
        ),
        "report of B accepted under A's action (staff)": Mixed(
            "staff", "POST", f"/staff/actions/{action.id}/reports/{others.report.id}/accept"
        ),
        "report of B returned under A's action (staff)": Mixed(
            "staff",
            "POST",
            f"/staff/actions/{action.id}/reports/{others.report.id}/return",
            {"note": "à revoir"},
        ),
        "report of B removed under A's action (staff)": Mixed(
            "staff", "POST", f"/staff/actions/{action.id}/reports/{others.report.id}/remove"
        ),
        "document of B through the evaluator's own review": Mixed(
            "evaluator", "GET", f"/reviews/{world.review.id}/documents/{others.attachment.id}"
        ),
        "membership of B under A's association, role changed": Mixed(
            "member_a",
            "POST",
            f"/associations/{association.id}/members/{others.membership.id}/role",
            {"role": "viewer"},
        ),
        "membership of B under A's association, removed": Mixed(
            "member_a",
            "POST",
            f"/associations/{association.id}/members/{others.membership.id}/remove",
        ),
        "invitation of B under A's association, revoked": Mixed(
            "member_a",
            "POST",
            f"/associations/{association.id}/invitations/{others.invitation.id}/revoke",
        ),
    }


MIXED_CASES = [
    "attachment of B under A's application",
    "budget line of B under A's application, changed",
    "budget line of B under A's application, removed",
    "document of another call, uploaded to A's application",
    "report of B under A's action",
    "report of B under A's action, saved",
    "report of B under A's action, file sent",
    "report file of B under A's report",
    "report and file of B under A's action",
    "report of B accepted under A's action (staff)",
    "report of B returned under A's action (staff)",
    "report of B removed under A's action (staff)",
    "document of B through the evaluator's own review",
    "membership of B under A's association, role changed",
    "membership of B under A's association, removed",
    "invitation of B under A's association, revoked",
]


@pytest.mark.parametrize("case", MIXED_CASES)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_a_child_id_of_someone_else_under_ones_own_parent_is_not_found(
    app, world, others, case, htmx
):
    """ASVS 4.1.2, 4.2.1: the child is looked up inside the parent the user may reach, never by
    its id alone; nothing of B is shown and nothing is written."""
    request = mixed_requests(world, others)[case]
    client = client_as(app, world.users[request.actor])
    headers = {"HX-Request": "true"} if htmx else {}

    with counting_writes() as writes:
        response = client.open(
            request.url, method=request.method, data=request.data, headers=headers, buffered=True
        )

    assert response.status_code == 404
    assert writes.count == 0, writes.statements
    body = response.get_data(as_text=True)
    for secret in secrets_of_b(world):
        assert secret not in body


def test_every_mixed_case_is_run(world, others):
    """A case added to mixed_requests() but not to MIXED_CASES would never run."""
    assert list(mixed_requests(world, others)) == MIXED_CASES


# --- roles inside association A --------------------------------------------------------------

ROLES = ("editor_a", "viewer_a", "former_a")
SAME_AS_OWNER = "same as the owner"

# The answer each role gets on each URL of A the matrix lists; SAME_AS_OWNER is the matrix's
# answer for the owner of A. Staff-only routes answer every non-staff 403.
STAFF_ONLY_403 = dict.fromkeys(ROLES, 403)
READ = {"editor_a": SAME_AS_OWNER, "viewer_a": 200, "former_a": 404}
WRITE = {"editor_a": SAME_AS_OWNER, "viewer_a": 403, "former_a": 404}  # the viewer is told no
HIDDEN_FROM_VIEWER = {"editor_a": SAME_AS_OWNER, "viewer_a": 404, "former_a": 404}
OWNER_ONLY = dict.fromkeys(ROLES, 404)  # managing members: only the owner
ROLE_TABLE = {
    ("applications.overview", "GET"): READ,
    ("applications.section", "GET"): READ,
    ("applications.budget", "GET"): READ,
    ("applications.completeness", "GET"): READ,
    ("applications.documents", "GET"): READ,
    ("applications.download", "GET"): READ,
    ("applications.receipt", "GET"): READ,
    ("applications.receipt_pdf", "GET"): READ,
    ("applications.section", "POST"): WRITE,
    ("applications.autosave", "POST"): WRITE,
    ("applications.add_budget_line", "POST"): WRITE,
    ("applications.update_budget_line", "POST"): WRITE,
    ("applications.remove_budget_line", "POST"): WRITE,
    ("applications.add_plan_row", "POST"): WRITE,
    ("applications.remove_plan_row", "POST"): WRITE,
    ("applications.upload", "POST"): WRITE,
    ("applications.submit", "POST"): WRITE,
    ("applications.reopen", "POST"): WRITE,
    ("applications.withdraw", "POST"): WRITE,
    ("actions.association_actions", "GET"): READ,
    ("actions.action_page", "GET"): READ,
    ("actions.report_page", "GET"): READ,
    ("actions.report_file", "GET"): READ,
    ("actions.save_report", "POST"): WRITE,
    ("actions.upload_report_file", "POST"): WRITE,
    ("training.association_enrolments", "GET"): READ,
    ("training.certificate_pdf", "GET"): READ,
    ("training.cancel_enrolment", "POST"): WRITE,
    # An appeal is written by owners and editors; a viewer is not shown its page.
    ("results.appeal", "GET"): HIDDEN_FROM_VIEWER,
    ("results.appeal", "POST"): HIDDEN_FROM_VIEWER,
    ("organisations.detail", "GET"): READ,
    ("organisations.members", "GET"): READ,
    ("organisations.edit", "GET"): HIDDEN_FROM_VIEWER,
    ("organisations.edit", "POST"): HIDDEN_FROM_VIEWER,
    ("organisations.invite", "POST"): OWNER_ONLY,
    ("organisations.change_role", "POST"): OWNER_ONLY,
    ("organisations.remove_member", "POST"): OWNER_ONLY,
    ("organisations.revoke_invitation", "POST"): OWNER_ONLY,
}
STAFF_ROUTES = [route for route in OF_ASSOCIATION_A if route not in ROLE_TABLE]


def test_the_role_table_covers_every_url_of_a_that_a_member_may_reach():
    """A new id-bearing URL that members of A may use needs a row here; the others are staff's
    (and the matrix shows the owner of A refused there)."""
    for route in STAFF_ROUTES:
        assert EXPECTED[route]["member_a"] == 403, f"{route}: add it to ROLE_TABLE"
    assert set(ROLE_TABLE) <= set(OF_ASSOCIATION_A)


def _with_roles(world):
    """Add to the world an editor (already in it), a viewer and a former editor of A."""
    viewer = factories.UserFactory(full_name="Viewer of A")
    factories.add_member(world.association_a, viewer, "viewer")
    former = factories.UserFactory(full_name="Former editor of A")
    membership = factories.add_member(world.association_a, former, "editor")
    organisation_services.remove_member(db.session, membership, actor=world.users["member_a"])
    db.session.commit()
    world.users.update(editor_a=world.editor_a, viewer_a=viewer, former_a=former)
    return world


@pytest.mark.parametrize(
    ("endpoint", "method"),
    [*ROLE_TABLE, *STAFF_ROUTES],
    ids=[f"{endpoint} {method}" for endpoint, method in [*ROLE_TABLE, *STAFF_ROUTES]],
)
def test_each_role_inside_association_a_gets_the_tables_answer(app, make_world, endpoint, method):
    """ASVS 4.1.3: an editor works as the owner does, without managing members; a viewer reads
    and changes nothing; a former member is a stranger again (ASVS 4.1.2)."""
    row = ROLE_TABLE.get((endpoint, method), STAFF_ONLY_403)
    owner = EXPECTED[(endpoint, method)]["member_a"]
    world = _with_roles(make_world())
    want, got = {}, {}
    for role in ROLES:
        expected = row[role]
        want[role] = getattr(owner, "plain", owner) if expected == SAME_AS_OWNER else expected
        with counting_writes() as writes:
            response = request_as(app, world, role, endpoint, method, htmx=False)
        got[role] = observed(response)
        if response.status_code in (403, 404) and writes.count:
            got[role] = f"{response.status_code} after writing"
        if writes.count:
            world = _with_roles(make_world())
    assert got == want
    assert LOGIN not in got.values()


# --- an evaluator of another application -----------------------------------------------------


def test_an_evaluator_assigned_elsewhere_in_the_call_is_a_stranger_to_this_review(app, world):
    """ASVS 4.2.1 — CHECKLIST S05: having a review in the call opens no other review of it."""
    call = world.application.call
    theirs = factories.submitted_application(call, world.association_b)
    elsewhere = world.users["evaluator_unassigned"]
    factories.assign(theirs, elsewhere)
    review, attachment = world.review, world.application.attachments[0]
    criterion = call.criteria[0]
    client = client_as(app, elsewhere)

    for method, url, data in [
        ("GET", f"/reviews/{review.id}", None),
        ("GET", f"/reviews/{review.id}/documents/{attachment.id}", None),
        ("POST", f"/reviews/{review.id}/criteria/{criterion.id}", {"value": "9", "version": "1"}),
        ("POST", f"/reviews/{review.id}/comments", {"overall_comment": "x", "version": "0"}),
        ("POST", f"/reviews/{review.id}/submit", {}),
    ]:
        with counting_writes() as writes:
            response = client.open(url, method=method, data=data)
        assert response.status_code == 404, url
        assert writes.count == 0, url


# --- a foreign id reads as a missing one -----------------------------------------------------


def _foreign_and_missing(world) -> dict[str, tuple[str, str, str, str]]:
    """(actor, method, URL with A's ids, the same URL with ids that do not exist)."""
    application, funding = world.application, world.funding
    attachment = application.attachments[0]
    action, report, report_file = funding.action, funding.report, funding.report_file
    m = MISSING
    return {
        "application": (
            "member_b",
            "GET",
            f"/applications/{application.id}",
            f"/applications/{m}",
        ),
        "attachment": (
            "member_b",
            "GET",
            f"/applications/{application.id}/attachments/{attachment.id}",
            f"/applications/{m}/attachments/{m}",
        ),
        "receipt": (
            "member_b",
            "GET",
            f"/applications/{application.id}/submissions/1",
            f"/applications/{m}/submissions/1",
        ),
        "funded action": ("member_b", "GET", f"/actions/{action.id}", f"/actions/{m}"),
        "progress report": (
            "member_b",
            "GET",
            f"/actions/{action.id}/reports/{report.id}",
            f"/actions/{m}/reports/{m}",
        ),
        "report file": (
            "member_b",
            "GET",
            f"/actions/{action.id}/reports/{report.id}/files/{report_file.id}",
            f"/actions/{m}/reports/{m}/files/{m}",
        ),
        "enrolment": (
            "member_b",
            "POST",
            f"/training/enrolments/{world.enrolment.id}/cancel",
            f"/training/enrolments/{m}/cancel",
        ),
        "certificate": (
            "member_b",
            "GET",
            f"/training/certificates/{world.certificate.id}.pdf",
            f"/training/certificates/{m}.pdf",
        ),
        "review": (
            "evaluator_unassigned",
            "GET",
            f"/reviews/{world.review.id}",
            f"/reviews/{m}",
        ),
        "review document": (
            "evaluator_unassigned",
            "GET",
            f"/reviews/{world.review.id}/documents/{attachment.id}",
            f"/reviews/{m}/documents/{m}",
        ),
    }


FOREIGN = [
    "application",
    "attachment",
    "receipt",
    "funded action",
    "progress report",
    "report file",
    "enrolment",
    "certificate",
    "review",
    "review document",
]
CSRF_VALUE = re.compile(r'name="csrf_token" value="([^"]+)"|"X-CSRFToken": "([^"]+)"')


def _page_of(response, url: str) -> str:
    """The page without its CSRF token and its own address (the language switch carries it)."""
    body = response.get_data(as_text=True)
    for match in CSRF_VALUE.finditer(body):
        body = body.replace(match.group(1) or match.group(2), "TOKEN")
    return body.replace(url, "THE-URL")


@pytest.mark.parametrize("kind", FOREIGN)
@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
def test_another_associations_id_answers_like_an_id_that_does_not_exist(app, world, kind, htmx):
    """ASVS 4.2.1: status, headers that matter and page are the same, so ids cannot be probed to
    learn which objects exist."""
    actor, method, foreign_url, missing_url = _foreign_and_missing(world)[kind]
    client = client_as(app, world.users[actor])
    headers = {"HX-Request": "true"} if htmx else {}

    foreign = client.open(foreign_url, method=method, headers=headers)
    missing = client.open(missing_url, method=method, headers=headers)

    assert foreign.status_code == missing.status_code == 404
    assert foreign.content_type == missing.content_type
    assert _page_of(foreign, foreign_url) == _page_of(missing, missing_url)


def test_every_kind_of_object_is_probed(world):
    assert set(FOREIGN) == set(_foreign_and_missing(world))
