"""Rotation policy as pure functions: is a rotation due, which slot, what the ledger becomes.

No I/O: clocks, ledgers and declarations come in as plain values.

Dual-slot: a key owns slots a and b. Vault's current version holds the *active* slot's secret.
A rotation regenerates the *inactive* slot (the older secret, no longer handed to consumers),
writes its new secret to Vault and makes it active. The previous secret stays valid until the
next rotation, a full period later, so consumers that re-read Vault in that window never fail.
In-place: one key, regenerated and written; consumers holding the old secret fail until they
re-read Vault (a brief outage, by choice).
"""

from __future__ import annotations

import datetime
import enum
from dataclasses import dataclass, replace

from components.ledger import Ledger

__all__ = [
    "Due",
    "DueKind",
    "RotationStep",
    "emergency_steps",
    "format_time",
    "next_ledger",
    "parse_time",
    "plan_step",
    "rotated_recently",
    "rotation_due",
    "rotation_reason",
    "unfinished_emergency",
]


def format_time(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime.datetime:
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)


class DueKind(enum.Enum):
    """Why a key must rotate now (or that it need not), in the order the checks are made."""

    NOT_DUE = "not-due"
    EMERGENCY_UNFINISHED = "emergency-unfinished"
    TOKEN_CHANGED = "token-changed"  # noqa: S105 - a rotation_token, not a credential
    AGE_UNREADABLE = "age-unreadable"
    AGE = "age"


@dataclass(frozen=True)
class Due:
    """The one answer to "is this key due": used by the provider, the command and the audit."""

    kind: DueKind
    reason: str  # in words, "" when not due
    next_rotation: datetime.datetime | None = None  # when the age rule makes (made) it due

    def __bool__(self) -> bool:
        return self.kind is not DueKind.NOT_DUE


def rotation_due(
    ledger: Ledger | None,
    rotate_every_seconds: int | None,
    rotation_token: str | None,
    now: datetime.datetime,
) -> Due:
    """Is this key due, and why. The ledger is the shared truth: a rotation the command already
    did is seen here and not repeated."""
    if ledger is None:
        return Due(DueKind.NOT_DUE, "")
    next_rotation = None
    unreadable = False
    if rotate_every_seconds is not None:
        try:
            next_rotation = parse_time(ledger.rotated_at) + datetime.timedelta(seconds=rotate_every_seconds)
        except ValueError:
            unreadable = True
    if ledger.pending_slots:
        return Due(DueKind.EMERGENCY_UNFINISHED, unfinished_emergency(ledger), next_rotation)
    if rotation_token and ledger.rotation_token != rotation_token:
        return Due(DueKind.TOKEN_CHANGED, f"rotation_token changed to {rotation_token!r}", next_rotation)
    if unreadable:
        return Due(DueKind.AGE_UNREADABLE, f"ledger rotated_at {ledger.rotated_at!r} is unreadable")
    if next_rotation is not None and now >= next_rotation:
        reason = f"due since {format_time(next_rotation)} (last rotated {ledger.rotated_at})"
        return Due(DueKind.AGE, reason, next_rotation)
    return Due(DueKind.NOT_DUE, "", next_rotation)


def rotation_reason(
    ledger: Ledger | None,
    rotate_every_seconds: int | None,
    rotation_token: str | None,
    now: datetime.datetime,
) -> str:
    """`rotation_due`'s reason in words ("" when the key need not rotate)."""
    return rotation_due(ledger, rotate_every_seconds, rotation_token, now).reason


def rotated_recently(ledger: Ledger, now: datetime.datetime, min_interval_seconds: int) -> bool:
    """Did a rotation (not an adoption) give the key its current secret less than the interval ago?
    Rotating again now would kill the secret consumers held before it, which some may still use."""
    if ledger.origin != "rotate" or min_interval_seconds <= 0:
        return False
    try:
        return now - parse_time(ledger.rotated_at) < datetime.timedelta(seconds=min_interval_seconds)
    except ValueError:
        return False


def unfinished_emergency(ledger: Ledger) -> str:
    slots = " and ".join(ledger.pending_slots or "")
    return f"an emergency is unfinished: slot {slots} may still accept its old (leaked) secret"


@dataclass(frozen=True)
class RotationStep:
    regenerate_slot: str  # the slot whose DigitalOcean key gets a new secret
    new_active_slot: str  # the slot Vault's new version will hold


def plan_step(strategy: str, ledger: Ledger) -> RotationStep:
    if strategy == "in-place":
        return RotationStep(regenerate_slot=ledger.active_slot, new_active_slot=ledger.active_slot)
    inactive = "b" if ledger.active_slot == "a" else "a"
    return RotationStep(regenerate_slot=inactive, new_active_slot=inactive)


def next_ledger(  # noqa: PLR0913 - a pure function of everything the next ledger records
    ledger: Ledger,
    step: RotationStep,
    fingerprint: str,
    now: datetime.datetime,
    rotation_token: str | None,
    *,
    run_id: str | None = None,
) -> Ledger:
    """The ledger after a rotation. A declared rotation_token is recorded as applied; a command
    run records its id (so a resumed run skips what it already did)."""
    return replace(
        ledger,
        fingerprint=fingerprint,
        active_slot=step.new_active_slot,
        rotated_at=format_time(now),
        rotation_token=rotation_token if rotation_token is not None else ledger.rotation_token,
        run_id=run_id,
        origin="rotate",
        unsettled=None,
    )


def emergency_steps(strategy: str, ledger: Ledger) -> tuple[RotationStep, ...]:
    """A leaked key: regenerate every slot, active first, and keep Vault on the active slot.
    Every secret that existed stops working; consumers recover on their next read of Vault."""
    if strategy == "in-place":
        return (RotationStep(ledger.active_slot, ledger.active_slot),)
    inactive = "b" if ledger.active_slot == "a" else "a"
    return (
        RotationStep(regenerate_slot=ledger.active_slot, new_active_slot=ledger.active_slot),
        RotationStep(regenerate_slot=inactive, new_active_slot=ledger.active_slot),
    )
