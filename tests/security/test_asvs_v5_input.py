"""Input validation and output encoding (OWASP ASVS 4.0.3 V5.1.3, V5.1.4, V5.3.1, V5.3.3;
CHECKLIST S16, S20).

The sweep walks every WTForms form of the portal (found by importing its packages and walking
FlaskForm's subclasses, so a new form is swept without being listed) and sends each field what a
person or a script may: too long a text, control characters, a number or a date that is not one,
a choice that was not offered. Each must be refused with a sentence in the reader's language,
by the form itself or, where a form leaves the checks to its service (SERVICE_CHECKS), by the
service. Then real requests to representative forms prove the refusal reaches the page (422,
the message beside the field) and that nothing is written.

Proved elsewhere, and not repeated here:
- markup in an application's texts is shown inert on its pages and the staff list:
  tests/applications/test_bad_inputs.py::test_markup_and_template_syntax_in_texts_are_shown_inert;
  in an association's names on its pages and the staff lists:
  tests/organisations/test_profile.py::test_markup_in_the_name_is_shown_as_text;
- an invitation e-mail's HTML part escapes the names, its text part keeps them as typed:
  tests/notifications/test_outbox.py;
- a file name with markup is printed as text in the receipt PDF:
  tests/applications/test_receipts.py::test_receipt_pdf_renders_user_markup_as_text;
- bad budget lines, a superscript digit in a number, the 25 MB request limit:
  tests/applications/test_bad_inputs.py;
- formulas made inert in each spreadsheet export: EXPORT_PROOFS below names the test of each.
"""

from __future__ import annotations

import csv
import importlib
import io
import pkgutil
import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urlencode

import pytest
from flask_babel import force_locale, gettext
from flask_wtf import FlaskForm
from markupsafe import escape
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict
from wtforms import (
    BooleanField,
    DateField,
    DateTimeField,
    DecimalField,
    FileField,
    FloatField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import Length

import portal
from portal.accounts.models import User
from portal.actions import reports
from portal.actions import services as action_services
from portal.actions.models import ProgressReport
from portal.applications.models import Application
from portal.extensions import db
from portal.forms import choices
from portal.organisations.models import Association
from portal.review.models import Review
from portal.rules import RuleRefused
from portal.training import services as training_services
from tests import factories
from tests.calls.helpers import form_shown
from tests.conftest import TEST_PASSWORD, shown, sign_in
from tests.security.conftest import COLLECTION_APP, ROUTES, client_as, tags_of, url_of

# --- finding every form ---------------------------------------------------------------------


def _subclasses(cls):
    for subclass in cls.__subclasses__():
        yield subclass
        yield from _subclasses(subclass)


def portal_forms() -> list[type[FlaskForm]]:
    """Return every form class the portal defines at module level, after importing it all.

    Forms built per request (a share field per partner, a field per indicator, a minimum per
    criterion) are swept through their builders: BUILT_FORMS."""
    for module in pkgutil.walk_packages(portal.__path__, "portal."):
        importlib.import_module(module.name)
    found = {
        cls
        for cls in _subclasses(FlaskForm)
        if cls.__module__.startswith("portal.") and "<locals>" not in cls.__qualname__
    }
    return sorted(found, key=lambda cls: (cls.__module__, cls.__qualname__))


FORMS = portal_forms()


def form_id(cls) -> str:
    return f"{cls.__module__.removeprefix('portal.')}.{cls.__qualname__}"


def _decision_form():
    from portal.calls.services import list_funding_partners
    from portal.extensions import db
    from portal.results.forms import decision_form_class

    return decision_form_class(list_funding_partners(db.session), "ar")


def _review_settings_form():
    from portal.review.ranking_views import settings_form

    call = factories.published_call()
    return lambda **kwargs: settings_form(call, **kwargs)


def _report_form():
    from portal.actions.forms import report_form_class

    application = factories.submitted_application(
        factories.closed_call(), indicator_targets=[{"indicator": "ورشات", "target": "12"}]
    )
    return report_form_class(factories.funded_action(application=application), "ar")


BUILT_FORMS = {
    "results.forms.decision_form_class": _decision_form,
    "review.ranking_views.settings_form": _review_settings_form,
    "actions.forms.report_form_class": _report_form,
}


# --- checks a form leaves to its service ----------------------------------------------------

PARTICIPANT = {
    "full_name": "أمينة بناني",
    "sex": "female",
    "role": "منسقة",
    "email": "amina@example.org",
    "phone": "0612345678",
    "locale": "ar",
    "accessibility_needs": "",
}


def _participant(name: str, value) -> list[str]:
    try:
        training_services.clean_participant({**PARTICIPANT, name: value})
    except RuleRefused as refusal:
        return [str(refusal.message)] if refusal.field == name else []
    return []


def _amount(name: str, value) -> list[str]:
    try:
        action_services.clean_amount(value, name, required=name == "amount")
    except RuleRefused as refusal:
        return [str(refusal.message)] if refusal.field == name else []
    return []


def _report(name: str, value) -> list[str]:
    line = SimpleNamespace(id=int(name.removeprefix("spent_")) if name.startswith("spent_") else 0)
    action = SimpleNamespace(application=SimpleNamespace(indicator_targets=[], budget_lines=[line]))
    try:
        reports.clean_report(action, {name: value})
    except reports.ReportInvalid as refusal:
        return [str(refusal.errors[name])] if name in refusal.errors else []
    return []


# (form, field name pattern) -> the service's check, returning the refusal's message.
SERVICE_CHECKS = {
    ("training.forms.EnrolmentForm", r"sex|locale"): _participant,
    ("actions.forms.TrancheForm", r"amount|paid_amount"): _amount,
    ("actions.forms.ReportForm", r"progress_percent"): _report,
    ("actions.forms.report_form_class", r"progress_percent|beneficiaries_\w+|spent_\d+"): _report,
}

# Fields whose bad values no form or service refuses, on purpose, with the test that proves the
# behaviour chosen instead.
NOT_REFUSED = {
    "training.forms.EnrolmentForm.association_id": (
        "checked against the user's associations by the view",
        "tests/training/test_enrolment_pages.py::"
        "test_choosing_an_association_the_user_does_not_manage_is_refused",
    ),
    "calls.forms.LotForm.partner_code": (
        "checked against the funding partners by the service",
        "tests/calls/test_services_building.py::"
        "test_a_lot_partner_must_be_known_and_its_share_a_percentage",
    ),
    "actions.forms.MilestoneForm.title": (
        "checked by the service: required, one line, no control characters, 200 characters",
        "tests/actions/test_milestones.py::BAD_MILESTONES",
    ),
    "training.attendance_forms.VerifyForm.code": (
        "any text is a code no certificate has: the page says so (404)",
        "tests/training/test_certificate_verification.py::"
        "test_an_unknown_or_forged_code_is_not_found_with_a_clear_message",
    ),
    "organisations.forms.AssociationFilterForm.region": (
        "a filter of the staff list: a region that does not exist lists nothing",
        "tests/security/test_asvs_v5_input.py::test_no_page_answers_500_to_bad_query_values",
    ),
    "organisations.forms.AssociationFilterForm.status": (
        "a filter of the staff list: an unknown status is ignored",
        "tests/security/test_asvs_v5_input.py::test_no_page_answers_500_to_bad_query_values",
    ),
}


def service_check(form_label: str, name: str):
    for (label, pattern), check in SERVICE_CHECKS.items():
        if label == form_label and re.fullmatch(pattern, name):
            return check
    return None


# --- what each kind of field is sent --------------------------------------------------------

# Fields no typed value can make wrong: a checkbox is ticked or not, a hidden field holds what
# the page set (its view parses it), a file is checked by portal/applications/uploads.py
# (tests/security/test_asvs_v12_files.py).
NOT_TYPED = (BooleanField, HiddenField, FileField)
NUMBERS = (IntegerField, DecimalField, FloatField)
DATES = (DateField, DateTimeField, TimeField)  # DateTimeLocalField is a DateTimeField
CHOICES = (SelectField, RadioField, SelectMultipleField)

CONTROL_CHARACTERS = {
    "nul": "\x00",
    "bell": "\x07",
    "escape": "\x1b",
    "delete": "\x7f",
    "next-line": "\x85",
    "right-to-left-override": "\u202e",
}
LINE_BREAKS = {"line-feed": "\n", "carriage-return": "\r", "tab": "\t"}
# Arabic text legitimately holds these: they must never be refused.
ARABIC_MARKS = "جمعية\u200f النور\u200c (AMDH)\u200e"
NOT_NUMBERS = ["abc", "1e999", "²", "99999999999999999999", "-99999999999999999999"]
NOT_DATES = {
    DateField: ["2026-13-45", "2026-02-30", "abc"],
    DateTimeField: ["2026-13-45T10:00", "2026-01-01T25:61", "abc"],
    TimeField: ["25:61", "abc"],
}
NOT_OFFERED = "not-offered"
LONG_TEXT = "م" * 10_000
ARABIC_LETTER = re.compile("[\u0600-\u06ff]")
LOCALES = ("ar", "fr", "en")
REPR = re.compile(r"ValidationError|LazyString|lazy_gettext|<[a-z]|\bNone\b|^[\[(]|%\(")


def is_number_typed_as_text(field) -> bool:
    """A text input the page types as a number, with no length of its own: sent non-numbers."""
    inputmode = (field.render_kw or {}).get("inputmode")
    has_length = any(isinstance(v, Length) for v in field.validators)
    return inputmode in {"numeric", "decimal"} and not has_length


def date_kind(field) -> type:
    return next(kind for kind in (DateField, TimeField, DateTimeField) if isinstance(field, kind))


def fill_choices(form) -> None:
    """Offer one option in every choice field its view fills from the database."""
    for field in form:
        if isinstance(field, CHOICES) and not field.choices:
            field.choices = choices([(field.coerce("1"), "1")])


class Sweep:
    """Sends one form's fields their bad values, in Arabic, French and English."""

    def __init__(self, app, label: str, build):
        self.app, self.label, self.build = app, label, build

    def errors(self, locale: str, name: str, value) -> list[str]:
        """Return the field's refusals of `value` in `locale` (the form's, else its service's)."""
        items = [(name, item) for item in value] if isinstance(value, list) else [(name, value)]
        with self.app.test_request_context("/", method="POST"), force_locale(locale):
            form = self.build(formdata=MultiDict(items), meta={"csrf": False})
            fill_choices(form)
            form.validate()
            found = [str(error) for error in form[name].errors]
            check = service_check(self.label, name)
            if check is not None:
                found += check(name, value)
            return found

    def in_each_locale(self, name: str, value) -> dict[str, list[str]]:
        return {locale: self.errors(locale, name, value) for locale in LOCALES}

    def refused(self, name: str, value) -> list[str]:
        """Say what is wrong with the refusal of `value`: none, untranslated, not a sentence, or
        WTForms' "This field is required." (which tells someone who typed that they did not)."""
        errors = self.in_each_locale(name, value)
        problems = sentence_problems(errors)
        if form_shown("This field is required.") in errors["ar"]:
            problems.append("a typed value is refused as if the field were empty")
        return problems

    def kept_as_typed(self, name: str, value: str, character: str) -> bool:
        """Tell whether the character reaches the field's data (its filters may drop it)."""
        with self.app.test_request_context("/", method="POST"):
            form = self.build(formdata=MultiDict([(name, value)]), meta={"csrf": False})
            return character in (form[name].data or "")

    def text(self, field) -> list[str]:
        """A typed text: bounded (at the boundary), control characters refused, Arabic kept."""
        problems = []
        name = field.name
        lengths = [v.max for v in field.validators if isinstance(v, Length) and v.max > 0]
        if lengths:
            maximum = min(lengths)
            at_most = self.in_each_locale(name, "م" * maximum)
            over = self.in_each_locale(name, "م" * (maximum + 1))
            new = {locale: [e for e in over[locale] if e not in at_most[locale]] for locale in over}
            if new["ar"]:
                problems += sentence_problems(new)
            else:
                problems.append(f"{maximum + 1} characters are not refused (at most {maximum})")
        elif isinstance(field, PasswordField):
            problems += self.refused(name, LONG_TEXT)
        else:
            problems.append("has no maximum length (add portal.forms.max_length)")

        samples = dict(CONTROL_CHARACTERS)
        if not isinstance(field, TextAreaField):
            samples.update(LINE_BREAKS)
        for label, character in samples.items():
            value = f"نص{character}texte"
            if self.kept_as_typed(name, value, character):
                problems += [f"{label}: {problem}" for problem in self.refused(name, value)]

        kept = f"{ARABIC_MARKS}\r\nسطر ثان\tو" if isinstance(field, TextAreaField) else ARABIC_MARKS
        control = expected("ar", "Control characters are not allowed.")
        if control in self.errors("ar", name, kept):
            problems.append("refuses the marks of Arabic text (or a multi-line text's breaks)")
        return problems

    def number(self, field) -> list[str]:
        return [
            f"{value!r}: {problem}"
            for value in NOT_NUMBERS
            for problem in self.refused(field.name, value)
        ]

    def date(self, field) -> list[str]:
        return [
            f"{value!r}: {problem}"
            for value in NOT_DATES[date_kind(field)]
            for problem in self.refused(field.name, value)
        ]

    def choice(self, field) -> list[str]:
        values = ["abc", "999999"] if field.coerce is int else [NOT_OFFERED]
        multiple = isinstance(field, SelectMultipleField)
        return [
            f"{value!r}: {problem}"
            for value in values
            for problem in self.refused(field.name, [value] if multiple else value)
        ]

    def field(self, field) -> list[str]:
        if isinstance(field, NOT_TYPED) or field.name == "csrf_token":
            return []
        if f"{self.label}.{field.name}" in NOT_REFUSED:
            return []
        if isinstance(field, StringField):
            return self.number(field) if is_number_typed_as_text(field) else self.text(field)
        if isinstance(field, NUMBERS):
            return self.number(field)
        if isinstance(field, DATES):
            return self.date(field)
        if isinstance(field, CHOICES):
            return self.choice(field)
        return [f"the sweep does not know {type(field).__name__}: teach it this kind of field"]

    def run(self) -> list[str]:
        """Return every problem found, each naming its field."""
        try:
            with self.app.test_request_context("/", method="POST"):
                fields = list(self.build(formdata=None, meta={"csrf": False}))
        except Exception as error:  # noqa: BLE001 — a form the sweep cannot build is a failure
            return [f"the sweep cannot build the form: {error!r}"]
        problems = []
        for field in fields:
            try:
                found = self.field(field)
            except Exception as error:  # noqa: BLE001 — a crash on bad input is a finding
                found = [f"validating it raised {error!r}"]
            problems += [f"{field.name}: {problem}" for problem in found]
        return problems


def sentence_problems(locale_errors: dict[str, list[str]]) -> list[str]:
    """Say what is wrong with a field's refusals: none, untranslated, or not a sentence."""
    arabic, french, english = (locale_errors[locale] for locale in LOCALES)
    if not arabic or len(arabic) != len(french):
        return [f"not refused (Arabic: {arabic!r}, French: {french!r})"]
    problems = []
    for ar, fr, en in zip(arabic, french, english, strict=True):
        if not ARABIC_LETTER.search(ar):
            problems.append(f"{ar!r} is not translated into Arabic")
        if fr == en:
            problems.append(f"{fr!r} is not translated into French")
        problems += [f"{text!r} reads like code" for text in (ar, fr) if REPR.search(text)]
    return problems


def expected(locale: str, message: str, **variables) -> str:
    with force_locale(locale):
        return gettext(message, **variables)


# --- the sweep ------------------------------------------------------------------------------


def test_the_sweep_finds_the_forms_of_every_domain():
    """The walk really imports the portal: forms of each domain and of views' modules are found."""
    names = {form_id(cls) for cls in FORMS}

    for known in (
        "accounts.forms.SignUpForm",
        "organisations.forms.AssociationForm",
        "calls.forms.CallForm",
        "actions.forms.ReportForm",
        "results.forms.DecisionForm",
        "results.appeal_forms.AnswerForm",
        "review.ranking_views.ConsensusForm",
        "training.forms.EnrolmentForm",
        "training.statistics_views.SurveyForm",
        "applications.receipt_views.ReceiptCheckForm",
    ):
        assert known in names
    assert len(FORMS) >= 55


@pytest.mark.parametrize("form_class", FORMS, ids=form_id)
def test_every_field_refuses_bad_input_with_a_translated_sentence(app, form_class):
    """ASVS 5.1.3, 5.1.4: over-long texts, control characters, numbers and dates that are not
    ones and choices not offered are refused, with a sentence in Arabic and in French."""
    problems = Sweep(app, form_id(form_class), form_class).run()

    assert not problems, f"{form_id(form_class)}:\n  " + "\n  ".join(problems)


@pytest.mark.parametrize("label", sorted(BUILT_FORMS))
def test_every_field_of_forms_built_per_request_refuses_bad_input(app, label):
    """ASVS 5.1.3, 5.1.4: the same for the share of each partner, the result of each indicator,
    the minimum of each criterion."""
    problems = Sweep(app, label, BUILT_FORMS[label]()).run()

    assert not problems, f"{label}:\n  " + "\n  ".join(problems)


def test_every_exception_to_the_sweep_still_exists_and_names_a_real_test():
    """An exception for a field that was renamed, or a proof that was deleted, fails here."""
    fields = {f"{form_id(cls)}.{name}" for cls in FORMS for name in dir(cls)}
    forms = {form_id(cls) for cls in FORMS} | set(BUILT_FORMS)
    for field in NOT_REFUSED:
        assert field in fields, field
    for label, _pattern in SERVICE_CHECKS:
        assert label in forms, label
    root = Path(__file__).parent.parent.parent
    for _reason, proof in NOT_REFUSED.values():
        path, name = proof.split("::")
        assert re.search(rf"^(def {name}\(|{name} = )", (root / path).read_text(), re.M), proof


# --- bad input through real requests: 422, the message beside the field, nothing written -----

NUL = "\x00"
OVERRIDE = "\u202e"
HTMX = {"HX-Request": "true"}


def error_of(page: str, field: str) -> str:
    """Return the error shown under a form's field (its `<p class="error" id="…-error">`)."""
    found = re.search(rf'<p class="error" id="{re.escape(field)}-error">([^<]*)</p>', page)
    return found.group(1) if found else ""


def rows(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize(
    ("name", "value", "message", "variables"),
    [
        ("title_ar", "م" * 301, "Use at most %(n)d characters.", {"n": 300}),
        ("title_ar", f"عنوان{NUL}", "Control characters are not allowed.", {}),
        ("title_fr", f"Titre{OVERRIDE}fdp.exe", "Control characters are not allowed.", {}),
        ("title_fr", "Titre\nsur deux lignes", "Control characters are not allowed.", {}),
        ("context", "سياق\x1b[31m", "Control characters are not allowed.", {}),
        ("duration_months", "1e999", "Enter a whole number, without spaces or signs.", {}),
        ("regions", ["not-a-region"], "Choose from the list.", {}),
    ],
    ids=["too-long", "nul", "override", "line-break", "escape", "exponent", "not-offered"],
)
def test_application_autosave_refuses_bad_input_beside_the_field(
    draft, session, name, value, message, variables
):
    """ASVS 5.1.3, 5.1.4: the autosave of one field answers 422 with the message in the field's
    status, and the application is left as it was."""
    client, application = draft
    before = (application.version, application.title_ar, application.title_fr, application.context)

    response = client.post(
        f"/applications/{application.id}/fields/{name}",
        data={name: value, f"version.{name}": 0},
        headers=HTMX,
    )

    assert response.status_code == 422, response.text[:1000]
    status = response.text.partition(f'id="f-{name}-status"')[2].partition("</div>")[0]
    assert shown(message, **variables) in status
    session.expire_all()
    saved = session.get(Application, application.id)
    assert (saved.version, saved.title_ar, saved.title_fr, saved.context) == before


@pytest.mark.parametrize(
    ("field", "value", "message", "variables"),
    [
        ("full_name", "أ" * 121, "Use at most %(n)d characters.", {"n": 120}),
        ("full_name", f"أمينة{NUL}", "Control characters are not allowed.", {}),
        ("full_name", f"Amina{OVERRIDE}", "Control characters are not allowed.", {}),
        ("email", f"amina{NUL}@example.org", "Enter a valid e-mail address.", {}),
    ],
    ids=["too-long", "nul", "override", "nul-in-email"],
)
def test_sign_up_refuses_bad_input_beside_the_field_and_creates_no_account(
    client, field, value, message, variables
):
    """ASVS 5.1.3: the sign-up page answers 422 with the message under the field; no account."""
    data = {
        "full_name": "أمينة بناني",
        "email": "amina@example.org",
        "password": TEST_PASSWORD,
        "confirm": TEST_PASSWORD,
        field: value,
    }

    response = client.post("/account/sign-up", data=data)

    assert response.status_code == 422
    assert shown(message, **variables) in error_of(response.text, field)
    assert rows(User) == 0


PROFILE = {
    "name_ar": "جمعية النور",
    "name_fr": "Association Annour",
    "acronym": "AN",
    "legal_form": "association",
    "registration_number": "AG-2014-0093",
    "founded_on": "2014-06-21",
    "region": "souss-massa",
    "city": "Agadir",
    "email": "contact@annour.example.ma",
    "fields_of_work": ["womens-rights"],
}


@pytest.mark.parametrize(
    ("field", "value", "message", "variables"),
    [
        ("name_ar", "ج" * 201, "Use at most %(n)d characters.", {"n": 200}),
        ("name_ar", f"جمعية{NUL}", "Control characters are not allowed.", {}),
        ("name_fr", f"Association{OVERRIDE}", "Control characters are not allowed.", {}),
        ("description_fr", "Texte\x07", "Control characters are not allowed.", {}),
        ("founded_on", "2014-13-45", "Not a valid date value.", {}),
        ("region", "atlantis", "Choose one of Morocco's 12 regions.", {}),
        ("fields_of_work", ["bribery"], "Choose fields of work from the list.", {}),
    ],
    ids=["too-long", "nul", "override", "bell", "date", "region", "not-offered"],
)
def test_association_profile_refuses_bad_input_beside_the_field_and_writes_nothing(
    login_as, field, value, message, variables
):
    """ASVS 5.1.3, 5.1.4: registering (and editing) answers 422 with the message under the
    field; no association is created and an existing one keeps its values."""
    client, user = login_as("applicant")
    existing = factories.AssociationFactory(owner=user, name_ar="جمعية قائمة")
    before = rows(Association)

    created = client.post("/associations/new", data={**PROFILE, field: value})
    edited = client.post(f"/associations/{existing.id}/edit", data={**PROFILE, field: value})

    for response in (created, edited):
        assert response.status_code == 422
        if message == "Not a valid date value.":  # WTForms' own message, from its catalogue
            assert form_shown(message) in error_of(response.text, field)
        else:
            assert shown(message, **variables) in error_of(response.text, field)
    assert rows(Association) == before
    db.session.expire_all()
    assert db.session.get(Association, existing.id).name_ar == "جمعية قائمة"


@pytest.fixture
def review(app, session):
    """(client of the assigned evaluator, review)."""
    call = factories.closed_call()
    application = factories.submitted_application(call)
    user = factories.evaluator(call)
    return sign_in(app.test_client(), user), factories.assign(application, user)


@pytest.mark.parametrize(
    ("value", "message", "variables"),
    [
        ("ت" * 5001, "Use at most %(n)d characters.", {"n": 5000}),
        (f"تعليق{NUL}", "Control characters are not allowed.", {}),
        (f"commentaire{OVERRIDE}", "Control characters are not allowed.", {}),
    ],
    ids=["too-long", "nul", "override"],
)
def test_review_comment_refuses_bad_input_and_keeps_the_saved_one(
    review, session, value, message, variables
):
    """ASVS 5.1.3: the evaluator's comments answer 422 with the message; nothing is saved."""
    client, the_review = review
    url = f"/reviews/{the_review.id}/comments"

    refused = client.post(
        url, data={"overall_comment": value, "shared_comment": "", "version": "0"}, headers=HTMX
    )
    page = client.post(url, data={"overall_comment": value, "shared_comment": "", "version": "0"})

    for response in (refused, page):
        assert response.status_code == 422
        assert shown(message, **variables) in response.text
    session.expire_all()
    saved = session.get(Review, the_review.id)
    assert (saved.overall_comment, saved.comments_version) == ("", 0)


@pytest.fixture
def report(login_as):
    """(client of the association's owner, action, report due)."""
    from tests.actions.support import action_with_indicators, due_report

    client, user = login_as("applicant")
    action = action_with_indicators(factories.AssociationFactory(owner=user))
    return client, action, due_report(action)


@pytest.mark.parametrize(
    ("field", "value", "message", "variables"),
    [
        ("activities_done", f"ورشات{NUL}", "Control characters are not allowed.", {}),
        ("indicator_0", "م" * 201, "Use at most %(n)d characters.", {"n": 200}),
        ("indicator_1", f"55{OVERRIDE}", "Control characters are not allowed.", {}),
        ("progress_percent", "1e999", "Enter a percentage from 0 to 100.", {}),
        (
            "beneficiaries_women_18_35",
            "abc",
            "Enter a whole number with the digits 0 to 9, without signs.",
            {},
        ),
    ],
    ids=["nul", "too-long", "override", "exponent", "letters"],
)
def test_progress_report_refuses_bad_input_beside_the_field_and_writes_nothing(
    report, field, value, message, variables
):
    """ASVS 5.1.3, 5.1.4: the report answers 422 with the message under the field; the report
    keeps its content and version."""
    from tests.actions.support import filled

    client, action, due = report

    response = client.post(
        f"/actions/{action.id}/reports/{due.id}", data=filled(action, **{field: value})
    )

    assert response.status_code == 422, response.text[:2000]
    assert shown(message, **variables) in error_of(response.text, field)
    db.session.expire_all()
    saved = db.session.get(ProgressReport, due.id)
    assert (saved.version, saved.activities_done, saved.progress_percent) == (1, "", None)


@pytest.mark.parametrize("version", ["²", "1e3", "-1", "99999999999999999999"])
def test_a_report_version_that_is_not_a_number_is_refused_not_a_server_error(report, version):
    """ASVS 5.1.3: the version the page carries, altered, is a conflict, not an error 500."""
    from tests.actions.support import filled

    client, action, due = report

    response = client.post(
        f"/actions/{action.id}/reports/{due.id}", data=filled(action, version=version)
    )

    assert response.status_code in (409, 422), response.status_code
    db.session.expire_all()
    assert db.session.get(ProgressReport, due.id).activities_done == ""


# --- no page or form answers 500 to a NUL byte or an absurd number --------------------------

# Between them they open every page: admin the staff and admin pages, the owner of A its
# association's, the evaluator the review pages; the public pages are open to all three.
FUZZ_ACTORS = ("member_a", "evaluator", "admin")
GET_ROUTES = sorted({endpoint for endpoint, method in ROUTES if method == "GET"})
PORTAL_SOURCE = Path(portal.__file__).parent
# Every field of the portal's GET forms (filters, searches, lookups) and every query argument a
# view reads itself (the page number, a call, a lot ...).
QUERY_FIELDS = sorted(
    {
        name
        for cls in FORMS
        if not getattr(cls.Meta, "csrf", True)
        for name, value in vars(cls).items()
        if hasattr(value, "field_class")
    }
    | {
        name
        for path in PORTAL_SOURCE.rglob("*.py")
        for name in re.findall(r'request\.args\.get(?:list)?\("(\w+)"', path.read_text())
    }
)
TYPED_INPUTS = {"text", "email", "url", "tel", "search", "number", "date", "month", "time"}


class _Forms(HTMLParser):
    """The POST forms of a page: action and every field with the value the page gives it."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict] = []
        self.open: dict | None = None
        self.textarea: str | None = None
        self.select: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            method = (a.get("method") or "get").lower()
            self.open = {"action": a.get("action") or "", "fields": [], "typed": []}
            if method == "post":
                self.forms.append(self.open)
            return
        if self.open is None or (a.get("name") or "csrf_token").endswith("csrf_token"):
            return  # the client sends its own CSRF token
        name, kind = a["name"], (a.get("type") or "text").lower()
        if tag == "input":
            if kind in {"checkbox", "radio"} and "checked" not in a:
                return
            if kind == "submit" and any(f[0] == name for f in self.open["fields"]):
                return
            self.open["fields"].append((name, a.get("value") or ""))
            if kind in TYPED_INPUTS or kind == "datetime-local":
                self.open["typed"].append(name)
        elif tag == "button" and kind == "submit" and a.get("value") is not None:
            if not any(f[0] == name for f in self.open["fields"]):
                self.open["fields"].append((name, a["value"]))
        elif tag == "textarea":
            self.textarea = name
            self.open["fields"].append((name, ""))
            self.open["typed"].append(name)
        elif tag == "select":
            self.select = name
        elif tag == "option" and self.select and "selected" in a:
            self.open["fields"].append((self.select, a.get("value") or ""))

    def handle_endtag(self, tag):
        if tag == "form":
            self.open = None
        elif tag == "textarea":
            self.textarea = None
        elif tag == "select":
            self.select = None

    def handle_data(self, data):
        if self.textarea and self.open is not None:
            fields = self.open["fields"]
            fields[-1] = (fields[-1][0], fields[-1][1] + data)


def post_forms(page: str) -> list[dict]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


@pytest.mark.sweep
@pytest.mark.parametrize("value", [NUL, "99999999999999999999"], ids=["nul", "huge"])
def test_no_page_answers_500_to_bad_query_values(app, world, value):
    """ASVS 5.1.3: every GET page, for each actor, with every query argument set to a NUL byte
    (which PostgreSQL can neither store nor compare) or to a number no column holds: never a
    500."""
    query = urlencode(dict.fromkeys(QUERY_FIELDS, value))
    failures = []
    for endpoint in GET_ROUTES:
        url = url_of(app, world, endpoint, "GET")
        for actor in FUZZ_ACTORS:
            try:
                response = client_as(app, world.users[actor]).get(f"{url}?{query}", buffered=True)
            except Exception as error:  # noqa: BLE001 — the test client re-raises the 500's cause
                failures.append(f"{actor} GET {url}: {error!r}")
                continue
            if response.status_code >= 500:
                failures.append(f"{actor} GET {url}: {response.status_code}")
    assert "call" in QUERY_FIELDS and "q" in QUERY_FIELDS and "page" in QUERY_FIELDS
    assert not failures, "\n".join(failures)


@pytest.mark.sweep
def test_no_form_answers_500_to_a_nul_byte_in_a_field(app, world):
    """ASVS 5.1.3, 5.1.4: every POST form on every page each actor can open, sent back with a
    NUL byte in one typed field at a time (the others as the page filled them): never a 500.
    PostgreSQL refuses to store a NUL, so a field that lets one through fails there."""
    seen, failures = set(), []
    for actor in FUZZ_ACTORS:
        for endpoint in GET_ROUTES:
            url = url_of(app, world, endpoint, "GET")
            page = client_as(app, world.users[actor]).get(url, buffered=True)
            if page.status_code != 200 or page.mimetype != "text/html":
                continue
            for form in post_forms(page.get_data(as_text=True)):
                action = form["action"] or url
                key = (re.sub(r"\d+", "N", action), tuple(sorted(form["typed"])))
                if key in seen or not action.startswith("/"):
                    continue
                seen.add(key)
                for name in form["typed"]:
                    data = MultiDict(
                        [(n, f"نص{NUL}texte" if n == name else v) for n, v in form["fields"]]
                    )
                    try:
                        answer = client_as(app, world.users[actor]).post(action, data=data)
                    except Exception as error:  # noqa: BLE001 — the client re-raises the cause
                        failures.append(f"{actor} POST {action} [{name}]: {error!r}")
                        continue
                    if answer.status_code >= 500:
                        failures.append(f"{actor} POST {action} [{name}]: {answer.status_code}")
    assert seen, "no form was found: the crawler is broken"
    assert not failures, "\n".join(failures)


# --- markup is shown as text: e-mails and the receipt PDF -----------------------------------

SCRIPT = "<script>alert(1)</script>"
IMAGE = "<img src=x onerror=alert(2)>"


def test_names_with_markup_are_escaped_in_the_html_mail_and_kept_as_typed_in_the_text(
    login_as, session
):
    """ASVS 5.3.1, 5.3.3: the submission e-mail's HTML part escapes the association's name and
    the call's title; its text part keeps them as typed (it is never read as HTML); the subject
    stays one line."""
    from portal.applications import services
    from portal.notifications.models import OutboxMessage
    from tests.applications.conftest import fill_completely

    _client, user = login_as("applicant")
    association = factories.AssociationFactory(owner=user, name_ar=f"جمعية {IMAGE}")
    call = factories.published_call(title_ar=f"طلب مشاريع {SCRIPT}")
    application = services.start_application(session, call, association, actor=user)
    session.commit()
    fill_completely(session, application, user)
    services.submit_application(session, application, actor=user)
    session.commit()

    (message,) = session.scalars(
        select(OutboxMessage).where(OutboxMessage.template == "submission_receipt")
    )
    for text in (f"جمعية {IMAGE}", f"طلب مشاريع {SCRIPT}"):
        assert text in message.body_text
        assert str(escape(text)) in message.body_html
    tags = {tag for tag, _attrs, _text in tags_of(message.body_html)}
    assert "script" not in tags and "img" not in tags, message.body_html
    assert "\n" not in message.subject


def test_receipt_pdf_prints_markup_in_names_as_text(app, session, tmp_path):
    """ASVS 5.3.1: an association's names and a call's title holding markup are printed as
    they were typed; WeasyPrint draws no element from them (no image, no script)."""
    from portal.applications.receipts import render_receipt_pdf
    from tests.applications.test_receipts import make_submission
    from tests.pdf import pdf_text, squeezed

    submission = make_submission(session)
    submission.application.association.name_fr = f"Association {SCRIPT}{IMAGE}"
    submission.application.call.title_fr = "<b>Appel</b> <a href='file:///etc/passwd'>x</a>"
    session.commit()

    text = squeezed(pdf_text(tmp_path, render_receipt_pdf(submission, "fr"), "markup-names"))

    assert squeezed(f"Association {SCRIPT}{IMAGE}") in text
    assert squeezed("<b>Appel</b> <a href='file:///etc/passwd'>x</a>") in text


# --- spreadsheets: every export, every cell a formula could start ---------------------------

FORMULAS = ["=1+2", "+1+2", "-1+2", "@SUM(1)", '=HYPERLINK("http://evil.test","x")']
FORMULA_STARTS = ("=", "+", "-", "@")
# (endpoint, format) -> the test proving its cells are inert; JSON and PDF are not spreadsheets.
EXPORT_PROOFS = {
    ("applications.staff_export", "csv"): "test_every_spreadsheet_export_makes_formulas_inert",
    ("applications.staff_export", "xlsx"): "test_every_spreadsheet_export_makes_formulas_inert",
    ("review.ranking_export", "csv"): "test_every_spreadsheet_export_makes_formulas_inert",
    ("review.ranking_export", "xlsx"): "test_every_spreadsheet_export_makes_formulas_inert",
    ("results.open_data", "csv"): "test_every_spreadsheet_export_makes_formulas_inert",
    ("results.open_data_call", "csv"): "test_every_spreadsheet_export_makes_formulas_inert",
    ("results.open_data", "json"): None,
    ("results.open_data_call", "json"): None,
    ("training.statistics_export", "csv"): (
        "tests/training/test_statistics_exports.py::test_formulas_typed_into_a_session_are_"
        "exported_inert"
    ),
    ("training.statistics_export", "xlsx"): (
        "tests/training/test_statistics_exports.py::test_formulas_typed_into_a_session_are_"
        "exported_inert"
    ),
    ("actions.annual_report", "xlsx"): (
        "tests/actions/test_annual_report.py::test_a_lot_title_written_as_a_formula_is_made_inert"
    ),
    ("actions.annual_report", "pdf"): None,
}
PROBED_FORMATS = ("csv", "xlsx", "json", "pdf", "ods", "xls", "html")


def cells(response) -> list:
    """Return every cell of a CSV or XLSX export (formulas as openpyxl reads them: '=…')."""
    if response.mimetype == "text/csv":
        text = response.get_data(as_text=True)
        return [cell for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for cell in row]
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(response.data))
    return [cell.value for sheet in book for row in sheet.iter_rows() for cell in row]


def assert_inert(response, payloads) -> None:
    found = cells(response)
    live = [cell for cell in found if isinstance(cell, str) and cell.startswith(FORMULA_STARTS)]
    assert not live, live
    for payload in payloads:
        assert any(isinstance(c, str) and c.startswith("'" + payload) for c in found), payload


def _staff_export(app):
    call = factories.closed_call()
    for number, payload in enumerate(FORMULAS):
        association = factories.AssociationFactory(
            owner=factories.UserFactory(), name_ar=payload, name_fr=f"A{number}", city=payload
        )
        factories.submitted_application(call, association, title_ar=payload, title_fr=payload)
    return [f"/staff/calls/{call.id}/applications.{fmt}" for fmt in ("csv", "xlsx")]


def _ranking_export(app):
    from tests.review.test_ranking import eligible_application

    call = factories.closed_call()
    user = factories.evaluator(call)
    for payload in FORMULAS:
        factories.scored_review(
            eligible_application(call, title_ar=payload, title_fr=payload), user, [8, 5]
        )
    return [f"/staff/calls/{call.id}/ranking.{fmt}" for fmt in ("csv", "xlsx")]


def _open_data(app):
    from tests.results.publishing_support import publish_now, results_world

    world = results_world("approved")
    world.funded.title_fr = FORMULAS[0]
    world.funded.title_ar = FORMULAS[1]
    world.funded.association.name_fr = FORMULAS[2]
    world.funded.association.name_ar = FORMULAS[3]
    db.session.commit()
    publish_now(world)
    return ["/open-data/grants.csv", f"/open-data/{world.call.code}/grants.csv"]


EXPORT_WORLDS = {
    "staff-list": (_staff_export, FORMULAS),
    "ranking": (_ranking_export, FORMULAS),
    "open-data": (_open_data, FORMULAS[:4]),
}


@pytest.mark.parametrize("export", sorted(EXPORT_WORLDS))
def test_every_spreadsheet_export_makes_formulas_inert(app, login_as, export):
    """ASVS 5.3.x (CSV/formula injection); CHECKLIST S20: titles and names starting with
    = + - @ are exported with a leading apostrophe, in CSV and in XLSX, never as formulas."""
    build, payloads = EXPORT_WORLDS[export]
    urls = build(app)
    client, _staff = login_as("staff")

    for url in urls:
        response = client.get(url, buffered=True)
        assert response.status_code == 200, url
        assert_inert(response, payloads)


def test_every_export_route_is_listed_with_the_proof_its_cells_are_inert(app, world):
    """An export route or format added without a proof here fails: each export answers exactly
    the formats listed, and each spreadsheet format names the test that proves it inert."""
    exports = {
        rule.endpoint for rule in COLLECTION_APP.url_map.iter_rules() if "fmt" in rule.arguments
    }
    assert exports == {endpoint for endpoint, _fmt in EXPORT_PROOFS}
    admin = client_as(app, world.users["admin"])
    for endpoint in sorted(exports):
        listed = {fmt for name, fmt in EXPORT_PROOFS if name == endpoint}
        answering = set()
        for fmt in PROBED_FORMATS:
            url = re.sub(r"\.\w+$", f".{fmt}", url_of(app, world, endpoint, "GET"))
            if admin.get(url, buffered=True).status_code == 200:
                answering.add(fmt)
        assert answering == listed, endpoint
    root = Path(__file__).parent.parent.parent
    for proof in filter(None, EXPORT_PROOFS.values()):
        path, name = proof.split("::") if "::" in proof else (__file__, proof)
        assert f"def {name}(" in (root / path).read_text(), proof
