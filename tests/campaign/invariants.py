"""What must hold after every round, checked from the outside: Vault read with the root token,
DigitalOcean's keys read from the emulator's store, secrets tried at the inference endpoint. The
tool's own report (its JSON, its exit code) is evidence to judge, never the measure.

    a  every declared key's Vault secret works at the inference endpoint
    b  dual-slot keys: the secret consumers held before the round still works, and the live
       consumer saw no failed call (keys an emergency hit are exempt)
    c  every DigitalOcean key is accounted for by a declaration's ledger, and every ledger slot exists
    d  the ledger's fingerprint (the version's `gradient_keys_ledger` and the metadata mirror when it
       describes the current version) is sha256(Vault secret)[:12]
    e  every exit code is documented (0-4), a failure says why in one line, nothing prints a traceback
       (the command's stderr, the provider's errors)
    f  each key is rotated as often as the round asked: never twice in one logical run (for dual-slot:
       both slots regenerated), never zero times when the run that selected it exited 0
    r  the documented recovery works: rerunning the same command without faults exits 0
    E  after an emergency completes, no secret of that key from before the incident works
    A  when Vault holds a dead secret, `audit --verify-secrets` reports it (exit 1)

`check` returns every violation of a round; none stops the others from being looked for.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import hvac

from components.ledger import LEDGER_DATA_FIELD
from components.secret import Secret
from tests.campaign.lab import ConsumerCounts, Lab, Run, works

__all__ = ["INVARIANTS", "KeyRecord", "Round", "Violation", "check", "group"]

INVARIANTS = {
    "a": "every declared key's Vault secret works",
    "b": "dual-slot consumers see no failure; the pre-round secret still works",
    "c": "no DigitalOcean key unaccounted for; no ledger slot missing",
    "d": "ledger fingerprint = sha256(Vault secret)[:12]",
    "e": "documented exit code, a one-line reason, never a traceback",
    "f": "rotated exactly as often as asked (never twice in one logical run)",
    "r": "rerunning the same command recovers (exit 0)",
    "E": "after an emergency, no pre-incident secret works",
    "A": "audit --verify-secrets reports a dead Vault secret",
}
DOCUMENTED_EXIT_CODES = frozenset({0, 1, 2, 3, 4})


@dataclass(frozen=True)
class Violation:
    invariant: str
    key: str
    detail: str

    def line(self) -> str:
        where = f"{self.key}: " if self.key else ""
        return f"({self.invariant}) {where}{self.detail}"


@dataclass
class KeyRecord:
    """One declared key, as it stood before the round, and what the round asked of it."""

    name: str
    vault_path: str  # full KV path, prefix included
    strategy: str
    slots: tuple[str, ...]  # DigitalOcean uuids, slot a first
    pre_secret: Secret  # Vault's current secret before the round (what consumers hold)
    pre_secrets: tuple[Secret, ...]  # every secret of the key valid before the round
    pre_version: int
    pre_regenerations: dict[str, int]
    min_rotations: int = 1
    max_rotations: int = 1
    emergency: bool = False  # an emergency targeted it: consumers may fail until they re-read
    keep_pre_secret: bool = True  # (b) applies to the pre-round secret


@dataclass
class Round:
    scenario: str
    seed: int
    keys: dict[str, KeyRecord]
    runs: list[Run] = field(default_factory=list)
    provider_errors: list[str] = field(default_factory=list)
    consumer: dict[str, ConsumerCounts] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    # runs `audit --verify-secrets`; called only when (a) finds a dead secret
    audit: Callable[[], Run] | None = None

    def note(self, text: str) -> None:
        self.notes.append(text)


def _current(vault: hvac.Client, path: str) -> tuple[int, dict[str, Any], dict[str, Any]]:
    """(current version, that version's data, the custom_metadata), read with the root token."""
    metadata = vault.secrets.kv.v2.read_secret_metadata(path, mount_point="secret")["data"]
    version = int(metadata.get("current_version") or 0)
    reply = vault.secrets.kv.v2.read_secret_version(
        path, version=version, mount_point="secret", raise_on_deleted_version=False
    )
    return (
        version,
        dict((reply.get("data") or {}).get("data") or {}),
        dict(metadata.get("custom_metadata") or {}),
    )


def _secret_of(data: dict[str, Any]) -> Secret | None:
    value = data.get("api_key")
    return Secret(value) if isinstance(value, str) and value else None


def _ledger_of(data: dict[str, Any]) -> Any:
    """The version's ledger as parsed JSON (None when absent or unreadable; any JSON value else)."""
    try:
        return json.loads(data.get(LEDGER_DATA_FIELD) or "null")
    except ValueError:
        return None


def _rotations(vault: hvac.Client, path: str, record: KeyRecord, current: int) -> list[str]:
    """Completed rotations since the round began: versions whose secret differs from the one before
    (a re-store of the same secret, or a ledger-only version, is not a rotation). Each is described
    by its version and the run its ledger names, which is what a reader of a violation needs."""
    previous = record.pre_secret.fingerprint
    found = []
    for version in range(record.pre_version + 1, current + 1):
        reply = vault.secrets.kv.v2.read_secret_version(
            path, version=version, mount_point="secret", raise_on_deleted_version=False
        )
        data = dict((reply.get("data") or {}).get("data") or {})
        secret = _secret_of(data)
        if secret is None or secret.fingerprint == previous:
            continue
        previous = secret.fingerprint
        ledger = _ledger_of(data)
        run = ledger.get("run_id") if isinstance(ledger, dict) else None
        found.append(f"v{version} by run {run or '-'}")
    return found


def _said(round_: Round, key: str) -> str:
    """What each run reported for the key (status and the start of its detail)."""
    said = []
    for run in round_.runs:
        for entry in run.document.get("keys", []):
            if isinstance(entry, dict) and entry.get("key") == key:
                detail = str(entry.get("detail") or "")[:80]
                said.append(f"{run.label}: {entry.get('status')}" + (f" ({detail})" if detail else ""))
    return "; ".join(said) or "no run reported it"


def check(lab: Lab, round_: Round) -> list[Violation]:
    """Every invariant, for every key and run of the round; faults must already be cleared."""
    lab.emulator.faults.clear()
    checking = _Checking(lab, round_, lab.root(), lab.emulator.base_url)
    for name, record in round_.keys.items():
        _check_key(checking, name, record)
    _check_live_consumer(checking)
    _check_accounted_for(checking)
    _check_exits(checking)
    _check_audit(checking)
    return checking.found


@dataclass
class _Checking:
    """One round under check: where to look, and what has been found so far (in report order)."""

    lab: Lab
    round_: Round
    vault: hvac.Client  # the root token's client
    base: str  # the emulator: DigitalOcean's API and the inference endpoint
    found: list[Violation] = field(default_factory=list)
    dead: list[str] = field(default_factory=list)  # declared keys whose Vault secret is refused (a)
    ledger_slots: set[str] = field(default_factory=set)  # every slot a current ledger names (c)

    def add(self, invariant: str, key: str, detail: str) -> None:
        record = self.round_.keys.get(key)
        self.found.append(Violation(invariant, f"{key} [{record.strategy}]" if record else key, detail))


def _check_key(checking: _Checking, name: str, record: KeyRecord) -> None:
    """(a), (d), (c), (b), (E), (f) for one declared key, in that order; nothing more when Vault has
    nothing readable at its path."""
    try:
        version, data, custom = _current(checking.vault, record.vault_path)
    except hvac.exceptions.VaultError as exc:
        checking.add("a", name, f"Vault has nothing readable at {record.vault_path} ({type(exc).__name__})")
        return
    secret = _secret_of(data)
    _check_secret_works(checking, name, version, secret)
    ledger = _check_ledger_fingerprint(checking, name, version, data, secret)
    _check_mirror_fingerprint(checking, name, version, custom, secret)
    _check_ledger_slots(checking, name, record, ledger)
    _check_pre_round_secret(checking, name, record)
    _check_emergency(checking, name, record)
    _check_rotation_count(checking, name, record, version)
    _check_one_slot_regenerated(checking, name, record)


def _check_secret_works(checking: _Checking, name: str, version: int, secret: Secret | None) -> None:
    """(a) the secret consumers read now works."""
    if secret is None:
        checking.add("a", name, f"Vault version {version} holds no api_key")
    elif not works(checking.base, secret.reveal()):
        checking.add("a", name, f"Vault version {version} holds a secret the inference endpoint refuses")
        checking.dead.append(name)


def _check_ledger_fingerprint(
    checking: _Checking, name: str, version: int, data: dict[str, Any], secret: Secret | None
) -> dict[str, Any]:
    """(d) the ledger names that secret; returns the ledger ({} when there is none to read)."""
    ledger = _ledger_of(data)
    if not isinstance(ledger, dict):
        checking.add("d", name, f"Vault version {version} has no readable {LEDGER_DATA_FIELD}")
        return {}
    if secret is not None and ledger.get("fingerprint") != secret.fingerprint:
        checking.add(
            "d",
            name,
            f"version {version}: ledger fingerprint {ledger.get('fingerprint')} but the secret's is "
            f"{secret.fingerprint}",
        )
    return ledger


def _check_mirror_fingerprint(
    checking: _Checking, name: str, version: int, custom: dict[str, Any], secret: Secret | None
) -> None:
    """(d) the metadata mirror, when it describes the current version, names that secret too."""
    if (
        secret is not None
        and custom.get("version") == str(version)
        and custom.get("fingerprint") != secret.fingerprint
    ):
        checking.add(
            "d",
            name,
            f"metadata mirror (version {version}) says fingerprint {custom.get('fingerprint')}, the "
            f"secret's is {secret.fingerprint}",
        )


def _check_ledger_slots(checking: _Checking, name: str, record: KeyRecord, ledger: dict[str, Any]) -> None:
    """(c) the ledger's slots are the key's; they are gathered for the DigitalOcean side of (c)."""
    slots = tuple(s for s in (ledger.get("slot_a"), ledger.get("slot_b")) if isinstance(s, str) and s)
    checking.ledger_slots.update(slots)
    if ledger and set(slots) != set(record.slots):
        checking.add("c", name, f"ledger slots {list(slots)} are not the key's {list(record.slots)}")


def _keeps_pre_round_secret(record: KeyRecord) -> bool:
    """A dual-slot key no emergency hit, whose round keeps the secret consumers held alive."""
    return record.strategy == "dual-slot" and not record.emergency and record.keep_pre_secret


def _check_pre_round_secret(checking: _Checking, name: str, record: KeyRecord) -> None:
    """(b) the secret consumers held before the round still works."""
    if _keeps_pre_round_secret(record) and not works(checking.base, record.pre_secret.reveal()):
        checking.add("b", name, "the secret Vault held before the round no longer works")


def _check_emergency(checking: _Checking, name: str, record: KeyRecord) -> None:
    """(E) nothing from before the incident survives a completed emergency."""
    if not (record.emergency and _emergency_completed(checking.round_, name)):
        return
    alive = sum(works(checking.base, old.reveal()) for old in record.pre_secrets)
    if alive:
        checking.add("E", name, f"{alive} of {len(record.pre_secrets)} pre-incident secrets still work")


def _check_rotation_count(checking: _Checking, name: str, record: KeyRecord, version: int) -> None:
    """(f) as many rotations as asked: never more, and none fewer once a run that selected it exited 0."""
    history = _rotations(checking.vault, record.vault_path, record, version)
    rotations = len(history)
    asked = (
        f"{record.min_rotations}"
        if record.min_rotations == record.max_rotations
        else f"{record.min_rotations}-{record.max_rotations}"
    )
    if rotations > record.max_rotations:
        checking.add(
            "f",
            name,
            f"rotated {rotations} times (Vault versions with a new secret: {', '.join(history)}), "
            f"asked {asked}; the runs said: {_said(checking.round_, name)}",
        )
    elif rotations < record.min_rotations and _selected_by_a_successful_run(checking.round_, name):
        checking.add(
            "f",
            name,
            f"rotated {rotations} times although the run that selected it exited 0; asked {asked}",
        )


def _check_one_slot_regenerated(checking: _Checking, name: str, record: KeyRecord) -> None:
    """(f) dual-slot: a second rotation regenerates the slot the first left inactive, which holds the
    secret consumers had before the round. (Regenerating the same slot again is a retry.)"""
    if (
        _keeps_pre_round_secret(record)
        and len(record.slots) == 2
        and all(_regenerated(checking.lab, record, u) for u in record.slots)
    ):
        checking.add("f", name, "both slots were regenerated: rotated twice (the pre-round secret died)")


def _check_live_consumer(checking: _Checking) -> None:
    """(b) what the live consumer saw, for each dual-slot key no emergency hit."""
    for name, record in checking.round_.keys.items():
        counts = checking.round_.consumer.get(record.vault_path)
        if counts is None or record.strategy != "dual-slot" or record.emergency or not counts.failed:
            continue
        first = counts.failures_at[0] if counts.failures_at else 0.0
        checking.add(
            "b",
            name,
            f"the live consumer saw {counts.failed} failed of {counts.calls} calls (first at {first:.2f}s)",
        )


def _check_accounted_for(checking: _Checking) -> None:
    """(c) every DigitalOcean key is one a ledger records, and every ledger slot exists."""
    store = checking.lab.emulator.store
    for key in store.list():
        if key.uuid not in checking.ledger_slots:
            checking.add(
                "c", "", f"DigitalOcean key {key.uuid} ({key.name!r}) belongs to no declared key's ledger"
            )
    for uuid in sorted(checking.ledger_slots):
        if store.get(uuid) is None:
            checking.add("c", "", f"ledger slot {uuid} no longer exists at DigitalOcean")


def _check_exits(checking: _Checking) -> None:
    """(e) and (r): what each command said, and how; then the provider's errors."""
    for run in checking.round_.runs:
        checking.found.extend(_exit_violations(run))
    for error in checking.round_.provider_errors:
        if "Traceback" in error:
            checking.add(
                "e", "", f"the provider answered the engine with a traceback: {error.splitlines()[0][:160]}"
            )


def _check_audit(checking: _Checking) -> None:
    """(A) the audit sees what the campaign sees: run only when (a) found a dead secret."""
    round_ = checking.round_
    if not checking.dead or round_.audit is None:
        return
    audit = round_.audit()
    round_.runs.append(audit)
    named = {str(f.get("key")) for f in audit.document.get("findings", []) if isinstance(f, dict)}
    missed = [n for n in checking.dead if n not in named]
    if audit.exit_code != 1 or missed:
        checking.add(
            "A",
            ", ".join(checking.dead),
            f"audit --verify-secrets exited {audit.exit_code} and named {sorted(named) or 'no key'} "
            "while Vault holds a dead secret",
        )


def _regenerated(lab: Lab, record: KeyRecord, uuid: str) -> bool:
    key = lab.emulator.store.get(uuid)
    return key is not None and key.regenerations > record.pre_regenerations.get(uuid, 0)


def _emergency_completed(round_: Round, key: str) -> bool:
    return any(key in r.emergency_keys and r.exit_code == 0 for r in round_.runs)


def _selected_by_a_successful_run(round_: Round, key: str) -> bool:
    for run in round_.runs:
        if run.exit_code != 0 or run.label.startswith("audit"):
            continue
        names = [a for a in run.args if not a.startswith("-")]
        if "--all" in run.args or "--due" in run.args or key in names:
            return True
    return False


def _exit_violations(run: Run) -> list[Violation]:
    found: list[Violation] = []
    what = f"`{run.label}`"
    for stream, text in (("stderr", run.stderr), ("stdout", run.stdout)):
        if "Traceback" in text:
            # The exception's own line (type and message) says which bug; the frames stay out of it.
            after = text[text.index("Traceback") :].splitlines()
            last = next((line for line in reversed(after) if line and not line.startswith(" ")), "")
            found.append(Violation("e", "", f"{what} printed a traceback on {stream}: {last[:200]}"))
    if run.exit_code is None:  # killed by the round: nothing more to judge
        return found
    if run.exit_code not in DOCUMENTED_EXIT_CODES:
        found.append(Violation("e", "", f"{what} exited {run.exit_code}, not a documented code"))
    if run.label.startswith("audit"):  # exit 1 means findings: (A) judges what it found
        return found
    document = run.document
    failed = [k for k in document.get("keys", []) if isinstance(k, dict) and k.get("status") == "failed"]
    if run.exit_code == 0 and failed:
        found.append(Violation("e", "", f"{what} exited 0 with {len(failed)} failed key(s)"))
    if run.exit_code != 0:
        errors = [line for line in run.stderr.splitlines() if line.startswith("error: ")]
        reasons = [str(k.get("detail") or "") for k in failed]
        if not errors and not (reasons and all(r.strip() and "\n" not in r for r in reasons)):
            found.append(
                Violation(
                    "e", "", f"{what} exited {run.exit_code} without a one-line reason (stderr or details)"
                )
            )
    if run.recovery and run.exit_code != 0:
        reason = next((line for line in run.stderr.splitlines() if line.startswith("error: ")), "")
        details = "; ".join(f"{k.get('key')}: {k.get('detail')}" for k in failed)[:300]
        found.append(
            Violation("r", "", f"{what} (the recovery) exited {run.exit_code}: {(reason or details)[:300]}")
        )
    return found


def group(violations: list[Violation]) -> dict[str, list[Violation]]:
    """Violations by invariant, in the order INVARIANTS lists them."""
    grouped: dict[str, list[Violation]] = {}
    for invariant in INVARIANTS:
        matching = [v for v in violations if v.invariant == invariant]
        if matching:
            grouped[invariant] = matching
    return grouped
