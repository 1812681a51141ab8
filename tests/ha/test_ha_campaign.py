"""The HA campaign: every HA scenario (tests/ha/scenarios.py), GRADIENT_KEYS_HA_ROUNDS rounds each
(seeds from GRADIENT_KEYS_CAMPAIGN_SEED), against a 3-node OpenBao cluster; each round judged by the
campaign's invariants."""

from __future__ import annotations

import os

import pytest

from tests.campaign.lab import Lab
from tests.campaign.runner import ScenarioResult, first_seed, master_seed, run_scenario
from tests.ha.scenarios import HA_SCENARIOS

HA_ROUNDS_ENV = "GRADIENT_KEYS_HA_ROUNDS"
DEFAULT_HA_ROUNDS = 3  # 12 rounds, each with a failover or a seal: about 3 minutes here


def ha_rounds() -> int:
    return int(os.environ.get(HA_ROUNDS_ENV) or DEFAULT_HA_ROUNDS)


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("scenario", list(HA_SCENARIOS))
def test_ha_scenario_keeps_every_invariant(
    ha_lab: Lab, scenario: str, ha_results: list[ScenarioResult]
) -> None:
    result = run_scenario(
        ha_lab, scenario, first_seed(master_seed(), scenario), ha_rounds(), scenarios=HA_SCENARIOS
    )
    ha_results.append(result)
    if result.failing:
        pytest.fail(result.report(), pytrace=False)
