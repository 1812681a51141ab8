"""`gradient-keys sandbox down` stops what it started and nothing else, and forgets a sandbox only
once it is gone (sandbox/processes.py, the launcher's one stop routine).

Real processes throughout: the emulator as `sandbox up` starts it, unrelated `sleep`s holding a
recorded PID, another sandbox's emulator. Where a stop must fail (a signal with no effect), psutil's
signalling is replaced for the test; nothing else is.
"""

from __future__ import annotations

import contextlib
import functools
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

from components import cli
from sandbox import launcher, processes
from sandbox.openbao import OpenBaoError, start_dev_server
from sandbox.processes import Launched
from tests.conftest import require_openbao

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    """A sandbox directory whose sandbox is stopped after the test, whatever happened."""
    path = tmp_path / "sandbox"
    yield path
    with contextlib.suppress(launcher.SandboxError):
        launcher.down(path)


@pytest.fixture
def strangers() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts that are not the sandbox's; killed after it."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        process.kill()
        process.wait(timeout=10)


def signals_do_nothing(patched: pytest.MonkeyPatch) -> None:
    """SIGTERM and SIGKILL sent through psutil reach nobody: a stop that cannot be confirmed, as
    with a process stuck in the kernel."""
    patched.setattr(psutil.Process, "terminate", lambda self: None)
    patched.setattr(psutil.Process, "kill", lambda self: None)
    patched.setattr(processes, "KILL_WAIT_SECONDS", 0.2)


def gone(pid: int) -> bool:
    """No such process, or only its exit status is left."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def exec_done(pid: int) -> int:
    """Wait until the process shows its command line: for a moment after exec it reads as empty,
    and a process we started long ago (what a record names) is past that."""
    deadline = time.monotonic() + 10
    while not psutil.Process(pid).cmdline():
        assert time.monotonic() < deadline, f"pid {pid} shows no command line"
        time.sleep(0.01)
    return pid


def sleeper(strangers: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(["sleep", "60"], start_new_session=True)
    strangers.append(process)
    exec_done(process.pid)
    return process


def other_emulator(strangers: list[subprocess.Popen[bytes]]) -> tuple[subprocess.Popen[bytes], str]:
    """An emulator as another sandbox runs it (`python -m sandbox.emulator`), and its URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.emulator", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    strangers.append(process)
    assert process.stdout is not None
    return process, process.stdout.readline().decode().strip()


def write_record(directory: Path, pid: int, **fields: Any) -> Path:
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = directory / "sandbox.json"
    record = {"pid": pid, "api_url": "http://127.0.0.1:9", "token": "t", "admin_token": "a", **fields}
    path.write_text(json.dumps(record))
    return path


def created(pid: int) -> float:
    return psutil.Process(pid).create_time()


# -- what `sandbox up` started, `down` stops ------------------------------------------------------
@pytest.mark.parametrize("vault", [False, True], ids=["emulator", "emulator+openbao"])
def test_down_stops_what_up_started_and_then_forgets_it(directory: Path, vault: bool) -> None:
    if vault:
        require_openbao()
    info = launcher.up(directory, vault=vault)
    recorded = json.loads((directory / "sandbox.json").read_text())
    pids = [info.pid] + ([info.vault_pid] if info.vault_pid else [])
    assert recorded["created_at"] == created(info.pid)
    if vault:
        assert info.vault_pid and recorded["vault_created_at"] == created(info.vault_pid)

    assert launcher.down(directory) is True
    assert all(gone(pid) for pid in pids)
    assert not (directory / "sandbox.json").exists()
    assert launcher.running(directory) is None
    assert launcher.down(directory) is False


def test_a_sigterm_ignored_is_followed_by_sigkill() -> None:
    ready = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
    stubborn = subprocess.Popen(
        [sys.executable, "-c", ready + "time.sleep(60)"], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert stubborn.stdout is not None and stubborn.stdout.readline() == b"ready\n"
        launched = Launched("stubborn", stubborn.pid, processes.created_at(stubborn.pid), lambda _: True)
        outcome = processes.stop([launched], timeout=0.3)
        assert outcome.confirmed and outcome.stopped == (launched,)
        assert gone(stubborn.pid)  # SIGTERM was ignored: SIGKILL did it
    finally:
        stubborn.kill()
        stubborn.wait()


def test_a_zombie_counts_as_stopped(strangers: list[subprocess.Popen[bytes]]) -> None:
    """Our process once stopped may wait for a parent that never reaps it (pid 1 in some
    containers): it is gone all the same, and `stop` does not wait out its deadline for it."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, time; child = subprocess.Popen(['sleep', '60']); "
            "print(child.pid, flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    strangers.append(parent)
    assert parent.stdout is not None
    pid = exec_done(int(parent.stdout.readline()))
    launched = Launched("sleep", pid, processes.created_at(pid), lambda command: command[:1] == ["sleep"])
    began = time.monotonic()
    outcome = processes.stop([launched], timeout=30)
    assert outcome.confirmed and outcome.stopped == (launched,)
    assert time.monotonic() - began < 10
    assert psutil.Process(pid).status() == psutil.STATUS_ZOMBIE  # its parent never reaped it


# -- a recorded PID given to someone else is left alone ---------------------------------------------
def test_a_recorded_pid_reused_by_an_unrelated_process_is_not_killed(
    directory: Path, strangers: list[subprocess.Popen[bytes]]
) -> None:
    stranger = sleeper(strangers)
    # Our emulator was an earlier process; the system then gave its PID to this `sleep`.
    record = write_record(directory, stranger.pid, created_at=created(stranger.pid) - 3600)
    assert launcher.down(directory) is False
    assert stranger.poll() is None
    assert not record.exists()  # ours is gone: nothing left to remember


def test_a_recorded_pid_reused_by_another_sandboxs_emulator_is_not_killed(
    directory: Path, strangers: list[subprocess.Popen[bytes]]
) -> None:
    """Its command line is an emulator's, as ours was: only the creation time tells them apart."""
    other, url = other_emulator(strangers)
    write_record(directory, other.pid, api_url=url, created_at=created(other.pid) - 3600)
    assert launcher.running(directory) is None
    assert launcher.down(directory) is False
    assert other.poll() is None
    assert requests.get(f"{url}/_sandbox/health", timeout=5).status_code == 200


def test_a_record_whose_command_line_is_not_ours_is_not_killed(
    directory: Path, strangers: list[subprocess.Popen[bytes]]
) -> None:
    """The creation time matches (a clock step, or a record older than creation times): the
    command line is what tells a `sleep` from our emulator or OpenBao."""
    emulator_stranger, vault_stranger, old_stranger = (sleeper(strangers) for _ in range(3))
    write_record(
        directory,
        emulator_stranger.pid,
        created_at=created(emulator_stranger.pid),
        vault_pid=vault_stranger.pid,
        vault_created_at=created(vault_stranger.pid),
    )
    assert launcher.down(directory) is False
    write_record(directory, old_stranger.pid, vault_pid=vault_stranger.pid)  # no creation times
    assert launcher.down(directory) is False
    assert [s.poll() for s in (emulator_stranger, vault_stranger, old_stranger)] == [None, None, None]


@pytest.mark.parametrize("pid", [0, -1], ids=["zero", "negative"])
def test_a_pid_that_names_no_process_is_never_signalled(directory: Path, pid: int) -> None:
    """kill(2) reads 0 as our own process group and -1 as every process we may signal."""
    assert Launched("x", pid, None, lambda _: True).find() is None
    write_record(directory, pid, vault_pid=pid)
    assert launcher.down(directory) is False


# -- a stop that cannot be confirmed keeps the record -----------------------------------------------
def test_an_unconfirmed_stop_keeps_the_record_and_says_what_to_do(
    directory: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    info = launcher.up(directory, vault=False)
    record = directory / "sandbox.json"
    kept = record.read_text()
    with monkeypatch.context() as patched:
        signals_do_nothing(patched)
        with pytest.raises(launcher.SandboxError) as caught:
            launcher.down(directory, timeout=0.2)
        message = str(caught.value)
        assert f"the emulator (pid {info.pid}) is still running" in message
        assert f"kill -KILL {info.pid}" in message and f"ps -p {info.pid}" in message
        assert str(record) in message and "is kept" in message
        assert record.read_text() == kept
        assert launcher.running(directory) == info

        # The command says so too, and exits non-zero.
        code = cli.main(["sandbox", "down", "--dir", str(directory)])
        assert code == 1
        assert f"pid {info.pid}" in capsys.readouterr().err
        assert record.exists()
    # Once signals work again, `down` stops it and only then forgets it.
    assert launcher.down(directory) is True
    assert gone(info.pid) and not record.exists()


def test_a_process_that_cannot_be_inspected_or_signalled_is_not_called_stopped(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    info = launcher.up(directory, vault=False)

    def denied(self: psutil.Process, *args: Any) -> None:
        raise psutil.AccessDenied(self.pid)

    with monkeypatch.context() as patched:
        patched.setattr(psutil.Process, "cmdline", denied)
        with pytest.raises(launcher.SandboxError, match="could not be inspected"):
            launcher.down(directory)
        assert launcher.running(directory) is None  # not ours to use either
    with monkeypatch.context() as patched:
        patched.setattr(psutil.Process, "terminate", denied)
        began = time.monotonic()
        with pytest.raises(launcher.SandboxError, match="could not be signalled"):
            launcher.down(directory, timeout=30)
        assert time.monotonic() - began < 10  # refused at once: no wait for the deadline
    assert (directory / "sandbox.json").exists() and not gone(info.pid)
    assert launcher.down(directory) is True


def test_up_stops_what_a_stale_record_still_names(directory: Path) -> None:
    """An emulator that stopped answering: a new `up` stops it before it writes a new record."""
    first = launcher.up(directory, vault=False)
    record = directory / "sandbox.json"
    record.write_text(json.dumps({**json.loads(record.read_text()), "api_url": "http://127.0.0.1:9"}))
    second = launcher.up(directory, vault=False)
    assert second.pid != first.pid and gone(first.pid)
    assert json.loads(record.read_text())["pid"] == second.pid


def test_up_whose_vault_fails_stops_its_emulator_and_keeps_the_record_if_it_cannot(
    directory: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_vault(_directory: Path) -> None:
        raise OpenBaoError("OpenBao is not installed")

    monkeypatch.setattr(launcher, "_start_vault", no_vault)
    with pytest.raises(launcher.SandboxError, match="--no-vault") as caught:
        launcher.up(directory)
    assert "could not confirm" not in str(caught.value)
    assert not (directory / "sandbox.json").exists()

    with monkeypatch.context() as patched:
        signals_do_nothing(patched)
        patched.setattr(launcher, "stop", functools.partial(processes.stop, timeout=0.2))
        with pytest.raises(launcher.SandboxError, match="could not confirm the sandbox stopped") as caught:
            launcher.up(directory)
    pid = json.loads((directory / "sandbox.json").read_text())["pid"]
    assert f"kill -KILL {pid}" in str(caught.value) and not gone(pid)
    assert launcher.down(directory) is True and gone(pid)


def test_openbao_stop_raises_when_it_cannot_confirm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    require_openbao()
    server = start_dev_server(log_path=tmp_path / "bao.log")
    try:
        with monkeypatch.context() as patched:
            signals_do_nothing(patched)
            with pytest.raises(OpenBaoError, match=f"OpenBao \\(pid {server.pid}\\) is still running"):
                server.stop(timeout=0.2)
        assert not gone(server.pid)
    finally:
        server.stop()
    assert gone(server.pid)
