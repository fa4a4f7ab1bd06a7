"""A refusal's message names things users typed (a participant, an association): it is shown as
text, never as markup, whichever way a template prints it (CHECKLIST S16)."""

from __future__ import annotations

from flask import render_template_string
from flask_babel import force_locale, gettext
from flask_babel import lazy_gettext as _l

from portal.rules import RuleRefused

TYPED = '<img src=x onerror="alert(1)">'


def test_a_refusal_naming_typed_text_is_escaped_in_a_page(app):
    with app.test_request_context():
        error = RuleRefused(_l("%(name)s has no confirmed place in this session.", name=TYPED))
        page = render_template_string(
            "{{ error.message }}|{{ [error.message]|join(' ') }}", error=error
        )
    assert TYPED not in page
    assert page.count("&lt;img src=x onerror=") == 2


def test_a_refusal_is_translated_when_shown_and_keeps_its_field(app):
    with app.test_request_context():
        error = RuleRefused(_l("Choose from the list."), field="region")
        with force_locale("fr"):
            assert str(error.message) == gettext("Choose from the list.")
        with force_locale("ar"):
            assert str(error.message) == gettext("Choose from the list.")
    assert error.field == "region"
