"""The rotation policy, exhaustively and by property, over clocks, periods, tokens and ledgers."""

from __future__ import annotations

import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.ledger import Ledger
from components.rotation import (
    emergency_steps,
    format_time,
    next_ledger,
    parse_time,
    plan_step,
    rotation_reason,
)

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
moments = st.integers(min_value=0, max_value=10 * 365 * 86400).map(
    lambda s: EPOCH + datetime.timedelta(seconds=s)
)
periods = st.one_of(st.none(), st.integers(min_value=60, max_value=400 * 86400))
tokens = st.one_of(st.none(), st.text(alphabet="abc-0123456789", min_size=1, max_size=12))
slots = st.sampled_from(["a", "b"])
strategies_ = st.sampled_from(["dual-slot", "in-place"])


def make_ledger(rotated: datetime.datetime, slot: str = "a", token: str | None = None) -> Ledger:
    return Ledger(
        fingerprint="0123456789ab",
        rotated_at=format_time(rotated),
        slot_a="uuid-a",
        slot_b="uuid-b",
        active_slot=slot,
        rotation_token=token,
    )


@given(rotated=moments, age=st.integers(min_value=0, max_value=800 * 86400), period=periods, slot=slots)
@settings(max_examples=300)
def test_age_alone_decides_exactly_at_the_period(
    rotated: datetime.datetime, age: int, period: int | None, slot: str
) -> None:
    now = rotated + datetime.timedelta(seconds=age)
    reason = rotation_reason(make_ledger(rotated, slot), period, None, now)
    assert bool(reason) == (period is not None and age >= period)
    if reason:
        assert reason.startswith("due since ")


@given(
    rotated=moments,
    age=st.integers(min_value=0, max_value=10**6),
    applied=tokens,
    declared=tokens,
    period=periods,
)
@settings(max_examples=300)
def test_a_new_token_rotates_once_whatever_the_age(
    rotated: datetime.datetime, age: int, applied: str | None, declared: str | None, period: int | None
) -> None:
    now = rotated + datetime.timedelta(seconds=age)
    reason = rotation_reason(make_ledger(rotated, token=applied), period, declared, now)
    token_differs = bool(declared) and declared != applied
    if token_differs:
        assert reason == f"rotation_token changed to {declared!r}"
    else:
        assert not reason.startswith("rotation_token")
    # After rotating with the declared token, the token never asks again (age may, a period later).
    if reason:
        step = plan_step("dual-slot", make_ledger(rotated, token=applied))
        after = next_ledger(make_ledger(rotated, token=applied), step, "fedcba987654", now, declared)
        assert rotation_reason(after, period, declared, now) == ""


@given(
    rotated=moments,
    age=st.integers(min_value=0, max_value=10**7),
    period=periods,
    token=tokens,
    slot=slots,
    strategy=strategies_,
)
@settings(max_examples=300)
def test_a_rotation_is_never_due_right_after_it_happened(
    rotated: datetime.datetime, age: int, period: int | None, token: str | None, slot: str, strategy: str
) -> None:
    ledger = make_ledger(rotated, slot, token)
    now = rotated + datetime.timedelta(seconds=age)
    step = plan_step(strategy, ledger)
    after = next_ledger(ledger, step, "fedcba987654", now, token)
    assert rotation_reason(after, period, token, now) == ""
    assert after.rotated_at == format_time(now) and after.fingerprint == "fedcba987654"
    assert (after.slot_a, after.slot_b, after.stack) == (ledger.slot_a, ledger.slot_b, ledger.stack)


@given(slot=slots)
def test_dual_slot_regenerates_the_inactive_slot_and_flips(slot: str) -> None:
    step = plan_step("dual-slot", make_ledger(EPOCH, slot))
    other = "b" if slot == "a" else "a"
    assert step.regenerate_slot == other and step.new_active_slot == other


@given(slot=slots)
def test_in_place_regenerates_the_active_slot(slot: str) -> None:
    step = plan_step("in-place", make_ledger(EPOCH, slot))
    assert step.regenerate_slot == slot == step.new_active_slot


@given(start=slots, rotations=st.integers(min_value=1, max_value=40))
def test_dual_slot_alternates_so_the_previous_secret_is_always_the_other_slot(
    start: str, rotations: int
) -> None:
    """Zero downtime: the slot just replaced in Vault is never the one regenerated next."""
    ledger = make_ledger(EPOCH, start)
    for i in range(rotations):
        previous_active = ledger.active_slot
        step = plan_step("dual-slot", ledger)
        assert step.regenerate_slot != previous_active
        ledger = next_ledger(ledger, step, f"{i:012x}", EPOCH + datetime.timedelta(days=i + 1), None)
        assert ledger.active_slot != previous_active
    assert ledger.active_slot == (start if rotations % 2 == 0 else ("b" if start == "a" else "a"))


@pytest.mark.parametrize(
    ("strategy", "slot", "expected"),
    [
        ("dual-slot", "a", [("a", "a"), ("b", "a")]),
        ("dual-slot", "b", [("b", "b"), ("a", "b")]),
        ("in-place", "a", [("a", "a")]),
    ],
)
def test_emergency_regenerates_every_slot_active_first(
    strategy: str, slot: str, expected: list[tuple[str, str]]
) -> None:
    steps = emergency_steps(strategy, make_ledger(EPOCH, slot))
    assert [(s.regenerate_slot, s.new_active_slot) for s in steps] == expected


def test_run_id_is_recorded_and_cleared() -> None:
    ledger = make_ledger(EPOCH)
    step = plan_step("dual-slot", ledger)
    assert next_ledger(ledger, step, "0" * 12, EPOCH, None, run_id="r1").run_id == "r1"
    assert next_ledger(ledger, step, "0" * 12, EPOCH, None).run_id is None


def test_unreadable_rotated_at_asks_for_a_rotation() -> None:
    ledger = Ledger(fingerprint="0123456789ab", rotated_at="yesterday", slot_a="u")
    assert "unreadable" in rotation_reason(ledger, 3600, None, EPOCH)


def test_no_ledger_means_nothing_to_decide_here() -> None:
    assert rotation_reason(None, 60, "t", EPOCH) == ""


@given(moment=moments)
def test_time_format_round_trips(moment: datetime.datetime) -> None:
    assert parse_time(format_time(moment)) == moment.replace(microsecond=0)
