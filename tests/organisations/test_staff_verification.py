"""Staff verification of associations: the filtered list, verify, reject with a reason."""

from __future__ import annotations

import re
from datetime import date

import pytest
from sqlalchemy import insert, select

from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.extensions import db
from portal.notifications.models import OutboxMessage
from portal.organisations.models import Association, AssociationStatus
from portal.strategy.models import Region
from tests.factories import AssociationFactory, UserFactory, add_member
from tests.organisations.helpers import audit_actions, count, shown, text_of

HTMX = {"HX-Request": "true"}
ROW_LINK = re.compile(r'href="/staff/associations/\d+/verification"')


def listed(response) -> set[str]:
    """Return the registration numbers of the rows on a staff list page."""
    rows = response.text.split('<div id="association-rows">', 1)[1]
    return set(re.findall(r'<bdi dir="ltr">([^<]+)</bdi>', rows))


def insert_associations(how_many: int, *, first: int = 0) -> None:
    """Insert associations in one statement (a factory commit each would take seconds)."""
    regions = list(db.session.scalars(select(Region.id).order_by(Region.position)))
    now = utcnow()
    statuses = list(AssociationStatus)
    db.session.execute(
        insert(Association),
        [
            {
                "name_ar": f"جمعية رقم {n}",
                "name_fr": f"Association numéro {n}",
                "acronym": "",
                "legal_form": "association",
                "registration_number": f"BULK-{n:05d}",
                "founded_on": date(2010, 1, 1),
                "region_id": regions[n % len(regions)],
                "city": "Fès",
                "address": "",
                "email": f"bulk{n}@example.org",
                "phone": "",
                "website": "",
                "fields_of_work": [],
                "target_groups": [],
                "description_ar": "",
                "description_fr": "",
                "status": statuses[n % len(statuses)],
                "status_reason": "",
                "created_at": now,
                "updated_at": now,
            }
            for n in range(first, first + how_many)
        ],
    )
    db.session.commit()


@pytest.fixture
def three_associations(app):
    AssociationFactory(
        name_ar="جمعية النور للتنمية",
        name_fr="Association Annour pour le développement",
        registration_number="AG-2014-0093",
        region_code="souss-massa",
        status=AssociationStatus.PENDING,
    )
    AssociationFactory(
        name_ar="جمعية الأمل",
        name_fr="Association Élan solidaire",
        registration_number="RB-2011-0457",
        region_code="rabat-sale-kenitra",
        status=AssociationStatus.VERIFIED,
    )
    AssociationFactory(
        name_ar="منتدى الطفولة",
        name_fr="Forum de l'enfance",
        registration_number="CS-2020-0001",
        region_code="casablanca-settat",
        status=AssociationStatus.REJECTED,
        status_reason="Registration receipt missing.",
    )


# --- the list -------------------------------------------------------------------------------


ALL = {"AG-2014-0093", "RB-2011-0457", "CS-2020-0001"}
FILTER_CASES = [
    ({}, ALL),
    ({"region": "souss-massa"}, {"AG-2014-0093"}),
    ({"region": "casablanca-settat"}, {"CS-2020-0001"}),
    ({"region": "oriental"}, set()),
    ({"status": "pending"}, {"AG-2014-0093"}),
    ({"status": "verified"}, {"RB-2011-0457"}),
    ({"status": "rejected"}, {"CS-2020-0001"}),
    ({"region": "souss-massa", "status": "verified"}, set()),
    ({"q": "النور"}, {"AG-2014-0093"}),
    ({"q": "الطفولة"}, {"CS-2020-0001"}),
    ({"q": "annour"}, {"AG-2014-0093"}),
    ({"q": "ANNOUR"}, {"AG-2014-0093"}),
    ({"q": "enfance"}, {"CS-2020-0001"}),
    ({"q": "élan"}, {"RB-2011-0457"}),
    ({"q": "ag-2014-0093"}, {"AG-2014-0093"}),
    ({"q": "0457"}, {"RB-2011-0457"}),
    ({"q": "Association", "status": "pending"}, {"AG-2014-0093"}),
    ({"status": "bogus"}, ALL),
    ({"region": "atlantis"}, set()),
]


@pytest.mark.parametrize(
    ("query", "expected"),
    FILTER_CASES,
    ids=["&".join(f"{k}={v}" for k, v in query.items()) or "all" for query, _ in FILTER_CASES],
)
def test_staff_list_filters_by_region_and_status_and_searches(
    login_as, three_associations, query, expected
):
    client, _staff = login_as("staff")

    response = client.get("/staff/associations", query_string=query)

    assert response.status_code == 200
    assert listed(response) == expected


def test_staff_list_shows_a_message_when_nothing_matches(login_as, three_associations):
    client, _staff = login_as("staff")

    response = client.get("/staff/associations", query_string={"q": "absent"})

    assert shown("No association matches these filters.") in text_of(response)


def test_staff_list_is_paginated_and_keeps_the_filters(login_as):
    insert_associations(153)  # 51 of each status; 50 rows a page
    client, _staff = login_as("staff")

    first = client.get("/staff/associations", query_string={"status": "pending"})
    second = client.get("/staff/associations", query_string={"status": "pending", "page": 2})
    beyond = client.get("/staff/associations", query_string={"status": "pending", "page": 99})
    whole = client.get("/staff/associations", query_string={"page": 4})

    assert len(ROW_LINK.findall(first.text)) == 50
    assert len(ROW_LINK.findall(second.text)) == 1
    assert listed(second) == {"BULK-00000"}  # newest first: the first inserted comes last
    assert listed(beyond) == listed(second)
    assert re.search(r'href="[^"]*page=2[^"]*" rel="next"', first.text)
    assert "status=pending" in re.search(r'href="([^"]*)" rel="next"', first.text).group(1)
    assert 'rel="prev"' in second.text
    assert 'rel="next"' not in second.text
    assert shown("Page %(n)s of %(total)s", n=2, total=2) in text_of(second)
    assert len(ROW_LINK.findall(whole.text)) == 3


def test_htmx_filter_request_returns_only_the_rows(login_as, three_associations):
    client, _staff = login_as("staff")

    response = client.get("/staff/associations", query_string={"status": "pending"}, headers=HTMX)

    assert response.status_code == 200
    assert response.text.lstrip().startswith('<div id="association-rows">')
    assert "<html" not in response.text
    assert "<form" not in response.text
    assert listed(response) == {"AG-2014-0093"}
    assert "HX-Request" in response.headers.get("Vary", "")


# The signed-in user costs 2 statements (account, roles); the page adds the region choices,
# the status counts, the total and the rows; the htmx fragment only the total and the rows.
@pytest.mark.parametrize(("headers", "max_queries"), [({}, 6), (HTMX, 4)], ids=["page", "fragment"])
def test_staff_list_runs_the_same_queries_for_10_and_500_associations(
    login_as, count_queries, headers, max_queries
):
    """CHECKLIST P01: a fixed number of SQL statements whatever the number of rows."""
    client, _staff = login_as("staff")
    counts = []
    for how_many, first in ((10, 0), (490, 10)):
        insert_associations(how_many, first=first)
        with count_queries() as counter:
            response = client.get("/staff/associations", headers=headers)
        assert response.status_code == 200
        counts.append(counter.count)

    assert len(ROW_LINK.findall(response.text)) == 50
    assert counts[0] == counts[1], counts
    assert counts[1] <= max_queries, counts


# --- who may verify -------------------------------------------------------------------------

ROLE_STATUS = [
    (("applicant",), 403),
    (("evaluator",), 403),
    (("applicant", "evaluator"), 403),
    (("staff",), 200),
    (("admin",), 200),
]


@pytest.mark.parametrize(("roles", "status"), ROLE_STATUS)
def test_only_staff_and_admins_see_the_list_and_the_verification_page(login_as, roles, status):
    """ASVS 4.0.3 V4.1.1: the staff pages are refused to everyone else with 403."""
    association = AssociationFactory(status=AssociationStatus.PENDING)
    client, _user = login_as(*roles)

    listing = client.get("/staff/associations")
    page = client.get(f"/staff/associations/{association.id}/verification")

    assert (listing.status_code, page.status_code) == (status, status)


@pytest.mark.parametrize(("roles", "status"), [r for r in ROLE_STATUS if r[1] == 403])
def test_non_staff_cannot_verify_even_their_own_association(login_as, roles, status):
    """ASVS 4.0.3 V4.1.1; CHECKLIST S08: an owner cannot post the staff decision."""
    client, user = login_as(*roles)
    association = AssociationFactory(owner=user, status=AssociationStatus.PENDING)

    response = client.post(
        f"/staff/associations/{association.id}/verification", data={"decision": "verified"}
    )

    assert response.status_code == status
    db.session.expire_all()
    assert association.status == AssociationStatus.PENDING
    assert audit_actions() == []
    assert count(OutboxMessage) == 0


def test_visitor_is_sent_to_sign_in(client):
    association = AssociationFactory(status=AssociationStatus.PENDING)

    for url in ("/staff/associations", f"/staff/associations/{association.id}/verification"):
        response = client.get(url)
        assert response.status_code == 302
        assert response.location.startswith("/account/sign-in")


def test_unknown_association_is_not_found_for_staff(login_as):
    client, _staff = login_as("staff")

    assert client.get("/staff/associations/999999/verification").status_code == 404


# --- decisions ------------------------------------------------------------------------------


def test_staff_verify_an_association_and_each_owner_is_told_in_their_language(login_as):
    owner_ar = UserFactory(email="owner-ar@example.org", locale="ar")
    owner_fr = UserFactory(email="owner-fr@example.org", locale="fr")
    editor = UserFactory(email="editor@example.org", locale="fr")
    association = AssociationFactory(
        owner=owner_ar, status=AssociationStatus.PENDING, name_fr="Association Tanmia"
    )
    add_member(association, owner_fr, "owner")
    add_member(association, editor, "editor")
    client, staff = login_as("staff", locale="fr")

    response = client.post(
        f"/staff/associations/{association.id}/verification", data={"decision": "verified"}
    )

    assert response.status_code == 303
    assert response.location == "/staff/associations"
    db.session.expire_all()
    assert association.status == AssociationStatus.VERIFIED
    assert association.status_changed_by_id == staff.id
    event = db.session.scalar(select(AuditEvent))
    assert (event.action, event.actor_id, event.object_id) == (
        "association.verified",
        staff.id,
        association.id,
    )
    assert event.details["before"] == "pending"
    messages = {m.recipient: m for m in db.session.scalars(select(OutboxMessage))}
    assert set(messages) == {"owner-ar@example.org", "owner-fr@example.org"}
    for message in messages.values():
        locale = message.recipient.split("@")[0].removeprefix("owner-")
        assert message.locale == locale
        assert message.subject == shown("Your association is verified", locale)
        assert f"https://shiraka.test/associations/{association.id}" in message.body_text
    assert "Association Tanmia" in messages["owner-fr@example.org"].body_text
    assert shown("The decision is saved and the association is told.", "fr") in text_of(
        client.get(response.location)
    )


@pytest.mark.parametrize("reason", ["", "   \n  "], ids=["empty", "blank"])
def test_rejection_without_a_reason_is_refused(login_as, reason):
    association = AssociationFactory(owner=UserFactory(), status=AssociationStatus.PENDING)
    client, _staff = login_as("staff")

    response = client.post(
        f"/staff/associations/{association.id}/verification",
        data={"decision": "rejected", "reason": reason},
    )

    assert response.status_code == 422
    assert shown("Give the reason for the rejection.") in text_of(response)
    db.session.expire_all()
    assert association.status == AssociationStatus.PENDING
    assert audit_actions() == []
    assert count(OutboxMessage) == 0


def test_unknown_decision_is_refused(login_as):
    association = AssociationFactory(owner=UserFactory(), status=AssociationStatus.PENDING)
    client, _staff = login_as("staff")

    response = client.post(
        f"/staff/associations/{association.id}/verification",
        data={"decision": "pending", "reason": "x"},
    )

    assert response.status_code == 422
    db.session.expire_all()
    assert association.status == AssociationStatus.PENDING
    assert audit_actions() == []


def test_rejection_reason_is_shown_to_the_members(login_as):
    owner = UserFactory(email="owner@example.org", locale="fr")
    association = AssociationFactory(owner=owner, status=AssociationStatus.PENDING)
    member_client, member = login_as("applicant")
    add_member(association, member, "viewer")
    client, staff = login_as("staff")
    reason = "Le récépissé joint est illisible <b>et</b> expiré."

    response = client.post(
        f"/staff/associations/{association.id}/verification",
        data={"decision": "rejected", "reason": f"  {reason} "},
    )

    assert response.status_code == 303
    db.session.expire_all()
    assert association.status == AssociationStatus.REJECTED
    assert association.status_reason == reason
    event = db.session.scalar(select(AuditEvent))
    assert (event.action, event.actor_id, event.details["reason"]) == (
        "association.rejected",
        staff.id,
        reason,
    )
    message = db.session.scalar(select(OutboxMessage))
    assert message.recipient == "owner@example.org"
    assert message.subject == shown("Your association's registration needs changes", "fr")
    assert reason in message.body_text
    page = member_client.get(f"/associations/{association.id}")
    assert page.status_code == 200
    assert shown("Rejected") in text_of(page)
    assert reason in text_of(page)
    assert "<b>et</b>" not in page.text
