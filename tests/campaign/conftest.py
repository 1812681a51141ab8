"""Fixtures for the campaign tier: one lab (the emulator and a persistent OpenBao) per session,
with a clean run measured once; the scenario table printed at the end of the session.

The tier is marked `slow` (registered in pyproject.toml), which the default run includes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.campaign.lab import Lab
from tests.campaign.runner import ScenarioResult, master_seed, rounds_budget, table
from tests.campaign.scenarios import measure_clean_run
from tests.conftest import require_openbao

RESULTS: list[ScenarioResult] = []


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require_openbao()
    with Lab(tmp_path_factory.mktemp("campaign")) as running:
        measure_clean_run(running)
        yield running


@pytest.fixture
def campaign_results() -> list[ScenarioResult]:
    """Where each scenario test leaves its result, for the session's table."""
    return RESULTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.section("fault campaign")
    terminalreporter.write_line(
        f"master seed {master_seed()} (GRADIENT_KEYS_CAMPAIGN_SEED), {rounds_budget()} round(s) per scenario "
        "(GRADIENT_KEYS_CAMPAIGN_ROUNDS)"
    )
    terminalreporter.write_line(table(RESULTS))
