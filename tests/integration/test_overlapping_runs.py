"""Runs that overlap or interleave rotate each key once (issue 12, defects 2 and 5): one journal
per selection, skipped keys recorded, a minimum interval between rotations, one run per stack."""

from __future__ import annotations

import dataclasses
import datetime
import socket
import subprocess
from pathlib import Path

import psutil
import pytest

from components.bulk_rotation import RotationRunner
from components.clients import ClientFactory
from components.config import load_stack_file
from components.keys import KeyContext, KeyOperations
from components.rotation import format_time
from components.run_lease import LEASE_DIR
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import Managed, manage

KEYS = [
    {"name": "alpha", "vault_path": "apps/alpha"},
    {"name": "bravo", "vault_path": "apps/bravo"},
    {"name": "charlie", "vault_path": "apps/charlie"},
]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/ovl-{tmp_path.name[-8:]}")


def regenerations(emulator: Emulator) -> dict[str, int]:
    return {k.name: k.regenerations for k in emulator.store.list()}


def statuses(document: dict[str, object]) -> dict[str, str]:
    return {str(k["key"]): str(k["status"]) for k in document["keys"]}  # type: ignore[attr-defined]


def test_a_named_rotation_between_a_failure_and_the_resume_does_not_restart_the_bulk_run(
    managed: Managed, emulator: Emulator
) -> None:
    emulator.inject(operation="regenerate", kind="error", status=400, after=1)  # bravo fails
    code, first, _err = managed.rotate("--all", "--min-interval", "0")
    assert code == 1 and statuses(first) == {"alpha": "rotated", "bravo": "failed", "charlie": "rotated"}
    assert managed.rotate("charlie", "--force")[0] == 0  # an operator's rotation in between
    before = regenerations(emulator)
    code, resumed, err = managed.rotate("--all", "--min-interval", "0")
    assert code == 0, err
    assert resumed["resumed"] is True and resumed["run_id"] == first["run_id"]
    finished = {"failed": "rotated", "rotated": "already-done"}
    assert statuses(resumed) == {key: finished[status] for key, status in statuses(first).items()}
    after = regenerations(emulator)
    assert [n for n in after if after[n] != before[n]] == ["bravo-slot-b"]


def test_a_key_skipped_because_another_rotator_moved_it_is_not_rotated_by_the_resume(
    managed: Managed, emulator: Emulator
) -> None:
    settings = load_stack_file(managed.stack_file)
    ops = KeyOperations(
        KeyContext(settings.stack, settings.vault, settings.digitalocean), ClientFactory(managed.env)
    )
    runner = RotationRunner(settings, ops, min_interval_seconds=0)
    planned = runner.plan(runner.select(every=True))
    other = KeyOperations(
        KeyContext(settings.stack, settings.vault, settings.digitalocean), ClientFactory(managed.env)
    )
    other.rotate(managed.specs["alpha"], managed.states["alpha"])  # alpha moves on after the plan
    emulator.inject(operation="regenerate", kind="error", status=400)  # bravo fails: the run stays open
    runner.run(planned)
    assert {o.key: o.status for o in planned} == {
        "alpha": "already-done",
        "bravo": "failed",
        "charlie": "rotated",
    }
    resume = RotationRunner(
        settings,
        KeyOperations(
            KeyContext(settings.stack, settings.vault, settings.digitalocean), ClientFactory(managed.env)
        ),
        min_interval_seconds=0,
    )
    again = resume.plan(resume.select(every=True))
    assert resume.resumed and {o.key: o.status for o in again} == {
        "alpha": "already-done",
        "bravo": "planned",
        "charlie": "already-done",
    }


def test_a_second_run_right_after_the_first_does_not_rotate_again(
    managed: Managed, emulator: Emulator
) -> None:
    assert managed.rotate("--all")[0] == 0
    before = regenerations(emulator)
    code, second, err = managed.rotate("--all")
    assert code == 0, err
    assert set(statuses(second).values()) == {"not-due"} and "--force" in second["keys"][0]["detail"]
    assert regenerations(emulator) == before
    code, forced, _err = managed.rotate("--all", "--force")
    assert code == 0 and set(statuses(forced).values()) == {"rotated"}


def test_an_in_place_key_is_not_cut_off_twice_by_a_rerun_after_a_run_that_finished(
    emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path
) -> None:
    """A run killed after its journal said complete looks, to the rerun, like any finished run: the
    minimum interval is what keeps an in-place key's consumers from a second outage."""
    keys = [*KEYS[:1], {"name": "legacy", "vault_path": "apps/legacy", "strategy": "in-place"}]
    managed = manage(emulator, openbao, tmp_path, keys, prefix=f"gradient-keys/ip-{tmp_path.name[-8:]}")
    assert managed.rotate("--all")[0] == 0
    before = regenerations(emulator)
    code, second, err = managed.rotate("--all")
    assert code == 0, err
    assert statuses(second) == {"alpha": "not-due", "legacy": "not-due"}
    legacy = next(k for k in second["keys"] if k["key"] == "legacy")
    assert "a second time (an in-place key)" in legacy["detail"] and "--force" in legacy["detail"]
    assert regenerations(emulator) == before
    code, forced, _err = managed.rotate("legacy", "--force")
    assert code == 0 and statuses(forced) == {"legacy": "rotated"}


def test_a_run_waits_for_or_refuses_on_another_runs_lease(managed: Managed, emulator: Emulator) -> None:
    sink = managed.sink()
    now = datetime.datetime.now(datetime.UTC)
    path = f"{LEASE_DIR}/{load_stack_file(managed.stack_file).stack}"
    sink.write_record(
        path,
        {
            "run_id": "someone",
            "holder": "ci-7:42",
            "expires_at": format_time(now + datetime.timedelta(minutes=5)),
        },
    )
    before = regenerations(emulator)
    code, _document, err = managed.rotate("--all", "--wait", "0")
    assert code == 1 and "another rotation run (someone on ci-7:42)" in err
    assert regenerations(emulator) == before
    sink.write_record(
        path,
        {
            "run_id": "someone",
            "holder": "ci-7:42",
            "expires_at": format_time(now - datetime.timedelta(seconds=1)),
        },
    )
    code, document, err = managed.rotate("--all", "--wait", "0")  # an expired lease is taken over
    assert code == 0 and set(statuses(document).values()) == {"rotated"}, err
    record = sink.read_record(path)
    assert record is not None and record["run_id"] == document["run_id"]
    assert record["expires_at"] <= format_time(datetime.datetime.now(datetime.UTC))  # released at the end


def test_an_emergency_does_not_wait_for_another_runs_lease(managed: Managed, emulator: Emulator) -> None:
    sink = managed.sink()
    path = f"{LEASE_DIR}/{load_stack_file(managed.stack_file).stack}"
    until = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5)
    sink.write_record(path, {"run_id": "bulk", "holder": "ci-1:7", "expires_at": format_time(until)})
    leaked = sink.read_secret("apps/alpha")[0].reveal()
    code, document, err = managed.rotate("alpha", "--emergency", "--wait", "0")
    assert code == 0 and statuses(document) == {"alpha": "rotated"}, err
    reply = emulator.store.find_by_secret(leaked)
    assert reply is None  # the leaked secret no longer belongs to any key
    assert (sink.read_record(path) or {}).get("run_id") == "bulk"  # the bulk run's lease is untouched


def test_a_resumed_run_waits_while_the_process_that_started_it_lives(
    managed: Managed, emulator: Emulator
) -> None:
    """A second `rotate --all` started while the first still works resumes the same run (its journal
    says unfinished): it must not take the lease the live first process holds, or both regenerate
    the same slots at once (found by the fault campaign's cmd_cmd). A holder on this host that is no
    longer running is taken over at once: a rerun after a crash does not wait out the lease."""
    emulator.inject(operation="regenerate", kind="error", status=400)  # the first run stays unfinished
    code, first, _err = managed.rotate("--all", "--min-interval", "0")
    assert code == 1
    sink = managed.sink()
    path = f"{LEASE_DIR}/{load_stack_file(managed.stack_file).stack}"
    until = format_time(datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5))
    alive = subprocess.Popen(["sleep", "60"])  # stands for the first run's process, still working
    try:
        holder = f"{socket.gethostname()}:{alive.pid}:{psutil.Process(alive.pid).create_time():.3f}"
        sink.write_record(path, {"run_id": first["run_id"], "holder": holder, "expires_at": until})
        before = regenerations(emulator)
        code, _document, err = managed.rotate("--all", "--min-interval", "0", "--wait", "0")
        assert code == 1 and f"another rotation run ({first['run_id']}" in err
        assert regenerations(emulator) == before
    finally:
        alive.kill()
        alive.wait()
    # The holder's process is gone (killed, as a crashed run is): its lease is taken over at once.
    code, resumed, err = managed.rotate("--all", "--min-interval", "0", "--wait", "0")
    assert code == 0 and resumed["run_id"] == first["run_id"], err
    finished = {"failed": "rotated", "rotated": "already-done"}
    assert statuses(resumed) == {key: finished[status] for key, status in statuses(first).items()}


def test_a_lease_held_on_another_host_is_waited_out(managed: Managed) -> None:
    """A holder on another host cannot be looked at: its lease stands until it expires."""
    sink = managed.sink()
    path = f"{LEASE_DIR}/{load_stack_file(managed.stack_file).stack}"
    until = format_time(datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=5))
    sink.write_record(path, {"run_id": "far", "holder": "another-host:1:1.000", "expires_at": until})
    code, _document, err = managed.rotate("--all", "--wait", "0")
    assert code == 1 and "another rotation run (far on another-host:1:1.000)" in err


def test_a_plan_read_from_a_lagging_copy_is_decided_again_not_skipped(
    managed: Managed, emulator: Emulator
) -> None:
    """The plan read alpha from a copy of Vault behind the truth (an HA standby that had not caught
    up): Vault's newer version was written *before* this run started, so nobody rotated the key
    meanwhile. The run decides again from the fresh read and rotates it (once), rather than
    calling it done and exiting 0 with the key untouched."""
    settings = load_stack_file(managed.stack_file)
    context = KeyContext(settings.stack, settings.vault, settings.digitalocean)
    runner = RotationRunner(
        settings, KeyOperations(context, ClientFactory(managed.env)), min_interval_seconds=0
    )
    planned = runner.plan(runner.select(every=True))
    # What the plan did not see: a new secret (slot b), recorded as minted a minute before the run.
    KeyOperations(context, ClientFactory(managed.env)).rotate(managed.specs["alpha"], managed.states["alpha"])
    sink = managed.sink()
    secret, entry = sink.read_secret("apps/alpha")
    assert entry.ledger is not None and entry.ledger.active_slot == "b"
    earlier = format_time(datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=1))
    sink.write("apps/alpha", secret, dataclasses.replace(entry.ledger, rotated_at=earlier), entry.version)
    before = regenerations(emulator)
    runner.run(planned)
    assert {o.key: o.status for o in planned} == {
        "alpha": "rotated",
        "bravo": "rotated",
        "charlie": "rotated",
    }
    after = regenerations(emulator)
    # decided again on the fresh ledger: slot b holds the secret now, so slot a is regenerated
    assert (after["alpha-slot-a"], after["alpha-slot-b"]) == (
        before["alpha-slot-a"] + 1,
        before["alpha-slot-b"],
    )
