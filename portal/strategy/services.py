"""Loading the action-plan reference data and reading or editing it."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.audit.services import record_event
from portal.strategy.models import (
    FundingPartner,
    PlanProject,
    Region,
    Sdg,
    StrategicAxis,
    UnMechanism,
)

DATA_DIR = Path(__file__).with_name("data")


class StrategyError(Exception):
    """A change to the reference data that the rules refuse."""


def read_data(name: str):
    """Return the parsed content of one of the package's data files."""
    return json.loads((DATA_DIR / f"{name}.json").read_text(encoding="utf-8"))


def _upsert(session: Session, model, key: str, rows: list[dict]) -> int:
    """Insert rows that are missing and refresh the texts of those present; return the count."""
    existing = {getattr(row, key): row for row in session.scalars(select(model))}
    for values in rows:
        row = existing.get(values[key])
        if row is None:
            session.add(model(**values))
        else:
            for name, value in values.items():
                setattr(row, name, value)
    return len(rows)


def load_reference_data(session: Session) -> dict[str, int]:
    """Load regions, axes, plan projects, SDGs, UN mechanisms and funding partners; safe to run
    again."""
    counts = {
        "regions": _upsert(session, Region, "code", read_data("regions")),
        "axes": _upsert(session, StrategicAxis, "code", read_data("axes")),
        "plan projects": _upsert(session, PlanProject, "number", read_data("plan_projects")),
        "SDGs": _upsert(session, Sdg, "number", read_data("sdgs")),
        "UN mechanisms": _upsert(session, UnMechanism, "code", read_data("un_mechanisms")),
        "funding partners": _upsert(session, FundingPartner, "code", read_data("funding_partners")),
    }
    session.flush()
    return counts


def propose_demo_project_axes(session: Session) -> int:
    """Link plan projects to axes as the demo data proposes, for projects not yet linked."""
    axes = {axis.code: axis for axis in session.scalars(select(StrategicAxis))}
    linked = 0
    for project in list_projects(session):
        codes = read_data("demo_project_axes").get(str(project.number), [])
        if project.axes or not codes:
            continue
        project.axes = [axes[code] for code in codes if code in axes]
        linked += 1
    session.flush()
    return linked


def list_regions(session: Session) -> list[Region]:
    """Return Morocco's regions in their official order."""
    return list(session.scalars(select(Region).order_by(Region.position)))


def list_axes(session: Session) -> list[StrategicAxis]:
    """Return the strategic axes with their projects, in two queries."""
    query = (
        select(StrategicAxis)
        .options(selectinload(StrategicAxis.projects))
        .order_by(StrategicAxis.number)
    )
    return list(session.scalars(query))


def list_projects(session: Session) -> list[PlanProject]:
    """Return the plan's projects with their axes, in plan order."""
    query = select(PlanProject).options(selectinload(PlanProject.axes)).order_by(PlanProject.number)
    return list(session.scalars(query))


def projects_without_axis(session: Session) -> list[PlanProject]:
    """Return the projects that no axis claims yet."""
    return [project for project in list_projects(session) if not project.axes]


def get_project(session: Session, number: int) -> PlanProject | None:
    """Return the plan project with this number, with its axes."""
    query = (
        select(PlanProject)
        .options(selectinload(PlanProject.axes))
        .where(PlanProject.number == number)
    )
    return session.scalar(query)


def list_sdgs(session: Session) -> list[Sdg]:
    """Return the 17 Sustainable Development Goals."""
    return list(session.scalars(select(Sdg).order_by(Sdg.number)))


def list_un_mechanisms(session: Session) -> list[UnMechanism]:
    """Return the UN human-rights mechanisms in display order."""
    return list(session.scalars(select(UnMechanism).order_by(UnMechanism.position)))


def set_project_axes(
    session: Session, project: PlanProject, axis_codes: list[str], *, actor
) -> PlanProject:
    """Link a plan project to exactly these axes (at least one)."""
    if not axis_codes:
        raise StrategyError("a project needs at least one axis")
    axes = list(session.scalars(select(StrategicAxis).where(StrategicAxis.code.in_(axis_codes))))
    if len(axes) != len(set(axis_codes)):
        raise StrategyError("unknown axis")
    before = sorted(axis.code for axis in project.axes)
    project.axes = sorted(axes, key=lambda axis: axis.number)
    after = sorted(axis.code for axis in project.axes)
    if before != after:
        record_event(
            session, actor, "strategy.project_axes_changed", project, before=before, after=after
        )
    session.flush()
    return project
