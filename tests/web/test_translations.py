"""The Arabic and French catalogues translate every string the code and templates show.

To fix a failure: `make extract`, then translate the listed messages in
portal/translations/{ar,fr}/LC_MESSAGES/messages.po and remove any "fuzzy" flag.
"""

from __future__ import annotations

import gettext
import io
import re
import tokenize
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.util import pathmatch

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "portal" / "translations"
LOCALES = ("ar", "fr")
# The same keywords as `make extract` (pybabel's defaults plus -k _l -k lazy_gettext).
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
# Arabic names zero, one and two in words ("حساب واحد", "حسابان"), so these plural forms,
# each used for a single value of n, may leave out the number Flask-Babel's ngettext
# passes as %(num)d. Every other form, and every other placeholder, must be kept.
FORMS_SAYING_THE_NUMBER_IN_WORDS = {"ar": {0, 1, 2}}
NUMBER_PLACEHOLDER = re.compile(r"^%\(num\)")
PLACEHOLDER = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[a-zA-Z%]")
EASTERN_ARABIC_DIGITS = re.compile("[\u0660-\u0669\u06f0-\u06f9]")


def load_catalogue(locale: str) -> Catalog:
    path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def messages(catalogue: Catalog):
    """Every message of a catalogue except its header."""
    return [message for message in catalogue if message.id]


def as_tuple(value) -> tuple[str, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def placeholders(text: str) -> set[str]:
    return {spec for spec in PLACEHOLDER.findall(text) if spec != "%%"}


class AnyValue(dict):
    """Answers every placeholder name, as Flask-Babel's keyword arguments would."""

    def __missing__(self, key):
        return 1


def formats(text: str) -> bool:
    """Tell whether `text % variables` works, as Flask-Babel runs it."""
    try:
        text % AnyValue()
    except (KeyError, TypeError, ValueError):
        return False
    return True


def label(message) -> str:
    return repr(as_tuple(message.id)[0])


def test_every_message_is_translated_in_arabic_and_french():
    problems = []
    for locale in LOCALES:
        for message in messages(load_catalogue(locale)):
            if message.fuzzy:
                problems.append(f"{locale}: fuzzy: {label(message)}")
            forms = as_tuple(message.string)
            empty = [index for index, text in enumerate(forms) if not text.strip()]
            if empty:
                where = f" (msgstr{empty})" if message.pluralizable else ""
                problems.append(f"{locale}: untranslated{where}: {label(message)}")
    assert not problems, "Translate these messages:\n" + "\n".join(problems)


def test_catalogues_cover_every_string_in_the_code():
    config = TRANSLATIONS / "babel.cfg"
    with config.open(encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh, str(config))
    # Jinja2's extractor skips a template it cannot parse without a word; here it must say so,
    # or that template's strings would silently be missing from the catalogues.
    for pattern, method in method_map:
        if method == "jinja2":
            options_map.setdefault(pattern, {})["silent"] = "false"
    extracted = {}
    current = []
    found = extract_from_dir(
        ROOT,
        method_map,
        options_map,
        keywords=KEYWORDS,
        callback=lambda filename, _method, _options: current.append(filename),
        strip_comment_tags=True,
    )
    try:
        for filename, lineno, msgid, _comments, context in found:
            ids = as_tuple(msgid)
            extracted.setdefault((ids[0], context), (ids, f"{filename}:{lineno}"))
    except Exception as error:
        raise AssertionError(f"cannot extract the strings of {current[-1]}: {error}") from error
    assert extracted, "the extraction found no message at all; check babel.cfg"

    catalogues = {locale: load_catalogue(locale) for locale in LOCALES}
    problems = []
    for (msgid, context), (ids, where) in sorted(extracted.items(), key=lambda item: item[1][1]):
        for locale, catalogue in catalogues.items():
            message = catalogue.get(msgid, context=context)
            if message is None:
                problems.append(f"{locale}: missing: {msgid!r} ({where})")
            elif len(ids) > 1 and as_tuple(message.id)[1:] != ids[1:]:
                problems.append(f"{locale}: plural differs: {ids!r} ({where})")
    assert not problems, (
        "Strings in the code are not in the catalogues; run `make extract` and translate them:\n"
        + "\n".join(problems)
    )


def test_no_translated_string_hides_inside_an_f_string():
    # Up to Python 3.11 an f-string is one token, so the extractor never sees a _("...") inside
    # it: the string would be shown untranslated while the test above stays green.
    config = TRANSLATIONS / "babel.cfg"
    with config.open(encoding="utf-8") as fh:
        method_map, _options = parse_mapping_cfg(fh, str(config))
    python_patterns = [pattern for pattern, method in method_map if method == "python"]
    names = "|".join(map(re.escape, KEYWORDS))
    call = re.compile(rf"(?<![\w.])(?:{names})\s*\(")
    # Walk only the folders the patterns name (portal/**.py -> portal), never .venv.
    folders = {pattern.split("/")[0] for pattern in python_patterns}
    paths = {
        path
        for folder in folders
        for path in (ROOT.rglob("*.py") if "*" in folder else (ROOT / folder).rglob("*.py"))
    }
    hidden = []
    for path in sorted(paths):
        relative = path.relative_to(ROOT).as_posix()
        if not any(pathmatch(pattern, relative) for pattern in python_patterns):
            continue
        source = path.read_text(encoding="utf-8")
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            prefix = token.string[: len(token.string) - len(token.string.lstrip("bBfFrRuU"))]
            if (
                token.type == tokenize.STRING
                and "f" in prefix.lower()
                and call.search(token.string)
            ):
                hidden.append(f"{relative}:{token.start[0]}: {token.string}")
    assert not hidden, (
        'Move these translation calls out of the f-string (e.g. unit = _("MAD")), '
        "then run `make extract`:\n" + "\n".join(hidden)
    )


def test_placeholders_match():
    problems = []
    for locale in LOCALES:
        worded_forms = FORMS_SAYING_THE_NUMBER_IN_WORDS.get(locale, set())
        for message in messages(load_catalogue(locale)):
            expected = set().union(*(placeholders(text) for text in as_tuple(message.id)))
            for index, text in enumerate(as_tuple(message.string)):
                if not text:
                    continue  # reported by test_every_message_is_translated_in_arabic_and_french
                found = placeholders(text)
                allowed = [expected]
                if message.pluralizable and index in worded_forms:
                    allowed.append(
                        {spec for spec in expected if not NUMBER_PLACEHOLDER.match(spec)}
                    )
                if found not in allowed:
                    problems.append(
                        f"{locale}: msgstr[{index}] has {sorted(found)}, "
                        f"expected {sorted(expected)}: {label(message)}"
                    )
                elif message.python_format and not formats(text):
                    problems.append(
                        f"{locale}: msgstr[{index}] cannot be formatted "
                        f"(write a literal % as %%): {label(message)}"
                    )
    assert not problems, "Keep every placeholder of the English text:\n" + "\n".join(problems)


def arabic_plural_form(n: int) -> int:
    """Arabic's six forms: zero, one, two, few (3-10), many (11-99), other (100, 101, 102...)."""
    if n in (0, 1, 2):
        return n
    if 3 <= n % 100 <= 10:
        return 3
    if n % 100 >= 11:
        return 4
    return 5


def test_arabic_catalogue_has_six_plural_forms():
    catalogue = load_catalogue("ar")
    assert catalogue.num_plurals == 6, catalogue.plural_forms
    plural = gettext.c2py(catalogue.plural_expr)
    wrong = [n for n in range(1001) if plural(n) != arabic_plural_form(n)]
    assert not wrong, f"{catalogue.plural_forms} picks the wrong form for n in {wrong[:10]}"
    short = [label(m) for m in messages(catalogue) if m.pluralizable and len(m.string) != 6]
    assert not short, "Give these Arabic plurals all six forms:\n" + "\n".join(short)


def test_french_catalogue_has_two_plural_forms():
    catalogue = load_catalogue("fr")
    assert catalogue.num_plurals == 2, catalogue.plural_forms
    plural = gettext.c2py(catalogue.plural_expr)
    assert [plural(n) for n in range(4)] == [0, 0, 1, 1], catalogue.plural_forms
    short = [label(m) for m in messages(catalogue) if m.pluralizable and len(m.string) != 2]
    assert not short, "Give these French plurals both forms:\n" + "\n".join(short)


def test_arabic_translations_use_western_digits():
    eastern = [
        label(message)
        for message in messages(load_catalogue("ar"))
        if any(EASTERN_ARABIC_DIGITS.search(text) for text in as_tuple(message.string))
    ]
    assert not eastern, "Write numbers with the digits 0-9 in:\n" + "\n".join(eastern)
