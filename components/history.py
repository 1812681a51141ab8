"""A key's history: the versions Vault keeps at its path, newest first, each with the ledger that
was written with it: when, by whom (the provider or the command, its run id, the CI job), why
(adoption, age, token, emergency, ...), which slot, and the secret's fingerprint.

Every KV v2 version holds its own ledger beside its secret (components/ledger.py), so the history
is read from Vault alone: the path's metadata lists every version it keeps with its times and
state (one request), and each version's data holds its ledger (one request per version; the
secret in the same answer is dropped unread by `VaultSink.read_version_ledger`). A token that
may read metadata but not data (the audit-only policy) gets a partial history: every version's
times and state, and the current version's ledger from the metadata mirror.

`history_of` reads; `assemble` is pure (the entries from what was read), and nothing here holds
a secret: entries are JSON-ready (`dataclasses.asdict`) for `gradient-keys history` and the audit.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from components.config import KeySpec
from components.ledger import Ledger
from components.rotation import format_time
from components.vault_sink import LedgerEntry, VaultSink, VersionInfo, VersionLedger, vault_time

__all__ = [
    "DEFAULT_LIMIT",
    "SCHEMA",
    "HistoryEntry",
    "KeyHistory",
    "LedgerSource",
    "VersionState",
    "assemble",
    "history_of",
    "read_history",
]

SCHEMA = "gradient-keys/history/v1"
DEFAULT_LIMIT = 20
PARTIAL = (
    "this Vault token may not read secret versions (the audit-only policy): every version shows "
    "Vault's times and state; only the current version's ledger is known, from the metadata mirror"
)


class VersionState(enum.StrEnum):
    AVAILABLE = "available"
    DELETED = "deleted"  # soft-deleted (`vault kv undelete` brings it back)
    DESTROYED = "destroyed"  # gone for good


class LedgerSource(enum.StrEnum):
    VERSION = "version"  # read from the version's own data (the ledger committed with its secret)
    MIRROR = "mirror"  # the metadata mirror, which describes the current version


@dataclass(frozen=True)
class HistoryEntry:
    """One version of a key's Vault path, and what its ledger says (None: not known)."""

    version: int
    current: bool
    state: VersionState
    written_at: str  # when Vault stored the version (UTC, to the second)
    deleted_at: str | None
    ledger_source: LedgerSource | None  # None: no ledger known for this version (see `note`)
    rotated_at: str | None = None  # when its secret was minted (kept when a write keeps the secret)
    actor: str | None = None  # "pulumi" or "gradient-keys rotate" (None: not recorded)
    reason: str | None = None  # adoption, age, token, requested, emergency, ... (None: not recorded)
    run_id: str | None = None
    ci_job: str | None = None
    ci_user: str | None = None
    active_slot: str | None = None  # the slot whose secret the version holds
    slot_uuid: str | None = None  # that slot's DigitalOcean key
    fingerprint: str | None = None  # first 12 hex of SHA-256 of the version's secret
    rotation_token: str | None = None  # the last rotation_token applied
    origin: str | None = None  # "adopt" or "rotate" (recorded before `reason` was)
    pending_slots: str | None = None  # an emergency's slots still to regenerate
    unsettled: bool = False  # a lost regenerate may still commit and kill this secret
    new_secret: bool | None = None  # its secret differs from the previous version's (None: unknown)
    note: str = ""  # what else to know, in words

    @property
    def known(self) -> bool:
        return self.ledger_source is not None


@dataclass(frozen=True)
class KeyHistory:
    key: str
    vault_path: str  # relative to the stack's path_prefix
    strategy: str
    current_version: int  # 0: nothing stored at the path
    oldest_kept: int | None  # Vault drops versions beyond max_versions (10 by default)
    kept: int  # how many versions Vault keeps now
    partial: bool
    entries: tuple[HistoryEntry, ...]

    @property
    def truncated(self) -> bool:
        """More versions are kept than the limit showed."""
        return len(self.entries) < self.kept

    @property
    def last_rotation(self) -> HistoryEntry | None:
        """The newest version whose ledger is known: the last recorded rotation (or adoption)."""
        return next((e for e in self.entries if e.known), None)

    def document(self, stack: str) -> dict[str, Any]:
        """The `gradient-keys history --format json` document (schema `gradient-keys/history/v1`)."""
        return {
            "schema": SCHEMA,
            "stack": stack,
            "key": self.key,
            "vault_path": self.vault_path,
            "strategy": self.strategy,
            "current_version": self.current_version,
            "oldest_kept_version": self.oldest_kept,
            "versions_kept": self.kept,
            "truncated": self.truncated,
            "partial": self.partial,
            "partial_reason": PARTIAL if self.partial else None,
            "versions": [asdict(e) for e in self.entries],
        }


def read_history(
    vault: VaultSink, spec: KeySpec, *, limit: int, now: datetime.datetime, read_data: bool | None = None
) -> KeyHistory:
    """The key's history, newest first, at most `limit` versions. `read_data` None: ask Vault
    whether this token may read the versions (else the history is partial)."""
    entry = vault.read_ledger(spec.vault_path, repair=False)
    if read_data is None:
        read_data = entry is not None and vault.may(spec.vault_path, "data", "read")
    return history_of(vault, spec, entry, limit=limit, now=now, read_data=read_data)


def history_of(  # noqa: PLR0913 - what was read (entry), then keyword-only reading choices
    vault: VaultSink,
    spec: KeySpec,
    entry: LedgerEntry | None,
    *,
    limit: int,
    now: datetime.datetime,
    read_data: bool,
    mirror_for_current: bool = False,
) -> KeyHistory:
    """The history from a `read_ledger` answer already read: each shown version's ledger read
    from its data when `read_data` (one request each; with `mirror_for_current`, the current
    version's comes from an in-sync mirror instead, as the audit does)."""
    shown = entry.versions[:limit] if entry is not None else ()
    ledgers: dict[int, VersionLedger] = {}
    if read_data and entry is not None:
        for info in shown:
            mirrored = mirror_for_current and info.version == entry.version and entry.mirror_in_sync
            if _state(info, now) is VersionState.AVAILABLE and not mirrored:
                ledgers[info.version] = vault.read_version_ledger(spec.vault_path, info.version)
    return assemble(spec, entry, ledgers, limit=limit, now=now, partial=not read_data)


def assemble(  # noqa: PLR0913 - what was read, then keyword-only reading choices
    spec: KeySpec,
    entry: LedgerEntry | None,
    ledgers: Mapping[int, VersionLedger],
    *,
    limit: int,
    now: datetime.datetime,
    partial: bool,
) -> KeyHistory:
    """The entries, newest first, from the metadata (`entry`) and the versions' ledgers read."""
    if entry is None:
        return KeyHistory(spec.name, spec.vault_path, spec.strategy, 0, None, 0, partial, ())
    shown = entry.versions[:limit]
    # The mirror describes the current version only, and only when it is in sync with it.
    mirror = entry.ledger if entry.mirror_in_sync and not entry.deleted else None
    drafts = [
        _draft(
            info, ledgers.get(info.version), current=entry.version, mirror=mirror, now=now, partial=partial
        )
        for info in shown
    ]
    by_version = {e.version: e for e in drafts}
    entries = tuple(_compared(e, by_version.get(e.version - 1)) for e in drafts)
    oldest = min((v.version for v in entry.versions), default=None)
    return KeyHistory(
        spec.name,
        spec.vault_path,
        spec.strategy,
        current_version=entry.version,
        oldest_kept=oldest,
        kept=len(entry.versions),
        partial=partial,
        entries=entries,
    )


def _state(info: VersionInfo, now: datetime.datetime) -> VersionState:
    if info.destroyed:
        return VersionState.DESTROYED
    if not info.deletion_time:
        return VersionState.AVAILABLE
    # With `delete_version_after`, Vault sets a deletion time in the future at write time.
    deleted_at = vault_time(info.deletion_time)
    return VersionState.DELETED if deleted_at is None or deleted_at <= now else VersionState.AVAILABLE


def _draft(  # noqa: PLR0913 - one version and what was read of it, then keyword-only context
    info: VersionInfo,
    read: VersionLedger | None,
    *,
    current: int,
    mirror: Ledger | None,
    now: datetime.datetime,
    partial: bool,
) -> HistoryEntry:
    state = _state(info, now)
    deletion = _moment(info.deletion_time) if info.deletion_time else None
    notes: list[str] = []
    ledger: Ledger | None = None
    source: LedgerSource | None = None
    if read is not None and read.ledger is not None:
        ledger, source = read.ledger, LedgerSource.VERSION
    elif info.version == current and mirror is not None and read is None:
        ledger, source = mirror, LedgerSource.MIRROR
        notes.append("ledger from the metadata mirror")
    if state is VersionState.DELETED:
        notes.append(f"deleted {deletion}")
    elif state is VersionState.DESTROYED:
        notes.append("destroyed")
    elif deletion is not None:
        notes.append(f"Vault deletes it at {deletion} (delete_version_after)")
    notes += _unknown_why(read, ledger, state, partial)
    base = HistoryEntry(
        info.version,
        info.version == current,
        state,
        _moment(info.created_time),
        deletion if state is VersionState.DELETED else None,
        source,
        note="; ".join(notes),
    )
    return base if ledger is None else _with_ledger(base, ledger, notes)


def _unknown_why(
    read: VersionLedger | None, ledger: Ledger | None, state: VersionState, partial: bool
) -> list[str]:
    """Why a version's ledger is not known, when it is not."""
    if ledger is not None or state is not VersionState.AVAILABLE:
        return []
    if read is None:
        return ["ledger not readable with this token (metadata only)"] if partial else []
    if read.gone:
        return ["deleted while the history was read"]
    if read.malformed:
        return [f"malformed ledger: {read.malformed}"]
    return ["no ledger: not written by gradient-keys"]


def _with_ledger(base: HistoryEntry, ledger: Ledger, notes: list[str]) -> HistoryEntry:
    if ledger.pending_slots:
        slots = " and ".join(ledger.pending_slots)
        notes.append(f"emergency unfinished: slot {slots} may still accept its old secret")
    if ledger.unsettled:
        notes.append("unsettled: a lost regenerate may still commit and kill this secret")
    return replace(
        base,
        rotated_at=ledger.rotated_at,
        actor=ledger.actor,
        reason=ledger.reason,
        run_id=ledger.run_id,
        ci_job=ledger.ci_job,
        ci_user=ledger.ci_user,
        active_slot=ledger.active_slot,
        slot_uuid=ledger.active_uuid,
        fingerprint=ledger.fingerprint,
        rotation_token=ledger.rotation_token,
        origin=ledger.origin,
        pending_slots=ledger.pending_slots,
        unsettled=bool(ledger.unsettled),
        note="; ".join(notes),
    )


def _compared(entry: HistoryEntry, previous: HistoryEntry | None) -> HistoryEntry:
    """`entry` with what changed since the version before it (when both ledgers are known)."""
    if previous is None or not entry.known or not previous.known:
        return entry
    notes = [entry.note] if entry.note else []
    new_secret = entry.fingerprint != previous.fingerprint
    if not new_secret:
        done = sorted(set(previous.pending_slots or "") - set(entry.pending_slots or ""))
        notes.insert(
            0,
            f"emergency finished: slot {' and '.join(done)} regenerated"
            if done
            else f"same secret as version {previous.version}",
        )
    return replace(entry, new_secret=new_secret, note="; ".join(notes))


def _moment(text: str) -> str:
    """A Vault time as the ledger writes times (`2026-11-25T03:17:02Z`); unreadable: as given, cut."""
    moment = vault_time(text)
    return format_time(moment) if moment is not None else text[:64]
