"""The scenario classes. Each is a function of a seeded `random.Random` and the lab: it prepares a
fresh stack (six dual-slot keys and two in-place keys, adopted exactly as `pulumi up` leaves them),
starts a live consumer on three dual-slot keys, does its damage while `gradient-keys rotate` runs,
reruns the same command once without faults where the run may have stopped (the documented
recovery), and returns the `Round` for `invariants.check`. Every choice comes from the generator, so
a seed replays the same round (timings are real, so a replay is faithful, not bit-identical).
"""

from __future__ import annotations

import dataclasses
import math
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
import hvac
import yaml

from components.config import load_stack_file
from components.keys import KeyContext
from components.provider import inputs_for
from components.secret import Secret
from tests.campaign.invariants import KeyRecord, Round
from tests.campaign.lab import REPO, Consumer, Lab, Run, Running
from tests.integration.rotation_env import Managed, manage, policy_only_token
from tests.provider.harness import ProviderProcess, from_struct, with_provider

__all__ = ["SCENARIOS", "Scenario", "measure_clean_run"]

DUAL_SLOT_KEYS, IN_PLACE_KEYS = 6, 2
WATCHED_KEYS = 3  # dual-slot keys the live consumer calls through (all of them are checked for (b))
SHORT_READ_TIMEOUT = 1.5  # late_commit: the command's DigitalOcean read timeout, in seconds


@dataclass
class Stage:
    """A prepared round: the managed stack, the record, and helpers to run the command against it."""

    lab: Lab
    managed: Managed
    round: Round

    def start(self, label: str, *args: str, **options: Any) -> Running:
        return self.lab.start(label, self.managed.stack_file, self.managed.env, *args, **options)

    def finish(self, running: Running) -> Run:
        run = self.lab.finish(running)
        self.round.runs.append(run)
        return run

    def run(self, label: str, *args: str, **options: Any) -> Run:
        return self.finish(self.start(label, *args, **options))

    def recover(self, run: Run, **options: Any) -> Run | None:
        """The documented recovery: the same command again, once, if the run did not finish."""
        if run.exit_code == 0:
            return None
        return self.run(f"rerun: {run.label}", *run.args, recovery=True, **options)

    def audit(self) -> Run:
        running = self.lab.start(
            "audit --verify-secrets",
            self.managed.stack_file,
            self.managed.env,
            "--verify-secrets",
            verb="audit",
        )
        return self.lab.finish(running)

    @contextmanager
    def consuming(self) -> Iterator[Consumer]:
        """A live consumer on dual-slot keys (the first WATCHED_KEYS, in the round's shuffled order)
        for the duration of the block."""
        paths = [r.vault_path for r in self.round.keys.values() if r.strategy == "dual-slot"]
        paths = paths[:WATCHED_KEYS]
        bao = self.lab.bao
        consumer = Consumer(bao.address, bao.root_token, self.lab.emulator.base_url, paths, bao.ca_cert)
        time.sleep(0.3)  # it holds each key before anything moves
        try:
            yield consumer
        finally:
            time.sleep(0.5)  # a last Vault read after the round's final write
            self.round.consumer = consumer.stop()

    def names(self, strategy: str | None = None) -> list[str]:
        return [n for n, r in self.round.keys.items() if strategy is None or r.strategy == strategy]

    def expect(self, name: str, low: int, high: int, *, emergency: bool = False, keep: bool = True) -> None:
        record = self.round.keys[name]
        record.min_rotations, record.max_rotations = low, high
        record.emergency = record.emergency or emergency
        record.keep_pre_secret = record.keep_pre_secret and keep


def sleep_until(running: Running, moment: float) -> None:
    time.sleep(max(0.0, moment - running.elapsed()))


def prepare(lab: Lab, rng: random.Random, scenario: str, rotation_token: str | None = None) -> Stage:
    """A fresh stack under its own Vault prefix, adopted as `pulumi up` would, and what it held."""
    lab.reset()
    tag = f"{rng.getrandbits(32):08x}"
    strategies = ["dual-slot"] * DUAL_SLOT_KEYS + ["in-place"] * IN_PLACE_KEYS
    rng.shuffle(strategies)
    keys: list[dict[str, Any]] = []
    for index, strategy in enumerate(strategies):
        key: dict[str, Any] = {
            "name": f"k{index}-{tag}",
            "vault_path": f"apps/k{index}",
            "strategy": strategy,
        }
        if rotation_token is not None:
            key["rotation_token"] = rotation_token
        keys.append(key)
    lab.rounds_played += 1  # a seed replayed in the same lab still gets its own directory and prefix
    directory = lab.directory / "rounds" / f"{scenario}-{tag}-{lab.rounds_played}"
    directory.mkdir(parents=True)
    prefix = f"campaign/{scenario}-{tag}-{lab.rounds_played}"
    managed = manage(lab.emulator, lab.bao.server(), directory, keys, prefix)
    vault = lab.root()
    records: dict[str, KeyRecord] = {}
    for name, state in managed.states.items():
        path = f"{prefix}/{managed.specs[name].vault_path}"
        reply = vault.secrets.kv.v2.read_secret_version(
            path, mount_point="secret", raise_on_deleted_version=True
        )
        active = Secret(reply["data"]["data"]["api_key"])
        secrets = [active]
        if state.slot_b_uuid:
            # The inactive slot's secret was discarded at adoption; regenerate it here (as the control
            # panel would; nobody uses it) so an emergency can be proven to kill it too.
            regenerated = lab.emulator.store.regenerate(state.slot_b_uuid)
            assert regenerated is not None
            secrets.append(Secret(regenerated[1]))
        slots = state.uuids
        records[name] = KeyRecord(
            name=name,
            vault_path=path,
            strategy=managed.specs[name].strategy,
            slots=slots,
            pre_secret=active,
            pre_secrets=tuple(secrets),
            pre_version=int(reply["data"]["metadata"]["version"]),
            pre_regenerations={u: _regenerations(lab, u) for u in slots},
        )
    stage = Stage(lab, managed, Round(scenario, 0, records))
    stage.round.audit = stage.audit
    return stage


def _regenerations(lab: Lab, uuid: str) -> int:
    key = lab.emulator.store.get(uuid)
    return key.regenerations if key is not None else 0


def measure_clean_run(lab: Lab, rounds: int = 2) -> float:
    """Seconds a fault-free `rotate --all` of the standard stack takes here (process start included),
    and how much of it is the interpreter starting and importing the tool (`gradient-keys --help`).
    SIGKILLs are placed uniformly over the whole run; other faults over the part after start-up."""
    started = []
    for _ in range(rounds):
        began = time.monotonic()
        subprocess.run(
            [sys.executable, "-m", "components.cli", "--help"], cwd=REPO, capture_output=True, check=True
        )
        started.append(time.monotonic() - began)
    lab.startup_seconds = sum(started) / len(started)
    took = []
    for index in range(rounds):
        stage = prepare(lab, random.Random(index), "measure")
        run = stage.run("rotate --all", "--all")
        if run.exit_code != 0:
            raise RuntimeError(f"a clean `rotate --all` failed (exit {run.exit_code}): {run.stderr[-500:]}")
        took.append(run.seconds)
    lab.clean_seconds = sum(took) / len(took)
    return lab.clean_seconds


def _clean(lab: Lab) -> float:
    return lab.clean_seconds if lab.clean_seconds is not None else measure_clean_run(lab)


def _moment(rng: random.Random, lab: Lab) -> float:
    """A moment uniform over the part of a clean run where the tool works (after start-up)."""
    clean = _clean(lab)
    return rng.uniform(min(lab.startup_seconds, clean), clean)


# -- SIGKILL ---------------------------------------------------------------------------------------
def kill_all(rng: random.Random, lab: Lab) -> Round:
    """SIGKILL `rotate --all` at a moment uniform over a clean run, then rerun it."""
    stage = prepare(lab, rng, "kill_all")
    clean = _clean(lab)
    with stage.consuming():
        first = stage.start("rotate --all", "--all")
        _kill_at(stage, first, rng.uniform(0.0, clean), clean)
        stage.recover(stage.finish(first))
    return stage.round


def _kill_at(stage: Stage, running: Running, moment: float, clean: float) -> None:
    sleep_until(running, moment)
    if running.kill():
        stage.round.note(f"SIGKILL at {moment:.2f}s of a {clean:.2f}s clean run")
    else:
        stage.round.note(f"finished before the SIGKILL planned at {moment:.2f}s")


def kill_all_when_complete(rng: random.Random, lab: Lab) -> Round:
    """SIGKILL `rotate --all` the moment its journal in Vault says `complete` (every key done, the
    process not ended yet: releasing the lease, printing, exiting), then rerun it: the operator never
    saw it finish, and the rerun must not rotate anything a second time."""
    stage = prepare(lab, rng, "kill_all_when_complete")
    journals = f"{stage.managed.prefix}/_gradient-keys/rotation-runs"
    vault = lab.root()
    with stage.consuming():
        first = stage.start("rotate --all", "--all")
        while first.process.poll() is None and not _journal_complete(vault, journals):
            time.sleep(0.002)
        if first.kill():
            stage.round.note(f"SIGKILL at {first.elapsed():.2f}s, its journal complete")
        else:
            stage.round.note("the run ended before its journal was seen complete")
        stage.recover(stage.finish(first))
    return stage.round


def _journal_complete(vault: hvac.Client, folder: str) -> bool:
    """Does any journal record under `folder` (any depth) say complete?"""
    try:
        names = vault.secrets.kv.v2.list_secrets(folder, mount_point="secret")["data"]["keys"]
    except hvac.exceptions.VaultError:  # nothing written yet (404): look again
        return False
    return any(
        _journal_complete(vault, f"{folder}/{name.rstrip('/')}")
        if name.endswith("/")
        else _record_complete(vault, f"{folder}/{name}")
        for name in names
    )


def _record_complete(vault: hvac.Client, path: str) -> bool:
    try:
        reply = vault.secrets.kv.v2.read_secret_version(
            path, mount_point="secret", raise_on_deleted_version=True
        )
    except hvac.exceptions.VaultError:
        return False
    return bool(reply["data"]["data"].get("complete") == "true")


def kill_all_then_single(rng: random.Random, lab: Lab) -> Round:
    """SIGKILL `rotate --all`; before the resume, rotate one key by name (or its emergency); then
    rerun `--all`: keys the dead run finished must not rotate again."""
    stage = prepare(lab, rng, "kill_all_then_single")
    clean = _clean(lab)
    key = rng.choice(stage.names())
    emergency = rng.random() < 0.5
    with stage.consuming():
        first = stage.start("rotate --all", "--all")
        _kill_at(stage, first, _moment(rng, lab), clean)
        dead = stage.finish(first)
        between = [key, "--emergency"] if emergency else [key]
        single = stage.run(f"rotate {' '.join(between)}", *between)
        stage.recover(single)
        stage.recover(dead)
    stage.round.note(f"between the kill and the resume: rotate {' '.join(between)}")
    # The key named in between is rotated by two requests (once by each logical run).
    stage.expect(key, 1, 2, emergency=emergency, keep=False)
    return stage.round


# -- DigitalOcean faults ---------------------------------------------------------------------------
FAULT_KINDS = ("error", "rate_limit", "delay", "drop", "drop_after_commit")
# The calls `rotate` makes: regenerate, list (looking a key up after an unknown outcome), and the
# inference check of each new secret (`models`). Regenerate is weighted: it is where secrets are minted.
FAULT_OPERATIONS = ("regenerate", "regenerate", "list", "models")


def do_faults(rng: random.Random, lab: Lab) -> Round:
    """500s, 429s, slow answers, lost responses (before and after the change is made) on every call
    `rotate --all` makes, at random positions; then the same command once more if it failed."""
    stage = prepare(lab, rng, "do_faults")
    for _ in range(rng.randint(1, 3)):
        fault: dict[str, Any] = {
            "operation": rng.choice(FAULT_OPERATIONS),
            "kind": rng.choice(FAULT_KINDS),
            "times": rng.randint(1, 3),
            "after": rng.randint(0, 5),
        }
        if fault["kind"] == "error":
            fault["status"] = rng.choice((500, 500, 502, 503))
        if fault["kind"] == "delay":
            fault["delay_seconds"] = round(rng.uniform(0.1, 2.0), 2)
        lab.emulator.inject(**fault)
        stage.round.note("fault " + " ".join(f"{k}={v}" for k, v in fault.items()))
    with stage.consuming():
        first = stage.run("rotate --all", "--all")
        unfired = len(lab.emulator.faults.pending())
        lab.emulator.faults.clear()
        if unfired:
            stage.round.note(f"{unfired} fault(s) never fired")
        stage.recover(first)
    return stage.round


def late_commit(rng: random.Random, lab: Lab) -> Round:
    """A regenerate that DigitalOcean commits after the client gave up on it (read timeout): the
    client looks the key up and regenerates again, then the first request lands. A declared
    rotation (`rotation_token` changed) is applied with `rotate --due`; the next `--due` run
    must find Vault holding a working secret."""
    stage = prepare(lab, rng, "late_commit", rotation_token="before")
    document = yaml.safe_load(stage.managed.stack_file.read_text())
    for key in document["config"]["gradient-keys:keys"]:
        key["rotation_token"] = "after"
    stage.managed.stack_file.write_text(yaml.safe_dump(document))
    delay = SHORT_READ_TIMEOUT + rng.uniform(0.1, 2.5)
    position = rng.randrange(len(stage.round.keys))
    lab.emulator.inject(operation="regenerate", kind="delay", delay_seconds=round(delay, 2), after=position)
    stage.round.note(
        f"regenerate #{position + 1} answered after {delay:.2f}s; "
        f"the client gives up at {SHORT_READ_TIMEOUT}s"
    )
    with stage.consuming():
        stage.run("rotate --due", "--due", read_timeout=SHORT_READ_TIMEOUT)
        time.sleep(delay + 0.3)  # the late request has committed by now
        stage.run("rerun: rotate --due", "--due", read_timeout=SHORT_READ_TIMEOUT, recovery=True)
    for name, record in stage.round.keys.items():
        again = [u for u in record.slots if _regenerations(lab, u) - record.pre_regenerations[u] > 1]
        if again:
            stage.round.note(f"{name} [{record.strategy}]: a slot regenerated more than once (the late one)")
    for name in stage.names():
        stage.expect(name, 1, 2)  # a repair of the late-killed secret is a second version
    return stage.round


# -- Vault faults ----------------------------------------------------------------------------------
def _vault_round(rng: random.Random, lab: Lab, kind: str) -> Round:
    stage = prepare(lab, rng, f"vault_{kind}")
    bao = lab.bao
    with stage.consuming():
        first = stage.start("rotate --all", "--all")
        moment = _moment(rng, lab)
        outage: float | None = rng.choice((None, rng.uniform(0.2, 3.0)))  # None: until the run ends
        sleep_until(first, moment)
        if kind == "stopped":
            sig = rng.choice((signal.SIGTERM, signal.SIGKILL))
            bao.stop(sig)
            stage.round.note(f"OpenBao stopped ({sig.name}) at {moment:.2f}s")
        elif kind == "sealed":
            bao.seal()
            stage.round.note(f"OpenBao sealed at {moment:.2f}s")
        elif kind == "frozen":
            outage = rng.uniform(0.2, 4.0)
            bao.freeze()
            stage.round.note(f"OpenBao frozen (SIGSTOP) at {moment:.2f}s for {outage:.2f}s")
        elif kind == "token_revoked":
            lab.root().auth.token.revoke(stage.managed.env["VAULT_TOKEN"])
            outage = None
            stage.round.note(f"the command's Vault token revoked at {moment:.2f}s")
        if outage is not None:
            time.sleep(outage)
            bao.restore()
            stage.round.note(f"back after {outage:.2f}s")
        first_run = stage.finish(first)
        bao.restore()
        if kind == "token_revoked":  # the operator renews the token (docs/exit-codes.md, code 4)
            stage.managed.env["VAULT_TOKEN"] = policy_only_token(bao.server(), stage.managed.prefix)
        stage.recover(first_run)
    return stage.round


def vault_stopped(rng: random.Random, lab: Lab) -> Round:
    """OpenBao stopped (SIGTERM or SIGKILL) mid-run; back after a moment or after the run."""
    return _vault_round(rng, lab, "stopped")


def vault_sealed(rng: random.Random, lab: Lab) -> Round:
    """OpenBao sealed mid-run; unsealed after a moment or after the run."""
    return _vault_round(rng, lab, "sealed")


def vault_frozen(rng: random.Random, lab: Lab) -> Round:
    """OpenBao frozen with SIGSTOP mid-run (requests hang), thawed after up to 4 s."""
    return _vault_round(rng, lab, "frozen")


def vault_token_revoked(rng: random.Random, lab: Lab) -> Round:
    """The command's Vault token revoked mid-run; the rerun gets a renewed token."""
    return _vault_round(rng, lab, "token_revoked")


def vault_cas_conflict(rng: random.Random, lab: Lab) -> Round:
    """A concurrent writer re-stores keys' current versions (same secret, new version) while
    `rotate --all` runs: check-and-set conflicts, and versions that are not rotations."""
    stage = prepare(lab, rng, "vault_cas_conflict")
    moments = sorted(_moment(rng, lab) for _ in range(rng.randint(1, 3)))
    targets = [rng.choice(stage.names()) for _ in moments]
    stage.round.note(
        "re-stores: " + ", ".join(f"{t} at {m:.2f}s" for t, m in zip(targets, moments, strict=True))
    )
    with stage.consuming():
        first = stage.start("rotate --all", "--all")
        writer = threading.Thread(target=_restore_versions, args=(stage, first, moments, targets))
        writer.start()
        first_run = stage.finish(first)
        writer.join()
        stage.recover(first_run)
    return stage.round


def _restore_versions(stage: Stage, running: Running, moments: list[float], targets: list[str]) -> None:
    vault = stage.lab.root()
    for moment, name in zip(moments, targets, strict=True):
        sleep_until(running, moment)
        path = stage.round.keys[name].vault_path
        try:
            metadata = vault.secrets.kv.v2.read_secret_metadata(path, mount_point="secret")["data"]
            version = int(metadata["current_version"])
            data = vault.secrets.kv.v2.read_secret_version(
                path, version=version, mount_point="secret", raise_on_deleted_version=True
            )["data"]["data"]
            vault.secrets.kv.v2.create_or_update_secret(path, data, cas=version, mount_point="secret")
        except Exception as exc:
            stage.round.note(f"re-store of {name} lost ({type(exc).__name__})")


# -- concurrent rotators ---------------------------------------------------------------------------
def cmd_cmd(rng: random.Random, lab: Lab) -> Round:
    """Two `rotate --all`: overlapping, or the second seconds after the first finished."""
    stage = prepare(lab, rng, "cmd_cmd")
    with stage.consuming():
        first = stage.start("rotate --all (1st)", "--all")
        if rng.random() < 0.6:
            moment = _moment(rng, lab)
            sleep_until(first, moment)
            second = stage.start("rotate --all (2nd)", "--all")
            stage.round.note(f"second run started {moment:.2f}s into the first")
            runs = [stage.finish(first), stage.finish(second)]
        else:
            runs = [stage.finish(first)]
            gap = rng.uniform(0.5, 3.0)
            time.sleep(gap)
            stage.round.note(f"second run started {gap:.2f}s after the first finished")
            runs.append(stage.run("rotate --all (2nd)", "--all"))
        if any(r.exit_code != 0 for r in runs):
            stage.run("rerun: rotate --all", "--all", recovery=True)
    for name in stage.names("in-place"):
        stage.expect(name, 1, 2)  # two logical runs; in-place keys have no previous secret to keep
    return stage.round


def cmd_provider(rng: random.Random, lab: Lab) -> Round:
    """`pulumi up` with a changed rotation_token (the provider over gRPC: check, then update) while
    `rotate --all` runs: one of them rotates the key, never both."""
    stage = prepare(lab, rng, "cmd_provider")
    key = rng.choice(stage.names())
    managed = stage.managed
    settings = load_stack_file(managed.stack_file)
    context = KeyContext(settings.stack, settings.vault, settings.digitalocean)
    spec = managed.specs[key]
    olds = {**inputs_for(spec, context), **managed.states[key].as_dict(), "plan": "", "pending_rotation": ""}
    wanted = dataclasses.replace(spec, rotation_token=f"campaign-{rng.getrandbits(24):06x}")
    provider = ProviderProcess(managed.env)
    try:
        with stage.consuming():
            news = _provider_call(
                stage,
                lambda: from_struct(
                    provider.check(key, olds, with_provider(inputs_for(wanted, context))).inputs
                ),
            )
            first = stage.start("rotate --all", "--all")
            moment = _moment(rng, lab)
            sleep_until(first, moment)
            if news is not None:
                stage.round.note(f"provider update of {key} at {moment:.2f}s (checked before the run)")
                _provider_call(stage, lambda: provider.update(key, key, olds, news))
            stage.recover(stage.finish(first))
    finally:
        provider.close()
    # The command and `pulumi up` are two logical runs: two versions are allowed (a rotator that loses
    # the race may store its own secret over the winner's), a second rotation of a dual-slot key is not
    # (both slots regenerated, the pre-round secret dead: invariants b and f).
    stage.expect(key, 1, 2)
    return stage.round


def _provider_call(stage: Stage, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except grpc.RpcError as exc:
        details = str(exc.details() or "") if hasattr(exc, "details") else str(exc)
        stage.round.provider_errors.append(details)
        stage.round.note(
            f"provider error: {details.splitlines()[0][:200] if details else type(exc).__name__}"
        )
        return None


def cmd_emergency(rng: random.Random, lab: Lab) -> Round:
    """`rotate --emergency KEY` started while `rotate --all` runs."""
    stage = prepare(lab, rng, "cmd_emergency")
    key = rng.choice(stage.names("dual-slot"))
    with stage.consuming():
        first = stage.start("rotate --all", "--all")
        moment = _moment(rng, lab)
        sleep_until(first, moment)
        emergency = stage.start(f"rotate {key} --emergency", key, "--emergency")
        stage.round.note(f"emergency on {key} started {moment:.2f}s into --all")
        runs = [stage.finish(first), stage.finish(emergency)]
        for run in reversed(runs):
            stage.recover(run)
    stage.expect(key, 1, 2, emergency=True, keep=False)
    return stage.round


# -- emergencies interrupted -----------------------------------------------------------------------
def emergency_interrupted(rng: random.Random, lab: Lab) -> Round:
    """An emergency stopped between its regenerates (the second fails, or SIGKILL right after the
    first), then run again: every pre-incident secret must be dead."""
    stage = prepare(lab, rng, "emergency_interrupted")
    key = rng.choice(stage.names("dual-slot"))
    record = stage.round.keys[key]
    for name in stage.names():
        stage.expect(name, 0, 0)
    stage.expect(key, 1, 2, emergency=True, keep=False)
    args = (key, "--emergency")
    with stage.consuming():
        if rng.random() < 0.5:
            kind = rng.choice(("error", "drop", "drop_after_commit", "rate_limit"))
            fault: dict[str, Any] = {
                "operation": "regenerate",
                "kind": kind,
                "after": 1,
                "times": rng.randint(1, 6),
            }
            if kind == "error":
                fault["status"] = 500
            lab.emulator.inject(**fault)
            stage.round.note(
                "fault on the second regenerate: " + " ".join(f"{k}={v}" for k, v in fault.items())
            )
            first = stage.run(f"rotate {key} --emergency", *args)
            lab.emulator.faults.clear()
        else:
            active = record.slots[0]
            running = stage.start(f"rotate {key} --emergency", *args)
            deadline = time.monotonic() + 60
            while (
                _regenerations(lab, active) == record.pre_regenerations[active]
                and running.process.poll() is None
                and time.monotonic() < deadline
            ):
                time.sleep(0.001)
            killed = running.kill()
            second_done = _regenerations(lab, record.slots[1]) > record.pre_regenerations[record.slots[1]]
            stage.round.note(
                "SIGKILL after the first regenerate"
                + (" (the second had happened too)" if second_done else " (before the second)")
                if killed
                else "the emergency finished before the SIGKILL"
            )
            first = stage.finish(running)
        stage.recover(first)
    return stage.round


@dataclass(frozen=True)
class Scenario:
    name: str
    play: Callable[[random.Random, Lab], Round]
    # The fraction of the round budget this scenario plays (at least one round): kill_all_then_single's
    # `rotate KEY` waits out the dead run's lease (60 s) whenever the kill came after the lease was
    # taken, so it plays a quarter of the rounds the others do.
    share: float = 1.0

    @property
    def summary(self) -> str:
        return (self.play.__doc__ or "").strip().splitlines()[0]

    def rounds(self, budget: int) -> int:
        return max(1, math.ceil(budget * self.share))


SCENARIOS: dict[str, Scenario] = {
    s.__name__: Scenario(s.__name__, s, 0.25 if s is kill_all_then_single else 1.0)
    for s in (
        kill_all,
        kill_all_when_complete,
        kill_all_then_single,
        do_faults,
        late_commit,
        vault_stopped,
        vault_sealed,
        vault_frozen,
        vault_token_revoked,
        vault_cas_conflict,
        cmd_cmd,
        cmd_provider,
        cmd_emergency,
        emergency_interrupted,
    )
}
