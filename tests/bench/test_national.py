"""The national benchmark's generator and its bench-only routes, on a small SQLite data set.

SQLite checks every foreign key as each row is inserted, so a load that passes here is
consistent (on PostgreSQL the generator turns the per-row foreign-key triggers off).
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from bench import national
from bench.support import FLOOR_QUERIES_HEADER, database, install_bench_routes
from portal.extensions import db

APPLICATIONS = 60
RUSH_CLIENTS, RUSH_DRAFTS = 2, 3


@pytest.fixture(scope="module")
def built():
    with database(sqlite=True) as url:
        app, world, _seconds = national.build(
            url, APPLICATIONS, rush_clients=RUSH_CLIENTS, rush_drafts=RUSH_DRAFTS
        )
        install_bench_routes(app)
        yield app, world
        national.dispose(app)


def _count(app, model, *criteria) -> int:
    with app.app_context():
        found = db.session.scalar(select(func.count()).select_from(model).where(*criteria))
        db.session.remove()
    return found


def _signed_in(app, world, email: str):
    with app.app_context():
        ids = dict(national.session_ids(db.session, world))
        from portal.accounts.models import User

        user_id = db.session.scalar(select(User.id).where(User.email == email))
        db.session.remove()
    client = app.test_client()
    with client.session_transaction() as stored:
        stored["_user_id"] = ids.get(email, f"{user_id}:1")
        stored["_fresh"] = True
    return client


def test_the_generator_makes_every_part_of_the_national_data_set_in_proportion(built):
    from portal.actions.models import FundedAction, ProgressReport
    from portal.applications.models import Application, ApplicationStatus
    from portal.review.models import Review, Score
    from portal.training.models import Enrolment, TrainingSession

    app, world = built
    assert _count(app, Application, Application.call_id == world.national_call_id) == 60
    assert (
        _count(app, Application, Application.status == ApplicationStatus.SUBMITTED) == APPLICATIONS
    )
    drafts = len(world.applicants) + RUSH_CLIENTS * RUSH_DRAFTS
    assert _count(app, Application, Application.call_id == world.open_call_id) == drafts
    assert _count(app, Review) == 3 * APPLICATIONS
    assert _count(app, Score) > 4 * 3 * APPLICATIONS
    assert _count(app, FundedAction) == APPLICATIONS // national.FUNDED_EVERY
    assert _count(app, ProgressReport) == 2 * APPLICATIONS // national.FUNDED_EVERY
    assert _count(app, TrainingSession) == national.SESSIONS
    assert _count(app, Enrolment) == round(APPLICATIONS * national.ENROLMENTS_PER_APPLICATION)


def test_every_measured_page_answers_with_the_same_queries_at_two_sizes(built):
    app, world = built
    counted = national.count_queries(app, world)  # raises unless every page answers 200
    with database(sqlite=True) as url:
        bigger, bigger_world, _seconds = national.build(url, 3 * APPLICATIONS)
        try:
            again = national.count_queries(bigger, bigger_world)
            assert {name: c.queries for name, c in again.items()} == {
                name: c.queries for name, c in counted.items()
            }
        finally:
            national.dispose(bigger)


def test_a_rush_draft_lacks_only_its_team_and_is_submitted_once_the_team_is_saved(built):
    app, world = built
    email, draft = world.rush[0][0]
    client = _signed_in(app, world, email)
    page = client.get(f"/applications/{draft}/sections/team").get_data(as_text=True)
    token = national._token(page)
    refused = client.post(f"/applications/{draft}/submit", data={"csrf_token": token})
    assert refused.headers["Location"].endswith(f"/applications/{draft}/completeness")

    saved = client.post(
        f"/applications/{draft}/fields/team",
        data={"team": "منسق المشروع", "version.team": national._version(page, "team")},
        headers={"X-CSRFToken": token, "HX-Request": "true"},
    )
    assert b'class="saved"' in saved.data
    submitted = client.post(f"/applications/{draft}/submit", data={"csrf_token": token})
    assert submitted.status_code == 303
    assert "/submissions/1" in submitted.headers["Location"]


def test_the_floor_renders_the_page_again_from_memory_without_sql(built):
    app, world = built
    client = _signed_in(app, world, world.staff)
    path = f"/staff/calls/{world.national_call_id}/applications"
    page = client.get(path)
    floors = [client.get(national._floor_path(path)) for _ in range(2)]
    for floor in floors:
        assert floor.status_code == 200
        # The page, but for the CSRF token and the "next" of the language switch.
        assert abs(len(floor.data) - len(page.data)) < 200
        assert re.findall(rb'id="application-\d+"', floor.data) == re.findall(
            rb'id="application-\d+"', page.data
        )
    assert floors[1].headers[FLOOR_QUERIES_HEADER] == "0"


def test_the_open_data_floor_streams_the_same_rows_from_memory(built):
    app, _world = built
    client = app.test_client()
    export = client.get("/open-data/grants.csv").data
    floor = client.get(national._floor_path("/open-data/grants.csv"))
    assert floor.data == export
    assert client.get("/__bench/hello").data == b"hello"


def test_the_autosave_floor_replays_the_form_that_was_sent(built):
    from portal.applications.models import Application

    app, world = built
    email, draft = world.applicants[1]
    client = _signed_in(app, world, email)
    page = client.get(f"/applications/{draft}/sections/narrative").get_data(as_text=True)
    text = "نص محفوظ عبر أرضية القياس"
    path = f"/applications/{draft}/fields/context"
    for _ in range(2):  # the second answer is rendered from memory
        floor = client.post(
            national._floor_path(path),
            data={"context": text, "version.context": national._version(page, "context")},
            headers={"X-CSRFToken": national._token(page), "HX-Request": "true"},
        )
        assert b'class="saved"' in floor.data
    with app.app_context():
        assert db.session.get(Application, draft).context == text
        db.session.remove()
