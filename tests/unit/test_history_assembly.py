"""A key's history put together from what was read (components/history.py `assemble`, pure):
newest first, bounded; what changed from one version to the next; deleted, destroyed and
expiring versions; the metadata mirror used for the current version only, and only in sync."""

from __future__ import annotations

import datetime

from components.config import KeySpec
from components.history import LedgerSource, VersionState, assemble
from components.ledger import Ledger
from components.vault_sink import LedgerEntry, VersionInfo, VersionLedger

NOW = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)
SPEC = KeySpec(name="chatbot", vault_path="apps/chatbot")


def info(version: int, deletion: str = "", destroyed: bool = False) -> VersionInfo:
    return VersionInfo(version, f"2026-11-2{version % 10}T03:17:02.123456789Z", deletion, destroyed)


def ledger(fingerprint: str, slot: str = "a", pending: str | None = None, **more: str) -> Ledger:
    return Ledger(
        fingerprint * 12,
        "2026-11-20T03:17:02Z",
        slot_a="uuid-a",
        slot_b="uuid-b",
        active_slot=slot,
        pending_slots=pending,
        **more,
    )


def entry(versions: list[VersionInfo], mirror: Ledger | None = None, in_sync: bool = True) -> LedgerEntry:
    current = max(v.version for v in versions)
    ordered = tuple(sorted(versions, key=lambda v: -v.version))
    return LedgerEntry("apps/chatbot", current, mirror, in_sync, False, ordered)


def read(*pairs: tuple[int, Ledger]) -> dict[int, VersionLedger]:
    return {version: VersionLedger(version, written) for version, written in pairs}


def test_newest_first_with_what_changed_between_versions() -> None:
    ledgers = read(
        (1, ledger("1", reason="adoption")),
        (2, ledger("2", "b", reason="age", actor="pulumi")),
        (3, ledger("3", "b", pending="a", reason="emergency")),
        (4, ledger("3", "b", reason="emergency")),
        (5, ledger("3", "b", reason="adoption")),
    )
    history = assemble(SPEC, entry([info(v) for v in range(1, 6)]), ledgers, limit=20, now=NOW, partial=False)
    assert [e.version for e in history.entries] == [5, 4, 3, 2, 1]
    assert [e.current for e in history.entries] == [True, False, False, False, False]
    assert [e.new_secret for e in history.entries] == [False, False, True, True, None]
    notes = {e.version: e.note for e in history.entries}
    assert notes[5] == "same secret as version 4"
    assert notes[4] == "emergency finished: slot a regenerated"
    assert notes[3] == "emergency unfinished: slot a may still accept its old secret"
    second = history.entries[3]
    assert (second.actor, second.reason, second.active_slot, second.slot_uuid) == (
        "pulumi",
        "age",
        "b",
        "uuid-b",
    )
    assert second.written_at == "2026-11-22T03:17:02Z"  # Vault's nanoseconds cut to the second
    assert history.last_rotation == history.entries[0]


def test_the_limit_shows_the_newest_and_says_more_are_kept() -> None:
    ledgers = read(*((v, ledger(str(v))) for v in range(3, 8)))
    history = assemble(SPEC, entry([info(v) for v in range(3, 8)]), ledgers, limit=2, now=NOW, partial=False)
    assert [e.version for e in history.entries] == [7, 6]
    assert history.truncated and history.kept == 5 and history.oldest_kept == 3
    document = history.document("prod")
    assert document["truncated"] and document["oldest_kept_version"] == 3 and len(document["versions"]) == 2


def test_deleted_destroyed_and_expiring_versions() -> None:
    versions = [
        info(1, destroyed=True),
        info(2, deletion="2026-11-25T00:00:00.5Z"),
        info(3, deletion="2026-12-25T00:00:00Z"),  # delete_version_after: not deleted yet
    ]
    history = assemble(SPEC, entry(versions), read((3, ledger("3"))), limit=20, now=NOW, partial=False)
    third, second, first = history.entries
    assert third.state is VersionState.AVAILABLE and third.known
    assert "Vault deletes it at 2026-12-25T00:00:00Z" in third.note
    assert (second.state, second.deleted_at, second.note) == (
        VersionState.DELETED,
        "2026-11-25T00:00:00Z",
        "deleted 2026-11-25T00:00:00Z",
    )
    assert (first.state, first.note, first.fingerprint) == (VersionState.DESTROYED, "destroyed", None)
    assert third.new_secret is None  # the version before it is unknown


def test_partial_history_takes_the_current_ledger_from_an_in_sync_mirror_only() -> None:
    mirror = ledger("2", "b", reason="token", actor="pulumi")
    partial = assemble(SPEC, entry([info(1), info(2)], mirror), {}, limit=20, now=NOW, partial=True)
    current, older = partial.entries
    assert (current.ledger_source, current.reason, current.note) == (
        LedgerSource.MIRROR,
        "token",
        "ledger from the metadata mirror",
    )
    assert older.ledger_source is None and older.note == "ledger not readable with this token (metadata only)"
    # A mirror describing another version (a writer stopped between its two writes) is not the
    # current version's ledger.
    stale = assemble(
        SPEC, entry([info(1), info(2)], mirror, in_sync=False), {}, limit=20, now=NOW, partial=True
    )
    assert stale.entries[0].ledger_source is None and stale.last_rotation is None


def test_versions_whose_ledger_cannot_be_read_say_why() -> None:
    ledgers = {
        1: VersionLedger(1, None),
        2: VersionLedger(2, None, malformed="unknown ledger field(s): colour"),
        3: VersionLedger(3, None, gone=True),
    }
    history = assemble(SPEC, entry([info(1), info(2), info(3)]), ledgers, limit=20, now=NOW, partial=False)
    assert [e.note for e in history.entries] == [
        "deleted while the history was read",
        "malformed ledger: unknown ledger field(s): colour",
        "no ledger: not written by gradient-keys",
    ]


def test_nothing_stored_is_an_empty_history() -> None:
    history = assemble(SPEC, None, {}, limit=20, now=NOW, partial=False)
    assert history.entries == () and history.current_version == 0 and not history.truncated


def test_vault_times_with_an_offset_are_shown_in_utc() -> None:
    odd = VersionInfo(1, "2026-11-25T04:17:02.5+01:00", "", False)
    history = assemble(SPEC, entry([odd]), read((1, ledger("1"))), limit=20, now=NOW, partial=False)
    assert history.entries[0].written_at == "2026-11-25T03:17:02Z"
