"""HA rounds: the campaign's stage, consumer and invariants (tests/campaign), with faults that only a
cluster has. Each plays `gradient-keys` against the cluster behind its balancer while a node fails
at a moment drawn from the round's seed, then reruns the same command if the run did not finish
(the documented recovery); `tests.campaign.invariants.check` judges the round.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from tests.campaign.invariants import Round
from tests.campaign.lab import Lab
from tests.campaign.scenarios import Scenario, Stage, _moment, prepare, sleep_until
from tests.ha.cluster_vault import ClusterVault

__all__ = ["HA_SCENARIOS"]


def _vault(lab: Lab) -> ClusterVault:
    assert isinstance(lab.bao, ClusterVault), "the HA scenarios need tests/ha's cluster lab"
    return lab.bao


def _back_after(rng: random.Random) -> float | None:
    """How long the failed node stays out: a moment, or (None) until the run has ended."""
    return rng.choice((None, rng.uniform(0.5, 4.0)))


def _fault_during(
    rng: random.Random,
    lab: Lab,
    scenario: str,
    verb: str,
    fault: Callable[[Stage, ClusterVault], str],
    via_standby: bool = False,
) -> Round:
    stage = prepare(lab, rng, scenario)
    vault = _vault(lab)
    args = ("--all",) if verb == "rotate" else ("--verify-secrets",)
    if via_standby:
        # No balancer: VAULT_ADDR names one standby, which forwards to whichever node leads.
        standby = vault.cluster.standbys()[0] if vault.cluster else None
        assert standby is not None
        stage.managed.env["VAULT_ADDR"] = standby.address
        stage.round.note(f"the command talks to standby {standby.name}")
    with stage.consuming():
        first = stage.start(f"{verb} {' '.join(args)}", *args, verb=verb)
        moment = _moment(rng, lab)
        sleep_until(first, moment)
        stage.round.note(f"{fault(stage, vault)} at {moment:.2f}s")
        back = _back_after(rng)
        if back is not None:
            time.sleep(back)
            vault.restore()
            stage.round.note(f"the node back after {back:.2f}s")
        first_run = stage.finish(first)
        vault.restore()
        stage.recover(first_run, verb=verb)
    if verb == "audit":
        for name in stage.names():
            stage.expect(name, 0, 0)  # an audit rotates nothing
    return stage.round


def _kill_leader(stage: Stage, vault: ClusterVault) -> str:
    node = vault.kill_leader()
    return f"leader {node.name} SIGKILLed (served again after {vault.failovers[-1].recovered_seconds:.2f}s)"


def _seal_standby(stage: Stage, vault: ClusterVault) -> str:
    return f"standby {vault.seal_standby().name} sealed"


def leader_killed(rng: random.Random, lab: Lab) -> Round:
    """`rotate --all` while the leader is SIGKILLed; the node rejoins after a moment or after the run."""
    return _fault_during(rng, lab, "ha_leader_killed", "rotate", _kill_leader)


def standby_sealed(rng: random.Random, lab: Lab) -> Round:
    """`rotate --all` while a standby is sealed; unsealed after a moment or after the run."""
    return _fault_during(rng, lab, "ha_standby_sealed", "rotate", _seal_standby)


def leader_killed_via_standby(rng: random.Random, lab: Lab) -> Round:
    """`rotate --all` talking to a standby (no balancer) while the leader is SIGKILLed: the standby
    forwards to the new leader once one is elected."""
    return _fault_during(rng, lab, "ha_leader_killed_via_standby", "rotate", _kill_leader, via_standby=True)


def leader_killed_during_audit(rng: random.Random, lab: Lab) -> Round:
    """`audit --verify-secrets` while the leader is SIGKILLed: it reports or stops with a clear error."""
    return _fault_during(rng, lab, "ha_audit_leader_killed", "audit", _kill_leader)


def standby_sealed_during_audit(rng: random.Random, lab: Lab) -> Round:
    """`audit --verify-secrets` while a standby is sealed: it reports or stops with a clear error."""
    return _fault_during(rng, lab, "ha_audit_standby_sealed", "audit", _seal_standby)


HA_SCENARIOS: dict[str, Scenario] = {
    s.__name__: Scenario(s.__name__, s)
    for s in (
        leader_killed,
        standby_sealed,
        leader_killed_via_standby,
        leader_killed_during_audit,
        standby_sealed_during_audit,
    )
}
