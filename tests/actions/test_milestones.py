"""Milestones of funded actions: staff add, edit, mark done or not done and remove them, every
change audited; bad input is refused beside its field with nothing written; the action's progress
is the higher of its last accepted report's figure and the share of milestones done (rounded
down), kept in step on every change and when a report is accepted; the association reads them."""

from __future__ import annotations

import html
from datetime import date, timedelta

import pytest
from flask import url_for
from flask_babel import force_locale, format_date, ngettext
from markupsafe import escape
from sqlalchemy import select

from portal.actions.models import FundedAction, Milestone, ProgressReport, ReportStatus
from portal.audit.models import AuditEvent
from portal.db import utcnow
from portal.extensions import db
from tests import factories
from tests.actions.support import count, events, today
from tests.conftest import shown

START = date(2025, 9, 1)


@pytest.fixture
def staff(login_as):
    client, _user = login_as("staff")
    return client


@pytest.fixture
def action(app):
    return factories.funded_action(starts_on=START)


def add(client, action, **fields):
    """Post the new-milestone form."""
    return client.post(
        url_for("actions.add_milestone", action_id=action.id),
        data={f"milestone-{name}": value for name, value in fields.items()},
    )


def edit(client, action, milestone, **fields):
    """Post a milestone's edit form."""
    return client.post(
        url_for("actions.update_milestone", action_id=action.id, milestone_id=milestone.id),
        data={f"m{milestone.id}-{name}": value for name, value in fields.items()},
    )


def mark(client, action, milestone, done: bool):
    """Press "mark done today" (done) or "mark not done"."""
    return client.post(
        url_for("actions.set_milestone_done", action_id=action.id, milestone_id=milestone.id),
        data={"done": "1"} if done else {},
    )


def remove(client, action, milestone):
    return client.post(
        url_for("actions.remove_milestone", action_id=action.id, milestone_id=milestone.id)
    )


def milestone(action, title="ورشة الإطلاق", due_on=date(2026, 1, 15), done_on=None) -> Milestone:
    """Store a milestone on the action (without the service: no audit, no progress refresh)."""
    made = Milestone(action_id=action.id, title=title, due_on=due_on, done_on=done_on)
    db.session.add(made)
    db.session.commit()
    return made


def accepted_report(action, percent: int, due_on=date(2025, 12, 31)) -> ProgressReport:
    report = ProgressReport(
        action_id=action.id,
        due_on=due_on,
        status=ReportStatus.ACCEPTED,
        progress_percent=percent,
        reviewed_at=utcnow(),
    )
    db.session.add(report)
    db.session.commit()
    return report


def stored(action) -> FundedAction:
    db.session.expire_all()
    return db.session.get(FundedAction, action.id)


def titles(action) -> list[str]:
    return [item.title for item in stored(action).milestones]


def last_event(name: str) -> AuditEvent:
    return db.session.scalar(
        select(AuditEvent).where(AuditEvent.action == name).order_by(AuditEvent.id.desc())
    )


def _explained(locale: str = "ar", **values) -> str:
    """Return how the progress is explained, as the page in `locale` shows it."""
    with force_locale(locale):
        return str(
            escape(
                ngettext(
                    "%(done)d of %(num)d milestone done; last accepted report: %(report)d%%",
                    "%(done)d of %(num)d milestones done; last accepted report: %(report)d%%",
                    **values,
                )
            )
        )


def long_date(day: date, locale: str = "ar") -> str:
    with force_locale(locale):
        return format_date(day, "long")


# --- adding, editing, marking done, removing ------------------------------------------------


def test_staff_add_a_milestone_and_it_is_audited_with_its_values(staff, action):
    answer = add(staff, action, title="  ورشة الإطلاق  ", due_on="2026-01-15")

    assert answer.status_code == 303
    assert titles(action) == ["ورشة الإطلاق"]  # trimmed
    made = stored(action).milestones[0]
    assert (made.due_on, made.done_on, made.position) == (date(2026, 1, 15), None, 1)
    event = last_event("action.milestone_added")
    assert event.object_id == action.id
    assert event.details["before"] is None
    assert event.details["after"]["title"] == "ورشة الإطلاق"
    assert event.details["after"]["due_on"] == "2026-01-15"
    assert event.details["after"]["done_on"] is None


def test_a_title_of_exactly_200_characters_is_taken(staff, action):
    answer = add(staff, action, title="م" * 200, due_on="2026-01-15")

    assert answer.status_code == 303
    assert titles(action) == ["م" * 200]


def test_milestones_are_listed_by_due_date_whatever_the_order_they_were_added_in(staff, action):
    add(staff, action, title="الثانية", due_on="2026-06-30")
    add(staff, action, title="الأولى", due_on="2026-01-15")
    add(staff, action, title="الثالثة", due_on="2026-06-30")

    assert titles(action) == ["الأولى", "الثانية", "الثالثة"]


def test_staff_edit_a_milestone_and_the_change_is_audited_with_before_and_after(staff, action):
    made = milestone(action)

    answer = edit(
        staff,
        action,
        made,
        title="Atelier de lancement",
        due_on="2026-02-01",
        done_on=str(today() - timedelta(days=1)),
    )

    assert answer.status_code == 303
    changed = stored(action).milestones[0]
    assert (changed.title, changed.due_on, changed.done_on) == (
        "Atelier de lancement",
        date(2026, 2, 1),
        today() - timedelta(days=1),
    )
    event = last_event("action.milestone_updated")
    assert event.details["before"]["title"] == "ورشة الإطلاق"
    assert event.details["before"]["done_on"] is None
    assert event.details["after"]["due_on"] == "2026-02-01"
    assert event.details["after"]["done_on"] == str(today() - timedelta(days=1))


def test_saving_a_milestone_unchanged_writes_no_event(staff, action):
    made = milestone(action)

    answer = edit(staff, action, made, title=made.title, due_on=str(made.due_on))

    assert answer.status_code == 303
    assert events("action.milestone_updated") == 0


def test_staff_mark_a_milestone_done_today_then_not_done(staff, action):
    made = milestone(action)

    done = mark(staff, action, made, done=True)
    assert done.status_code == 303
    assert stored(action).milestones[0].done_on == today()
    assert last_event("action.milestone_updated").details["after"]["done_on"] == str(today())

    undone = mark(staff, action, made, done=False)
    assert undone.status_code == 303
    assert stored(action).milestones[0].done_on is None
    assert last_event("action.milestone_updated").details["before"]["done_on"] == str(today())
    assert events("action.milestone_updated") == 2


def test_marking_done_a_milestone_already_done_keeps_its_date(staff, action):
    made = milestone(action, done_on=date(2025, 10, 1))

    answer = mark(staff, action, made, done=True)

    assert answer.status_code == 303
    assert stored(action).milestones[0].done_on == date(2025, 10, 1)
    assert events("action.milestone_updated") == 0


def test_staff_remove_a_milestone_and_the_removal_is_audited(staff, action):
    kept, gone = milestone(action, "تبقى"), milestone(action, "تُحذف", date(2026, 3, 1))

    answer = remove(staff, action, gone)

    assert answer.status_code == 303
    assert [item.id for item in db.session.scalars(select(Milestone))] == [kept.id]
    event = last_event("action.milestone_removed")
    assert event.details["before"]["title"] == "تُحذف"
    assert event.details["after"] is None


def test_removing_an_action_removes_its_milestones(action):
    milestone(action)

    db.session.delete(stored(action))
    db.session.commit()

    assert count(Milestone) == 0


# --- progress: the higher of the last accepted report and the milestones done ---------------


def test_progress_follows_the_milestones_when_they_are_ahead_of_the_report(staff, action):
    accepted_report(action, 40)
    first, second, third = (
        milestone(action, f"م{n}", date(2026, n, 1), done_on=None) for n in (1, 2, 3)
    )

    mark(staff, action, first, done=True)
    assert stored(action).progress_percent == 40  # 1 of 3 is 33 %: the report's 40 % stays
    mark(staff, action, second, done=True)
    assert stored(action).progress_percent == 66  # 2 of 3, rounded down
    mark(staff, action, third, done=True)
    assert stored(action).progress_percent == 100
    mark(staff, action, third, done=False)
    mark(staff, action, second, done=False)
    assert stored(action).progress_percent == 40  # back to the report's figure
    event = last_event("action.progress_updated")
    assert event.details == {"before": {"progress_percent": 66}, "after": {"progress_percent": 40}}


def test_adding_or_removing_a_milestone_moves_the_progress(staff, action):
    add(staff, action, title="أنجزت", due_on="2025-10-01", done_on="2025-10-01")
    assert stored(action).progress_percent == 100

    add(staff, action, title="لم تنجز", due_on="2026-10-01")
    assert stored(action).progress_percent == 50

    remove(staff, action, stored(action).milestones[0])
    assert stored(action).progress_percent == 0
    assert events("action.progress_updated") == 3


def test_editing_the_done_date_moves_the_progress(staff, action):
    made = milestone(action)

    edit(staff, action, made, title=made.title, due_on=str(made.due_on), done_on="2025-12-01")

    assert stored(action).progress_percent == 100


def test_a_change_that_leaves_the_progress_as_it_was_records_no_progress_event(staff, action):
    accepted_report(action, 80)
    stored(action).progress_percent = 80
    db.session.commit()
    made = milestone(action)

    mark(staff, action, made, done=True)  # milestones 100 %
    mark(staff, action, made, done=False)  # back to 80
    add(staff, action, title="أخرى", due_on="2026-05-01")  # 0 of 2: still 80

    assert stored(action).progress_percent == 80
    assert events("action.progress_updated") == 2


def test_the_last_accepted_report_is_the_latest_due_not_the_highest(staff, action):
    accepted_report(action, 80, due_on=date(2025, 12, 31))
    accepted_report(action, 30, due_on=date(2026, 6, 30))
    made = milestone(action)

    mark(staff, action, made, done=True)
    mark(staff, action, made, done=False)

    assert stored(action).progress_percent == 30


def _sent_report(action, percent: int, due_on=date(2026, 6, 30)) -> ProgressReport:
    report = ProgressReport(
        action_id=action.id,
        due_on=due_on,
        status=ReportStatus.SUBMITTED,
        progress_percent=percent,
        activities_done="أنجزنا الورشات",
        submitted_at=utcnow(),
    )
    db.session.add(report)
    db.session.commit()
    return report


def _accept(client, action, report):
    return client.post(url_for("actions.accept_report", action_id=action.id, report_id=report.id))


def test_accepting_a_report_below_the_milestones_keeps_the_milestones_progress(staff, action):
    for n, done_on in ((1, date(2025, 10, 1)), (2, date(2025, 11, 1)), (3, date(2025, 12, 1))):
        milestone(action, f"م{n}", date(2026, n, 1), done_on=done_on)
    milestone(action, "م4", date(2026, 4, 1))
    report = _sent_report(action, 40)

    answer = _accept(staff, action, report)

    assert answer.status_code == 303
    assert stored(action).progress_percent == 75  # 3 of 4 milestones beat the report's 40 %
    assert events("report.accepted") == 1


def test_accepting_a_report_above_the_milestones_takes_the_report_s_progress(staff, action):
    milestone(action, done_on=date(2025, 10, 1))
    milestone(action, "م2", date(2026, 2, 1))
    report = _sent_report(action, 90)

    _accept(staff, action, report)

    assert stored(action).progress_percent == 90
    event = last_event("action.progress_updated")
    assert event.details == {"before": {"progress_percent": 0}, "after": {"progress_percent": 90}}


# --- bad input: refused beside its field, nothing written -----------------------------------

BAD_MILESTONES = {
    "no title": ({"title": ""}, "title", lambda: shown("Give the milestone a title.")),
    "blank title": ({"title": "   "}, "title", lambda: shown("Give the milestone a title.")),
    "title too long": (
        {"title": "م" * 201},
        "title",
        lambda: shown("Give the title in at most %(n)d characters.", n=200),
    ),
    "line break in the title": (
        {"title": "سطر\nثان"},
        "title",
        lambda: shown("Write the title on one line, without tabs or other control characters."),
    ),
    "tab in the title": (
        {"title": "عنوان\tمع علامة جدولة"},
        "title",
        lambda: shown("Write the title on one line, without tabs or other control characters."),
    ),
    "bell in the title": (
        {"title": "عنوان\x07"},
        "title",
        lambda: shown("Write the title on one line, without tabs or other control characters."),
    ),
    "no due date": ({"due_on": ""}, "due_on", lambda: shown("Enter a date.")),
    "impossible due date": (
        {"due_on": "2026-02-30"},
        "due_on",
        lambda: shown("Enter a real date, such as 2026-03-31."),
    ),
    "due date in words": (
        {"due_on": "next week"},
        "due_on",
        lambda: shown("Enter a real date, such as 2026-03-31."),
    ),
    "impossible done date": (
        {"done_on": "2026-13-01"},
        "done_on",
        lambda: shown("Enter a real date, such as 2026-03-31."),
    ),
    "done date in the future": (
        {"done_on": lambda: str(today() + timedelta(days=1))},
        "done_on",
        lambda: shown(
            "A milestone cannot be reached in the future: give today's date or an earlier one."
        ),
    ),
    "done before the action starts": (
        {"done_on": str(START - timedelta(days=1))},
        "done_on",
        lambda: shown(
            "A milestone cannot be reached before the action starts, on %(date)s.",
            date=long_date(START),
        ),
    ),
}


def _fields(overrides: dict) -> dict:
    fields = {"title": "ورشة الإطلاق", "due_on": "2026-01-15", "done_on": ""}
    fields.update({k: v() if callable(v) else v for k, v in overrides.items()})
    return fields


@pytest.mark.parametrize(
    ("overrides", "field", "message"), BAD_MILESTONES.values(), ids=BAD_MILESTONES.keys()
)
def test_a_bad_new_milestone_is_refused_beside_its_field_and_nothing_saved(
    staff, action, overrides, field, message
):
    answer = add(staff, action, **_fields(overrides))

    body = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert message() in body
    assert f'id="milestone-{field}-error"' in body
    assert count(Milestone) == 0
    assert events("action.milestone_added") == 0
    assert stored(action).progress_percent == 0


@pytest.mark.parametrize(
    ("overrides", "field", "message"), BAD_MILESTONES.values(), ids=BAD_MILESTONES.keys()
)
def test_a_bad_edit_is_refused_beside_its_field_and_the_milestone_is_unchanged(
    staff, action, overrides, field, message
):
    made = milestone(action)

    answer = edit(staff, action, made, **_fields(overrides))

    body = answer.get_data(as_text=True)
    assert answer.status_code == 422
    assert message() in body
    assert f'id="m{made.id}-{field}-error"' in body
    kept = stored(action).milestones[0]
    assert (kept.title, kept.due_on, kept.done_on) == ("ورشة الإطلاق", date(2026, 1, 15), None)
    assert events("action.milestone_updated") == 0


def test_a_milestone_without_title_is_refused_and_nothing_saved(staff, action):
    answer = add(staff, action, due_on="2026-01-15")

    assert answer.status_code == 422
    assert shown("Give the milestone a title.") in answer.get_data(as_text=True)
    assert count(Milestone) == 0


def test_marking_done_today_before_the_action_starts_is_refused(staff):
    later = factories.funded_action(starts_on=today() + timedelta(days=10))
    made = milestone(later, due_on=today() + timedelta(days=20))

    answer = mark(staff, later, made, done=True)

    body = answer.get_data(as_text=True)
    assert answer.status_code == 422
    message = shown(
        "A milestone cannot be reached before the action starts, on %(date)s.",
        date=long_date(today() + timedelta(days=10)),
    )
    assert message in body
    assert f'id="m{made.id}-done_on-error"' in body
    assert stored(later).milestones[0].done_on is None
    assert events("action.milestone_updated") == 0


def test_a_done_date_of_today_is_taken(staff, action):
    answer = add(staff, action, title="اليوم", due_on="2026-01-15", done_on=str(today()))

    assert answer.status_code == 303
    assert stored(action).milestones[0].done_on == today()


# --- who may change milestones --------------------------------------------------------------


def test_a_milestone_of_another_action_is_not_found(staff, action):
    other = factories.funded_action()
    theirs = milestone(other)

    answers = [
        edit(staff, action, theirs, title="X", due_on="2026-01-01"),
        mark(staff, action, theirs, done=True),
        remove(staff, action, theirs),
    ]

    assert [answer.status_code for answer in answers] == [404, 404, 404]
    kept = stored(other).milestones[0]
    assert (kept.title, kept.done_on) == ("ورشة الإطلاق", None)
    assert events("action.milestone_updated") + events("action.milestone_removed") == 0


@pytest.mark.parametrize("role", ["owner", "editor", "stranger", "evaluator"])
def test_only_staff_change_milestones(login_as, role):
    action = factories.funded_action(starts_on=START)
    made = milestone(action)
    if role in ("owner", "editor"):
        client, user = login_as("applicant")
        factories.add_member(action.association, user, role)
    elif role == "stranger":
        client, user = login_as("applicant")
        factories.AssociationFactory(owner=user)
    else:
        client, _user = login_as("evaluator")

    answers = [
        add(client, action, title="X", due_on="2026-01-01"),
        edit(client, action, made, title="X", due_on="2026-01-01"),
        mark(client, action, made, done=True),
        remove(client, action, made),
    ]

    assert {answer.status_code for answer in answers} <= {403, 404}
    kept = stored(action).milestones
    assert [(item.title, item.done_on) for item in kept] == [("ورشة الإطلاق", None)]
    assert count(AuditEvent, AuditEvent.action.like("action.milestone_%")) == 0


# --- the pages ------------------------------------------------------------------------------


def test_the_association_reads_its_milestones_and_how_the_progress_is_made(login_as, action):
    client, user = login_as("applicant")
    factories.add_member(action.association, user, "viewer")
    milestone(action, "ورشة الإطلاق", date(2025, 10, 1), done_on=date(2025, 10, 3))
    milestone(action, "حملة تحسيسية <b>", today() - timedelta(days=2))
    milestone(action, "التقرير الختامي", today() + timedelta(days=30))
    accepted_report(action, 20)
    stored(action).progress_percent = 33
    db.session.commit()

    page = client.get(url_for("actions.action_page", action_id=action.id))

    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert shown("Milestones") in body
    assert "ورشة الإطلاق" in body and "التقرير الختامي" in body
    assert "حملة تحسيسية &lt;b&gt;" in body  # staff's words are text, never markup
    with force_locale("ar"):
        done_on = format_date(date(2025, 10, 3), "medium")
    assert shown("Done on %(date)s", date=done_on) in body
    assert body.count(shown("Overdue")) == 1
    assert shown("Not done yet") in body
    explained = _explained(done=1, num=3, report=20)
    assert explained in body
    assert '<progress max="100" value="33"' in body
    assert url_for("actions.add_milestone", action_id=action.id) not in body  # read only


def test_an_action_without_milestones_says_so(login_as, action):
    client, user = login_as("applicant")
    factories.add_member(action.association, user, "owner")

    body = client.get(url_for("actions.action_page", action_id=action.id)).get_data(as_text=True)

    assert shown("No milestone is set yet.") in body
    assert shown("no milestone and no accepted report yet") in body


@pytest.mark.parametrize("locale", ["ar", "fr"])
def test_the_staff_page_shows_the_milestones_with_their_forms(login_as, action, locale):
    client, _user = login_as("staff", locale=locale)
    done = milestone(action, "ورشة الإطلاق", date(2025, 10, 1), done_on=date(2025, 10, 3))
    todo = milestone(action, "Campagne de sensibilisation", today() + timedelta(days=5))

    page = client.get(url_for("actions.staff_action", action_id=action.id))

    body = page.get_data(as_text=True)
    text = html.unescape(body)  # a translation is printed as is: "aujourd'hui"
    assert page.status_code == 200
    for label in ("Milestones", "Mark not done", "Mark done today", "Add the milestone"):
        assert html.unescape(shown(label, locale=locale)) in text
    for made in (done, todo):
        for endpoint in ("update_milestone", "set_milestone_done", "remove_milestone"):
            assert url_for(f"actions.{endpoint}", action_id=action.id, milestone_id=made.id) in body
    assert url_for("actions.add_milestone", action_id=action.id) in body
    assert f'value="{todo.due_on.isoformat()}"' in body  # the edit form is filled in


def _queries(count_queries, client, url: str) -> int:
    client.get(url)
    with count_queries() as counter:
        response = client.get(url)
    assert response.status_code == 200
    return counter.count


def test_the_staff_action_page_runs_the_same_queries_for_2_and_30_milestones(
    staff, action, count_queries
):
    """CHECKLIST P01."""
    accepted_report(action, 10)
    for n in range(2):
        milestone(action, f"م{n}", date(2026, 1, 1) + timedelta(days=n), done_on=START)
    url = url_for("actions.staff_action", action_id=action.id)
    with_two = _queries(count_queries, staff, url)
    for n in range(2, 30):
        milestone(action, f"م{n}", date(2026, 1, 1) + timedelta(days=n))
    with_thirty = _queries(count_queries, staff, url)

    assert with_two == with_thirty, (with_two, with_thirty)


def test_the_association_s_action_page_runs_the_same_queries_for_2_and_30_milestones(
    login_as, action, count_queries
):
    """CHECKLIST P01."""
    client, user = login_as("applicant")
    factories.add_member(action.association, user, "owner")
    for n in range(2):
        milestone(action, f"م{n}", date(2026, 1, 1) + timedelta(days=n), done_on=START)
    url = url_for("actions.action_page", action_id=action.id)
    with_two = _queries(count_queries, client, url)
    for n in range(2, 30):
        milestone(action, f"م{n}", date(2026, 1, 1) + timedelta(days=n))
    with_thirty = _queries(count_queries, client, url)

    assert with_two == with_thirty, (with_two, with_thirty)
