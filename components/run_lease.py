"""One rotation run per stack at a time: a lease in Vault, with an expiry.

Two `rotate --all` started seconds apart would each rotate every key, and the second rotation of a
dual-slot key kills the secret its consumers were given by the first's predecessor. The lease is a
small record at `<prefix>/_gradient-keys/leases/<stack>`, taken and renewed with check-and-set, so
exactly one writer wins. It names its holder (host, process id and start time) and expires (`ttl`)
unless renewed, so a run that was killed blocks the next for at most that long, and not at all when
the next starts on the same host: a holder that is not running there any more is taken over at
once. A resumed run (same run id) is no exception: while the process that started it is alive, it
is still rotating, and two processes of one run must not regenerate the same slot at once.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import TracebackType

import psutil

from components.errors import GradientKeysError, VaultConflictError
from components.rotation import format_time, parse_time
from components.vault_sink import VaultSink

__all__ = [
    "LEASE_DIR",
    "PROCESS_RUN_ID",
    "RunBusyError",
    "RunLease",
    "holder_gone",
    "shared_lease",
    "this_process",
]

log = logging.getLogger("gradient_keys.lease")

LEASE_DIR = "_gradient-keys/leases"


class RunBusyError(GradientKeysError):
    """Another rotation run holds the stack's lease; nothing was rotated."""


def this_process() -> str:
    """`host:pid:start time`: the start time tells a reused process id from the holder."""
    return f"{socket.gethostname()}:{os.getpid()}:{psutil.Process().create_time():.3f}"


def holder_gone(holder: str) -> bool:
    """Is the lease's holder a process of this host that is not running any more? A holder on
    another host (or unreadable) is not known to be gone: its lease is waited out."""
    host, _, rest = holder.partition(":")
    pid_text, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid_text.isdecimal():
        return False
    try:
        process = psutil.Process(int(pid_text))
        running_since = f"{process.create_time():.3f}"
    except psutil.NoSuchProcess:
        return True
    except psutil.Error:
        return False  # not ours to inspect: assume it runs
    # The same pid with another start time is a new process that reused the number.
    return bool(started) and started != running_since


class RunLease:
    def __init__(  # noqa: PLR0913 - the lease's identity, then keyword-only timing and injected clocks
        self,
        vault: VaultSink,
        stack: str,
        run_id: str,
        *,
        ttl_seconds: int = 60,
        clock: Callable[[], datetime.datetime],
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.vault = vault
        self.path = f"{LEASE_DIR}/{stack or 'default'}"
        self.run_id = run_id
        self.ttl = ttl_seconds
        self.clock = clock
        self.sleep = sleep
        self.monotonic = monotonic
        self.holder = this_process()
        self._version = 0
        self._stop = threading.Event()
        self._renewer: threading.Thread | None = None
        self.lost = False

    # -- taking it ------------------------------------------------------------------------------
    def acquire(self, wait_seconds: float) -> None:
        """Take the lease, waiting up to `wait_seconds` for another run's to end or expire."""
        deadline = self.monotonic() + wait_seconds
        while True:
            record, version = self.vault.read_record_version(self.path)
            if record is None or self._expired(record) or holder_gone(str(record.get("holder") or "")):
                try:
                    self._write(version)
                except VaultConflictError:
                    continue  # another run took it between our read and write: look again
                return
            if self.monotonic() >= deadline:
                raise RunBusyError(
                    f"another rotation run ({record.get('run_id')} on {record.get('holder')}) is working on "
                    f"this stack; its lease lasts until {record.get('expires_at')} unless it finishes first. "
                    "Nothing was rotated: run again later, or wait for it with --wait SECONDS"
                )
            self.sleep(1.0)

    def _expired(self, record: dict[str, object]) -> bool:
        try:
            return parse_time(str(record.get("expires_at"))) <= self.clock()
        except ValueError:
            return True

    def _write(self, version: int, *, released: bool = False) -> None:
        until = self.clock() + datetime.timedelta(seconds=0 if released else self.ttl)
        record = {"run_id": self.run_id, "holder": self.holder, "expires_at": format_time(until)}
        self.vault.write_record(self.path, record, cas=version)
        self._version = version + 1

    # -- keeping it -----------------------------------------------------------------------------
    def _renew_until_stopped(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._write(self._version)
            except VaultConflictError:
                # Someone took it after it expired (this run stalled past the ttl): stop early.
                log.warning("the rotation lease for %s was taken over; stopping after this key", self.path)
                self.lost = True
                return
            except GradientKeysError as exc:
                log.warning("could not renew the rotation lease (%s); retrying", type(exc).__name__)

    def __enter__(self) -> RunLease:
        self._renewer = threading.Thread(target=self._renew_until_stopped, name="lease-renewer", daemon=True)
        self._renewer.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._renewer is not None:
            self._renewer.join()
        if not self.lost:
            try:
                self._write(self._version, released=True)
            except GradientKeysError:
                log.info("the rotation lease for %s expires on its own", self.path)


# -- one lease per process and stack, shared by the provider's threads ----------------------------
@dataclass
class _Shared:
    gate: threading.Lock = field(default_factory=threading.Lock)
    users: int = 0
    lease: RunLease | None = None


_shared: dict[tuple[str, str, str, str], _Shared] = {}
_shared_lock = threading.Lock()
PROCESS_RUN_ID = f"pulumi-{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def shared_lease(
    vault: VaultSink, stack: str, *, clock: Callable[[], datetime.datetime], wait_seconds: float
) -> Iterator[None]:
    """Hold the stack's lease while the body runs. The engine rotates several keys of one stack
    on parallel threads of one provider process: they share one lease (taken by the first,
    released by the last), so they exclude a `gradient-keys rotate` run, not each other."""
    key = (vault.connection.addr, vault.mount, vault.prefix, stack)
    with _shared_lock:
        entry = _shared.setdefault(key, _Shared())
    with entry.gate:
        if entry.users == 0:
            lease = RunLease(vault, stack, PROCESS_RUN_ID, clock=clock)
            lease.acquire(wait_seconds)
            entry.lease = lease.__enter__()
        entry.users += 1
    try:
        yield
    finally:
        with entry.gate:
            entry.users -= 1
            if entry.users == 0 and entry.lease is not None:
                entry.lease.__exit__(None, None, None)
                entry.lease = None
