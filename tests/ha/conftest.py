"""Fixtures for the HA tier: one lab per session whose Vault is a 3-node OpenBao cluster with TLS
behind a balancer (tests/ha/cluster_vault.py), with a clean run measured once; the failover table
printed at the end of the session. Marked `slow`, which the default run includes."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.campaign.lab import Lab
from tests.campaign.runner import ScenarioResult, master_seed, table
from tests.campaign.scenarios import measure_clean_run
from tests.conftest import require_openbao
from tests.ha.cluster_vault import ClusterVault

RESULTS: list[ScenarioResult] = []
FAILOVERS: list[float] = []


@pytest.fixture(scope="session")
def ha_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require_openbao()
    with Lab(tmp_path_factory.mktemp("ha"), vault=ClusterVault) as running:
        assert isinstance(running.bao, ClusterVault)
        # The checks and consumers of this process trust the cluster's CA through requests' own
        # variable; the commands under test get VAULT_CACERT (tests/integration/rotation_env.py).
        os.environ["REQUESTS_CA_BUNDLE"] = str(running.bao.ca_cert)
        try:
            measure_clean_run(running)
            yield running
        finally:
            FAILOVERS.extend(f.recovered_seconds for f in running.bao.failovers)
            os.environ.pop("REQUESTS_CA_BUNDLE", None)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClusterVault]:
    """A cluster of the test module's own, behind its balancer (the campaign's lab has another)."""
    require_openbao()
    vault = ClusterVault(tmp_path_factory.mktemp("ha-cluster"))
    vault.start()
    try:
        yield vault
    finally:
        vault.stop()


@pytest.fixture
def ha_results() -> list[ScenarioResult]:
    return RESULTS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.section("HA campaign (3-node OpenBao cluster)")
    terminalreporter.write_line(
        f"master seed {master_seed()}; "
        f"leader failovers: {len(FAILOVERS)}, served again after "
        + (f"{min(FAILOVERS):.2f}-{max(FAILOVERS):.2f}s" if FAILOVERS else "-")
    )
    terminalreporter.write_line(table(RESULTS))
