"""What anyone may read of published results: the funded awards of calls whose committee
published them, their totals per lot and per axis, and the same as open data (360Giving).

Nothing of reserve or rejected applicants is ever selected here. Every function runs a fixed
number of statements whatever the number of awards.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.applications.models import Application, application_axis
from portal.calls.models import Call, Lot
from portal.organisations.models import Association
from portal.pagination import Page
from portal.results.kept_results import kept
from portal.results.models import Committee, CommitteeStatus, Decision, DecisionFunder, Outcome
from portal.strategy.models import FundingPartner, Region, StrategicAxis

CURRENCY = "MAD"
# The funder's own identity, in the open data; settings may name another body.
DEFAULT_FUNDER = {
    "identifier": "SHK-FUNDER-DIDH",
    "name_ar": "المندوبية الوزارية المكلفة بحقوق الإنسان",
    "name_fr": "Délégation interministérielle aux droits de l'Homme",
}


def _published_awards():
    """The clause shared by every public statement: current, funded, published."""
    return (
        Decision.superseded_at.is_(None),
        Decision.outcome == Outcome.FUNDED,
        Committee.status == CommitteeStatus.PUBLISHED,
    )


# --- the calls ------------------------------------------------------------------------------


@dataclass(frozen=True)
class PublishedCall:
    call: Call
    published_at: datetime
    funded: int
    total: int


def published_calls(session: Session) -> list[PublishedCall]:
    """Return the calls whose results are published, latest first, with their totals."""
    totals = (
        select(
            Decision.call_id,
            func.count(Decision.id).label("funded"),
            func.coalesce(func.sum(Decision.amount_awarded), 0).label("total"),
        )
        .where(Decision.superseded_at.is_(None), Decision.outcome == Outcome.FUNDED)
        .group_by(Decision.call_id)
        .subquery()
    )
    rows = session.execute(
        select(Call, Committee.published_at, totals.c.funded, totals.c.total)
        .join(Committee, Committee.call_id == Call.id)
        .outerjoin(totals, totals.c.call_id == Call.id)
        .where(Committee.status == CommitteeStatus.PUBLISHED)
        .order_by(Committee.published_at.desc(), Call.id)
    )
    return [
        PublishedCall(call, published_at, funded or 0, total or 0)
        for call, published_at, funded, total in rows
    ]


def published_call(session: Session, code: str) -> tuple[Call, Committee] | None:
    """Return a call by its code, with its committee, when its results are published."""
    row = session.execute(
        select(Call, Committee)
        .join(Committee, Committee.call_id == Call.id)
        .where(Call.code == code, Committee.status == CommitteeStatus.PUBLISHED)
    ).first()
    return None if row is None else (row[0], row[1])


# --- the awards -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AxisRef:
    id: int
    code: str
    number: int
    title_ar: str
    title_fr: str

    def text_for(self, name: str, locale: str) -> str:
        value = getattr(self, f"{name}_{'fr' if locale == 'fr' else 'ar'}")
        return value or getattr(self, f"{name}_ar")


@dataclass
class Award:
    """One funded award as the public sees it."""

    decision_id: int
    application_id: int
    amount: int
    award_date: date
    title_ar: str
    title_fr: str
    association_id: int
    association_ar: str
    association_fr: str
    lot_id: int | None
    lot_ar: str
    lot_fr: str
    call_code: str
    call_ar: str
    call_fr: str
    region_codes: list[str]
    axes: list[AxisRef] = field(default_factory=list)
    regions: list[Region] = field(default_factory=list)
    funders: list[tuple[FundingPartner, int]] = field(default_factory=list)

    def title_for(self, locale: str) -> str:
        return (self.title_fr if locale == "fr" else self.title_ar) or self.title_ar

    def association_for(self, locale: str) -> str:
        return (
            self.association_fr if locale == "fr" else self.association_ar
        ) or self.association_ar

    def lot_for(self, locale: str) -> str:
        return (self.lot_fr if locale == "fr" else self.lot_ar) or self.lot_ar


def _awards_query(call_id: int | None):
    query = (
        select(
            Decision.id,
            Decision.application_id,
            Decision.amount_awarded,
            Decision.supersedes_id,
            Decision.created_at,
            Committee.held_on,
            Committee.published_at,
            Application.title_ar,
            Application.title_fr,
            Application.regions,
            Association.id,
            Association.name_ar,
            Association.name_fr,
            Lot.id,
            Lot.title_ar,
            Lot.title_fr,
            Call.code,
            Call.title_ar,
            Call.title_fr,
        )
        .select_from(Decision)
        .join(Committee, Committee.call_id == Decision.call_id)
        .join(Application, Application.id == Decision.application_id)
        .join(Association, Association.id == Application.association_id)
        .join(Call, Call.id == Decision.call_id)
        .outerjoin(Lot, Lot.id == Decision.lot_id)
        .where(*_published_awards())
        .order_by(Call.code, Lot.position, Decision.amount_awarded.desc(), Decision.id)
    )
    if call_id is not None:
        query = query.where(Decision.call_id == call_id)
    return query


def _scoped(query, call_id: int | None):
    query = query.join(Committee, Committee.call_id == Decision.call_id).where(*_published_awards())
    return query if call_id is None else query.where(Decision.call_id == call_id)


def _axes_by_application(
    session: Session, call_id: int | None, application_ids: list[int] | None = None
) -> dict[int, list[AxisRef]]:
    query = _scoped(
        select(
            application_axis.c.application_id,
            StrategicAxis.id,
            StrategicAxis.code,
            StrategicAxis.number,
            StrategicAxis.title_ar,
            StrategicAxis.title_fr,
        )
        .select_from(Decision)
        .join(application_axis, application_axis.c.application_id == Decision.application_id)
        .join(StrategicAxis, StrategicAxis.id == application_axis.c.axis_id)
        .order_by(application_axis.c.application_id, StrategicAxis.number),
        call_id,
    )
    if application_ids is not None:
        query = query.where(Decision.application_id.in_(application_ids))
    found: dict[int, list[AxisRef]] = defaultdict(list)
    for application_id, *axis in session.execute(query):
        found[application_id].append(AxisRef(*axis))
    return found


def _funders_by_decision(
    session: Session, call_id: int | None, decision_ids: list[int] | None = None
) -> dict:
    query = _scoped(
        select(DecisionFunder.decision_id, FundingPartner, DecisionFunder.share_percent)
        .select_from(Decision)
        .join(DecisionFunder, DecisionFunder.decision_id == Decision.id)
        .join(FundingPartner, FundingPartner.id == DecisionFunder.partner_id)
        .order_by(DecisionFunder.decision_id, FundingPartner.code),
        call_id,
    )
    if decision_ids is not None:
        query = query.where(Decision.id.in_(decision_ids))
    found: dict[int, list] = defaultdict(list)
    for decision_id, partner, share in session.execute(query):
        found[decision_id].append((partner, share))
    return found


def funded_awards(session: Session, call_id: int | None = None) -> Iterator[Award]:
    """Yield the funded awards of published results (of one call, or of all), in a fixed
    number of statements: regions, axes, funders, then the awards streamed."""
    regions = {region.code: region for region in session.scalars(select(Region))}
    axes = _axes_by_application(session, call_id)
    funders = _funders_by_decision(session, call_id)
    result = session.execute(_awards_query(call_id).execution_options(yield_per=500))
    for row in result:
        yield _award(row, regions, axes, funders)


def _award(row, regions: dict, axes: dict, funders: dict) -> Award:
    (
        decision_id,
        application_id,
        amount,
        supersedes_id,
        created_at,
        held_on,
        published_at,
        title_ar,
        title_fr,
        region_codes,
        association_id,
        association_ar,
        association_fr,
        lot_id,
        lot_ar,
        lot_fr,
        call_code,
        call_ar,
        call_fr,
    ) = row
    # A correction (after an appeal) is awarded on its own date, else the committee's.
    if supersedes_id is not None:
        award_date = created_at.date()
    else:
        award_date = held_on or (published_at or created_at).date()
    codes = list(region_codes or [])
    return Award(
        decision_id=decision_id,
        application_id=application_id,
        amount=amount,
        award_date=award_date,
        title_ar=title_ar,
        title_fr=title_fr,
        association_id=association_id,
        association_ar=association_ar,
        association_fr=association_fr,
        lot_id=lot_id,
        lot_ar=lot_ar or "",
        lot_fr=lot_fr or "",
        call_code=call_code,
        call_ar=call_ar,
        call_fr=call_fr,
        region_codes=codes,
        axes=axes.get(application_id, []),
        regions=[regions[code] for code in codes if code in regions],
        funders=funders.get(decision_id, []),
    )


# --- totals ---------------------------------------------------------------------------------


@dataclass
class Total:
    key: object
    label_ar: str
    label_fr: str
    count: int = 0
    amount: int = 0

    def label_for(self, locale: str) -> str:
        return (self.label_fr if locale == "fr" else self.label_ar) or self.label_ar


@dataclass
class CallResults:
    awards: Page  # one page of the awards, largest first within each lot
    count: int
    total: int
    by_lot: list[Total]
    by_axis: list[Total]


def call_results(session: Session, call: Call, page: int = 1, size: int = 50) -> CallResults:
    """Return a published call's totals per lot and per axis (an award linked to several axes
    counts in each of them) and one page of its awards: kept from an earlier request while the
    results are unchanged (portal.results.kept_results), else in a fixed number of statements.
    The results are shared between requests: read them, never change them."""
    return kept(
        session,
        ("page", call.id, page, size),
        lambda: _computed_results(session, call, page, size),
    )


def _computed_results(session: Session, call: Call, page: int, size: int) -> CallResults:
    by_lot = _totals_by_lot(session, call.id)
    count = sum(total.count for total in by_lot)
    return CallResults(
        awards=_awards_page(session, call.id, page, size, count),
        count=count,
        total=sum(total.amount for total in by_lot),
        by_lot=by_lot,
        by_axis=_totals_by_axis(session, call.id),
    )


def _totals_by_lot(session: Session, call_id: int) -> list[Total]:
    query = (
        select(Lot.id, Lot.title_ar, Lot.title_fr, func.count(), func.sum(Decision.amount_awarded))
        .select_from(Decision)
        .outerjoin(Lot, Lot.id == Decision.lot_id)
        .group_by(Lot.id, Lot.title_ar, Lot.title_fr, Lot.position)
        .order_by(Lot.position)
    )
    return [
        Total(lot_id, lot_ar or "", lot_fr or "", count, int(amount))
        for lot_id, lot_ar, lot_fr, count, amount in session.execute(_scoped(query, call_id))
    ]


def _totals_by_axis(session: Session, call_id: int) -> list[Total]:
    axis_columns = (
        StrategicAxis.id,
        StrategicAxis.code,
        StrategicAxis.number,
        StrategicAxis.title_ar,
        StrategicAxis.title_fr,
    )
    query = (
        select(*axis_columns, func.count(), func.sum(Decision.amount_awarded))
        .select_from(Decision)
        .join(application_axis, application_axis.c.application_id == Decision.application_id)
        .join(StrategicAxis, StrategicAxis.id == application_axis.c.axis_id)
        .group_by(*axis_columns)
        .order_by(StrategicAxis.number)
    )
    totals = []
    for *axis, count, amount in session.execute(_scoped(query, call_id)):
        reference = AxisRef(*axis)
        totals.append(Total(reference, reference.title_ar, reference.title_fr, count, int(amount)))
    return totals


def _page_of_awards(call_id: int, number: int, size: int):
    """The ids of one page of the call's awards, in the order of `_awards_query`, found from the
    decisions and lots alone: joining the applications only for the page is what keeps the
    page fast when a call has thousands of them."""
    return (
        select(Decision.id)
        .join(Committee, Committee.call_id == Decision.call_id)
        .outerjoin(Lot, Lot.id == Decision.lot_id)
        .where(*_published_awards(), Decision.call_id == call_id)
        .order_by(Lot.position, Decision.amount_awarded.desc(), Decision.id)
        .limit(size)
        .offset((number - 1) * size)
    )


def _awards_page(session: Session, call_id: int, number: int, size: int, count: int) -> Page:
    number = min(max(1, number), max(1, -(-count // size)))
    shown_ids = _page_of_awards(call_id, number, size).scalar_subquery()
    rows = session.execute(_awards_query(call_id).where(Decision.id.in_(shown_ids))).all()
    shown = [row[1] for row in rows]
    regions = {region.code: region for region in session.scalars(select(Region))}
    axes = _axes_by_application(session, call_id, shown)
    funders = _funders_by_decision(session, call_id, [row[0] for row in rows])
    awards = [_award(row, regions, axes, funders) for row in rows]
    return Page(items=awards, number=number, size=size, total=count)


# --- open data (360Giving) ------------------------------------------------------------------

CSV_COLUMNS = (
    "Identifier",
    "Title",
    "Title (Arabic)",
    "Description",
    "Currency",
    "Amount Awarded",
    "Award Date",
    "Recipient Org:Identifier",
    "Recipient Org:Name",
    "Recipient Org:Name (Arabic)",
    "Funding Org:Identifier",
    "Funding Org:Name",
    "Grant Programme:Code",
    "Grant Programme:Title",
    "Beneficiary Location:Name",
    "Strategic Axis:Codes",
    "Lot",
)


def prefix() -> str:
    """Return the prefix of the identifiers the portal mints (stable once published)."""
    return current_app.config.get("OPEN_DATA_PREFIX", "SHK")


def funder() -> dict:
    """Return the main funder's identifier and names."""
    return current_app.config.get("OPEN_DATA_FUNDER", DEFAULT_FUNDER)


def grant(award: Award) -> dict:
    """Return one award as a 360Giving grant (JSON field names)."""
    main = funder()
    pre = prefix()
    funding = [{"id": main["identifier"], "name": main["name_fr"]}]
    funding += [
        {"id": f"{pre}-FUNDER-{partner.code}", "name": partner.name_fr, "share": share}
        for partner, share in award.funders
    ]
    title = award.title_fr or award.title_ar
    programme = award.call_fr or award.call_ar
    lot = award.lot_fr or award.lot_ar
    return {
        "id": f"{pre}-{award.call_code}-{award.application_id}",
        "title": title,
        "title_ar": award.title_ar,
        "description": f"{lot} — {programme}" if lot else programme,
        "currency": CURRENCY,
        "amountAwarded": award.amount,
        "awardDate": award.award_date.isoformat(),
        "recipientOrganization": [
            {
                "id": f"{pre}-ORG-{award.association_id}",
                "name": award.association_fr or award.association_ar,
                "name_ar": award.association_ar,
            }
        ],
        "fundingOrganization": funding,
        "grantProgramme": [{"code": award.call_code, "title": programme}],
        "beneficiaryLocation": [
            {"name": region.name_fr, "name_ar": region.name_ar, "code": region.code}
            for region in award.regions
        ],
        "classifications": [
            {"vocabulary": "shiraka-strategic-axis", "code": axis.code, "title": axis.title_fr}
            for axis in award.axes
        ],
        "lot": lot,
    }


def csv_row(award: Award) -> list:
    """Return one award as a row of CSV_COLUMNS (several values joined by '; ')."""
    data = grant(award)
    return [
        data["id"],
        data["title"],
        data["title_ar"],
        data["description"],
        data["currency"],
        data["amountAwarded"],
        data["awardDate"],
        data["recipientOrganization"][0]["id"],
        data["recipientOrganization"][0]["name"],
        data["recipientOrganization"][0]["name_ar"],
        "; ".join(org["id"] for org in data["fundingOrganization"]),
        "; ".join(org["name"] for org in data["fundingOrganization"]),
        data["grantProgramme"][0]["code"],
        data["grantProgramme"][0]["title"],
        "; ".join(place["name"] for place in data["beneficiaryLocation"]),
        "; ".join(item["code"] for item in data["classifications"]),
        data["lot"],
    ]


def json_chunks(awards: Iterator[Award]) -> Iterator[str]:
    """Stream {"grants": [...]} a grant at a time."""
    yield '{"grants": ['
    separator = ""
    for award in awards:
        yield separator + json.dumps(grant(award), ensure_ascii=False)
        separator = ", "
    yield "]}\n"
