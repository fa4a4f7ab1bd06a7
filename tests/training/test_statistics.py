"""The training statistics: which sessions and enrolments count, the breakdowns, attendance, the
filters, the page (charts and tables, Arabic right to left) and its fixed number of queries."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from flask import render_template_string, url_for

from portal.extensions import db
from portal.strategy.services import list_regions
from portal.training import programme
from portal.training.models import SessionStatus
from portal.training.statistics import StatisticsFilters, programme_statistics
from tests import factories
from tests.conftest import shown, shown_plural
from tests.training.conftest import verified_association


def figures(filters: StatisticsFilters | None = None, top: int = 10):
    return programme_statistics(
        db.session,
        filters or StatisticsFilters(),
        regions=list_regions(db.session),
        modules=programme.list_modules(db.session),
        top=top,
    )


def enrol(training, association, how_many: int = 1, status: str = "confirmed", **values):
    return [
        factories.training_enrolment(
            training,
            association,
            status,
            created_by_id=association.memberships[0].user_id,
            **values,
        )
        for _ in range(how_many)
    ]


@pytest.fixture
def two_sessions(make_module, association):
    """Two published sessions of one module (10 and 20 seats), in Rabat and in Oujda, in 2030."""
    module = make_module()
    rabat = factories.training_session(
        module=module, starts_on=date(2030, 3, 2), ends_on=date(2030, 3, 4), capacity=10
    )
    oujda = factories.training_session(
        module=module,
        starts_on=date(2030, 10, 5),
        ends_on=date(2030, 10, 5),
        capacity=20,
        region=factories.region("oriental"),
        city="Oujda",
    )
    return rabat, oujda


# --- what counts ----------------------------------------------------------------------------


def test_participants_are_confirmed_enrolments_of_published_sessions_only(
    two_sessions, association, make_module
):
    rabat, oujda = two_sessions
    enrol(rabat, association, 3)
    enrol(oujda, association, 1)
    enrol(rabat, association, 2, "waitlisted")
    enrol(oujda, association, 1, "cancelled")
    draft = factories.training_session(status=SessionStatus.DRAFT, capacity=50)
    cancelled = factories.training_session(status=SessionStatus.CANCELLED, capacity=50)
    enrol(draft, association, 4)
    enrol(cancelled, association, 1, "cancelled")

    result = figures()

    assert [item.id for item in result.sessions] == [rabat.id, oujda.id]
    assert result.seats_offered == 30
    assert result.participants == 4
    assert result.waitlisted == 2
    assert result.cancelled == 1
    assert result.fill_rate == pytest.approx(4 / 30)
    assert (result.sessions[0].confirmed, result.sessions[0].waitlisted) == (3, 2)


def test_no_session_gives_zeros_and_no_rates(app):
    result = figures()

    assert result.sessions == []
    assert (result.seats_offered, result.participants, result.associations) == (0, 0, 0)
    assert result.fill_rate is None and result.attendance_rate is None


def test_participants_are_counted_by_sex_and_by_the_region_of_their_association(two_sessions):
    rabat, oujda = two_sessions
    from_rabat, _owner = verified_association()
    from_souss = factories.AssociationFactory(
        owner=factories.UserFactory(), region_code="souss-massa"
    )
    enrol(rabat, from_rabat, 2, sex="female")
    enrol(oujda, from_rabat, 1, sex="male")
    enrol(oujda, from_souss, 1, sex="male")
    enrol(oujda, from_souss, 1, "waitlisted", sex="female")

    result = figures()

    assert {share.key: share.count for share in result.by_sex} == {"female": 2, "male": 2}
    by_region = {share.key: share.count for share in result.by_region}
    assert by_region["rabat-sale-kenitra"] == 3
    assert by_region["souss-massa"] == 1
    assert by_region["oriental"] == 0  # where the session was, not where participants come from
    assert len(result.by_region) == 12
    assert result.associations == 2


def test_the_associations_with_most_participants_come_first_and_the_rest_are_grouped(
    two_sessions,
):
    rabat, oujda = two_sessions
    associations = [verified_association()[0] for _ in range(4)]
    for association, how_many in zip(associations, (1, 4, 2, 3), strict=True):
        enrol(oujda, association, how_many)

    result = figures(top=2)

    assert [(share.key, share.count) for share in result.by_association] == [
        (str(associations[1].id), 4),
        (str(associations[3].id), 3),
        ("others", 3),
    ]
    assert result.other_associations == 2
    assert result.by_association[0].name_ar == associations[1].name_ar


def test_every_module_is_listed_even_without_participants(two_sessions, association):
    rabat, _oujda = two_sessions
    other_module = factories.training_session().module
    enrol(rabat, association, 2)

    result = figures()

    counts = {share.key: share.count for share in result.by_module}
    assert counts == {str(rabat.module_id): 2, str(other_module.id): 0}


def test_attendance_rate_is_days_present_over_participant_days_of_marked_sessions(
    two_sessions, association
):
    rabat, oujda = two_sessions  # Rabat lasts three days; Oujda's attendance is not marked
    always, once = enrol(rabat, association, 2)
    enrol(oujda, association, 2)
    for day in range(3):
        factories.training_attendance(always, rabat.starts_on + timedelta(days=day))
        factories.training_attendance(once, rabat.starts_on + timedelta(days=day), present=day == 0)
    gone = enrol(rabat, verified_association()[0], 1, "cancelled")[0]
    factories.training_attendance(gone, rabat.starts_on)

    result = figures()

    marked, unmarked = result.sessions
    assert (marked.days, marked.days_present, marked.expected_days) == (3, 4, 6)
    assert marked.attendance_rate == pytest.approx(4 / 6)
    assert unmarked.attendance_rate is None
    assert result.sessions_with_attendance == [marked]
    assert result.attendance_rate == pytest.approx(4 / 6)


# --- filters --------------------------------------------------------------------------------


def test_the_filters_narrow_by_programme_module_period_and_region(two_sessions, association):
    rabat, oujda = two_sessions
    elsewhere = factories.training_session(starts_on=date(2031, 1, 10), ends_on=date(2031, 1, 10))
    for training in (rabat, oujda, elsewhere):
        enrol(training, association)

    def ids(**chosen):
        return [item.id for item in figures(StatisticsFilters(**chosen)).sessions]

    assert ids(programme_id=rabat.module.programme_id) == [rabat.id, oujda.id]
    assert ids(module_id=elsewhere.module_id) == [elsewhere.id]
    assert ids(starts_from=date(2030, 1, 1), starts_until=date(2030, 12, 31)) == [
        rabat.id,
        oujda.id,
    ]
    assert ids(starts_from=date(2030, 6, 1)) == [oujda.id, elsewhere.id]
    assert ids(starts_until=date(2030, 3, 2)) == [rabat.id]
    assert ids(region_code="oriental") == [oujda.id]
    assert figures(StatisticsFilters(region_code="oriental")).participants == 1


def test_the_page_reads_the_year_and_the_region_from_the_query(login_as, two_sessions, association):
    rabat, oujda = two_sessions
    enrol(oujda, association, 3)
    client, _user = login_as("staff")

    page = client.get(url_for("training.statistics", year="2030", region="oriental")).get_data(
        as_text=True
    )

    assert "Oujda" in page
    assert url_for("training.session_page", session_id=rabat.id) + '"' not in page
    assert '<bdi dir="ltr">3 / 20</bdi>' in page


@pytest.mark.parametrize(
    ("arguments", "field", "message"),
    [
        ({"date_from": "2030-02-30"}, "date_from", "Enter a date as YYYY-MM-DD."),
        ({"date_to": "next week"}, "date_to", "Enter a date as YYYY-MM-DD."),
        (
            {"date_from": "2030-05-01", "date_to": "2030-04-01"},
            "date_to",
            "The end of the period cannot be before its start.",
        ),
        (
            {"year": "2030", "date_from": "2030-05-01"},
            "date_from",
            "Choose either a year or a date range, not both.",
        ),
        ({"year": "1999"}, "year", "Choose a year from the list."),
        ({"module": "999999"}, "module", "Choose a module from the list."),
        ({"programme": "abc"}, "programme", "Choose a programme from the list."),
        ({"region": "atlantis"}, "region", "Choose a region from the list."),
    ],
    ids=[
        "impossible-date",
        "not-a-date",
        "end-before-start",
        "year-and-range",
        "unknown-year",
        "unknown-module",
        "malformed-programme",
        "unknown-region",
    ],
)
def test_a_bad_filter_is_refused_with_its_message_beside_the_field(
    login_as, two_sessions, arguments, field, message
):
    client, _user = login_as("staff")

    response = client.get(url_for("training.statistics", **arguments))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error"' in page
    assert shown(message) in page
    assert shown("Correct the filters to see the figures.") in page
    assert "key-figures" not in page


def test_htmx_gets_the_refusal_inside_the_swapped_fragment(login_as, two_sessions):
    client, _user = login_as("staff")

    response = client.get(
        url_for("training.statistics", date_to="tomorrow"), headers={"HX-Request": "true"}
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert body.lstrip().startswith('<div id="statistics">')
    assert shown("Enter a date as YYYY-MM-DD.") in body


# --- the page -------------------------------------------------------------------------------


def test_staff_see_the_figures_the_definitions_and_a_chart_with_its_table(
    login_as, two_sessions, association
):
    rabat, _oujda = two_sessions
    enrol(rabat, association, 2, sex="female")
    enrol(rabat, association, 1, sex="male")
    client, _user = login_as("staff")

    response = client.get(url_for("training.statistics"))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert (
        shown(
            "A participant is a person whose enrolment is confirmed: each participant holds a "
            "seat. Waitlisted and cancelled enrolments are counted apart and are not participants."
        )
        in page
    )
    for chart in ("sex", "region", "association", "module", "session"):
        assert f'<div class="chart" id="chart-{chart}">' in page
    assert page.count('role="img"') == 5
    assert f'<title id="chart-sex-title">{shown("Participants by sex")}</title>' in page
    assert f'<th scope="row">{shown("Women")}</th>' in page
    assert '<bdi dir="ltr">2 (67%)</bdi>' in page
    assert url_for("training.statistics_export", fmt="xlsx") in page
    assert "<script" not in page.split('<main id="main"', 1)[-1]


def test_htmx_receives_only_the_figures_fragment(login_as, two_sessions):
    client, _user = login_as("staff")

    response = client.get(
        url_for("training.statistics", year="2030"), headers={"HX-Request": "true"}
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="statistics">')
    assert "<html" not in body
    assert "HX-Request" in response.headers.get("Vary", "")
    assert url_for("training.statistics_export", fmt="csv", year="2030") in body


def test_the_export_links_keep_the_filters(login_as, two_sessions):
    rabat, _oujda = two_sessions
    client, _user = login_as("staff")

    page = client.get(
        url_for("training.statistics", module=rabat.module_id, region="oriental")
    ).get_data(as_text=True)

    link = re.search(r'href="([^"]*statistics\.csv[^"]*)"', page).group(1)
    assert f"module={rabat.module_id}" in link and "region=oriental" in link


def test_the_bars_grow_from_the_right_in_arabic_and_from_the_left_in_french(
    login_as, two_sessions, association
):
    rabat, _oujda = two_sessions
    enrol(rabat, association, 5)  # 5 of 10 seats: the session's bar is half of 70 %
    arabic, _user = login_as("staff", locale="ar")
    french, _user = login_as("staff", locale="fr")

    in_arabic = arabic.get(url_for("training.statistics")).get_data(as_text=True)
    in_french = french.get(url_for("training.statistics")).get_data(as_text=True)

    session_chart = re.compile(r'id="chart-session".*?</svg>', re.S)
    arabic_chart = session_chart.search(in_arabic).group(0)
    french_chart = session_chart.search(in_french).group(0)
    assert 'class="chart-bar" x="65.0%"' in arabic_chart and 'width="35.0%"' in arabic_chart
    assert 'class="chart-bar" x="0%"' in french_chart and 'width="35.0%"' in french_chart
    assert 'direction="rtl"' in arabic_chart and 'direction="rtl"' not in french_chart
    assert '<html lang="ar" dir="rtl">' in in_arabic


def test_the_groups_of_the_others_are_named_with_their_number(login_as, two_sessions):
    _rabat, oujda = two_sessions
    for _ in range(12):
        enrol(oujda, verified_association()[0])
    client, _user = login_as("staff")

    page = client.get(url_for("training.statistics")).get_data(as_text=True)

    assert shown_plural("Other associations (%(num)d)", "Other associations (%(num)d)", 2) in page


@pytest.mark.parametrize("roles", [("applicant",), ("evaluator",)])
def test_only_staff_see_the_statistics(login_as, roles):
    client, _user = login_as(*roles)

    assert client.get(url_for("training.statistics")).status_code == 403


def test_a_visitor_is_sent_to_sign_in(client):
    response = client.get(url_for("training.statistics"))

    assert response.status_code == 302 and "/account/sign-in" in response.headers["Location"]


def test_the_staff_training_page_links_to_the_statistics(login_as, training):
    client, _user = login_as("staff")

    page = client.get(url_for("training.staff_sessions")).get_data(as_text=True)

    assert url_for("training.statistics") in page


# --- the chart macro ------------------------------------------------------------------------

CHART = (
    '{% from "_macros/charts.html" import bar_chart %}'
    "{{ bar_chart('c', 'Seats', rows, 'Region', 'Seats', direction, maximum=maximum) }}"
)


def test_the_chart_is_one_labelled_image_with_its_numbers_in_a_table(app):
    rows = [("Rabat", 3, "3"), ("Fès <b>", 1, "1")]

    with app.test_request_context():
        html = render_template_string(CHART, rows=rows, direction="ltr", maximum=None)

    assert '<svg class="chart-bars" role="img" aria-labelledby="c-title c-desc"' in html
    assert '<title id="c-title">Seats</title>' in html
    assert 'width="70.0%"' in html and 'width="23.33%"' in html  # scaled to the largest
    assert '<th scope="row">Fès &lt;b&gt;</th><td><bdi dir="ltr">1</bdi></td>' in html
    assert "<b>" not in html


def test_the_chart_scales_to_a_given_maximum_and_draws_no_bar_for_zero(app):
    with app.test_request_context():
        html = render_template_string(
            CHART, rows=[("A", 50, "50%"), ("B", 0, "0%")], direction="rtl", maximum=100
        )

    assert html.count('class="chart-bar"') == 1
    assert 'class="chart-bar" x="65.0%"' in html and 'width="35.0%"' in html


def test_an_empty_chart_says_there_is_nothing_to_show(app):
    with app.test_request_context():
        html = render_template_string(CHART, rows=[], direction="ltr", maximum=None)

    assert "<svg" not in html
    assert shown("Nothing to show for these filters.") in html


# --- queries --------------------------------------------------------------------------------


def _populate(module, sessions: int, per_session: int) -> None:
    regions = ["oriental", "souss-massa", "fes-meknes", "rabat-sale-kenitra"]
    for number in range(sessions):
        training = factories.training_session(
            module=module,
            region=factories.region(regions[number % 4]),
            capacity=per_session + 5,
            starts_on=date(2030, 1 + number % 12, 1),
            ends_on=date(2030, 1 + number % 12, 2),
        )
        association, owner = verified_association()
        for index, status in enumerate(["confirmed"] * per_session + ["waitlisted", "cancelled"]):
            enrolment = factories.training_enrolment(
                training,
                association,
                status,
                created_by_id=owner.id,
                sex="male" if index % 2 else "female",
            )
            if status == "confirmed":
                factories.training_attendance(enrolment, training.starts_on)


def _queries(count_queries, client, url: str) -> int:
    client.get(url)  # warm up: the first request of a client loads its session and locale
    with count_queries() as counter:
        response = client.get(url)
    assert response.status_code == 200
    return counter.count


@pytest.mark.parametrize(
    "arguments", [{}, {"year": "2030", "region": "oriental"}], ids=["all", "filtered"]
)
def test_the_page_runs_the_same_queries_for_few_and_many_sessions_and_enrolments(
    login_as, count_queries, make_module, arguments
):
    client, _user = login_as("staff")
    url = url_for("training.statistics", **arguments)
    _populate(make_module(), 1, 1)
    with_one = _queries(count_queries, client, url)
    _populate(make_module(), 12, 6)
    with_many = _queries(count_queries, client, url)

    assert with_one == with_many, (with_one, with_many)
    assert with_many <= 10, with_many
