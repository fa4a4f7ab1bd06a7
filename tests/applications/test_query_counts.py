"""SQL statements per page stay fixed as the data grows (CHECKLIST P01)."""

from __future__ import annotations

import secrets
from datetime import date

import pytest

from portal.applications import services
from portal.applications.models import Application, Attachment, BudgetLine
from portal.db import utcnow
from portal.organisations.models import Association, MemberRole, Membership
from tests import factories
from tests.conftest import sign_in

APPLICATION_PAGES = [
    "",
    "/sections/summary",
    "/sections/narrative",
    "/sections/links",
    "/sections/team",
    "/budget",
    "/documents",
    "/completeness",
]


def add_own_applications(session, user, calls, count: int) -> None:
    """Insert `count` applications of associations the user belongs to, spread over the calls:
    one association per application, so no query can lean on a few shared rows."""
    region = factories.region()
    tag = secrets.token_hex(3)
    for number in range(count):
        association = Association(
            name_ar=f"جمعية {number}",
            name_fr=f"Association {number}",
            legal_form="association",
            registration_number=f"DASH-{tag}-{number:05d}",
            founded_on=date(2015, 1, 1),
            region=region,
            city="Rabat",
            email=f"dash-{tag}-{number}@example.org",
        )
        association.memberships.append(Membership(user=user, role=MemberRole.EDITOR))
        session.add(
            Application(
                call=calls[number % len(calls)],
                association=association,
                created_by_id=user.id,
                title_ar=f"مشروع {number}",
            )
        )
    session.commit()


def test_dashboard_keeps_a_fixed_number_of_queries(login_as, session, count_queries):
    """P01: the applicant's dashboard runs as many statements with 10 as with 2,000
    applications of the user's associations, and at most 10."""
    calls = [factories.published_call() for _ in range(3)]
    few_client, few = login_as("applicant")
    many_client, many = login_as("applicant")
    add_own_applications(session, few, calls, 10)
    add_own_applications(session, many, calls, 2000)

    counts = []
    for client, expected_rows in ((few_client, 10), (many_client, 2000)):
        session.close()  # as in a new request: nothing already loaded
        with count_queries() as counter:
            response = client.get("/applications")
        assert response.status_code == 200
        page = response.get_data(as_text=True)
        assert page.count('href="/applications/') >= expected_rows
        counts.append(counter.count)
    print(f"dashboard queries with 10 and 2000 applications: {counts}")
    assert counts[0] == counts[1], counts
    assert counts[0] <= 10, counts


def grow(session, application, user, lines: int, files: int) -> None:
    """Give the application this many budget lines and uploaded files (earlier ones replaced)."""
    documents = application.call.documents
    for position in range(1, lines + 1):
        application.budget_lines.append(
            BudgetLine(
                position=position,
                category="activities",
                description=f"بند {position}",
                quantity=1,
                unit_cost=1000,
            )
        )
    now = utcnow()
    for number in range(files):
        document = documents[number % len(documents)]
        application.attachments.append(
            Attachment(
                document=document,
                storage_key=secrets.token_hex(16),
                original_name=f"ملف {number}.pdf",
                content_type="application/pdf",
                size=1000,
                sha256="0" * 64,
                uploaded_by_id=user.id,
                uploaded_at=now,
                replaced_at=None if number >= files - len(documents) else now,
            )
        )
    session.commit()


@pytest.fixture
def two_applications(app, session, call):
    """(client, small, large): one draft with 1 budget line and 1 file, one with 50 of each,
    of two associations of the same signed-in user."""
    drafts = []
    owner = factories.UserFactory()
    for lines in (1, 50):
        association = factories.AssociationFactory(owner=owner)
        application = services.start_application(session, call, association, actor=owner)
        session.commit()
        services.save_fields(
            session,
            application,
            {"title_ar": "مشروع", "context": "سياق", "axes": ["axis-1"], "team": "أمينة"},
            {},
            actor=owner,
        )
        session.commit()
        grow(session, application, owner, lines, lines)
        drafts.append(application)
    return sign_in(app.test_client(), owner), drafts[0], drafts[1]


@pytest.mark.parametrize("path", APPLICATION_PAGES, ids=lambda p: p.strip("/") or "overview")
def test_application_page_keeps_a_fixed_number_of_queries(
    two_applications, count_queries, session, path
):
    """P01: the same statements with 1 and with 50 budget lines and attachments."""
    client, small, large = two_applications
    counts = []
    for application_id in (small.id, large.id):
        url = f"/applications/{application_id}{path}"
        assert client.get(url).status_code == 200  # warm-up: caches are filled alike
        session.close()  # as in a new request: nothing already loaded
        with count_queries() as counter:
            assert client.get(url).status_code == 200
        counts.append(counter.count)
    assert counts[0] == counts[1], counts
    # Above the 10 of CHECKLIST P01: a form page also reads every reference list it offers.
    assert counts[0] <= 19, counts


@pytest.mark.parametrize(
    ("name", "value", "bound"),
    [
        ("context", "سياق جديد", 12),
        ("title_fr", "Nouveau titre", 12),
        ("duration_months", "6", 12),
        ("language", "fr", 12),
        # A list of links also reads the chosen rows and the current ones and writes the links.
        ("axes", ["axis-1", "axis-2"], 15),
    ],
)
def test_autosave_of_one_field_makes_few_queries(
    two_applications, count_queries, session, name, value, bound
):
    """P01: one autosave (htmx) makes a small, bounded number of statements, whatever the
    size of the application (here 50 budget lines and 50 files)."""
    client, _small, large = two_applications
    url = f"/applications/{large.id}/fields/{name}"
    version = services.field_version(large, name)
    session.close()  # as in a new request: nothing already loaded
    with count_queries() as counter:
        response = client.post(
            url,
            data={name: value, f"version.{name}": version},
            headers={"HX-Request": "true"},
        )
    assert response.status_code == 200, response.get_data(as_text=True)
    print(f"autosave of {name}: {counter.count} queries")
    assert counter.count <= bound, "\n".join(counter.statements)
