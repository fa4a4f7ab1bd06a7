"""The sections of an application form and the fields each holds, with their labels."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.applications.services import BENEFICIARY_GROUPS
from portal.calls.forms import NARRATIVE_LABELS
from portal.calls.models import NARRATIVE_FIELDS

SECTIONS = {
    "summary": _l("Summary"),
    "narrative": _l("Narrative"),
    "links": _l("Human-rights links"),
    "budget": _l("Budget"),
    "team": _l("Team"),
    "documents": _l("Documents"),
}

SUMMARY_FIELDS = (
    "language",
    "lot_id",
    "title_ar",
    "title_fr",
    "duration_months",
    "regions",
    "target_groups",
    *(f"beneficiaries.{group}" for group in BENEFICIARY_GROUPS),
)
LINK_FIELDS = (
    "axes",
    "sdgs",
    "un_mechanisms",
    "un_recommendations",
    "gender_marker",
    "gender_justification",
)

FIELD_LABELS = {
    "language": _l("Language of the application"),
    "lot_id": _l("Lot"),
    "title_ar": _l("Title in Arabic"),
    "title_fr": _l("Title in French"),
    "duration_months": _l("Duration (months)"),
    "regions": _l("Regions where the project takes place"),
    "target_groups": _l("Target groups"),
    "beneficiaries.women_under_18": _l("Girls (under 18)"),
    "beneficiaries.women_18_35": _l("Women aged 18 to 35"),
    "beneficiaries.women_over_35": _l("Women over 35"),
    "beneficiaries.men_under_18": _l("Boys (under 18)"),
    "beneficiaries.men_18_35": _l("Men aged 18 to 35"),
    "beneficiaries.men_over_35": _l("Men over 35"),
    **NARRATIVE_LABELS,
    "axes": _l("Strategic axes of the action plan"),
    "sdgs": _l("Sustainable Development Goals"),
    "un_mechanisms": _l("UN human-rights mechanisms"),
    "un_recommendations": _l("Recommendations the project follows up (one per line)"),
    "gender_marker": _l("Gender equality marker (OECD DAC)"),
    "gender_justification": _l("Why this gender equality marker"),
    "team": _l("Project team (one person per line: name, role, experience)"),
}
FIELD_HINTS = {
    "activities": _l("List the activities with the months when each takes place."),
    "indicators": _l("Give each indicator with its target value."),
    "gender_marker": _l(
        "0: gender equality is not targeted; 1: it is a significant objective of the project; "
        "2: it is the principal objective. Staff confirm the marker when they decide."
    ),
    "gender_justification": _l(
        "Required for markers 1 and 2: say how the project advances gender equality (its "
        "objectives, activities and indicators)."
    ),
}
# The OECD DAC gender equality policy marker, as the association proposes it.
GENDER_MARKERS = {
    0: _l("0 – Not targeted"),
    1: _l("1 – Significant objective"),
    2: _l("2 – Principal objective"),
}
CATEGORY_LABELS = {
    "staff": _l("Staff costs"),
    "activities": _l("Activities"),
    "travel": _l("Travel and accommodation"),
    "equipment": _l("Equipment"),
    "communication": _l("Communication and publications"),
    "other": _l("Other costs"),
}


def section_fields(section: str, application=None) -> tuple[str, ...]:
    """Return the fields of one section, in display order."""
    if section == "summary":
        return SUMMARY_FIELDS
    if section == "narrative":
        return NARRATIVE_FIELDS
    if section == "links":
        return LINK_FIELDS
    if section == "team":
        return ("team",)
    return ()
