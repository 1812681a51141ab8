"""Deleting a declared key: its DigitalOcean keys, then what `on_delete` says in Vault."""

from __future__ import annotations

import logging

from components.config import KeySpec
from components.key_io import KeyIO
from components.key_state import KeyState

__all__ = ["delete"]

log = logging.getLogger("gradient_keys.keys")


def delete(io: KeyIO, spec: KeySpec, state: KeyState) -> None:
    """Delete the DigitalOcean keys (already gone is fine), then apply on_delete in Vault.

    A DigitalOcean key that another key's ledger under the same prefix records is kept: when a
    key moves to a new `vault_path`, the new resource adopts the same DigitalOcean keys before
    Pulumi deletes the old one, and deleting them would cut off the new path's consumers.
    """
    io.vault.preflight([spec.vault_path], delete_mode=spec.on_delete)
    held = io.owners().elsewhere(spec.vault_path, state.uuids)
    for uuid in state.uuids:
        if uuid in held:
            log.warning(
                "%s: keeping DigitalOcean key %s, which %s now holds", spec.name, uuid, ", ".join(held[uuid])
            )
            continue
        io.do.delete(uuid)
        io.listing().changed(removed=uuid)
    entry = io.vault.read_ledger(spec.vault_path, repair=False)
    owner = entry.ledger if entry is not None else None
    if owner is not None and {owner.slot_a, owner.slot_b} - {None} != set(state.uuids):
        # The path now belongs to other keys (a replacement wrote it): leave it to them.
        log.info("%s: Vault path now holds other keys; on_delete not applied", spec.name)
        return
    io.vault.remove(spec.vault_path, spec.on_delete)
    io.owners().note(spec.vault_path, ())
