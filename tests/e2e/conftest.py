"""Browser helpers: accessibility checks with axe-core shipped inside axe-playwright-python."""

from __future__ import annotations

import pytest

BLOCKING_IMPACTS = {"serious", "critical"}


@pytest.fixture
def check_accessibility():
    """Run axe-core on the page and fail on any serious or critical violation."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()

    def check(page) -> None:
        page.wait_for_load_state("load")  # colours and sizes are checked as styled
        results = axe.run(page)
        blocking = [
            f"{violation['id']} ({violation['impact']}): {violation['help']} — "
            + "; ".join(node["target"][0] for node in violation["nodes"][:3])
            for violation in results.response["violations"]
            if violation["impact"] in BLOCKING_IMPACTS
        ]
        assert not blocking, f"{page.url}:\n" + "\n".join(blocking)

    return check
