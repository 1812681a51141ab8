"""The sandbox's own processes, found again by PID and stopped for certain, on Linux and macOS alike.

A PID does not name a process for ever: once ours exits, the system may give its number to any
other program (after a reboot, almost surely). So what we keep of a process we started is its PID,
its creation time and what its command line looks like, and a process counts as ours only while
all three match; a record written before creation times were kept is judged by its command line.

`stop` is the one way the sandbox stops a process, whether it is its child (a server that never
became ready) or a process a record names (`gradient-keys sandbox down`): SIGTERM, wait until a
deadline, SIGKILL what is left, then confirm each one is gone. What it cannot confirm it reports.
psutil does the platform part (Linux's /proc, macOS's sysctl).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import psutil

__all__ = ["Launched", "StopOutcome", "Unconfirmed", "created_at", "stop"]

# psutil's create_time follows the system clock (boot time + ticks since boot, on Linux), so an
# adjustment (NTP) between `up` and `down` moves it a little; the command-line check covers what
# such a tolerance could let through.
CREATE_TIME_TOLERANCE_SECONDS = 1.0
KILL_WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05


def created_at(pid: int) -> float | None:
    """The creation time of process `pid` (seconds since the epoch), to record beside its PID."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


@dataclass(frozen=True)
class Launched:
    """A process we started, as we remember it: enough to tell it from a later one with its PID."""

    name: str  # what messages call it: "the emulator", "OpenBao"
    pid: int
    created_at: float | None  # `created_at(pid)` at start; None in records older than that
    looks_like: Callable[[Sequence[str]], bool] = field(repr=False)  # is this command line ours?

    def find(self) -> psutil.Process | None:
        """The process, while this PID still names the one we started; None once it is gone.

        Raises psutil.AccessDenied when the system will not say what the PID runs: a process we
        started as this user is never such a one, but we cannot call it gone either.
        """
        if self.pid <= 0:  # no process of ours: kill(2) reads 0 and -N as process groups
            return None
        try:
            process = psutil.Process(self.pid)
            later = self.created_at is not None and (
                abs(process.create_time() - self.created_at) > CREATE_TIME_TOLERANCE_SECONDS
            )
            if later:
                return None  # the PID was given to a process started after ours
            if not self.looks_like(process.cmdline()):
                return None  # not a command we start
        except psutil.NoSuchProcess:  # ZombieProcess too: it has exited, its parent not yet reaped it
            return None
        return process

    def running(self) -> bool:
        """Is it still running as ours? False too when the system will not say."""
        try:
            return self.find() is not None
        except psutil.AccessDenied:
            return False


@dataclass(frozen=True)
class Unconfirmed:
    """A process `stop` could not confirm is gone, and why."""

    launched: Launched
    reason: str

    def __str__(self) -> str:
        return f"{self.launched.name} (pid {self.launched.pid}) {self.reason}"


@dataclass(frozen=True)
class StopOutcome:
    stopped: tuple[Launched, ...] = ()  # were running as ours, and are gone now
    unconfirmed: tuple[Unconfirmed, ...] = ()  # may still be running: keep whatever names them

    @property
    def confirmed(self) -> bool:
        return not self.unconfirmed


_Entry = tuple[Launched, psutil.Process]  # a process we started, and psutil's handle on it


def stop(launched: Sequence[Launched], timeout: float = 10.0) -> StopOutcome:
    """Stop those of `launched` still running as ours: SIGTERM them all, wait for all together
    until `timeout`, SIGKILL what outlives it, wait again, and confirm each is gone.

    A PID that no longer names our process is left alone (it is someone else's now): ours is gone.
    """
    running: list[_Entry] = []
    unconfirmed: list[Unconfirmed] = []
    for item in launched:
        try:
            process = item.find()
        except psutil.AccessDenied:
            unconfirmed.append(Unconfirmed(item, "could not be inspected (permission denied)"))
            continue
        if process is not None:
            running.append((item, process))
    terminated, refused = _send(running, psutil.Process.terminate)
    killed, refused_kill = _send(_wait(terminated, timeout), psutil.Process.kill)
    unconfirmed += refused + refused_kill
    unconfirmed += [
        Unconfirmed(item, f"is still running after SIGTERM and, {timeout:g}s later, SIGKILL")
        for item, _ in _wait(killed, KILL_WAIT_SECONDS)
    ]
    failed = {u.launched for u in unconfirmed}
    return StopOutcome(
        stopped=tuple(item for item, _ in running if item not in failed), unconfirmed=tuple(unconfirmed)
    )


def _send(
    entries: list[_Entry], send: Callable[[psutil.Process], None]
) -> tuple[list[_Entry], list[Unconfirmed]]:
    """Signal each; returns those signalled and those the system would not let us signal."""
    sent: list[_Entry] = []
    refused: list[Unconfirmed] = []
    for item, process in entries:
        try:
            send(process)  # psutil refuses (NoSuchProcess) when the PID was reused since `find`
        except psutil.NoSuchProcess:
            continue  # gone already: nothing to wait for
        except psutil.AccessDenied:
            refused.append(Unconfirmed(item, "could not be signalled (permission denied)"))
            continue
        sent.append((item, process))
    return sent, refused


def _wait(entries: list[_Entry], seconds: float) -> list[_Entry]:
    """Those still running after `seconds` (all are waited for together)."""
    deadline = time.monotonic() + seconds
    left = [entry for entry in entries if not _gone(entry[1])]
    while left and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        left = [entry for entry in left if not _gone(entry[1])]
    return left


def _gone(process: psutil.Process) -> bool:
    """Has it exited? A zombie has: only its exit status waits for its parent."""
    try:
        process.wait(timeout=0)  # reaps it when it is our child and has exited
        return True
    except psutil.TimeoutExpired:
        pass
    try:
        # is_running is False too when the PID now names a later process (psutil compares the
        # creation time): ours is gone then.
        return not process.is_running() or process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True
    except psutil.AccessDenied:
        return False
