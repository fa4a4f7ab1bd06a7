"""The fixed lists an association profile picks from (labels translated)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

LEGAL_FORMS = {
    "association": _l("Association"),
    "federation": _l("Federation or union of associations"),
    "network": _l("Network or coalition"),
    "foundation": _l("Foundation"),
}

FIELDS_OF_WORK = {
    "civil-political-rights": _l("Civil and political rights"),
    "economic-social-rights": _l("Economic, social and cultural rights"),
    "womens-rights": _l("Women's rights and equality"),
    "childrens-rights": _l("Children's rights"),
    "disability-rights": _l("Rights of persons with disabilities"),
    "migration-asylum": _l("Migration and asylum"),
    "justice-detention": _l("Justice and places of detention"),
    "environment": _l("Environmental rights"),
    "education-awareness": _l("Human-rights education and awareness"),
    "un-mechanisms": _l("Interaction with UN mechanisms"),
}

TARGET_GROUPS = {
    "women": _l("Women"),
    "children": _l("Children"),
    "youth": _l("Young people"),
    "persons-with-disabilities": _l("Persons with disabilities"),
    "migrants": _l("Migrants and refugees"),
    "older-persons": _l("Older persons"),
    "detainees": _l("Detainees"),
    "rural-communities": _l("Rural communities"),
}
