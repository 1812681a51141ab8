"""A ledger in Vault that lacks a required field is a format error naming the fields, not a crash."""

from __future__ import annotations

import pytest

from components.ledger import Ledger, LedgerFormatError


@pytest.mark.parametrize("raw", ['{"rotated_at": "2026-11-25T00:00:00Z"}', '{"fingerprint": "0123456789ab"}'])
def test_a_ledger_without_its_required_fields_is_a_format_error(raw: str) -> None:
    with pytest.raises(LedgerFormatError, match="lacks fingerprint or rotated_at"):
        Ledger.from_data_field(raw)


def test_a_complete_ledger_reads() -> None:
    raw = '{"fingerprint": "0123456789ab", "rotated_at": "2026-11-25T00:00:00Z"}'
    assert Ledger.from_data_field(raw) == Ledger(
        fingerprint="0123456789ab", rotated_at="2026-11-25T00:00:00Z"
    )
