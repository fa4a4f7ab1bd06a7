"""The activity plan (with months) and the indicators (with targets) of an application."""

from __future__ import annotations

import pytest
from flask_babel import force_locale, gettext

from portal.applications import services
from portal.applications.models import Application


@pytest.fixture
def draft(session, member, call):
    client, user, association = member
    application = services.start_application(session, call, association, actor=user)
    session.commit()
    return client, application


def add(client, application, kind, **data):
    return client.post(f"/applications/{application.id}/plan/{kind}", data=data)


def test_an_activity_with_its_months_is_added(draft, session):
    client, application = draft
    response = add(client, application, "activity", title="ورشات", start="2", end="5")
    assert response.status_code == 303
    session.expire_all()
    assert session.get(Application, application.id).activity_plan == [
        {"title": "ورشات", "start": 2, "end": 5}
    ]


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("5", "2", "The activity must end after it starts."),
        ("0", "2", "Enter a month from 1 to %(n)d."),
        ("1", "13", "Enter a month from 1 to %(n)d."),
        ("x", "2", "Enter a month from 1 to %(n)d."),
        ("-1", "2", "Enter a month from 1 to %(n)d."),
    ],
)
def test_impossible_months_are_refused_and_nothing_is_written(draft, session, start, end, message):
    client, application = draft
    version = application.version
    response = add(client, application, "activity", title="ورشات", start=start, end=end)
    assert response.status_code == 422
    with force_locale("ar"):
        expected = gettext(message, n=application.call.max_duration_months)
    assert expected in response.get_data(as_text=True)
    session.expire_all()
    kept = session.get(Application, application.id)
    assert kept.activity_plan == []
    assert kept.version == version


def test_an_indicator_needs_a_target(draft, session):
    client, application = draft
    response = add(client, application, "indicator", indicator="عدد المستفيدات", target="")
    assert response.status_code == 422
    session.expire_all()
    assert session.get(Application, application.id).indicator_targets == []


def test_htmx_gets_the_plan_region_only(draft):
    client, application = draft
    response = client.post(
        f"/applications/{application.id}/plan/indicator",
        data={"indicator": "عدد المستفيدات", "target": "120"},
        headers={"HX-Request": "true"},
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="plan"')
    assert "<html" not in body
    assert "عدد المستفيدات" in body


def test_a_row_is_removed_and_an_unknown_row_is_404(draft, session):
    client, application = draft
    add(client, application, "activity", title="ورشات", start="1", end="2")
    assert client.post(f"/applications/{application.id}/plan/activity/3/remove").status_code == 404
    assert client.post(f"/applications/{application.id}/plan/activity/0/remove").status_code == 303
    session.expire_all()
    assert session.get(Application, application.id).activity_plan == []


def test_completeness_asks_for_activities_and_indicators(draft):
    _client, application = draft
    with force_locale("ar"):
        messages = [item.message for item in services.missing_items(application)]
        assert gettext("At least one activity with its months.") in messages
        assert gettext("At least one indicator with its target.") in messages
