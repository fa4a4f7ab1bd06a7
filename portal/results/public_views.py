"""Published results for everyone (no sign-in): the calls, each call's awards and totals, and
the same as open data (360Giving field names) at stable URLs."""

from __future__ import annotations

from flask import Response, abort, render_template, request

from portal.exports import csv_chunks
from portal.extensions import db
from portal.results import bp
from portal.results import public as services
from portal.results.kept_results import kept

FORMATS = ("csv", "json")
# Awards listed per page of a call's results; the open data holds them all.
AWARDS_PAGE_SIZE = 50


@bp.get("/results")
def public_list():
    """List the calls whose results are published."""
    return render_template(
        "results/public_list.html", published=services.published_calls(db.session)
    )


@bp.get("/results/<code>")
def public_call(code: str):
    """Show a call's funded projects with their totals per lot and per axis."""
    found = services.published_call(db.session, code)
    if found is None:
        abort(404)
    call, committee = found
    return render_template(
        "results/public_call.html",
        call=call,
        committee=committee,
        results=services.call_results(
            db.session, call, request.args.get("page", 1, type=int), AWARDS_PAGE_SIZE
        ),
    )


def _file(fmt: str, call_id: int | None) -> str:
    """Write the open-data file whole: it is kept between requests while the results last."""
    awards = services.funded_awards(db.session, call_id)
    if fmt == "csv":
        return "".join(csv_chunks(services.CSV_COLUMNS, (services.csv_row(a) for a in awards)))
    return "".join(services.json_chunks(awards))


def _open_data(fmt: str, call_id: int | None, name: str) -> Response:
    if fmt not in FORMATS:
        abort(404)
    body = kept(
        db.session, ("open-data", fmt, call_id, services.prefix()), lambda: _file(fmt, call_id)
    )
    mimetype = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{name}.{fmt}"'
    return response


@bp.get("/open-data/grants.<fmt>")
def open_data(fmt: str):
    """Stream the funded awards of every published call as CSV or JSON (360Giving)."""
    return _open_data(fmt, None, "grants")


@bp.get("/open-data/<code>/grants.<fmt>")
def open_data_call(code: str, fmt: str):
    """Stream one published call's funded awards as CSV or JSON (360Giving)."""
    found = services.published_call(db.session, code)
    if found is None:
        abort(404)
    return _open_data(fmt, found[0].id, f"{found[0].code}-grants")
