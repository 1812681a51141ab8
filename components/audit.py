"""Audit: what is declared, against what exists at DigitalOcean and what Vault holds.

Reads only. DigitalOcean is listed once (about N/200 requests for N keys); each declared key's
Vault ledger is read from the metadata mirror with bounded concurrency, never repaired here
(repairing writes). Only `verify_secrets` reads secret values, to compare each with the
fingerprint in its ledger and to ask the inference endpoint (`GET /v1/models`, read-only, paced)
whether it still works; no secret is ever part of a finding or the report.
"""

from __future__ import annotations

import datetime
import enum
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from components.account_config import DEFAULT_ACCOUNT
from components.config import KeySpec, StackSettings, Strategy
from components.do_keys import ModelKey
from components.errors import VaultError
from components.history import PARTIAL, HistoryEntry, KeyHistory, history_of
from components.key_collection import KeyCollection
from components.keys import KeyOperations
from components.ledger import Ledger
from components.policy import age_violation, declaration_violations
from components.policy_config import Mode, Policies
from components.rotation import DueKind, format_time, rotation_due, unfinished_emergency
from components.vault_sink import LedgerEntry

__all__ = ["SCHEMA", "SEVERITIES", "AuditReport", "Finding", "Severity", "run_audit"]

SCHEMA = "gradient-keys/audit/v1"
Place = tuple[str, str | None]  # (account, agent uuid or None): one collection of one account


class Severity(enum.StrEnum):
    """How bad a finding is, from least to most (`--fail-on` takes one)."""

    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return SEVERITIES.index(self)


SEVERITIES: tuple[Severity, ...] = tuple(Severity)
# A broken policy rule's finding: `fail` mode fails an audit run with the default --fail-on high.
POLICY_SEVERITY = {Mode.FAIL: Severity.HIGH, Mode.WARN: Severity.LOW}
DUE_SOON_DAYS = 7
# Versions of each key's history in the report: up to one Vault read each (the current version's
# ledger comes from the metadata mirror); `gradient-keys history KEY` shows them all.
AUDIT_HISTORY_VERSIONS = 5
INFERENCE_CHECKS_PER_SECOND = 20.0  # --verify-secrets: paced calls to the inference endpoint
JOURNAL_FOLDER = "_gradient-keys"


@dataclass(frozen=True)
class Finding:
    id: str
    severity: Severity
    key: str | None  # the declared key, or None for an undeclared DigitalOcean key / Vault entry
    message: str
    fix: str
    vault_path: str | None = None
    digitalocean_uuid: str | None = None


@dataclass
class KeyRow:
    key: str
    vault_path: str
    strategy: str
    account: str = DEFAULT_ACCOUNT
    slot_a_uuid: str = ""
    slot_b_uuid: str = ""
    active_slot: str = ""
    rotated_at: str = ""
    next_rotation: str = ""
    vault_version: int = 0
    findings: int = 0
    # The newest version whose ledger is known (who rotated it last, why, when; from the metadata
    # mirror for the current version: no secret read), and the newest versions' history.
    last_rotation: HistoryEntry | None = None
    history: list[HistoryEntry] = field(default_factory=list)


@dataclass
class AuditReport:
    stack: str
    generated_at: str
    verify_secrets: bool
    findings: list[Finding] = field(default_factory=list)
    keys: list[KeyRow] = field(default_factory=list)
    digitalocean_keys: int = 0
    digitalocean_requests: int = 0
    vault_requests: int = 0
    seconds: float = 0.0
    # Per DigitalOcean account: the keys it holds (every collection listed) and the keys declared in it.
    accounts: dict[str, dict[str, int]] = field(default_factory=dict)
    history_versions: int = 0  # versions of history per key
    history_partial: bool = False  # the token may not read versions: metadata and mirror only

    def worst(self) -> Severity | None:
        return max((f.severity for f in self.findings), key=lambda s: s.rank, default=None)

    def fails(self, threshold: str) -> bool:
        return any(f.severity.rank >= Severity(threshold).rank for f in self.findings)

    def document(self) -> dict[str, Any]:
        counts = {s: sum(1 for f in self.findings if f.severity == s) for s in SEVERITIES}
        return {
            "schema": SCHEMA,
            "stack": self.stack,
            "generated_at": self.generated_at,
            "verify_secrets": self.verify_secrets,
            "summary": {
                "keys_declared": len(self.keys),
                "digitalocean_keys": self.digitalocean_keys,
                "findings": counts,
                "worst": self.worst(),
                "digitalocean_requests": self.digitalocean_requests,
                "vault_requests": self.vault_requests,
                "seconds": round(self.seconds, 3),
                "accounts": self.accounts,
            },
            "findings": [asdict(f) for f in self.findings],
            "keys": [asdict(k) for k in self.keys],
            "history": {
                "versions_per_key": self.history_versions,
                "partial": self.history_partial,
                "partial_reason": PARTIAL if self.history_partial else None,
            },
        }


def run_audit(  # noqa: PLR0913 - what to audit, then keyword-only options (one per command flag)
    settings: StackSettings,
    ops: KeyOperations,
    *,
    verify_secrets: bool = False,
    workers: int = 8,
    progress: Callable[[str], None] = lambda _line: None,
    history_versions: int = AUDIT_HISTORY_VERSIONS,
) -> AuditReport:
    started = time.monotonic()
    now = ops.clock()
    report = AuditReport(settings.stack, format_time(now), verify_secrets)
    specs = list(settings.keys)
    # Read-only: the audit needs read and list on the metadata (and read on data to verify).
    ops.vault.preflight(
        [s.vault_path for s in specs[:1]] or ["_gradient-keys/audit"],
        audit=True,
        write=False,
        read_secrets=verify_secrets,
    )
    # History reads each older version's ledger where the token may read versions; with the
    # audit-only policy it is partial (version times, and the current ledger from the mirror).
    read_data = bool(specs) and (verify_secrets or ops.vault.may(specs[0].vault_path, "data", "read"))
    report.history_versions, report.history_partial = history_versions, bool(specs) and not read_data
    # One listing per collection: the model access keys, and each declared agent's API keys.
    # One listing per collection of every account: its model access keys (whether or not a key is
    # declared there: unmanaged keys are found in every account), and each declared agent's keys.
    places = sorted(
        {(a.name, "") for a in settings.accounts} | {(s.account, s.agent_uuid or "") for s in specs}
    )
    listings: dict[Place, dict[str, ModelKey]] = {
        (name, agent or None): {
            k.uuid: k for k in ops.list_collection(KeyCollection(agent or None), settings.account(name))
        }
        for name, agent in places
    }
    report.digitalocean_keys = sum(len(listing) for listing in listings.values())
    for (name, _agent), listing in listings.items():
        counts = report.accounts.setdefault(name, {"digitalocean_keys": 0, "keys_declared": 0})
        counts["digitalocean_keys"] += len(listing)
    for spec in specs:
        report.accounts[spec.account]["keys_declared"] += 1
    progress(f"DigitalOcean: {report.digitalocean_keys} keys in {ops.digitalocean_requests()} request(s)")

    done = 0
    last = time.monotonic()

    pace = _Spacing(INFERENCE_CHECKS_PER_SECOND)

    def read(spec: KeySpec) -> tuple[KeySpec, LedgerEntry | None, Verified, KeyHistory]:
        entry = ops.vault.read_ledger(spec.vault_path, repair=False)
        history = history_of(
            ops.vault,
            spec,
            entry,
            limit=max(1, history_versions),
            now=now,
            read_data=read_data,
            mirror_for_current=True,
        )
        verified = Verified()
        if verify_secrets and entry is not None and not entry.deleted:
            # The fingerprint is compared with the ledger committed in the same version when there
            # is one (a `kv patch` of api_key keeps the old one), else with the mirror.
            try:
                secret, written = ops.vault.read_version(spec.vault_path, entry.version)
            except VaultError:
                # No api_key, or not written by gradient-keys at all: consumers cannot use it either.
                verified = Verified(matches=False)
            else:
                reference = written or entry.ledger
                matches = reference is not None and secret.fingerprint == reference.fingerprint
                # A matching fingerprint does not prove the secret still works (a regenerate that
                # committed late kills it): ask the inference endpoint, read-only, paced.
                pace.wait()
                verified = Verified(matches=matches, alive=ops.verify(secret, spec))
        return spec, entry, verified, history

    owned: set[str] = set()
    known = {place: _Known.of(listing, now, settings.policies) for place, listing in listings.items()}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for spec, entry, verified, history in pool.map(read, specs):
            check = _KeyCheck(report, spec, known[spec.account, spec.agent_uuid])
            owned |= check.run(entry, verified)
            check.row.last_rotation = history.last_rotation
            check.row.history = list(history.entries[:history_versions])
            done += 1
            if time.monotonic() - last >= 2.0:
                progress(f"Vault: {done}/{len(specs)} ledgers read")
                last = time.monotonic()

    for place, listing in listings.items():
        _check_unmanaged(report, settings, listing, owned, place)
    _check_undeclared_vault(report, settings, ops)
    report.findings.sort(key=lambda f: (-f.severity.rank, f.key or "", f.id))
    report.digitalocean_requests = ops.digitalocean_requests()
    report.vault_requests = ops.vault.requests_made
    report.seconds = time.monotonic() - started
    return report


@dataclass(frozen=True)
class Verified:
    """What `--verify-secrets` found for one key (None: not checked)."""

    matches: bool | None = None  # the secret's fingerprint is the ledger's
    alive: bool | None = None  # the inference endpoint accepts it


class _Spacing:
    """At most `rate` calls per second across the audit's threads (the inference endpoint is
    DigitalOcean's production service: an audit of 10,000 keys must not look like a flood)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.lock = threading.Lock()
        self.next_at = 0.0

    def wait(self) -> None:
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_at)
            self.next_at = start + self.interval
        if start > now:
            time.sleep(start - now)


@dataclass(frozen=True)
class _Known:
    """What every key's check reads: DigitalOcean's keys by uuid and by name (indexed once per
    audit, not once per key), and the audit's time."""

    listing: dict[str, ModelKey]
    by_name: dict[str, list[ModelKey]]  # DigitalOcean allows several keys with one name
    now: datetime.datetime
    policies: Policies

    @classmethod
    def of(cls, listing: dict[str, ModelKey], now: datetime.datetime, policies: Policies) -> _Known:
        by_name: dict[str, list[ModelKey]] = {}
        for listed in listing.values():
            by_name.setdefault(listed.name, []).append(listed)
        return cls(listing, by_name, now, policies)


class _KeyCheck:
    """Findings for one declared key, and the DigitalOcean uuids it owns."""

    def __init__(self, report: AuditReport, spec: KeySpec, known: _Known) -> None:
        self.report, self.spec, self.known = report, spec, known
        self.row = KeyRow(spec.name, spec.vault_path, spec.strategy, spec.account)
        self.owned: set[str] = set()

    def add(
        self, finding_id: str, severity: Severity, message: str, fix: str, uuid: str | None = None
    ) -> None:
        spec = self.spec
        self.report.findings.append(
            Finding(finding_id, severity, spec.name, message, fix, spec.vault_path, uuid)
        )

    def run(self, entry: LedgerEntry | None, verified: Verified) -> set[str]:
        self.report.keys.append(self.row)
        before = len(self.report.findings)
        _check_pickup(self.add, self.spec)  # the declaration alone: whatever Vault holds
        ledger = entry.ledger if entry is not None and not entry.deleted else None
        violations = declaration_violations(self.spec, self.known.policies)
        if entry is None or ledger is None:
            self._no_vault_entry(entry)
        else:
            self._slots(entry, ledger)
            self._secret(entry, verified)
            _check_schedule(self.add, self.row, self.spec, ledger, self.known.now)
            self._owner(entry)
            if aged := age_violation(self.spec, self.known.policies, ledger.rotated_at, self.known.now):
                violations.append(aged)
        for violation in violations:
            self.add(
                violation.rule.finding, POLICY_SEVERITY[violation.mode], violation.message, violation.fix
            )
        self.row.findings = len(self.report.findings) - before
        return self.owned

    def _owner(self, entry: LedgerEntry) -> None:
        # An owner an operator wrote by hand, with none declared, is theirs: not a drift.
        declared = self.spec.owner
        if declared and entry.owner != declared:
            shown = repr(entry.owner) if entry.owner else "none"
            self.add(
                "owner-drift",
                Severity.LOW,
                f"the key's Vault metadata names owner {shown}, but the stack declares {declared!r}",
                "run `pulumi up` (it writes the declared owner into the Vault metadata)",
            )

    def _no_vault_entry(self, entry: LedgerEntry | None) -> None:
        spec = self.spec
        self.add(
            "vault-entry-missing",
            Severity.HIGH,
            f"Vault holds no current secret at {spec.vault_path}"
            + (" (its versions are deleted)" if entry is not None and entry.deleted else ""),
            "run `pulumi up` (it adopts or re-creates the secret), or undelete the Vault versions",
        )
        # The keys `pulumi up` would adopt: by uuid or name when `adopt` says, else by slot name.
        if spec.adopt_uuids:
            present = [self.known.listing[u] for u in spec.adopt_uuids if u in self.known.listing]
            looked_for = f"with the adopted uuid {' or '.join(spec.adopt_uuids)}"
            fix = "check the uuids under adopt (`gradient-keys keys list`), then run `pulumi up`"
        else:
            names = spec.adopt_names or spec.slot_names
            present = [k for n in names for k in self.known.by_name.get(n, [])]
            looked_for = f"named {' or '.join(repr(n) for n in names)}"
            fix = f"create {', '.join(names)} in the control panel, then run `pulumi up`"
        self.owned |= {k.uuid for k in present}
        if not present:
            self.add(
                "missing-at-digitalocean", Severity.HIGH, f"no DigitalOcean key {looked_for} exists", fix
            )

    def _slots(self, entry: LedgerEntry, ledger: Ledger) -> None:
        spec, listing, row = self.spec, self.known.listing, self.row
        slots = (
            [("a", ledger.slot_a), ("b", ledger.slot_b)]
            if spec.strategy == "dual-slot"
            else [("a", ledger.slot_a)]
        )
        row.slot_a_uuid, row.slot_b_uuid = ledger.slot_a or "", ledger.slot_b or ""
        row.active_slot, row.rotated_at, row.vault_version = (
            ledger.active_slot,
            ledger.rotated_at,
            entry.version,
        )
        missing = [(slot, uuid) for slot, uuid in slots if not uuid or uuid not in listing]
        self.owned |= {uuid for _slot, uuid in slots if uuid and uuid in listing}
        if missing and len(missing) == len(slots):
            self.add(
                "missing-at-digitalocean",
                Severity.CRITICAL,
                "none of its DigitalOcean keys exists any more "
                f"({', '.join(u or '?' for _s, u in missing)}): consumers' secret no longer works",
                "create the keys in the control panel and run `pulumi up` (or `pulumi refresh` then `up`)",
            )
        elif missing:
            slot, uuid = missing[0]
            active = slot == ledger.active_slot
            self.add(
                "missing-slot",
                Severity.CRITICAL if active else Severity.HIGH,
                f"slot {slot} ({uuid or 'unset'}) is gone at DigitalOcean"
                + (
                    ": it is the active slot, consumers' secret no longer works"
                    if active
                    else ": the next rotation would fail"
                ),
                f"create {spec.slot_names[SLOT_INDEX[slot]]} in the control panel, "
                "then `pulumi refresh` and `pulumi up`",
                uuid,
            )
        for slot, uuid in slots:
            self._names(slot, uuid, {u for _s, u in slots})

    def _names(self, slot: str, uuid: str | None, ledger_uuids: set[str | None]) -> None:
        listing = self.known.listing
        wanted = self.spec.slot_names[SLOT_INDEX[slot]]
        if uuid and uuid in listing and listing[uuid].name != wanted:
            self.add(
                "name-drift",
                Severity.LOW,
                f"DigitalOcean key {uuid} is named {listing[uuid].name!r}, declared {wanted!r}",
                "run `pulumi up` to rename it, or change the declared name",
                uuid,
            )
        namesakes = [k for k in self.known.by_name.get(wanted, []) if k.uuid not in ledger_uuids]
        if not namesakes:
            return
        self.owned |= {k.uuid for k in namesakes}
        if uuid and uuid in listing:
            # The recorded key is there: the others are extra keys under a managed slot's name
            # (made by hand in the control panel, or an impostor). Consumers are not affected,
            # but anyone adopting or rotating by name would pick one of several.
            self.add(
                "duplicate-name",
                Severity.HIGH,
                f"{len(namesakes)} other DigitalOcean key(s) named {wanted!r} "
                f"({', '.join(k.uuid for k in namesakes)}) besides slot {slot}'s {uuid}",
                "find who made them (`gradient-keys keys list`), then delete or rename them in the "
                "control panel",
                namesakes[0].uuid,
            )
            return
        self.add(
            "ledger-mismatch",
            Severity.HIGH,
            f"the ledger's slot {slot} is {uuid or 'unset'}, "
            f"but DigitalOcean's {wanted!r} is {namesakes[0].uuid}",
            "run `pulumi refresh` then `pulumi up` so the ledger and the keys agree",
            namesakes[0].uuid,
        )

    def _secret(self, entry: LedgerEntry, verified: Verified) -> None:
        if not entry.mirror_in_sync and verified.matches is None:
            self.add(
                "ledger-stale",
                Severity.MEDIUM,
                f"Vault's current version {entry.version} is not the one the ledger describes "
                "(written outside gradient-keys, or a writer stopped half-way)",
                "audit with --verify-secrets to check the secret; "
                "`gradient-keys rotate KEY` re-establishes it",
            )
        if verified.alive is False:
            self.add(
                "secret-dead",
                Severity.CRITICAL,
                "the secret in Vault is refused by the inference endpoint: consumers reading it cannot call",
                f"run `gradient-keys rotate {self.spec.name}` (a dual-slot key flips to a fresh slot); "
                "`--force` if it was rotated within the last hour",
            )
        if verified.matches is False:
            self.add(
                "secret-changed-outside",
                Severity.CRITICAL,
                "the secret in Vault does not match the ledger's fingerprint: changed outside gradient-keys",
                "rotate it now (`gradient-keys rotate KEY --emergency`) and find who wrote to the path",
            )


SLOT_INDEX = {"a": 0, "b": 1}


def _check_schedule(
    add: Callable[..., None], row: KeyRow, spec: KeySpec, ledger: Ledger, now: datetime.datetime
) -> None:
    if ledger.pending_slots:
        add(
            "emergency-unfinished",
            Severity.CRITICAL,
            unfinished_emergency(ledger),
            f"run `gradient-keys rotate --emergency {spec.name}` (or `rotate --due`, or `pulumi up`) "
            "to finish it",
        )
    if spec.rotation_token and spec.rotation_token != ledger.rotation_token:
        add(
            "rotation-pending",
            Severity.LOW,
            f"rotation_token {spec.rotation_token!r} is declared but not applied yet",
            "run `pulumi up` or `gradient-keys rotate --due`",
        )
    period = spec.rotate_every_seconds
    if period is None:
        return
    # The same decision the command and the provider make; the token and emergency cases are
    # reported above with their own findings, so only the age rule is read from it here.
    due = rotation_due(ledger, period, None, now)
    if due.kind is DueKind.AGE_UNREADABLE:
        add(
            "rotation-overdue",
            Severity.MEDIUM,
            f"rotated_at {ledger.rotated_at!r} is unreadable",
            "rotate the key",
        )
        return
    assert due.next_rotation is not None  # a period and a readable rotated_at give a date
    row.next_rotation = format_time(due.next_rotation)
    soon = min(datetime.timedelta(days=DUE_SOON_DAYS), datetime.timedelta(seconds=period / 10))
    if now >= due.next_rotation:
        add(
            "rotation-overdue",
            Severity.MEDIUM,
            f"rotation was due {format_time(due.next_rotation)} "
            f"(rotate_every {spec.rotate_every}, last {ledger.rotated_at})",
            "run `gradient-keys rotate --due` (or schedule it: docs/rotation.md)",
        )
    elif now >= due.next_rotation - soon:
        add(
            "rotation-due-soon",
            Severity.INFO,
            f"rotation due {format_time(due.next_rotation)}",
            "nothing yet: the schedule will take it",
        )


def _check_pickup(add: Callable[..., None], spec: KeySpec) -> None:
    """Does the key rotate faster than its consumers start using a new Vault version?

    A dual-slot rotation leaves the replaced secret working until the next one regenerates its
    slot, `rotate_every` later: consumers that take longer than that to pick up the new version
    are still using the replaced secret when it dies. An in-place rotation kills the old secret at
    once, so any pickup time is an outage (each rotation says so in the rotate command's plan);
    rotating faster than the pickup can land a rotation before consumers have the previous
    version, so they can go a whole period without a working secret."""
    period = spec.rotate_every_seconds
    if period is None or period >= spec.consumer_pickup_seconds:
        return
    every, pickup = spec.rotate_every, spec.consumer_pickup
    consumers = (
        f"key {spec.name!r} rotates every {every} (rotate_every), but its consumers take up to {pickup} "
        f"(consumer_pickup) to start using a new Vault version"
    )
    if spec.strategy is Strategy.IN_PLACE:
        message = (
            f"{consumers}: for an in-place key any pickup time is an outage (a rotation kills the old "
            "secret at once), and a rotation can land before they have the previous version, so they "
            "can go a whole period without a working secret"
        )
        fix = (
            f"lengthen rotate_every well beyond {pickup}, or make the consumers pick up new versions "
            "sooner (e.g. a shorter Vault Agent static_secret_render_interval), then set "
            "consumer_pickup to match"
        )
    else:
        message = (
            f"{consumers}: the replaced secret dies at the next rotation, {every} later, "
            "while some consumers still use it"
        )
        fix = (
            f"lengthen rotate_every to {pickup} or more, or make the consumers pick up new versions "
            "sooner (e.g. a shorter Vault Agent static_secret_render_interval), then set "
            "consumer_pickup to match"
        )
    add("rotation-outpaces-consumers", Severity.MEDIUM, message, fix)


def _check_unmanaged(
    report: AuditReport,
    settings: StackSettings,
    listing: dict[str, ModelKey],
    owned: set[str],
    place: Place,
) -> None:
    """The keys of one collection (an account's model keys, or agent `agent`'s) no declaration owns."""
    account, agent = place
    specs = [s for s in settings.keys if (s.account, s.agent_uuid) == place]
    declared_names = {n for s in specs for n in (*s.slot_names, *s.adopt_names)}
    declared_uuids = {u for s in specs for u in s.adopt_uuids}
    kind = "DigitalOcean key" if agent is None else f"API key of agent {agent}"
    if account != DEFAULT_ACCOUNT:
        kind += f" in account {account}"
    ignore = set(settings.audit.ignore)
    prefix = settings.audit.scope_prefix
    for key in listing.values():
        if key.uuid in owned or key.uuid in declared_uuids or key.name in declared_names:
            continue
        if key.name in ignore or key.uuid in ignore or (prefix and not key.name.startswith(prefix)):
            continue
        report.findings.append(
            Finding(
                "unmanaged-key",
                Severity.MEDIUM,
                None,
                f"{kind} {key.name!r} ({key.uuid}) is declared nowhere in stack {settings.stack}",
                "declare it (adopt by uuid), delete it in the control panel, or list it under audit.ignore",
                None,
                key.uuid,
            )
        )


def _check_undeclared_vault(report: AuditReport, settings: StackSettings, ops: KeyOperations) -> None:
    # Keys, and the tool's own credentials: webhook URLs, accounts' API tokens.
    declared = {s.vault_path for s in settings.keys} | settings.notification_paths | settings.token_paths
    try:
        paths = ops.vault.list_paths(skip=JOURNAL_FOLDER)
    except VaultError as exc:
        report.findings.append(
            Finding(
                "vault-list-failed",
                Severity.LOW,
                None,
                f"could not list the prefix: {exc}",
                "grant list (policies/)",
            )
        )
        return
    for path in paths:
        if path not in declared:
            finding = _undeclared(settings, ops, path)
            if finding is not None:
                report.findings.append(finding)


def _undeclared(settings: StackSettings, ops: KeyOperations, path: str) -> Finding | None:
    """What an entry no key declares is: another stack's key (a prefix nested in this one: not
    this stack's business), a key this stack dropped without `pulumi up`, or not the tool's."""
    where = f"Vault entry {settings.vault.path_prefix}/{path}"
    try:
        entry = ops.vault.read_ledger(path, repair=False)
    except VaultError:
        entry = None  # not a ledger gradient-keys can read: shown as not the tool's
    ledger = entry.ledger if entry is not None else None
    if ledger is not None and ledger.stack and ledger.stack != settings.stack:
        return None
    if ledger is not None:
        return Finding(
            "undeclared-vault-entry",
            Severity.MEDIUM,
            None,
            f"{where} holds a key gradient-keys manages for stack {settings.stack}, "
            "but the stack file no longer declares it",
            "declare it again, or let `pulumi up` delete it as its on_delete says (it still holds a "
            "live secret: do not delete it by hand while consumers read it)",
            path,
        )
    return Finding(
        "undeclared-vault-entry",
        Severity.LOW,
        None,
        f"{where} is declared by no key in stack {settings.stack} and holds no gradient-keys ledger",
        "declare a key for it, or delete it (`vault kv metadata delete`) if it is left over",
        path,
    )
