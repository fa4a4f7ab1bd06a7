"""The staff ranking page, its htmx table, its exports, and its fixed number of queries."""

from __future__ import annotations

import io
import re

import pytest
from flask import url_for

from bench.ranking import populate
from portal.extensions import db
from portal.kept import Kept
from portal.review.ranking_views import RANKING_PAGE_SIZE
from tests import factories
from tests.conftest import shown, shown_plural
from tests.review.test_ranking import eligible_application


@pytest.fixture
def reviewed(call):
    """Two eligible applications: one split between its evaluators, one unanimous."""
    first, second = factories.evaluator(call), factories.evaluator(call)
    split = eligible_application(call, title_fr="Projet partagé")
    factories.scored_review(split, first, [10, 10])
    factories.scored_review(split, second, [4, 4])
    unanimous = eligible_application(call, title_fr="Projet unanime")
    factories.scored_review(unanimous, first, [8, 8])
    factories.scored_review(unanimous, second, [8, 8])
    return split, unanimous


def test_staff_see_the_ranking_with_its_flags_and_the_tie_break_explained(call, staff, reviewed):
    client, _ = staff
    split, unanimous = reviewed

    response = client.get(url_for("review.ranking", call_id=call.id))

    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.index(f'id="application-{unanimous.id}"') < page.index(
        f'id="application-{split.id}"'
    )
    assert shown("disagreement") in page
    heaviest = max(call.criteria, key=lambda criterion: criterion.weight)
    tie_break = (
        "Equal scores are ordered by the higher mean on the heaviest criterion (%(criterion)s), "
        "then by the earlier submission."
    )
    assert shown(tie_break, criterion=heaviest.title_ar) in page
    assert url_for("review.moderation", application_id=split.id) in page
    assert split.association.name_ar in page  # staff see who applied


def test_htmx_gets_only_the_ranking_table(call, staff, reviewed):
    client, _ = staff

    response = client.get(
        url_for("review.ranking", call_id=call.id, view="normalised"),
        headers={"HX-Request": "true"},
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="ranking-table">')
    assert "<html" not in body
    assert shown("Normalised") in body


def test_a_lot_of_another_call_shows_the_whole_call(call, staff, reviewed):
    client, _ = staff
    other = factories.closed_call()

    response = client.get(url_for("review.ranking", call_id=call.id, lot=other.lots[0].id))

    assert response.status_code == 200
    assert response.get_data(as_text=True).count('id="application-') == 2


def _queries(count_queries, client, url: str) -> int:
    """Count the queries of a request (after a warm-up); the order kept by the warm-up is
    dropped, so that it counts computing it."""
    client.get(url)  # warm up: the first request of a client loads its session and locale
    Kept.forget_all()
    with count_queries() as counter:
        response = client.get(url)
    assert response.status_code == 200
    return counter.count


@pytest.mark.parametrize("view", ["standard", "normalised"])
def test_the_ranking_runs_the_same_queries_for_10_and_2000_applications(
    call, staff, count_queries, view
):
    client, _ = staff
    url = url_for("review.ranking", call_id=call.id, view=view)
    populate(db.session, call, 10, evaluators=6)
    db.session.commit()
    with_ten = _queries(count_queries, client, url)
    populate(db.session, call, 1990, evaluators=60)
    db.session.commit()
    with_two_thousand = _queries(count_queries, client, url)

    assert with_ten == with_two_thousand, (with_ten, with_two_thousand)
    assert with_two_thousand <= 10, with_two_thousand


def test_the_ranking_shows_a_hundred_rows_a_page_ranked_across_pages(call, staff):
    client, _ = staff
    populate(db.session, call, 250, evaluators=12)
    db.session.commit()

    first = client.get(url_for("review.ranking", call_id=call.id)).get_data(as_text=True)
    third = client.get(url_for("review.ranking", call_id=call.id, page=3)).get_data(as_text=True)

    assert first.count('<tr id="application-') == RANKING_PAGE_SIZE
    assert third.count('<tr id="application-') == 250 - 2 * RANKING_PAGE_SIZE
    assert (
        shown_plural("%(num)d eligible application", "%(num)d eligible applications", 250) in third
    )  # the count is of the whole ranking
    assert shown("Page %(n)s of %(total)s", n=3, total=3) in third
    first_ids = set(re.findall(r'<tr id="application-(\d+)"', first))
    assert first_ids.isdisjoint(re.findall(r'<tr id="application-(\d+)"', third))


def test_the_csv_export_has_a_bom_and_formulas_neutralised(call, staff, reviewed):
    client, _ = staff
    split, _unanimous = reviewed
    split.title_fr = '=HYPERLINK("http://evil.test")'
    db.session.commit()

    response = client.get(url_for("review.ranking_export", call_id=call.id, fmt="csv"))

    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'attachment; filename="' in response.headers["Content-Disposition"]
    assert body.startswith("\ufeffrank,reference,title_ar")
    assert "'=HYPERLINK" in body and ",=HYPERLINK" not in body
    lines = body.strip().splitlines()
    assert len(lines) == 3 and lines[1].startswith("1,")


def test_the_xlsx_export_holds_the_same_rows(call, staff, reviewed):
    from openpyxl import load_workbook

    client, _ = staff

    response = client.get(url_for("review.ranking_export", call_id=call.id, fmt="xlsx"))

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("rank", "reference", "title_ar")
    assert [row[0] for row in rows[1:]] == [1, 2]


def test_an_unknown_export_format_is_not_found(call, staff):
    client, _ = staff

    response = client.get(url_for("review.ranking_export", call_id=call.id, fmt="pdf"))

    assert response.status_code == 404
