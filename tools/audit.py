"""Fail on a known vulnerability in the installed packages (OWASP ASVS 14.2.1).

`make audit` runs this over the project's virtual environment. For every installed
distribution it reads the project's entry in PyPI's JSON API (`/pypi/<name>/json`), which lists
the advisories (PyPA, OSV, GitHub) that affect the project's newest release. pip-audit would ask
for each exact version instead (`/pypi/<name>/<version>/json`) or ask osv.dev; the registry the
CI machine reaches serves neither, so this reads what it does serve:

- a package at its newest release is checked against that release's advisories exactly;
- a package held back below its newest release (a pin in pyproject.toml) is checked against
  the advisories still open at the newest release, which an older release has as well; what
  was fixed between the two is not seen, so every held-back package is named in the report,
  with the reason it is held back when that reason is known.

An advisory fails the run unless it is withdrawn or our version is at or past one of its fixes.
A registry that cannot be read fails the run too: an audit that could not look is not a pass.
"""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib.metadata import distributions

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

REGISTRY = "https://pypi.org/pypi/{name}/json"
OURSELVES = "shiraka"
# Why a package stays below its newest release; kept next to the pins in pyproject.toml.
HELD_BACK = {
    "weasyprint": "70 needs the HarfBuzz-Subset system library, which a fresh Debian lacks",
    "redis": "limits (Flask-Limiter's storage) supports redis below 8",
    "deprecated": "its newest releases need Python 3.12; the project supports 3.11",
}

Fetch = Callable[[str], dict]


@dataclass
class Finding:
    name: str
    version: str
    newest: str = ""
    advisories: list[str] = field(default_factory=list)
    error: str = ""

    @property
    def held_back(self) -> bool:
        return bool(self.newest) and self.newest != self.version


def fetch_from_registry(name: str) -> dict:
    url = REGISTRY.format(name=name)  # a fixed https address and a canonical package name
    with urllib.request.urlopen(url, timeout=30) as answer:  # noqa: S310
        return json.load(answer)


def _fixed_for(version: str, advisory: dict) -> bool:
    try:
        ours = Version(version)
        return any(ours >= Version(fixed) for fixed in advisory.get("fixed_in") or ())
    except InvalidVersion:
        return False


def open_advisories(version: str, project: dict) -> list[str]:
    """Return the ids of the project's advisories that still affect `version`."""
    return [
        advisory["id"]
        for advisory in project.get("vulnerabilities") or ()
        if not advisory.get("withdrawn") and not _fixed_for(version, advisory)
    ]


def check(name: str, version: str, fetch: Fetch) -> Finding:
    try:
        project = fetch(name)
    except (urllib.error.URLError, OSError, ValueError) as error:
        return Finding(name, version, error=str(error) or type(error).__name__)
    newest = project.get("info", {}).get("version", "")
    return Finding(name, version, newest, open_advisories(version, project))


def installed() -> list[tuple[str, str]]:
    """Return (name, version) of every installed distribution but the project itself."""
    found = {
        canonicalize_name(dist.metadata["Name"]): dist.version
        for dist in distributions()
        if dist.metadata["Name"]
    }
    found.pop(OURSELVES, None)
    return sorted(found.items())


def audit(packages: Iterable[tuple[str, str]], fetch: Fetch = fetch_from_registry) -> list:
    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(lambda package: check(*package, fetch), packages))


def report(findings: list[Finding]) -> tuple[list[str], bool]:
    """Return the report's lines and whether the audit passes."""
    lines = []
    for finding in findings:
        if finding.error:
            lines.append(f"UNREAD  {finding.name} {finding.version}: {finding.error}")
        elif finding.advisories:
            advisories = ", ".join(finding.advisories)
            lines.append(f"VULNERABLE  {finding.name} {finding.version}: {advisories}")
    for finding in findings:
        if finding.held_back and not finding.error:
            reason = HELD_BACK.get(finding.name, "no reason recorded")
            lines.append(
                f"held back  {finding.name} {finding.version} (newest {finding.newest}): {reason}"
            )
    passed = not any(finding.error or finding.advisories for finding in findings)
    checked = sum(not finding.error for finding in findings)
    lines.append(
        f"{checked} of {len(findings)} packages checked against PyPI's advisories: "
        + ("no known vulnerability" if passed else "FAILED")
    )
    return lines, passed


def main() -> int:
    lines, passed = report(audit(installed()))
    print("\n".join(lines))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
