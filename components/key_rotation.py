"""Rotating a key: whether it is due (from the Vault ledger the command and the provider share),
and the rotation itself, with its failure rules (see components/rotation.py for which slots)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from typing import TypedDict

from components.config import KeySpec
from components.errors import (
    DigitalOceanError,
    InferenceUnavailableError,
    RotationFailedError,
    RotationSkipped,
    UnknownOutcomeError,
)
from components.key_io import KeyIO
from components.key_state import KeyState, state_of
from components.ledger import Ledger
from components.provenance import Reason, reason_for
from components.rotation import (
    RotationStep,
    emergency_steps,
    format_time,
    next_ledger,
    plan_step,
    rotation_due,
    rotation_reason,
    unfinished_emergency,
)
from components.secret import Secret
from components.vault_sink import LedgerEntry

__all__ = ["RotateOptions", "Rotation", "Standing"]

log = logging.getLogger("gradient_keys.keys")

NOTHING_STORED = "Vault holds no current secret for this key"


class RotateOptions(TypedDict, total=False):
    """How `Rotation.rotate` is asked to rotate (the facade passes them on as they are)."""

    verify: bool
    emergency: bool
    run_id: str | None
    preflight: bool
    expected_version: int | None
    reason: Reason | None


@dataclass(frozen=True)
class Standing:
    """A key as the Vault ledger has it, for a preview (`Rotation.standing`)."""

    pending_rotation: str  # why it rotates on this update, "" when it does not
    rotation_basis: str  # "VERSION:FINGERPRINT" the decision was made on ("" when not rotating)
    rotated_at: str  # when the current secret was minted ("" when Vault holds none)


class Rotation:
    def __init__(self, io: KeyIO) -> None:
        self.io = io

    # -- is it due (read-only: a preview must not write) --------------------------------------
    def _current(self, spec: KeySpec) -> LedgerEntry | None:
        entry = self.io.vault.read_ledger(spec.vault_path, repair=False)
        return None if entry is None or entry.deleted or entry.ledger is None else entry

    def standing(self, spec: KeySpec) -> Standing:
        """What a preview shows of the key, from one read of the Vault ledger shared with the command:
        why it must rotate now ("" if not), the ledger that was decided on, and when its secret
        was minted (the age policy's input)."""
        entry = self._current(spec)
        if entry is None or entry.ledger is None:
            return Standing(NOTHING_STORED, "", "")
        ledger = entry.ledger
        reason = rotation_reason(ledger, spec.rotate_every_seconds, spec.rotation_token, self.io.clock())
        # The basis, "VERSION:FINGERPRINT": the provider records it at check time, so its update can
        # tell whether anyone rotated since.
        return Standing(reason, f"{entry.version}:{ledger.fingerprint}" if reason else "", ledger.rotated_at)

    def due(self, spec: KeySpec, state: KeyState) -> tuple[str, KeyState]:
        """`pending`, and `state` as of the Vault version it was decided on: a rotation that goes
        ahead passes that version as `expected_version`, so a rotation by another run in between
        is seen and not repeated."""
        entry = self._current(spec)
        if entry is None or entry.ledger is None:
            return NOTHING_STORED, state
        ledger = entry.ledger
        reason = rotation_reason(ledger, spec.rotate_every_seconds, spec.rotation_token, self.io.clock())
        checked = replace(
            state, vault_version=entry.version, fingerprint=ledger.fingerprint, active_slot=ledger.active_slot
        )
        return reason, checked

    def stored_secret_dead(self, spec: KeySpec, entry: LedgerEntry) -> bool:
        """For a ledger marked unsettled: does the stored secret no longer work (the lost
        regenerate committed after the retry)? Read-only: one Vault read, one inference call."""
        secret, _written = self.io.vault.read_version(spec.vault_path, entry.version)
        return not self.io.verify(secret)

    # -- the rotation -------------------------------------------------------------------------
    def rotate(  # noqa: PLR0913 - keyword-only options (RotateOptions), each with a default
        self,
        spec: KeySpec,
        state: KeyState,
        *,
        verify: bool = True,
        emergency: bool = False,
        run_id: str | None = None,
        preflight: bool = True,
        expected_version: int | None = None,
        reason: Reason | None = None,
    ) -> KeyState:
        """Regenerate and store (see components/rotation.py for which slots, and why).

        Normal dual-slot rotations verify the new secret against the inference endpoint before
        Vault changes (consumers keep the active slot if it fails). An emergency regenerates
        every slot, stores the active one's new secret at once, and verifies nothing first:
        the leaked secrets must die now.

        `expected_version` is the Vault version the rotation was planned against: if another
        rotator moved the key on since, this one is skipped (`RotationSkipped`) instead of
        killing the secret consumers just received.

        `reason` is why the front end asked (recorded in the ledger with who asked); without it,
        the reason is the ledger's own `rotation_due` decision. An emergency, finishing one, and
        restoring a missing secret record themselves as such.
        """
        io = self.io
        if preflight:
            io.vault.preflight([spec.vault_path], delete_mode=spec.on_delete)
        entry = io.vault.read_ledger(spec.vault_path)
        ledger = entry.ledger if entry is not None and not entry.deleted else None
        if entry is not None and ledger is not None and ledger.pending_slots:
            # An emergency stopped half-way: finishing it is this rotation, whoever asked for it.
            return self._finish_emergency(spec, state, entry, ledger, run_id)
        if (
            expected_version is not None
            and not emergency
            and entry is not None
            and entry.version != expected_version
            and _rotated_since(ledger, state)
        ):
            raise RotationSkipped(
                f"key {spec.name} was rotated meanwhile (Vault version {entry.version}, planned against "
                f"{expected_version}); not rotating it again"
            )
        if ledger is None:
            # Nothing usable in Vault (deleted outside the tool): mint the active slot's secret again.
            ledger = Ledger(
                fingerprint="0" * 12,
                rotated_at=format_time(io.clock()),
                slot_a=state.slot_a_uuid,
                slot_b=state.slot_b_uuid or None,
                active_slot=state.active_slot,
                stack=io.context.stack,
            )
            steps: tuple[RotationStep, ...] = (plan_step("in-place", ledger),)
            why = Reason.RESTORE
        elif emergency:
            steps = emergency_steps(spec.strategy, ledger)
            why = Reason.EMERGENCY
        else:
            steps = (plan_step(spec.strategy, ledger),)
            why = reason or reason_for(
                rotation_due(ledger, spec.rotate_every_seconds, spec.rotation_token, io.clock()).kind
            )
        step, *others = steps  # the slot Vault will hold comes first
        secret, settled = self._regenerate(spec, state, ledger, step, emergency=emergency, verify=verify)
        new_ledger = next_ledger(
            ledger, step, secret.fingerprint, io.clock(), spec.rotation_token, run_id=run_id
        )
        # An emergency records the slots still to regenerate in the same write, so a run that dies
        # or fails before they are done is finished by the next one (`_finish_emergency`).
        pending = "".join(o.regenerate_slot for o in others) or None
        new_ledger = replace(
            new_ledger,
            slot_a=state.slot_a_uuid,
            slot_b=state.slot_b_uuid or None,
            pending_slots=pending,
            unsettled=None if settled else "true",
        )
        new_ledger = io.stamp(new_ledger, why, run_id)
        written = io.write(spec, secret, new_ledger, expected=entry, regenerated_slot=step.regenerate_slot)
        if pending:
            written = self._regenerate_pending(spec, state, secret, written, new_ledger)
        return state_of(state.keys(), written)

    def _regenerate(  # noqa: PLR0913 - `rotate`'s decided step, passed on whole
        self,
        spec: KeySpec,
        state: KeyState,
        ledger: Ledger,
        step: RotationStep,
        *,
        emergency: bool,
        verify: bool,
    ) -> tuple[Secret, bool]:
        """The new secret of the step's slot, checked when consumers are about to get it; and
        whether its regenerate settled (no unknown outcome on the way)."""
        # A normal dual-slot rotation regenerates the slot nobody uses: after an unknown outcome it
        # stops (Vault unchanged, consumers keep the active slot) rather than retry, because the
        # lost request may commit after the retry and kill the secret the retry would store.
        unused_slot = (
            spec.strategy == "dual-slot" and not emergency and step.regenerate_slot != ledger.active_slot
        )
        try:
            issued = self.io.do.regenerate(
                state.slot_uuid(step.regenerate_slot), retry_unknown=not unused_slot
            )
        except UnknownOutcomeError as exc:
            if not unused_slot:
                raise
            raise exc.add_context(
                f"key {spec.name}: Vault is unchanged and consumers keep slot {ledger.active_slot}"
            ) from None
        if spec.strategy == "dual-slot" and verify and not emergency and not self._works(spec, issued.secret):
            raise RotationFailedError(
                f"key {spec.name}: the new secret of slot {step.regenerate_slot} "
                f"({state.slot_uuid(step.regenerate_slot)}) was not accepted by {self.io.checked_at}; "
                "Vault is unchanged, consumers keep the active slot. Retry later"
            )
        return issued.secret, issued.settled

    def _works(self, spec: KeySpec, secret: Secret) -> bool:
        """Does the new secret work? An endpoint that gives no answer is said as such (exit 3),
        not as a refused secret."""
        try:
            return self.io.verify(secret)
        except InferenceUnavailableError as exc:
            raise InferenceUnavailableError(
                f"key {spec.name}: {exc}; Vault is unchanged, consumers keep the active slot. "
                "Retry when the endpoint answers (DIGITALOCEAN_INFERENCE_URL, or the stack's "
                "digitalocean.inference_url)"
            ) from None

    def _finish_emergency(
        self, spec: KeySpec, state: KeyState, entry: LedgerEntry, ledger: Ledger, run_id: str | None
    ) -> KeyState:
        log.warning("%s: finishing an emergency (%s)", spec.name, unfinished_emergency(ledger))
        secret, _written = self.io.vault.read_version(spec.vault_path, entry.version)
        # The version that records it finished says who finished it (the emergency's own says who began).
        finishing = self.io.stamp(ledger, Reason.EMERGENCY_FINISH, run_id)
        written = self._regenerate_pending(spec, state, secret, entry, finishing)
        return state_of(state.keys(), written)

    def _regenerate_pending(
        self, spec: KeySpec, state: KeyState, secret: Secret, entry: LedgerEntry, ledger: Ledger
    ) -> LedgerEntry:
        """Regenerate every slot the ledger lists as pending, then record that none is."""
        for slot in ledger.pending_slots or "":
            uuid = state.slot_uuid(slot)
            try:
                self.io.do.regenerate(uuid)
            except DigitalOceanError as exc:
                raise RotationFailedError(
                    f"key {spec.name}: Vault holds a new secret, but slot {slot} ({uuid}) could not be "
                    f"regenerated ({type(exc).__name__}): its old secret MAY STILL WORK. Run the same "
                    "command again (or `pulumi up`) to finish the emergency; the audit reports it as "
                    "emergency-unfinished until then"
                ) from None
        return self.io.write(spec, secret, replace(ledger, pending_slots=None), expected=entry)


def _rotated_since(ledger: Ledger | None, planned: KeyState) -> bool:
    """Did the key get a new secret after `planned` was read? A writer that stored the same
    secret again (a new Vault version, same fingerprint and slot) did not rotate anything."""
    if ledger is None or not planned.fingerprint:
        return True
    return (ledger.fingerprint, ledger.active_slot) != (planned.fingerprint, planned.active_slot)
