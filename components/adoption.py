"""Creating or adopting a declared key, and renaming it.

DigitalOcean retired key creation through the API in June 2026 (410): keys are made in the control
panel and adopted here by name or uuid; creation is still tried where the API allows it (the
sandbox's legacy mode). Adoption regenerates every adopted slot once, so nobody keeps a secret
the control panel showed, and stores the active slot's secret in Vault first: a failure part-way
never leaves Vault with a dead secret, and keys this operation created are deleted again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Mapping
from dataclasses import replace

from components.clients import LISTING_TTL_SECONDS
from components.config import KeySpec
from components.do_keys import IssuedKey, ModelKey
from components.errors import (
    AmbiguousKeyError,
    CreateRetiredError,
    DigitalOceanError,
    KeyNotFoundError,
    VaultError,
)
from components.key_io import KeyIO
from components.key_state import KeyState, state_of
from components.ledger import Ledger
from components.provenance import Reason
from components.rotation import format_time
from components.secret import Secret
from components.vault_sink import LedgerEntry

__all__ = ["Adoption", "quoted"]

log = logging.getLogger("gradient_keys.keys")


def quoted(names: list[str] | tuple[str, ...]) -> str:
    return " and ".join(repr(n) for n in names)


class Adoption:
    def __init__(self, io: KeyIO) -> None:
        self.io = io

    def plan(self, spec: KeySpec) -> str:
        """What creating this key will do, in words the preview shows. Reads; changes nothing."""
        found, missing = self._resolved(spec, for_preview=True)
        if missing:
            them = "it" if len(missing) == 1 else "them"
            return (
                f"create {quoted(missing)} at DigitalOcean where the API allows it (where it answers 410, "
                f"make {them} in the control panel first), store the secret in Vault"
            )
        regenerated = ", ".join(f"{k.name} ({k.uuid})" for k in found)
        return f"adopt {regenerated}: regenerate once each so no one else holds a secret, store it in Vault"

    def create_or_adopt(self, spec: KeySpec) -> KeyState:
        io = self.io
        io.vault.preflight([spec.vault_path], delete_mode=spec.on_delete)
        found, missing = self._resolved(spec)
        created: list[IssuedKey] = []
        try:
            for name in missing:
                issued = io.do.create(name)
                created.append(issued)
                io.listing().changed(issued.key)
        except CreateRetiredError:
            self._undo_creates(created)
            raise CreateRetiredError(
                "DigitalOcean retired key creation through the API. In the control panel "
                f"(INFERENCE > Manage), create {quoted(missing)} with the model scope and VPC you need; "
                f"gradient-keys then adopts {'it' if len(missing) == 1 else 'them'} by name",
                operation="create",
                key=spec.name,
                status=410,
                error_id="gone",
            ) from None
        by_name = {i.key.name: i for i in created}
        ordered = self._in_slot_order(spec, [*found, *(i.key for i in created)])
        try:
            ordered = [
                self._ensure_name(key, wanted) for key, wanted in zip(ordered, spec.slot_names, strict=True)
            ]
            entry = self._store_adopted(spec, ordered, by_name)
        except (VaultError, DigitalOceanError) as exc:
            if not created:
                raise
            self._undo_creates(created)
            raise exc.add_context("the keys just created were deleted again (no orphans)") from None
        return state_of(ordered, entry)

    def _store_adopted(
        self, spec: KeySpec, ordered: list[ModelKey], created: Mapping[str, IssuedKey]
    ) -> LedgerEntry:
        """Give Vault a secret for the active slot, then retire every other secret in circulation.

        If Vault already holds this key's active secret (state was lost, or a refresh dropped the
        resource), it is kept: regenerating it would cut every consumer off. Otherwise the active
        slot is regenerated (or its fresh secret from create used) and written first, and only then
        are the other slots regenerated, so a failure part-way never leaves Vault with a dead secret.
        """
        io = self.io
        slots = "ab"[: len(ordered)]
        current = io.vault.read_ledger(spec.vault_path)
        known = current.ledger if current is not None and not current.deleted else None
        uuids = [k.uuid for k in ordered]
        held = known.active_uuid if known is not None else None
        if (
            known is not None
            and current is not None
            and held in uuids
            and ordered[uuids.index(held)].name not in created
        ):
            active_slot = slots[uuids.index(held)]
            secret, _written = io.vault.read_version(spec.vault_path, current.version)
            fingerprint, rotated_at, token = known.fingerprint, known.rotated_at, known.rotation_token
        else:
            active_slot = "a"
            fresh = created.get(ordered[0].name)
            secret = fresh.secret if fresh else self._regenerate(ordered[0])
            fingerprint, rotated_at, token = (
                secret.fingerprint,
                format_time(io.clock()),
                spec.rotation_token,
            )
        ledger = Ledger(
            fingerprint=fingerprint,
            rotated_at=rotated_at,
            slot_a=uuids[0],
            slot_b=uuids[1] if len(uuids) > 1 else None,
            active_slot=active_slot,
            rotation_token=token,
            stack=io.context.stack,
            origin=known.origin if known is not None and known.fingerprint == fingerprint else "adopt",
        )
        # Who wrote it and why: an adoption, unless Vault already holds exactly this (no new version).
        ledger = _kept_or_adopted(io, ledger, known)
        entry = io.write(spec, secret, ledger, expected=current)
        for slot, key in zip(slots, ordered, strict=True):
            if slot != active_slot and key.name not in created:
                try:
                    # Adopted: its secret was shown in the control panel; make sure nobody keeps it.
                    self._regenerate(key)
                except DigitalOceanError as exc:
                    raise exc.add_context(
                        f"Vault holds the active slot's secret, but slot {slot} ({key.name}) may still "
                        "accept the secret shown in the control panel: run the same operation again"
                    ) from None
        return entry

    def _resolved(self, spec: KeySpec, *, for_preview: bool = False) -> tuple[list[ModelKey], list[str]]:
        """`_resolve` against the listing this process keeps (one listing of every page for all
        its keys, kept current by its own changes: a first `pulumi up` of keys made in the control
        panel lists once). A declared key it lacks may have been made since it was listed: then
        look again in a listing begun after this operation started, shared with every operation
        that needs one at the same time (single flight), before creating or telling the user to.
        A preview's plan, which changes nothing, makes do with a listing younger than the TTL."""
        listing = self.io.listing()
        started = listing.moment()
        with contextlib.suppress(KeyNotFoundError):  # an adopt.uuid or adopt.name not (yet) listed
            found, missing = self._resolve(spec, listing.current())
            if not missing:
                return found, missing
        again = listing.get(LISTING_TTL_SECONDS) if for_preview else listing.fresh(since=started)
        return self._resolve(spec, again)

    def _regenerate(self, key: ModelKey) -> Secret:
        """Regenerate an adopted key; its answer (the key as it is now) updates the shared listing."""
        try:
            issued = self.io.do.regenerate(key.uuid)
        except KeyNotFoundError as exc:
            self.io.listing().changed(removed=key.uuid)
            raise exc.add_context(
                f"{key.name or key.uuid} was deleted at DigitalOcean after gradient-keys listed the keys"
            ) from None
        self.io.listing().changed(issued.key)
        return issued.secret

    @staticmethod
    def _resolve(spec: KeySpec, listing: Mapping[str, ModelKey]) -> tuple[list[ModelKey], list[str]]:
        """The keys this declaration owns that exist, and the slot names still to create."""
        if spec.adopt_uuids:
            absent = [u for u in spec.adopt_uuids if u not in listing]
            if absent:
                raise KeyNotFoundError(
                    f"adopt.uuid {quoted(absent)} does not exist at DigitalOcean; check it with "
                    "`gradient-keys keys list`",
                    operation="adopt",
                    key=spec.name,
                )
            return [listing[u] for u in spec.adopt_uuids], []
        wanted = spec.adopt_names or spec.slot_names
        found: list[ModelKey] = []
        missing: list[str] = []
        for name in wanted:
            matches = [k for k in listing.values() if k.name == name]
            if len(matches) > 1:
                raise AmbiguousKeyError(
                    f"{len(matches)} keys are named {name!r}; adopt by uuid instead "
                    f"({', '.join(k.uuid for k in matches)})",
                    operation="adopt",
                    key=spec.name,
                )
            if matches:
                found.append(matches[0])
            elif spec.adopt_names:
                raise KeyNotFoundError(
                    f"adopt.name {name!r} does not exist at DigitalOcean; create it in the control panel "
                    "(INFERENCE > Manage) or fix the name",
                    operation="adopt",
                    key=spec.name,
                )
            else:
                missing.append(name)
        return found, missing

    @staticmethod
    def _in_slot_order(spec: KeySpec, keys: list[ModelKey]) -> list[ModelKey]:
        if spec.adopt_uuids:
            order = {u: i for i, u in enumerate(spec.adopt_uuids)}
            return sorted(keys, key=lambda k: order.get(k.uuid, 99))
        names = spec.adopt_names or spec.slot_names
        order = {n: i for i, n in enumerate(names)}
        return sorted(keys, key=lambda k: order.get(k.name, 99))

    def _ensure_name(self, key: ModelKey, wanted: str) -> ModelKey:
        if key.name == wanted:
            return key
        renamed = self.io.do.rename(key.uuid, wanted)
        self.io.listing().changed(renamed)
        return renamed

    def _undo_creates(self, created: list[IssuedKey]) -> None:
        for issued in created:
            try:
                self.io.do.delete(issued.key.uuid)
                self.io.listing().changed(removed=issued.key.uuid)
            except DigitalOceanError as exc:
                log.error("could not delete key %s made by a failed create: %s", issued.key.uuid, exc)

    def rename(self, spec: KeySpec, state: KeyState) -> KeyState:
        listing = self.io.listing().get()
        renamed: list[ModelKey] = []
        for uuid, wanted in zip(state.uuids, spec.slot_names, strict=True):
            current = listing.get(uuid) or ModelKey(uuid, "")
            renamed.append(self._ensure_name(current, wanted))
        names = [k.name for k in renamed] + [""]
        return replace(state, slot_a_name=names[0], slot_b_name=names[1] if state.slot_b_uuid else "")


def _kept_or_adopted(io: KeyIO, ledger: Ledger, known: Ledger | None) -> Ledger:
    """The ledger an adoption writes: `known` itself when it already says everything (Vault keeps
    its version, with whoever wrote it), else `ledger` recorded as this front end's adoption."""
    if known is not None and ledger.provenance_of(known) == known:
        return known
    return io.stamp(ledger, Reason.ADOPTION)
