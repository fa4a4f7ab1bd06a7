"""The dependency audit (OWASP ASVS 14.2.1): `make audit`, run by CI, fails on a known
vulnerability in an installed package and when the registry cannot be read."""

from __future__ import annotations

import urllib.error

from tools.audit import HELD_BACK, audit, installed, report


def registry(**projects):
    """A fake PyPI JSON API: project name → (newest version, advisories)."""

    def fetch(name: str) -> dict:
        if name not in projects:
            raise urllib.error.URLError("Name or service not known")
        newest, advisories = projects[name]
        return {"info": {"version": newest}, "vulnerabilities": advisories}

    return fetch


def advisory(id_: str, fixed_in=(), withdrawn=None) -> dict:
    return {"id": id_, "fixed_in": list(fixed_in), "withdrawn": withdrawn}


def test_known_vulnerability_in_the_installed_release_fails_the_audit():
    fetch = registry(ecdsa=("0.19.2", [advisory("PYSEC-2026-1325")]), flask=("3.1.3", []))
    lines, passed = report(audit([("ecdsa", "0.19.2"), ("flask", "3.1.3")], fetch))
    assert not passed
    assert "VULNERABLE  ecdsa 0.19.2: PYSEC-2026-1325" in lines
    assert lines[-1].endswith("FAILED")


def test_advisory_still_open_at_the_newest_release_fails_a_held_back_package():
    fetch = registry(weasyprint=("70.0", [advisory("GHSA-xxxx", fixed_in=["70.1"])]))
    _lines, passed = report(audit([("weasyprint", "69.0")], fetch))
    assert not passed


def test_advisory_fixed_at_or_before_our_version_passes():
    fetch = registry(jinja2=("3.1.6", [advisory("PYSEC-2025-1", fixed_in=["3.1.5"])]))
    _lines, passed = report(audit([("jinja2", "3.1.6")], fetch))
    assert passed


def test_withdrawn_advisory_passes():
    fetch = registry(flask=("3.1.3", [advisory("GHSA-gone", withdrawn="2026-01-02T00:00:00")]))
    lines, passed = report(audit([("flask", "3.1.3")], fetch))
    assert passed
    assert lines == ["1 of 1 packages checked against PyPI's advisories: no known vulnerability"]


def test_unreadable_registry_fails_the_audit_instead_of_passing_unchecked():
    lines, passed = report(audit([("flask", "3.1.3")], registry()))
    assert not passed
    assert lines[0].startswith("UNREAD  flask 3.1.3:")
    assert lines[-1] == "0 of 1 packages checked against PyPI's advisories: FAILED"


def test_held_back_package_is_named_with_its_reason():
    fetch = registry(redis=("8.1.0", []))
    lines, passed = report(audit([("redis", "7.4.1")], fetch))
    assert passed
    assert f"held back  redis 7.4.1 (newest 8.1.0): {HELD_BACK['redis']}" in lines


def test_every_installed_package_is_audited_but_the_project_itself():
    names = dict(installed())
    assert {"flask", "sqlalchemy", "argon2-cffi", "weasyprint"} <= names.keys()
    assert "shiraka" not in names
