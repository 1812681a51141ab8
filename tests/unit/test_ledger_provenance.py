"""The ledger's provenance fields (actor, reason, ci_job, ci_user): optional, so ledgers written
before them still read, from the version's data and from the metadata mirror; held to the same
rules as every other field."""

from __future__ import annotations

import json

import pytest

from components.ledger import MAX_FIELD_LENGTH, Ledger, LedgerFormatError

# A ledger as gradient-keys wrote it before it recorded who and why (every field it had then).
OLD_DATA = {
    "fingerprint": "0123456789ab",
    "rotated_at": "2026-11-20T03:17:02Z",
    "slot_a": "uuid-a",
    "slot_b": "uuid-b",
    "active_slot": "b",
    "rotation_token": None,
    "stack": "prod",
    "run_id": "0f1e2d3c4b5a",
    "pending_slots": None,
    "origin": "rotate",
    "unsettled": None,
    "managed_by": "gradient-keys",
}
NEW = Ledger(
    "0123456789ab",
    "2026-11-25T00:00:00Z",
    slot_a="uuid-a",
    actor="gradient-keys rotate",
    reason="age",
    run_id="abc",
    ci_job="https://github.com/acme/infra/actions/runs/1",
    ci_user="octocat",
)


def test_a_ledger_written_before_provenance_reads_from_data_and_mirror() -> None:
    from_data = Ledger.from_data_field(json.dumps(OLD_DATA))
    assert from_data is not None
    assert (from_data.run_id, from_data.origin, from_data.actor, from_data.reason) == (
        "0f1e2d3c4b5a",
        "rotate",
        None,
        None,
    )
    mirror = {k: v for k, v in OLD_DATA.items() if v is not None and k != "managed_by"}
    mirrored = Ledger.from_metadata({**mirror, "managed-by": "gradient-keys", "version": "7"})
    assert mirrored == (from_data, 7)


def test_provenance_round_trips_through_data_and_mirror() -> None:
    assert Ledger.from_data_field(NEW.to_data_field()) == NEW
    metadata = {k: v for k, v in NEW.to_metadata(3).items() if v is not None}
    assert Ledger.from_metadata(metadata) == (NEW, 3)


@pytest.mark.parametrize("name", ["actor", "reason", "ci_job", "ci_user"])
def test_provenance_fields_follow_the_field_rules(name: str) -> None:
    with pytest.raises(LedgerFormatError, match=name):
        Ledger.from_data_field(json.dumps({**OLD_DATA, name: "x" * (MAX_FIELD_LENGTH + 1)}))
    with pytest.raises(LedgerFormatError, match=name):
        Ledger.from_data_field(json.dumps({**OLD_DATA, name: 7}))


def test_fields_a_newer_version_adds_are_ignored_in_both_copies() -> None:
    """Two versions of gradient-keys on one Vault while runners are upgraded: neither copy of the
    ledger (data or metadata mirror) is refused for a field this version does not know."""
    ledger = Ledger(fingerprint="0123456789ab", rotated_at="2026-11-25T00:00:00Z", slot_a="u", stack="s")
    data = json.loads(ledger.to_data_field())
    assert Ledger.from_data_field(json.dumps({**data, "colour": "blue"})) == ledger
    mirrored = Ledger.from_metadata({**{k: v for k, v in ledger.to_metadata(3).items() if v}, "colour": "x"})
    assert mirrored == (ledger, 3)
