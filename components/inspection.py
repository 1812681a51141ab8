"""Reading what a declared key looks like now (`pulumi refresh`, and the provider after a race)."""

from __future__ import annotations

from dataclasses import replace

from components.config import KeySpec
from components.do_keys import ModelKey
from components.key_io import KeyIO
from components.key_state import KeyState, state_of

__all__ = ["inspect"]


def inspect(io: KeyIO, spec: KeySpec, state: KeyState) -> KeyState | None:
    """The key as it is now (one shared listing plus the Vault ledger); None when its
    DigitalOcean keys are gone (deleted outside the tool)."""
    listing = io.listing().get()
    keys = [listing.get(u) for u in state.uuids]
    if all(k is None for k in keys):
        return None
    # One slot gone: the key stays in state (dropping it would make the next `up` adopt anew
    # and regenerate the active slot); the audit reports the missing slot.
    entry = io.vault.read_ledger(spec.vault_path, repair=False)
    # Positions are kept (a missing slot keeps its uuid, with no name), so slot b never becomes a.
    present = [k if k is not None else ModelKey(u, "") for k, u in zip(keys, state.uuids, strict=True)]
    if entry is None or entry.ledger is None or entry.deleted:
        return replace(state_of(present, None), active_slot=state.active_slot, rotated_at=state.rotated_at)
    return state_of(present, entry)
