"""What the funded actions achieved, for staff: per strategic axis (and per lot, region, SDG and
UN mechanism) the actions, the money awarded and paid, the beneficiaries planned and reached by
sex, the regions and action-plan projects reached and the progress weighted by amount; the
amounts by gender equality marker and by funder; and the annual report built from the same
figures (XLSX and PDF).

Which actions count: every funded action except the withdrawn ones, of the chosen call, whose
call's results were published in the chosen year (on Morocco's clock). An action linked to two
axes (regions, SDGs…) counts under each: the rows of a breakdown do not add up to the total.

Every figure comes from a fixed number of queries whatever the number of actions: one for the
actions with their paid amounts (summed in SQL) and their latest accepted report, one for all
their links, one for their funders, and the reference lists that name the groups. The JSON
figures (beneficiaries by sex and age, regions) are added up in Python so that they read the
same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import String, func, literal, select, union_all
from sqlalchemy.orm import Session

from portal.actions.kept_figures import kept_figures
from portal.actions.models import (
    ActionStatus,
    FundedAction,
    ProgressReport,
    ReportStatus,
    Tranche,
    action_axis,
    action_plan_project,
    action_sdg,
    action_un_mechanism,
)
from portal.calls.models import Call, Lot
from portal.exports import neutralise
from portal.results.models import Committee, CommitteeStatus, DecisionFunder
from portal.strategy.models import (
    FundingPartner,
    Region,
    Sdg,
    StrategicAxis,
    UnMechanism,
)
from portal.timeutil import from_local, to_local

SEXES = ("women", "men")
GENDER_MARKERS = (0, 1, 2, None)
DELEGATION = "delegation"  # the funder key of the part no partner pays
BREAKDOWNS = ("axis", "lot", "region", "sdg", "un_mechanism")


@dataclass(frozen=True)
class DashboardFilters:
    """What staff narrowed the figures to; None means no filter."""

    call_id: int | None = None
    year: int | None = None  # the year the call's results were published


@dataclass
class Group:
    """One row of a breakdown: a group (an axis, a lot…) and the figures of its actions."""

    key: str
    name_ar: str
    name_fr: str
    number: str = ""  # the group's number or code as printed before its name ("1", "SDG 5")
    actions: int = 0
    awarded: int = 0
    paid: int = 0
    planned: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEXES, 0))
    reached: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SEXES, 0))
    regions: set[str] = field(default_factory=set)
    projects: set[int] = field(default_factory=set)
    _weighted_progress: int = 0

    def text_for(self, name: str, locale: str) -> str:
        value = getattr(self, f"{name}_{locale}", "") or getattr(self, f"{name}_ar", "")
        return f"{self.number}. {value}" if self.number else value

    @property
    def label_ar(self) -> str:
        return self.text_for("name", "ar")

    @property
    def label_fr(self) -> str:
        return self.text_for("name", "fr")

    @property
    def progress(self) -> float | None:
        """The progress of the group's actions, each weighted by its amount (0 to 100)."""
        if not self.awarded:
            return None
        return self._weighted_progress / self.awarded

    @property
    def planned_total(self) -> int:
        return sum(self.planned.values())

    @property
    def reached_total(self) -> int:
        return sum(self.reached.values())

    def add(self, action: _Action) -> None:
        self.actions += 1
        self.awarded += action.awarded
        self.paid += action.paid
        self._weighted_progress += action.progress * action.awarded
        for sex in SEXES:
            self.planned[sex] += action.planned[sex]
            self.reached[sex] += action.reached[sex]
        self.regions.update(action.regions)
        self.projects.update(action.projects)


@dataclass(frozen=True)
class Amount:
    """An amount of one group of a split that adds up to the total (marker, funder)."""

    key: str
    amount: int
    name_ar: str = ""
    name_fr: str = ""

    def text_for(self, name: str, locale: str) -> str:
        return getattr(self, f"{name}_{locale}", "") or getattr(self, f"{name}_ar", "")


@dataclass
class Dashboard:
    """Every figure of the dashboards for the actions the filters select."""

    total: Group
    by: dict[str, list[Group]]
    by_gender_marker: list[Amount]
    by_funder: list[Amount]

    def rows(self, breakdown: str) -> list[Group]:
        return self.by[breakdown]


@dataclass
class _Action:
    id: int
    lot_id: int | None
    awarded: int
    paid: int
    progress: int
    gender_marker: int | None
    decision_id: int
    planned: dict[str, int]
    reached: dict[str, int]
    regions: list[str]
    links: dict[str, set] = field(default_factory=lambda: defaultdict(set))

    @property
    def projects(self) -> set:
        return self.links["plan_project"]


def by_sex(counts) -> dict[str, int]:
    """Add up beneficiaries kept by sex and age group ("women_18_35": 40) into women and men."""
    totals = dict.fromkeys(SEXES, 0)
    for key, value in (counts or {}).items():
        sex = str(key).split("_", 1)[0]
        if sex in totals and isinstance(value, int) and not isinstance(value, bool) and value > 0:
            totals[sex] += value
    return totals


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """Return the UTC instants where the year starts and ends on Morocco's clock."""
    return from_local(datetime(year, 1, 1)), from_local(datetime(year + 1, 1, 1))


# --- queries --------------------------------------------------------------------------------


def _selected(filters: DashboardFilters):
    """The ids of the actions the filters select, as a subquery."""
    query = (
        select(FundedAction.id)
        .join(Committee, Committee.call_id == FundedAction.call_id)
        .where(
            Committee.status == CommitteeStatus.PUBLISHED,
            FundedAction.status != ActionStatus.WITHDRAWN,
        )
    )
    if filters.call_id:
        query = query.where(FundedAction.call_id == filters.call_id)
    if filters.year:
        first, after = year_bounds(filters.year)
        query = query.where(Committee.published_at >= first, Committee.published_at < after)
    return query


def _actions(session: Session, selected) -> dict[int, _Action]:
    """Read the selected actions with their paid amounts and latest accepted report, in one
    query."""
    paid = (
        select(Tranche.action_id, func.sum(Tranche.paid_amount).label("paid"))
        .where(Tranche.action_id.in_(selected))
        .group_by(Tranche.action_id)
        .subquery()
    )
    latest_report = (
        select(ProgressReport.beneficiaries_reached)
        .where(
            ProgressReport.action_id == FundedAction.id,
            ProgressReport.status == ReportStatus.ACCEPTED,
        )
        .order_by(ProgressReport.due_on.desc(), ProgressReport.id.desc())
        .limit(1)
        .correlate(FundedAction)
        .scalar_subquery()
    )
    query = (
        select(
            FundedAction.id,
            FundedAction.lot_id,
            FundedAction.amount_awarded,
            func.coalesce(paid.c.paid, 0),
            FundedAction.progress_percent,
            FundedAction.gender_marker,
            FundedAction.decision_id,
            FundedAction.beneficiaries_planned,
            FundedAction.regions,
            latest_report,
        )
        .outerjoin(paid, paid.c.action_id == FundedAction.id)
        .where(FundedAction.id.in_(selected))
        .order_by(FundedAction.id)
    )
    return {
        row[0]: _Action(
            id=row[0],
            lot_id=row[1],
            awarded=int(row[2]),
            paid=int(row[3]),
            progress=int(row[4] or 0),
            gender_marker=row[5],
            decision_id=row[6],
            planned=by_sex(row[7]),
            reached=by_sex(row[9]),
            regions=sorted({str(code) for code in row[8] or []}),
        )
        for row in session.execute(query)
    }


LINK_TABLES = {
    "axis": (action_axis, "axis_id"),
    "sdg": (action_sdg, "sdg_id"),
    "un_mechanism": (action_un_mechanism, "un_mechanism_id"),
    "plan_project": (action_plan_project, "plan_project_id"),
}


def _read_links(session: Session, selected, actions: dict[int, _Action]) -> None:
    """Attach every action's axes, SDGs, UN mechanisms and plan projects, in one query."""
    parts = [
        select(
            table.c.action_id,
            literal(kind, String).label("kind"),
            table.c[column].label("target_id"),
        ).where(table.c.action_id.in_(selected))
        for kind, (table, column) in LINK_TABLES.items()
    ]
    for action_id, kind, target_id in session.execute(union_all(*parts)):
        if action_id in actions:
            actions[action_id].links[kind].add(target_id)


def _funders(session: Session, selected, actions) -> dict[int, list[tuple[int, int]]]:
    """Return the partners' shares (partner id, percent) of each action's award, in one query."""
    decision_ids = {action.decision_id for action in actions.values()}
    shares: dict[int, list[tuple[int, int]]] = defaultdict(list)
    decisions = select(FundedAction.decision_id).where(FundedAction.id.in_(selected))
    query = select(
        DecisionFunder.decision_id, DecisionFunder.partner_id, DecisionFunder.share_percent
    ).where(DecisionFunder.decision_id.in_(decisions))
    for decision_id, partner_id, percent in session.execute(query):
        if decision_id in decision_ids:
            shares[decision_id].append((partner_id, percent))
    return shares


@dataclass(frozen=True)
class Reference:
    """The groups the figures are given for, loaded once (they name rows with no action too)."""

    axes: Sequence[StrategicAxis]
    regions: Sequence[Region]
    sdgs: Sequence[Sdg]
    un_mechanisms: Sequence[UnMechanism]
    partners: Sequence[FundingPartner]
    lots: Sequence[tuple[Lot, Call]]


def load_reference(session: Session, filters: DashboardFilters) -> Reference:
    """Load the axes, regions, SDGs, mechanisms, partners and lots, one query each."""
    lots = select(Lot, Call).join(Call, Call.id == Lot.call_id)
    if filters.call_id:
        lots = lots.where(Lot.call_id == filters.call_id)
    else:
        funded = select(FundedAction.lot_id).where(FundedAction.id.in_(_selected(filters)))
        lots = lots.where(Lot.id.in_(funded))
    return Reference(
        axes=list(session.scalars(select(StrategicAxis).order_by(StrategicAxis.number))),
        regions=list(session.scalars(select(Region).order_by(Region.position))),
        sdgs=list(session.scalars(select(Sdg).order_by(Sdg.number))),
        un_mechanisms=list(session.scalars(select(UnMechanism).order_by(UnMechanism.position))),
        partners=list(session.scalars(select(FundingPartner).order_by(FundingPartner.id))),
        lots=[tuple(row) for row in session.execute(lots.order_by(Call.code, Lot.position))],
    )


# --- breakdowns -----------------------------------------------------------------------------


def _groups(reference: Reference) -> dict[str, dict]:
    """Empty groups of every breakdown, keyed by what an action links to."""
    return {
        "axis": {
            axis.id: Group(f"axis-{axis.number}", axis.title_ar, axis.title_fr, str(axis.number))
            for axis in reference.axes
        },
        "lot": {
            lot.id: Group(
                str(lot.id),
                f"{call.code} · {lot.title_ar}",
                f"{call.code} · {lot.title_fr}",
            )
            for lot, call in reference.lots
        },
        "region": {
            region.code: Group(region.code, region.name_ar, region.name_fr)
            for region in reference.regions
        },
        "sdg": {
            sdg.id: Group(f"sdg-{sdg.number}", sdg.title_ar, sdg.title_fr, str(sdg.number))
            for sdg in reference.sdgs
        },
        "un_mechanism": {
            mechanism.id: Group(mechanism.code, mechanism.name_ar, mechanism.name_fr)
            for mechanism in reference.un_mechanisms
        },
    }


def _keys_of(action: _Action, breakdown: str):
    if breakdown == "lot":
        return [action.lot_id] if action.lot_id is not None else []
    if breakdown == "region":
        return action.regions
    return action.links[breakdown]


def _by_gender_marker(actions) -> list[Amount]:
    amounts = dict.fromkeys(GENDER_MARKERS, 0)
    for action in actions:
        marker = action.gender_marker if action.gender_marker in (0, 1, 2) else None
        amounts[marker] += action.awarded
    return [
        Amount("none" if marker is None else str(marker), amount)
        for marker, amount in amounts.items()
    ]


def _by_funder(actions, shares, partners: Sequence[FundingPartner]) -> list[Amount]:
    """Split each award between its partners (by their share) and the Delegation (the rest)."""
    amounts: dict[int | str, int] = defaultdict(int)
    for action in actions:
        given = 0
        for partner_id, percent in shares.get(action.decision_id, []):
            part = action.awarded * percent // 100
            amounts[partner_id] += part
            given += part
        amounts[DELEGATION] += action.awarded - given
    rows = [Amount(DELEGATION, amounts[DELEGATION])]
    rows.extend(
        Amount(partner.code, amounts.get(partner.id, 0), partner.name_ar, partner.name_fr)
        for partner in partners
    )
    return rows


def dashboard(session: Session, filters: DashboardFilters, reference: Reference) -> Dashboard:
    """Return every figure for the actions the filters select: kept from an earlier request
    while no write changed them (portal.actions.kept_figures), else computed in three queries.
    The figures are shared between requests: read them, never change them."""
    return kept_figures(
        session,
        (filters, _named_by(reference)),
        lambda: _computed(session, filters, reference),
    )


def _named_by(reference: Reference) -> tuple:
    """Return what the groups take from the reference lists, to key kept figures by."""
    return (
        tuple((axis.id, axis.number, axis.title_ar, axis.title_fr) for axis in reference.axes),
        tuple((region.code, region.name_ar, region.name_fr) for region in reference.regions),
        tuple((sdg.id, sdg.number, sdg.title_ar, sdg.title_fr) for sdg in reference.sdgs),
        tuple((m.id, m.code, m.name_ar, m.name_fr) for m in reference.un_mechanisms),
        tuple((p.id, p.code, p.name_ar, p.name_fr) for p in reference.partners),
        tuple((lot.id, call.code, lot.title_ar, lot.title_fr) for lot, call in reference.lots),
    )


def _computed(session: Session, filters: DashboardFilters, reference: Reference) -> Dashboard:
    """Compute every figure for the actions the filters select, in three queries."""
    selected = _selected(filters)
    actions = _actions(session, selected)
    _read_links(session, selected, actions)
    shares = _funders(session, selected, actions)
    groups = _groups(reference)
    total = Group("total", "", "")
    for action in actions.values():
        total.add(action)
        for breakdown in BREAKDOWNS:
            for key in _keys_of(action, breakdown):
                group = groups[breakdown].get(key)
                if group is not None:
                    group.add(action)
    return Dashboard(
        total=total,
        by={breakdown: list(groups[breakdown].values()) for breakdown in BREAKDOWNS},
        by_gender_marker=_by_gender_marker(actions.values()),
        by_funder=_by_funder(actions.values(), shares, reference.partners),
    )


def published_calls(session: Session, this_year: int) -> tuple[list[Call], list[int], int]:
    """Return the calls whose results are published (newest first), the years they were
    published in (this year included, latest first) and the latest of those years (this year
    when none), in one query."""
    query = (
        select(Call, Committee.published_at)
        .join(Committee, Committee.call_id == Call.id)
        .where(Committee.status == CommitteeStatus.PUBLISHED)
        .order_by(Committee.published_at.desc(), Call.id.desc())
    )
    calls, published = [], set()
    for call, published_at in session.execute(query):
        calls.append(call)
        if published_at is not None:
            published.add(to_local(published_at).year)
    return calls, sorted(published | {this_year}, reverse=True), max(published, default=this_year)


# --- the annual report as a workbook ----------------------------------------------------------


def report_sheets(figures: Dashboard, labels: dict, locale: str) -> list[tuple[str, list, list]]:
    """Return the report's sheets: (name, column headings, rows), one per breakdown, then the
    amounts by gender marker and by funder. `labels` holds the translated headings and names."""
    columns = [
        labels["group"],
        labels["actions"],
        labels["awarded"],
        labels["paid"],
        labels["planned_women"],
        labels["planned_men"],
        labels["reached_women"],
        labels["reached_men"],
        labels["regions"],
        labels["projects"],
        labels["progress"],
    ]
    sheets = []
    for breakdown in BREAKDOWNS:
        rows = [
            [
                group.text_for("name", locale),
                group.actions,
                group.awarded,
                group.paid,
                group.planned["women"],
                group.planned["men"],
                group.reached["women"],
                group.reached["men"],
                len(group.regions),
                len(group.projects),
                "" if group.progress is None else round(group.progress, 1),
            ]
            for group in figures.rows(breakdown)
        ]
        sheets.append((labels["sheets"][breakdown], [labels["by"][breakdown], *columns[1:]], rows))
    markers = [
        [labels["markers"][amount.key], amount.amount] for amount in figures.by_gender_marker
    ]
    sheets.append(
        (labels["sheets"]["gender_marker"], [labels["marker"], labels["awarded"]], markers)
    )
    funders = [
        [
            labels["delegation"] if amount.key == DELEGATION else amount.text_for("name", locale),
            amount.amount,
        ]
        for amount in figures.by_funder
    ]
    sheets.append((labels["sheets"]["funder"], [labels["funder"], labels["awarded"]], funders))
    return sheets


def workbook_bytes(sheets: list[tuple[str, list, list]], *, right_to_left: bool) -> bytes:
    """Build an XLSX workbook with one sheet per (name, columns, rows), text made inert."""
    import xlsxwriter

    output = io.BytesIO()
    workbook = xlsxwriter.Workbook(
        output, {"strings_to_formulas": False, "strings_to_urls": False, "in_memory": True}
    )
    bold = workbook.add_format({"bold": True})
    used: set[str] = set()
    for name, columns, rows in sheets:
        worksheet = workbook.add_worksheet(_sheet_name(name, used))
        if right_to_left:
            worksheet.right_to_left()
        worksheet.write_row(0, 0, [neutralise(column) for column in columns], bold)
        for number, row in enumerate(rows, start=1):
            worksheet.write_row(
                number, 0, [neutralise(cell) if isinstance(cell, str) else cell for cell in row]
            )
        worksheet.set_column(0, 0, 48)
        worksheet.set_column(1, len(columns) - 1, 16)
    workbook.close()
    return output.getvalue()


def _sheet_name(name: str, used: set[str]) -> str:
    """Return a sheet name Excel accepts: at most 31 characters, none of []:*?/\\, unique."""
    clean = "".join(" " if char in "[]:*?/\\" else char for char in name).strip("' ")[:31]
    clean = clean or "sheet"
    candidate, number = clean, 2
    while candidate.lower() in used:
        suffix = f" ({number})"
        candidate, number = clean[: 31 - len(suffix)] + suffix, number + 1
    used.add(candidate.lower())
    return candidate
