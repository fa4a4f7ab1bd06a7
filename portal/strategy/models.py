"""Action-plan reference data: regions, strategic axes, plan projects, SDGs, UN mechanisms and
the funding partners of its cooperation programmes."""

from __future__ import annotations

from sqlalchemy import Column, ForeignKey, String, Table, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.extensions import db


class BilingualMixin:
    """Content kept in Arabic and French; `text_for(field, locale)` picks one (Arabic fallback)."""

    def text_for(self, field: str, locale: str) -> str:
        value = getattr(self, f"{field}_{locale}", None)
        return value or getattr(self, f"{field}_ar")


class Region(BilingualMixin, db.Model):
    __tablename__ = "region"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    position: Mapped[int]
    name_ar: Mapped[str] = mapped_column(String(120))
    name_fr: Mapped[str] = mapped_column(String(120))


plan_project_axis = Table(
    "plan_project_axis",
    db.metadata,
    Column("plan_project_id", ForeignKey("plan_project.id", ondelete="CASCADE"), primary_key=True),
    Column("axis_id", ForeignKey("strategic_axis.id", ondelete="CASCADE"), primary_key=True),
)


class StrategicAxis(BilingualMixin, db.Model):
    __tablename__ = "strategic_axis"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    number: Mapped[int]
    title_ar: Mapped[str] = mapped_column(Text)
    title_fr: Mapped[str] = mapped_column(Text)

    projects: Mapped[list[PlanProject]] = relationship(
        secondary=plan_project_axis, back_populates="axes", order_by="PlanProject.number"
    )


class PlanProject(BilingualMixin, db.Model):
    __tablename__ = "plan_project"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    group_code: Mapped[str] = mapped_column(String(40))
    group_title_ar: Mapped[str] = mapped_column(Text)
    group_title_fr: Mapped[str] = mapped_column(Text)
    title_ar: Mapped[str] = mapped_column(Text)
    title_fr: Mapped[str] = mapped_column(Text)

    axes: Mapped[list[StrategicAxis]] = relationship(
        secondary=plan_project_axis, back_populates="projects", order_by="StrategicAxis.number"
    )


class Sdg(BilingualMixin, db.Model):
    __tablename__ = "sdg"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    title_ar: Mapped[str] = mapped_column(Text)
    title_fr: Mapped[str] = mapped_column(Text)


class UnMechanism(BilingualMixin, db.Model):
    __tablename__ = "un_mechanism"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # upr, treaty_body, special_procedures
    position: Mapped[int]
    name_ar: Mapped[str] = mapped_column(Text)
    name_fr: Mapped[str] = mapped_column(Text)


class FundingPartner(BilingualMixin, db.Model):
    """A cooperation programme of the action plan that may co-fund lots and awards."""

    __tablename__ = "funding_partner"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(40), unique=True)
    name_ar: Mapped[str] = mapped_column(String(300))
    name_fr: Mapped[str] = mapped_column(String(300))
    # The action-plan project that frames the cooperation (13 to 16), when there is one.
    plan_project_number: Mapped[int | None]
