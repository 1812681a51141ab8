"""`gradient-keys rotate`: rotation for scheduled jobs and incidents, paced and resumable.

Selection: due keys (by the Vault ledger: age and rotation_token, the same rule the provider
applies), all keys, or named keys; `emergency` regenerates every slot of each.

Resumable: a run writes a journal (`<prefix>/_gradient-keys/rotation-runs/<stack>` in Vault, so
a job restarted on another machine finds it) and stamps its id into the ledger of every key it
rotates. Killed half-way and started again with the same selection, it resumes the same run:
keys whose ledger carries the run id are done and are not rotated twice. Pacing comes from the
DigitalOcean client, which slows down as the rate-limit budget runs low.
"""

from __future__ import annotations

import collections
import datetime
import enum
import hashlib
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields

from components.config import KeySpec, StackSettings, Strategy
from components.errors import ConfigurationError, ExitCode, GradientKeysError, ServiceUnavailable, exit_code
from components.keys import KeyOperations, KeyState, RotationSkipped
from components.ledger import Ledger
from components.provenance import Reason, reason_for
from components.rotation import (
    format_time,
    parse_time,
    rotated_recently,
    rotation_due,
    unfinished_emergency,
)
from components.run_lease import RunLease
from components.timing import breakdown
from components.vault_sink import LedgerEntry

__all__ = ["JOURNAL_DIR", "Outcome", "RotationRunner", "Status", "Summary"]

JOURNAL_DIR = "_gradient-keys/rotation-runs"
PREFLIGHT_BATCH = 100
RESUME_WITHIN_SECONDS = 86400
LATE_COMMIT = "the stored secret no longer works: a regenerate whose answer was lost committed late"
EMERGENCY = "emergency: every slot regenerated, the old secrets stop working now"
NOT_MANAGED = "not managed yet: no ledger at its Vault path (`pulumi up` creates or adopts it)"
LEASE_LOST = "stopped: another run took over this stack's lease"
DEFAULT_MIN_INTERVAL_SECONDS = 3600  # consumers are expected to re-read Vault well within an hour
DEFAULT_WAIT_SECONDS = 90.0  # longer than a dead run's lease: a rerun after a crash just waits


class Status(enum.StrEnum):
    """What became of one key in a run (the JSON document's `status`)."""

    PLANNED = "planned"
    ROTATED = "rotated"
    ALREADY_DONE = "already-done"
    NOT_DUE = "not-due"
    FAILED = "failed"


# A plan rule's (status, reason, detail, why: the reason a rotation records, None when not planned), or None
Verdict = tuple["Status", str, str, Reason | None] | None


@dataclass
class Outcome:
    key: str
    vault_path: str
    reason: str
    status: Status
    detail: str = ""
    active_slot: str = ""
    fingerprint: str = ""
    vault_version: int = 0
    # Rotating it cuts its consumers off until they re-read Vault: an in-place key (regenerate
    # kills the only secret), or any key in an emergency (every slot is regenerated).
    outage: bool = False
    _spec: KeySpec | None = field(default=None, repr=False, compare=False)
    _state: KeyState | None = field(default=None, repr=False, compare=False)
    _error: GradientKeysError | None = field(default=None, repr=False, compare=False)
    _why: Reason | None = field(default=None, repr=False, compare=False)  # recorded in the ledger

    def public(self) -> dict[str, object]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")}


@dataclass
class Summary:
    rotated: int = 0
    already_done: int = 0
    not_due: int = 0
    failed: int = 0
    planned: int = 0
    unreachable: bool = False
    exit_code: int = ExitCode.OK
    seconds: float = 0.0
    digitalocean_requests: int = 0
    vault_requests: int = 0
    # Where the rotation's seconds went: pacing, digitalocean, vault, verification, other
    # (components/timing.py); empty for a plan.
    time: dict[str, float] = field(default_factory=dict)


def _exit_code(outcomes: list[Outcome], rotated: int) -> ExitCode:
    """OK without failures. When nothing was rotated and every failure has the same cause
    (unreachable, credentials refused), that cause's code; otherwise FAILED."""
    failures = [o for o in outcomes if o.status == Status.FAILED]
    if not failures:
        return ExitCode.OK
    # A key that failed at planning without an error object ("not managed yet") is plain work failed.
    codes = {exit_code(o._error) if o._error is not None else ExitCode.FAILED for o in failures}
    if rotated == 0 and len(codes) == 1:
        return codes.pop()
    return ExitCode.FAILED


def duration_text(seconds: int) -> str:
    """Seconds as the stack file writes durations: 2w, 30d, 12h, 90m (or 45s)."""
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _not_due(ledger: Ledger, spec: KeySpec, next_rotation: datetime.datetime | None) -> str:
    when = f"; due {format_time(next_rotation)} (rotate_every {spec.rotate_every})" if next_rotation else ""
    return f"rotated {ledger.rotated_at}{when}"


class _Progress:
    """The run's progress lines, from every account's thread: each key while there are few, else
    every 2 s, with the rate and the time left."""

    def __init__(
        self, total: int, started: float, monotonic: Callable[[], float], say: Callable[[str], None]
    ) -> None:
        self.total, self.started, self.monotonic, self.say = total, started, monotonic, say
        self.count = 0
        self.last_report = started
        self.lock = threading.Lock()

    def done(self, outcome: Outcome) -> None:
        with self.lock:
            self.count += 1
            index, now = self.count, self.monotonic()
            if self.total <= 50 or now - self.last_report >= 2.0 or index == self.total:
                rate = index / max(now - self.started, 1e-9)
                eta = (self.total - index) / rate if rate else 0.0
                more = self.total > 1 and index < self.total
                pace = f" ({rate:.1f}/s, ~{eta:.0f}s left)" if more else ""
                self.say(f"[{index}/{self.total}] {outcome.key}: {outcome.status}{pace}")
                self.last_report = now


class RotationRunner:
    def __init__(  # noqa: PLR0913 - keyword-only run options (one per command flag) and injected clocks
        self,
        settings: StackSettings,
        ops: KeyOperations,
        *,
        emergency: bool = False,
        fresh: bool = False,
        progress: Callable[[str], None] = lambda _line: None,
        monotonic: Callable[[], float] = time.monotonic,
        min_interval_seconds: int = DEFAULT_MIN_INTERVAL_SECONDS,
        force: bool = False,
        wait_seconds: float = DEFAULT_WAIT_SECONDS,
    ) -> None:
        self.settings = settings
        self.ops = ops
        self.emergency = emergency
        self.fresh = fresh
        self.progress = progress
        self.monotonic = monotonic
        self.min_interval = min_interval_seconds
        self.force = force
        self.wait_seconds = wait_seconds
        self.run_id = ""
        self.resumed = False
        self.selection = ""
        self.started_at = ""
        self._spent_before: dict[str, float] = {}  # ops.time_spent() when the run began
        self._skipped: list[str] = []  # keys another rotator moved while this run was planned
        self._journal_lock = threading.Lock()  # accounts rotate on threads of their own

    # -- what to rotate -----------------------------------------------------------------------
    def select(
        self, *, due: bool = False, every: bool = False, names: list[str] | None = None
    ) -> list[KeySpec]:
        if sum([due, every, bool(names)]) != 1:
            raise ConfigurationError("say which keys to rotate: --due, --all, or KEY names (one of them)")
        if names:
            known = {spec.name: spec for spec in self.settings.keys}
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ConfigurationError(
                    f"no key named {', '.join(repr(n) for n in unknown)} in stack {self.settings.stack}; "
                    f"declared: {', '.join(sorted(known)) or 'none'}"
                )
            self.selection = "keys:" + ",".join(sorted(set(names)))
            return [known[n] for n in dict.fromkeys(names)]
        self.selection = "due" if due else "all"
        return list(self.settings.keys)

    def plan(self, specs: list[KeySpec], *, dry_run: bool = False) -> list[Outcome]:
        """Read each key's ledger and decide. A dry run changes nothing at all: not even a stale
        ledger mirror is rebuilt (the run that rotates rebuilds it)."""
        self._resume_or_start()
        now = self.ops.clock()
        return [self._decide(spec, now, dry_run=dry_run) for spec in specs]

    def _decide(self, spec: KeySpec, now: datetime.datetime, *, dry_run: bool) -> Outcome:
        """One key's outcome before the run: planned (with why), or why not."""
        try:
            entry = self.ops.vault.read_ledger(spec.vault_path, repair=not dry_run)
            state = self.ops.state_from_ledger(spec, entry)
        except GradientKeysError as exc:
            return Outcome(spec.name, spec.vault_path, "", Status.FAILED, str(exc), _spec=spec, _error=exc)
        if state is None or entry is None or entry.ledger is None:
            return Outcome(spec.name, spec.vault_path, "", Status.FAILED, NOT_MANAGED, _spec=spec)
        rules = (self._unfinished, self._done, self._too_soon_now, self._selected)
        verdict = next(v for rule in rules if (v := rule(spec, entry, entry.ledger, now)) is not None)
        status, reason, detail, why = verdict
        outage = status is Status.PLANNED and (self.emergency or spec.strategy is Strategy.IN_PLACE)
        return Outcome(
            spec.name,
            spec.vault_path,
            reason,
            status,
            detail,
            outage=outage,
            _spec=spec,
            _state=state,
            _why=why,
        )

    # The plan's rules, in priority order: each says (status, reason, detail, why), or None to pass.
    def _unfinished(self, spec: KeySpec, entry: LedgerEntry, ledger: Ledger, _now: object) -> Verdict:
        """An unfinished emergency, or a stored secret a late regenerate killed, comes first,
        whatever the selection or run says."""
        if ledger.pending_slots:
            return Status.PLANNED, unfinished_emergency(ledger), "", Reason.EMERGENCY_FINISH
        if ledger.unsettled and self.ops.stored_secret_dead(spec, entry):
            return Status.PLANNED, LATE_COMMIT, "", Reason.SECRET_DEAD
        return None

    def _done(self, spec: KeySpec, _entry: LedgerEntry, ledger: Ledger, _now: object) -> Verdict:
        done = self._done_by_this_run(spec, ledger)
        return (Status.ALREADY_DONE, "", done, None) if done else None

    def _too_soon_now(
        self, spec: KeySpec, _entry: LedgerEntry, ledger: Ledger, now: datetime.datetime
    ) -> Verdict:
        # Both strategies: a dual-slot key would lose the previous secret consumers still hold,
        # an in-place key would cut its consumers off a second time; and a run killed after its
        # last key (journal complete, the operator saw no end) is rerun safely.
        if not (self.emergency or self.force) and rotated_recently(ledger, now, self.min_interval):
            return Status.NOT_DUE, "", self._too_soon(spec, ledger), None
        return None

    def _selected(
        self, spec: KeySpec, _entry: LedgerEntry, ledger: Ledger, now: datetime.datetime
    ) -> Verdict:
        if self.emergency:
            return Status.PLANNED, EMERGENCY, "", Reason.EMERGENCY
        if self.selection != "due":
            return Status.PLANNED, "requested", "", Reason.REQUESTED
        due = rotation_due(ledger, spec.rotate_every_seconds, spec.rotation_token, now)
        return (
            (Status.PLANNED, due.reason, "", reason_for(due.kind))
            if due
            else (Status.NOT_DUE, "", _not_due(ledger, spec, due.next_rotation), None)
        )

    # -- doing it -----------------------------------------------------------------------------
    def run(self, outcomes: list[Outcome]) -> Summary:
        started = self.monotonic()
        self._spent_before = self.ops.time_spent()
        todo = [o for o in outcomes if o.status == Status.PLANNED]
        if not todo:
            return self._finish(outcomes, todo, started)
        for start in range(0, len(todo), PREFLIGHT_BATCH):
            batch = todo[start : start + PREFLIGHT_BATCH]
            self.ops.vault.preflight([o.vault_path for o in batch])
        lease = RunLease(self.ops.vault, self.settings.stack, self.run_id, clock=self.ops.clock)
        if self.emergency:
            # A leaked secret must die now, not after a bulk run's lease: an emergency does not
            # wait. Check-and-set and verify-before-flip keep a concurrent rotation of the same key
            # from storing a dead secret; the audit and a rerun catch what either left unfinished.
            self._write_journal(complete=False, total=len(todo))
            self._rotate_each(todo, started, lease)
            return self._finish(outcomes, todo, started)
        lease.acquire(self.wait_seconds)
        with lease:
            self._write_journal(complete=False, total=len(todo))
            self._rotate_each(todo, started, lease)
        return self._finish(outcomes, todo, started)

    def _rotate_each(self, todo: list[Outcome], started: float, lease: RunLease) -> None:
        """The keys of each DigitalOcean account in their planned order; the accounts at once, each
        at its own rate limit (each has its own token, pacer and budget)."""
        by_account: dict[str, list[Outcome]] = {}
        for outcome in todo:
            assert outcome._spec is not None
            by_account.setdefault(outcome._spec.account, []).append(outcome)
        progress = _Progress(len(todo), started, self.monotonic, self.progress)
        if len(by_account) == 1:
            self._rotate_account(todo, lease, progress)
            return
        with ThreadPoolExecutor(max_workers=len(by_account), thread_name_prefix="account") as pool:
            runs = [
                pool.submit(self._rotate_account, group, lease, progress) for group in by_account.values()
            ]
            for run in runs:
                run.result()  # a bug in one account's run surfaces here, after the others finish

    def _rotate_account(self, todo: list[Outcome], lease: RunLease, progress: _Progress) -> None:
        down: ServiceUnavailable | None = None  # a service unreachable past its retry budget
        for outcome in todo:
            assert outcome._spec is not None and outcome._state is not None
            if down is not None:
                # Every key needs the same services: waiting out the budget once per key would
                # only delay the exit. The rest is left for the rerun, which resumes the journal.
                outcome.status, outcome._error = Status.FAILED, down
                outcome.detail = "not attempted: stopped at the first unreachable service; rerun to resume"
                continue
            if lease.lost:
                outcome.status, outcome.detail = (
                    Status.FAILED,
                    "stopped: another run took over this stack's lease",
                )
                continue
            try:
                state = self._rotate_planned(outcome)
                if state is None:  # decided again from a fresh read: nothing to do after all
                    continue
            except RotationSkipped as exc:
                outcome.status, outcome.detail = Status.ALREADY_DONE, str(exc)
                with self._journal_lock:
                    self._skipped.append(outcome.vault_path)
                    self._write_journal(complete=False, total=progress.total)  # its resume must skip it too
            except ServiceUnavailable as exc:
                outcome.status, outcome.detail, outcome._error = Status.FAILED, f"unreachable: {exc}", exc
                down = exc
            except GradientKeysError as exc:
                outcome.status, outcome.detail, outcome._error = Status.FAILED, str(exc), exc
            else:
                outcome.status = Status.ROTATED
                outcome.active_slot, outcome.fingerprint = state.active_slot, state.fingerprint
                outcome.vault_version = state.vault_version
            progress.done(outcome)

    def _rotate_planned(self, outcome: Outcome) -> KeyState | None:
        """Rotate one planned key; when Vault moved on since the plan read it, decide again.

        The key moved on after this run started: another rotator did it meanwhile
        (`RotationSkipped`, already done). It moved on before: the plan read a lagging copy (a
        standby of an HA Vault that had not caught up; see docs/vault.md), so the key is decided
        again from the fresh read, with every rule of the plan, and rotated (once) or not."""
        assert outcome._spec is not None and outcome._state is not None
        try:
            return self._rotate(outcome)
        except RotationSkipped:
            entry = self.ops.vault.read_ledger(outcome.vault_path)
            moved = entry.ledger.rotated_at if entry is not None and entry.ledger is not None else ""
            if not moved or moved >= self.started_at:  # same second: meanwhile (the safe reading)
                raise
        fresh = self._decide(outcome._spec, self.ops.clock(), dry_run=False)
        if fresh.status is not Status.PLANNED:
            outcome.status, outcome.detail = fresh.status, fresh.detail or "decided again from a fresh read"
            return None
        outcome._state, outcome._why, outcome.reason = fresh._state, fresh._why, fresh.reason
        return self._rotate(outcome)

    def _rotate(self, outcome: Outcome) -> KeyState:
        assert outcome._spec is not None and outcome._state is not None
        return self.ops.rotate(
            outcome._spec,
            outcome._state,
            emergency=self.emergency,
            run_id=self.run_id,
            preflight=False,
            expected_version=outcome._state.vault_version,
            reason=outcome._why,
        )

    def _finish(self, outcomes: list[Outcome], todo: list[Outcome], started: float) -> Summary:
        summary = self._summarize(outcomes, self.monotonic() - started)
        spent = self.ops.time_spent()
        summary.time = breakdown(
            summary.seconds, {part: spent[part] - self._spent_before.get(part, 0.0) for part in spent}
        )
        # Complete unless a rotation itself failed (then the same command resumes and retries
        # it). Keys that failed at planning (not deployed yet) do not hold a run open.
        rotation_failed = any(o.status == Status.FAILED for o in todo)
        if (todo or self.resumed) and not rotation_failed:
            self._write_journal(complete=True, total=len(todo))
        return summary

    def summarize_plan(self, outcomes: list[Outcome]) -> Summary:
        return self._summarize(outcomes, 0.0)

    def _summarize(self, outcomes: list[Outcome], seconds: float) -> Summary:
        counts = collections.Counter(outcome.status for outcome in outcomes)
        summary = Summary(
            rotated=counts[Status.ROTATED],
            already_done=counts[Status.ALREADY_DONE],
            not_due=counts[Status.NOT_DUE],
            failed=counts[Status.FAILED],
            planned=counts[Status.PLANNED],
            seconds=round(seconds, 3),
        )
        summary.exit_code = _exit_code(outcomes, summary.rotated)
        summary.unreachable = summary.exit_code == ExitCode.UNREACHABLE
        summary.digitalocean_requests = self.ops.digitalocean_requests()
        summary.vault_requests = self.ops.vault.requests_made
        return summary

    # -- the journal --------------------------------------------------------------------------
    def _journal_path(self) -> str:
        """One journal per stack and selection: a `rotate KEY` between a crash and its resume
        keeps its own journal and leaves the interrupted run's alone."""
        digest = hashlib.sha256(self._signature().encode()).hexdigest()[:16]
        return f"{JOURNAL_DIR}/{self.settings.stack or 'default'}/{digest}"

    def _too_soon(self, spec: KeySpec, ledger: Ledger) -> str:
        harm = (
            "cut off consumers still holding the previous secret"
            if spec.strategy == "dual-slot"
            else "cut its consumers off a second time (an in-place key)"
        )
        return (
            f"rotated {ledger.rotated_at}, less than --min-interval {duration_text(self.min_interval)} ago: "
            f"rotating again now would {harm}; --force rotates it anyway"
        )

    def _done_by_this_run(self, spec: KeySpec, ledger: Ledger) -> str:
        """Why this run has nothing left to do for the key ("" when it has)."""
        if not self.run_id:
            return ""
        if ledger.run_id == self.run_id:
            return f"in run {self.run_id}"
        if self.resumed and spec.vault_path in self._skipped:
            return f"rotated by another run while run {self.run_id} worked"
        if self.resumed and ledger.origin == "rotate" and ledger.rotated_at >= self.started_at:
            return f"rotated {ledger.rotated_at}, after run {self.run_id} started"
        return ""

    def _signature(self) -> str:
        return f"{self.selection};emergency={self.emergency}"

    def _resume_or_start(self) -> None:
        if self.run_id:
            return
        record = self.ops.vault.read_record(self._journal_path())
        if (
            record is not None
            and not self.fresh
            and record.get("complete") == "false"
            and record.get("signature") == self._signature()
            and self._recent(str(record.get("started_at")))
        ):
            self.run_id = str(record.get("run_id"))
            self.resumed = True
            self.started_at = str(record.get("started_at"))
            skipped = record.get("skipped")
            self._skipped = [str(p) for p in skipped] if isinstance(skipped, list) else []
            self.progress(f"resuming run {self.run_id} started {self.started_at} (--fresh starts a new one)")
            return
        self.run_id = uuid.uuid4().hex[:12]
        self.started_at = format_time(self.ops.clock())

    def _recent(self, started_at: str) -> bool:
        """Only a run from the last day is resumed: an older one is history, not work in progress."""
        try:
            return self.ops.clock() - parse_time(started_at) < datetime.timedelta(
                seconds=RESUME_WITHIN_SECONDS
            )
        except ValueError:
            return False

    def _write_journal(self, *, complete: bool, total: int) -> None:
        self.ops.vault.write_record(
            self._journal_path(),
            {
                "run_id": self.run_id,
                "signature": self._signature(),
                "started_at": self.started_at,
                "complete": "true" if complete else "false",
                "keys": str(total),
                "skipped": list(self._skipped),
            },
        )
