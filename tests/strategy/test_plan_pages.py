"""Public pages of the action plan, and staff linking plan projects to strategic axes."""

from __future__ import annotations

import html
import re

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from portal.audit.models import AuditEvent
from portal.extensions import db
from portal.strategy.models import PlanProject, plan_project_axis
from portal.strategy.services import propose_demo_project_axes, read_data

AXES = read_data("axes")
PROJECTS = {project["number"]: project for project in read_data("plan_projects")}
DEMO_LINKS = {int(number): codes for number, codes in read_data("demo_project_axes").items()}


def text_of(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def axis_sections(response) -> dict[int, set[int]]:
    """Return, for each axis section of the /plan page, the project numbers it links to."""
    sections = re.split(r'<section id="axis-(\d+)"', response.text)[1:]
    found = {}
    for number, body in zip(sections[::2], sections[1::2], strict=True):
        body = body.split("</section>", 1)[0]
        found[int(number)] = {int(n) for n in re.findall(r'href="/plan/projects/(\d+)"', body)}
    return found


def axes_of(number: int) -> list[str]:
    db.session.expire_all()
    project = db.session.scalar(select(PlanProject).where(PlanProject.number == number))
    return [axis.code for axis in project.axes]


def link_count() -> int:
    return db.session.scalar(select(func.count()).select_from(plan_project_axis))


@pytest.fixture
def demo_links(app):
    propose_demo_project_axes(db.session)
    db.session.commit()


# --- public pages ---------------------------------------------------------------------------


def test_plan_page_lists_the_four_axes_with_no_project_before_linking(client):
    response = client.get("/plan")

    assert response.status_code == 200
    for axis in AXES:
        assert axis["title_ar"] in text_of(response)
    assert axis_sections(response) == {1: set(), 2: set(), 3: set(), 4: set()}
    with force_locale("ar"):
        assert gettext("Projects not yet linked to an axis") in text_of(response)
    for number in PROJECTS:
        assert f'href="/plan/projects/{number}"' in response.text


def test_plan_page_lists_each_axis_with_the_projects_proposed_by_the_demo_data(client, demo_links):
    response = client.get("/plan")

    expected = {axis["number"]: set() for axis in AXES}
    for number, codes in DEMO_LINKS.items():
        for code in codes:
            expected[int(code.removeprefix("axis-"))].add(number)
    assert axis_sections(response) == expected
    assert all(expected.values())
    with force_locale("ar"):
        assert gettext("Projects not yet linked to an axis") not in text_of(response)


def test_plan_page_is_in_french_for_a_french_visitor(client):
    client.set_cookie("locale", "fr")

    response = client.get("/plan")

    assert 'lang="fr"' in response.text
    for axis in AXES:
        assert axis["title_fr"] in text_of(response)


def test_project_page_shows_the_arabic_title_from_the_data_file(client, demo_links):
    response = client.get("/plan/projects/21")

    assert response.status_code == 200
    assert PROJECTS[21]["title_ar"] in text_of(response)
    assert PROJECTS[21]["group_title_ar"] in text_of(response)
    for code in DEMO_LINKS[21]:
        axis = next(axis for axis in AXES if axis["code"] == code)
        assert axis["title_ar"] in text_of(response)


def test_project_page_shows_the_french_title_to_a_french_visitor(client):
    client.set_cookie("locale", "fr")

    response = client.get("/plan/projects/21")

    assert PROJECTS[21]["title_fr"] in text_of(response)


@pytest.mark.parametrize("number", [0, 28, 999])
def test_unknown_project_is_not_found(client, number):
    assert client.get(f"/plan/projects/{number}").status_code == 404


# --- staff edit the links -------------------------------------------------------------------


def test_staff_change_the_axes_of_a_project(login_as, demo_links):
    client, staff = login_as("staff")
    before = sorted(DEMO_LINKS[21])

    form = client.get("/plan/projects/21/axes")
    response = client.post("/plan/projects/21/axes", data={"axes": ["axis-4", "axis-1"]})

    assert form.status_code == 200
    for code in before:
        assert re.search(rf'<input[^>]*checked[^>]*value="{code}"', form.text) or re.search(
            rf'<input[^>]*value="{code}"[^>]*checked', form.text
        )
    assert response.status_code == 303
    assert response.location == "/plan/projects/21"
    assert axes_of(21) == ["axis-1", "axis-4"]
    event = db.session.scalar(select(AuditEvent))
    assert (event.action, event.actor_id, event.object_type) == (
        "strategy.project_axes_changed",
        staff.id,
        "plan_project",
    )
    assert event.details == {"before": before, "after": ["axis-1", "axis-4"]}
    page = client.get(response.location)
    with force_locale("ar"):
        assert gettext("The project's axes are saved.") in text_of(page)


def test_saving_the_same_axes_writes_no_audit_event(login_as, demo_links):
    client, _staff = login_as("staff")

    response = client.post("/plan/projects/21/axes", data={"axes": DEMO_LINKS[21]})

    assert response.status_code == 303
    assert axes_of(21) == sorted(DEMO_LINKS[21])
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


@pytest.mark.parametrize("locale", ["ar", "fr"])
def test_choosing_no_axis_is_refused(login_as, demo_links, locale):
    client, _staff = login_as("staff", locale=locale)
    links = link_count()

    response = client.post("/plan/projects/21/axes", data={})

    assert response.status_code == 422
    with force_locale(locale):
        assert gettext("Choose at least one axis.") in text_of(response)
    assert axes_of(21) == sorted(DEMO_LINKS[21])
    assert link_count() == links
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_unknown_axis_is_refused(login_as, demo_links):
    client, _staff = login_as("staff")

    response = client.post("/plan/projects/21/axes", data={"axes": ["axis-1", "axis-9"]})

    assert response.status_code == 422
    assert axes_of(21) == sorted(DEMO_LINKS[21])
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


def test_unknown_project_axes_page_is_not_found_for_staff(login_as):
    client, _staff = login_as("staff")

    assert client.get("/plan/projects/99/axes").status_code == 404


def test_visitor_is_sent_to_sign_in_to_change_axes(client, demo_links):
    """ASVS 4.0.3 V4.1.1."""
    page = client.get("/plan/projects/21/axes")
    change = client.post("/plan/projects/21/axes", data={"axes": ["axis-4"]})

    for response in (page, change):
        assert response.status_code == 302
        assert response.location.startswith("/account/sign-in")
    assert axes_of(21) == sorted(DEMO_LINKS[21])


@pytest.mark.parametrize("roles", [("applicant",), ("evaluator",)])
def test_applicants_and_evaluators_cannot_change_axes(login_as, demo_links, roles):
    """ASVS 4.0.3 V4.1.1: only staff and admins edit the reference links."""
    client, _user = login_as(*roles)

    page = client.get("/plan/projects/21/axes")
    change = client.post("/plan/projects/21/axes", data={"axes": ["axis-4"]})
    project = client.get("/plan/projects/21")

    assert (page.status_code, change.status_code) == (403, 403)
    assert "/plan/projects/21/axes" not in project.text
    assert axes_of(21) == sorted(DEMO_LINKS[21])
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == 0


@pytest.mark.parametrize("roles", [("staff",), ("admin",)])
def test_staff_and_admins_are_offered_the_axes_form(login_as, roles):
    client, _user = login_as(*roles)

    project = client.get("/plan/projects/21")

    assert 'href="/plan/projects/21/axes"' in project.text
    assert client.get("/plan/projects/21/axes").status_code == 200
