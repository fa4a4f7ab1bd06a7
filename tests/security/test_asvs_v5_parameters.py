"""Parameters sent twice or from the wrong place, and user text in JSON (OWASP ASVS 4.0.3 V5.1.1,
V5.3.6).

V5.1.1 (HTTP parameter pollution): every single-valued field of every form takes the first of two
values sent under its name, the same value and the same refusals as when it is sent once; a
posted form reads its body only, never the query string, so a link cannot fill in or override
what a person submits.

V5.3.6 (JSON injection): the open-data JSON export writes user text (titles, association names)
as JSON strings that parse back to exactly what was typed, quotes, backslashes, a closing script
tag and the line separators JavaScript refuses included, served as application/json that no
browser sniffs as a page.
"""

from __future__ import annotations

import json

import pytest
from werkzeug.datastructures import MultiDict
from wtforms import FileField, SelectMultipleField

from portal.extensions import db
from tests import factories
from tests.security.test_asvs_v5_input import BUILT_FORMS, FORMS, fill_choices, form_id

SENT_ONCE_OR_ALL = (SelectMultipleField, FileField)  # several values are the field's point
FROM_THE_ADDRESS = "from-the-address"


def _single_valued(form) -> list[str]:
    return [
        field.name
        for field in form
        if field.name != "csrf_token" and not isinstance(field, SENT_ONCE_OR_ALL)
    ]


def _read(build, items: list[tuple[str, str]], name: str):
    form = build(formdata=MultiDict(items), meta={"csrf": False})
    fill_choices(form)
    form.validate()
    return form[name].data, [str(error) for error in form[name].errors]


def _twice_differs(app, build) -> list[str]:
    """Name the fields whose data or refusals change when a second value follows the first."""
    with app.test_request_context("/", method="POST"):
        names = _single_valued(build(formdata=None, meta={"csrf": False}))
    problems = []
    for name in names:
        for first, second in (("1", "2"), ("", "9"), ("نص", "<b>x</b>")):
            with app.test_request_context("/", method="POST"):
                once = _read(build, [(name, first)], name)
                twice = _read(build, [(name, first), (name, second)], name)
            if once != twice:
                problems.append(f"{name} {first!r} then {second!r}: {twice} instead of {once}")
    return problems


@pytest.mark.parametrize("form_class", FORMS, ids=form_id)
def test_a_field_sent_twice_takes_its_first_value(app, form_class):
    """ASVS 5.1.1: a second value under the same name changes nothing, not even the refusals."""
    problems = _twice_differs(app, form_class)

    assert not problems, f"{form_id(form_class)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("label", sorted(BUILT_FORMS))
def test_a_field_of_a_form_built_per_request_sent_twice_takes_its_first_value(app, label):
    """ASVS 5.1.1: the same for the share of each partner, the result of each indicator, the
    minimum of each criterion."""
    problems = _twice_differs(app, BUILT_FORMS[label]())

    assert not problems, f"{label}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("form_class", FORMS, ids=form_id)
def test_a_posted_form_reads_its_body_never_the_query_string(app, form_class):
    """ASVS 5.1.1: every field's name in the address, an empty body: no field holds a value."""
    with app.test_request_context("/", method="POST"):
        names = [field.name for field in form_class(formdata=None, meta={"csrf": False})]
    query = dict.fromkeys(names, FROM_THE_ADDRESS)

    with app.test_request_context("/", method="POST", query_string=query, data={}):
        form = form_class(meta={"csrf": False})
        filled = [field.name for field in form if FROM_THE_ADDRESS in (field.raw_data or [])]

    assert not filled, f"{form_id(form_class)} read from the address: {filled}"


HOSTILE_TEXTS = {
    "quote and backslash": 'عنوان "مقتبس" \\ وخط مائل',
    "closing script tag": "</script><script>alert(1)</script>",
    "line separators": "سطر\u2028فاصل\u2029فقرة",
    "apostrophe and braces": 'l\'association {"a": 1}',
}


@pytest.mark.parametrize("label", sorted(HOSTILE_TEXTS))
def test_user_text_in_the_open_data_json_parses_back_to_what_was_typed(app, client, label):
    """ASVS 5.3.6: the JSON export is valid JSON whatever the text, each value exactly as typed,
    served as JSON that browsers do not sniff."""
    text = HOSTILE_TEXTS[label]
    association = factories.AssociationFactory(name_ar=text, name_fr=text)
    application = factories.submitted_application(factories.closed_call(), association)
    application.title_ar = application.title_fr = text
    db.session.commit()
    factories.funded_action(application=application)

    response = client.get("/open-data/grants.json")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    (grant,) = json.loads(response.get_data(as_text=True))["grants"]
    assert grant["title"] == grant["title_ar"] == text
    assert grant["recipientOrganization"][0]["name"] == text
    assert grant["recipientOrganization"][0]["name_ar"] == text
