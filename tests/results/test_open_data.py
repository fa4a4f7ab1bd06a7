"""Open data: the funded awards of published calls as CSV and JSON at stable URLs, with
360Giving's field names, streamed, valid against the schema kept in the repository."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import jsonschema
import pytest
from flask import url_for

from portal.results import public
from tests import factories
from tests.results.publishing_support import publish_now, published_awards, results_world

SCHEMA = json.loads(
    (Path(public.__file__).parent / "data" / "grants.schema.json").read_text(encoding="utf-8")
)


@pytest.fixture
def world(app):
    world = results_world("approved")
    publish_now(world)
    return world


def rows(response) -> list[dict]:
    text = response.get_data(as_text=True)
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


def test_the_csv_has_one_row_per_funded_award_with_360giving_columns(world, client):
    response = client.get(url_for("results.open_data", fmt="csv"))

    assert response.status_code == 200 and response.is_streamed
    assert response.mimetype == "text/csv"
    [row] = rows(response)
    assert row["Identifier"] == f"SHK-{world.call.code}-{world.funded.id}"
    assert row["Currency"] == "MAD"
    assert int(row["Amount Awarded"]) == factories.application_amount(world.funded)
    assert row["Title"] == "Projet financé"
    assert row["Recipient Org:Name"] == world.funded.association.name_fr
    assert row["Recipient Org:Identifier"] == f"SHK-ORG-{world.funded.association_id}"
    assert row["Funding Org:Identifier"] == "SHK-FUNDER-DIDH"
    assert row["Grant Programme:Code"] == world.call.code
    assert row["Strategic Axis:Codes"] == ""
    for column in public.CSV_COLUMNS:
        assert column in row


def test_partners_are_listed_as_funding_orgs_and_axes_and_places_given(app, client):
    call = factories.closed_call()
    published_awards(call, 1)

    [row] = rows(client.get(url_for("results.open_data_call", code=call.code, fmt="csv")))

    assert row["Funding Org:Identifier"] == "SHK-FUNDER-DIDH; SHK-FUNDER-UNFPA"
    assert row["Strategic Axis:Codes"] == "axis-1; axis-2"
    assert "Oriental" in row["Beneficiary Location:Name"]


def test_the_json_is_valid_against_the_schema(world, client):
    call = factories.closed_call()
    published_awards(call, 3)

    response = client.get(url_for("results.open_data", fmt="json"))

    assert response.is_streamed and response.mimetype == "application/json"
    data = json.loads(response.get_data(as_text=True))
    jsonschema.validate(data, SCHEMA)
    assert len(data["grants"]) == 4
    assert {grant["currency"] for grant in data["grants"]} == {"MAD"}


def test_the_schema_rejects_a_grant_without_amount(world, client):
    data = json.loads(client.get(url_for("results.open_data", fmt="json")).get_data(as_text=True))
    del data["grants"][0]["amountAwarded"]

    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)


def test_nothing_of_reserve_rejected_or_unpublished_calls_is_exported(world, client):
    unpublished = results_world("approved")

    body = client.get(url_for("results.open_data", fmt="json")).get_data(as_text=True)

    for application in (world.reserve, world.rejected, unpublished.funded):
        assert f'-{application.id}"' not in body
        assert application.association.name_fr not in body


def test_a_call_without_published_results_has_no_open_data(app, client):
    world = results_world("approved")

    url = url_for("results.open_data_call", code=world.call.code, fmt="csv")
    assert client.get(url).status_code == 404
    assert client.get("/open-data/grants.xml").status_code == 404


def test_an_identifier_is_stable_across_exports(world, client):
    first = rows(client.get(url_for("results.open_data", fmt="csv")))
    again = rows(client.get(url_for("results.open_data_call", code=world.call.code, fmt="csv")))

    assert [row["Identifier"] for row in first] == [row["Identifier"] for row in again]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_the_export_runs_the_same_queries_for_10_and_200_awards(app, client, count_queries, fmt):
    call = factories.closed_call()
    published_awards(call, 10)
    url = url_for("results.open_data_call", code=call.code, fmt=fmt)

    def queries() -> int:
        client.get(url).get_data()
        with count_queries() as counter:
            response = client.get(url)
            response.get_data()
        return counter.count

    with_ten = queries()
    published_awards(call, 190, start=10)
    with_two_hundred = queries()

    assert with_ten == with_two_hundred, (with_ten, with_two_hundred)
    assert with_two_hundred <= 8
