"""The action-plan reference data loaded from the package's data files."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, func, select

from portal.extensions import db
from portal.strategy.models import (
    FundingPartner,
    PlanProject,
    Region,
    Sdg,
    StrategicAxis,
    UnMechanism,
)
from portal.strategy.services import load_reference_data

MODELS = (Region, StrategicAxis, PlanProject, Sdg, UnMechanism, FundingPartner)
EXPECTED_COUNTS = {
    Region: 12,
    StrategicAxis: 4,
    PlanProject: 27,
    Sdg: 17,
    UnMechanism: 12,
    FundingPartner: 4,
}
TREATY_BODIES = {"CESCR", "CCPR", "CRC", "CEDAW", "CAT", "CRPD", "CERD", "CMW", "CED"}


def counts() -> dict:
    return {model: db.session.scalar(select(func.count()).select_from(model)) for model in MODELS}


def snapshot() -> dict:
    """Every reference row as plain values, to compare two loads."""
    db.session.expire_all()
    return {
        model.__tablename__: sorted(
            tuple(str(getattr(row, column.key)) for column in model.__table__.columns)
            for row in db.session.scalars(select(model))
        )
        for model in MODELS
    }


@pytest.fixture
def empty_reference_tables(session):
    """Delete the reference rows inside a transaction the test rolls back (others need them)."""
    for model in reversed(MODELS):
        session.execute(delete(model))
    session.flush()
    assert set(counts().values()) == {0}
    yield
    session.rollback()


def test_load_fills_empty_tables_with_the_plan_reference_data(session, empty_reference_tables):
    reported = load_reference_data(session)

    assert counts() == EXPECTED_COUNTS
    assert reported == {
        "regions": 12,
        "axes": 4,
        "plan projects": 27,
        "SDGs": 17,
        "UN mechanisms": 12,
        "funding partners": 4,
    }


def test_the_twelve_regions_have_unique_codes_and_both_names(app):
    regions = list(db.session.scalars(select(Region).order_by(Region.position)))

    assert len(regions) == 12
    assert [region.position for region in regions] == list(range(1, 13))
    assert len({region.code for region in regions}) == 12
    assert all(region.name_ar and region.name_fr for region in regions)
    codes = {region.code for region in regions}
    assert {"rabat-sale-kenitra", "souss-massa", "dakhla-oued-ed-dahab"} <= codes


def test_the_four_axes_are_numbered_1_to_4_in_both_languages(app):
    axes = list(db.session.scalars(select(StrategicAxis).order_by(StrategicAxis.number)))

    assert [axis.number for axis in axes] == [1, 2, 3, 4]
    assert all(axis.title_ar and axis.title_fr for axis in axes)


def test_the_27_plan_projects_are_numbered_1_to_27_with_arabic_and_french_titles(app):
    projects = list(db.session.scalars(select(PlanProject).order_by(PlanProject.number)))

    assert [project.number for project in projects] == list(range(1, 28))
    for project in projects:
        assert project.title_ar.strip() and project.title_fr.strip(), project.number
        assert any("\u0600" <= char <= "\u06ff" for char in project.title_ar), project.number
        assert project.group_code and project.group_title_ar and project.group_title_fr
    titles = {project.number: project.title_ar for project in projects}
    assert "طلب مشاريع لفائدة الجمعيات" in titles[21]
    assert len(set(titles.values())) == 27


def test_the_17_sdgs_are_numbered_1_to_17(app):
    sdgs = list(db.session.scalars(select(Sdg).order_by(Sdg.number)))

    assert [sdg.number for sdg in sdgs] == list(range(1, 18))
    assert all(sdg.title_ar and sdg.title_fr for sdg in sdgs)


def test_un_mechanisms_include_the_upr_the_treaty_bodies_and_special_procedures(app):
    mechanisms = {m.code: m for m in db.session.scalars(select(UnMechanism))}

    assert mechanisms["UPR"].kind == "upr"
    for code in TREATY_BODIES:
        assert mechanisms[code].kind == "treaty_body", code
    assert [m.kind for m in mechanisms.values()].count("special_procedures") == 1
    assert all(m.name_ar and m.name_fr for m in mechanisms.values())


def test_loading_again_changes_nothing(session):
    before = snapshot()

    load_reference_data(session)
    session.commit()
    load_reference_data(session)
    session.commit()

    assert snapshot() == before
    assert counts() == EXPECTED_COUNTS


def test_loading_restores_an_edited_text_without_duplicating_the_row(session):
    """The data files are the source: a re-load refreshes texts in place, keeping ids."""
    region = session.scalar(select(Region).where(Region.code == "souss-massa"))
    region_id, name_fr = region.id, region.name_fr
    region.name_fr = "Nom modifié"
    session.flush()

    load_reference_data(session)
    session.flush()

    assert counts() == EXPECTED_COUNTS
    restored = session.scalar(select(Region).where(Region.code == "souss-massa"))
    assert (restored.id, restored.name_fr) == (region_id, name_fr)
    session.rollback()


def test_the_funding_partners_are_the_cooperation_programmes_of_plan_projects_13_to_16(app):
    partners = db.session.scalars(select(FundingPartner).order_by(FundingPartner.code)).all()

    assert {partner.code: partner.plan_project_number for partner in partners} == {
        "DCAF": 16,
        "UN-WOMEN": 15,
        "UNDP": 13,
        "UNFPA": 14,
    }
    assert all(partner.name_ar and partner.name_fr for partner in partners)
