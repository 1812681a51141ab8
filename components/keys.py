"""The core operations on a declared key: create or adopt, rename, rotate, delete, inspect.

Knows nothing of Pulumi: the dynamic provider and the `gradient-keys` command both call it.
Composed from the DigitalOcean client, the Vault sink and the pure rotation policy, in the
failure order DESIGN.md gives: preflight Vault before anything mints a secret; hold secrets only
in memory; write Vault with check-and-set; if Vault cannot be written, delete keys just created
(no orphan) and leave a dual-slot key's active slot untouched (no outage).
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from components.config import DigitalOceanConfig, KeySpec, VaultConfig
from components.do_keys import ClientSettings, IssuedKey, ModelKey, ModelKeys
from components.endpoints import Endpoints
from components.endpoints import resolve as resolve_endpoints
from components.errors import (
    CreateRetiredError,
    DigitalOceanError,
    GradientKeysError,
    KeyNotFoundError,
    UnknownOutcomeError,
    VaultConflictError,
    VaultError,
)
from components.inference_check import inference_url, key_works
from components.ledger import Ledger
from components.pacing import RateLimitPacer
from components.rotation import (
    RotationStep,
    emergency_steps,
    format_time,
    next_ledger,
    plan_step,
    rotation_reason,
    unfinished_emergency,
)
from components.secret import Secret
from components.vault_auth import VaultConnection
from components.vault_sink import LedgerEntry, VaultSink

__all__ = [
    "KeyContext",
    "KeyOperations",
    "KeyState",
    "RotationFailedError",
    "RotationSkipped",
    "cached_listing",
]

log = logging.getLogger("gradient_keys.keys")

LISTING_TTL_SECONDS = 30.0


class RotationFailedError(GradientKeysError):
    """A rotation could not finish; the message says what consumers see and what to do."""


class RotationSkipped(GradientKeysError):
    """The key was rotated by someone else after this rotation was planned."""


@dataclass(frozen=True)
class KeyContext:
    """Where a key lives, beyond its own declaration: never a credential."""

    stack: str
    vault: VaultConfig
    digitalocean: DigitalOceanConfig


@dataclass(frozen=True)
class KeyState:
    """What gradient-keys records about a key (Pulumi state, command output): no secrets."""

    slot_a_uuid: str
    slot_b_uuid: str  # "" for in-place keys
    slot_a_name: str
    slot_b_name: str
    active_slot: str
    rotated_at: str
    rotation_token_applied: str
    vault_version: int
    fingerprint: str

    @property
    def uuids(self) -> tuple[str, ...]:
        return tuple(u for u in (self.slot_a_uuid, self.slot_b_uuid) if u)

    def slot_uuid(self, slot: str) -> str:
        return self.slot_a_uuid if slot == "a" else self.slot_b_uuid

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> KeyState:
        return cls(
            slot_a_uuid=str(values.get("slot_a_uuid") or ""),
            slot_b_uuid=str(values.get("slot_b_uuid") or ""),
            slot_a_name=str(values.get("slot_a_name") or ""),
            slot_b_name=str(values.get("slot_b_name") or ""),
            active_slot=str(values.get("active_slot") or "a"),
            rotated_at=str(values.get("rotated_at") or ""),
            rotation_token_applied=str(values.get("rotation_token_applied") or ""),
            vault_version=int(values.get("vault_version") or 0),  # Struct numbers arrive as floats
            fingerprint=str(values.get("fingerprint") or ""),
        )


# -- one DigitalOcean listing shared by every key in a run ---------------------------------------
# `_listing_lock` guards the shared dictionaries below and is never held across a network call.
# A listing is fetched under its account's own `_fetch_locks` entry, so threads that need the same
# listing at once wait for one fetch instead of each listing everything (single flight).
_listing_lock = threading.Lock()
_listing_cache: dict[tuple[str, str], tuple[float, dict[str, ModelKey]]] = {}
_fetch_locks: dict[tuple[str, str], threading.Lock] = {}


def cached_listing(client: ModelKeys, max_age: float = LISTING_TTL_SECONDS) -> dict[str, ModelKey]:
    """All keys by uuid, listed at most once per `max_age` per account: a refresh of N keys costs
    about N/200 list requests, not N. Changes made through `KeyOperations` update the cache.

    Callers get a copy: the engine runs provider operations on several threads, and one thread's
    `_update_cache` must not change the mapping another is iterating."""
    cache_key = (client.settings.api_url, client.settings.token.fingerprint)
    asked = time.monotonic()
    with _listing_lock:
        fetch_lock = _fetch_locks.setdefault(cache_key, threading.Lock())
    with fetch_lock:
        with _listing_lock:
            cached = _listing_cache.get(cache_key)
            # Fresh enough, or fetched by another thread while this one waited for the fetch lock.
            if cached is not None and (time.monotonic() - cached[0] < max_age or cached[0] >= asked):
                return dict(cached[1])
        keys = {k.uuid: k for k in client.list_all()}  # network I/O: under the fetch lock only
        with _listing_lock:
            _listing_cache[cache_key] = (time.monotonic(), keys)
            return dict(keys)


_pacers: dict[tuple[str, str], RateLimitPacer] = {}


def shared_pacer(settings: ClientSettings) -> RateLimitPacer:
    """One pacer per account and process: the engine runs provider operations in parallel, and
    DigitalOcean's budget is per token, so every client of the same token must pace together."""
    with _listing_lock:
        return _pacers.setdefault((settings.api_url, settings.token.fingerprint), RateLimitPacer())


def _update_cache(client: ModelKeys, key: ModelKey | None, removed: str | None = None) -> None:
    cache_key = (client.settings.api_url, client.settings.token.fingerprint)
    with _listing_lock:
        cached = _listing_cache.get(cache_key)
        if cached is None:
            return
        if key is not None:
            cached[1][key.uuid] = key
        if removed is not None:
            cached[1].pop(removed, None)


def _environ_with(defaults: Mapping[str, str | None]) -> dict[str, str]:
    """The process environment, with stack-config values filling only what it leaves unset."""
    env = dict(os.environ)
    for name, value in defaults.items():
        if value and not env.get(name):
            env[name] = value
    return env


# -- which Vault paths hold which DigitalOcean keys (read by deletes) ---------------------------
_owners: dict[tuple[str, str, str], dict[str, set[str]]] = {}


def _owner_index(vault: VaultSink) -> dict[str, set[str]]:
    """uuid -> the paths under the prefix whose current ledger records it; read once per process
    and prefix (one listing, one ledger read per path), then kept up to date by our own writes."""
    index_key = (vault.connection.addr, vault.mount, vault.prefix)
    with _listing_lock:
        cached = _owners.get(index_key)
    if cached is not None:
        return cached
    index: dict[str, set[str]] = {}
    for path in vault.list_paths():
        entry = vault.read_ledger(path, repair=False)
        if entry is not None and entry.ledger is not None and not entry.deleted:
            for uuid in (entry.ledger.slot_a, entry.ledger.slot_b):
                if uuid:
                    index.setdefault(uuid, set()).add(path)
    with _listing_lock:
        return _owners.setdefault(index_key, index)


def _note_owner(vault: VaultSink, path: str, uuids: tuple[str | None, ...]) -> None:
    """Record that `path` now holds `uuids` (none: it holds nothing any more)."""
    with _listing_lock:
        index = _owners.get((vault.connection.addr, vault.mount, vault.prefix))
        if index is None:
            return
        for holders in index.values():
            holders.discard(path)
        for uuid in uuids:
            if uuid:
                index.setdefault(uuid, set()).add(path)


def owners_elsewhere(vault: VaultSink, path: str, uuids: tuple[str, ...]) -> dict[str, list[str]]:
    """For each of `uuids` that another path under the prefix holds, those paths."""
    index = _owner_index(vault)
    with _listing_lock:
        return {u: sorted(index.get(u, set()) - {path}) for u in uuids if index.get(u, set()) - {path}}


class KeyOperations:
    """The operations for one stack's keys. Clients are opened from the environment on first use."""

    def __init__(
        self,
        context: KeyContext,
        *,
        do: ModelKeys | None = None,
        vault: VaultSink | None = None,
        clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
        verify: Callable[[Secret], bool] | None = None,
    ) -> None:
        self.context = context
        self._do = do
        self._vault = vault
        self.clock = clock
        self._verify = verify

    # -- clients ------------------------------------------------------------------------------
    @property
    def do(self) -> ModelKeys:
        if self._do is None:
            settings = ClientSettings.from_env(os.environ, self.context.digitalocean.api_url)
            self._do = ModelKeys(settings, pacer=shared_pacer(settings))
        return self._do

    @property
    def vault(self) -> VaultSink:
        if self._vault is None:
            cfg = self.context.vault
            mount_var = {"jwt": "VAULT_JWT_MOUNT", "approle": "VAULT_APPROLE_MOUNT"}.get(cfg.auth or "", "")
            env = _environ_with(
                {
                    "VAULT_NAMESPACE": cfg.namespace,
                    "VAULT_JWT_ROLE": cfg.role,
                    **({mount_var: cfg.auth_mount} if mount_var else {}),
                }
            )
            connection = VaultConnection.from_env(env, cfg.addr)
            self._vault = VaultSink(
                cfg.mount, cfg.path_prefix, environ=env, auth_method=cfg.auth, connection=connection
            )
        return self._vault

    def endpoints(self) -> Endpoints:
        """Where each credential will go and why (checked: raises ConfigurationError)."""
        do, vault = self.context.digitalocean, self.context.vault
        return resolve_endpoints(do.api_url, do.inference_url, vault.addr, os.environ)

    def verify(self, secret: Secret) -> bool:
        if self._verify is not None:
            return self._verify(secret)
        return key_works(inference_url(self.context.digitalocean.inference_url), secret)

    # -- planning (read-only) -----------------------------------------------------------------
    def plan_create(self, spec: KeySpec) -> str:
        """What creating this key will do, in words the preview shows. Reads; changes nothing."""
        listing = cached_listing(self.do)
        found, missing = self._resolve(spec, listing)
        if missing:
            them = "it" if len(missing) == 1 else "them"
            return (
                f"create {_quoted(missing)} at DigitalOcean where the API allows it (where it answers 410, "
                f"make {them} in the control panel first), store the secret in Vault"
            )
        regenerated = ", ".join(f"{k.name} ({k.uuid})" for k in found)
        return f"adopt {regenerated}: regenerate once each so no one else holds a secret, store it in Vault"

    def pending_rotation(self, spec: KeySpec) -> str:
        """Why the key must rotate now, from the Vault ledger shared with the command ("" if not)."""
        entry = self.vault.read_ledger(spec.vault_path, repair=False)  # a preview must not write
        if entry is None or entry.deleted or entry.ledger is None:
            return "Vault holds no current secret for this key"
        return rotation_reason(entry.ledger, spec.rotate_every_seconds, spec.rotation_token, self.clock())

    def rotation_basis(self, spec: KeySpec) -> str:
        """The ledger a rotation decision was made on, as "VERSION:FINGERPRINT" ("" if none): the
        provider records it at check time, so its update can tell whether anyone rotated since."""
        entry = self.vault.read_ledger(spec.vault_path, repair=False)
        if entry is None or entry.deleted or entry.ledger is None:
            return ""
        return f"{entry.version}:{entry.ledger.fingerprint}"

    def rotation_due(self, spec: KeySpec, state: KeyState) -> tuple[str, KeyState]:
        """`pending_rotation`, and `state` as of the Vault version it was decided on: a rotation
        that goes ahead passes that version as `expected_version`, so a rotation by another run
        in between is seen and not repeated."""
        entry = self.vault.read_ledger(spec.vault_path, repair=False)  # a preview must not write
        if entry is None or entry.deleted or entry.ledger is None:
            return "Vault holds no current secret for this key", state
        reason = rotation_reason(entry.ledger, spec.rotate_every_seconds, spec.rotation_token, self.clock())
        ledger = entry.ledger
        checked = replace(
            state, vault_version=entry.version, fingerprint=ledger.fingerprint, active_slot=ledger.active_slot
        )
        return reason, checked

    # -- create or adopt ----------------------------------------------------------------------
    def create_or_adopt(self, spec: KeySpec) -> KeyState:
        self.vault.preflight([spec.vault_path], delete_mode=spec.on_delete)
        listing = cached_listing(self.do, max_age=0)
        found, missing = self._resolve(spec, listing)
        created: list[IssuedKey] = []
        try:
            for name in missing:
                issued = self.do.create(name)
                created.append(issued)
                _update_cache(self.do, issued.key)
        except CreateRetiredError:
            self._undo_creates(created)
            raise CreateRetiredError(
                "DigitalOcean retired key creation through the API. In the control panel "
                f"(INFERENCE > Manage), create {_quoted(missing)} with the model scope and VPC you need; "
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
        return self._state(ordered, entry)

    def _store_adopted(
        self, spec: KeySpec, ordered: list[ModelKey], created: Mapping[str, IssuedKey]
    ) -> LedgerEntry:
        """Give Vault a secret for the active slot, then retire every other secret in circulation.

        If Vault already holds this key's active secret (state was lost, or a refresh dropped the
        resource), it is kept: regenerating it would cut every consumer off. Otherwise the active
        slot is regenerated (or its fresh secret from create used) and written first, and only then
        are the other slots regenerated, so a failure part-way never leaves Vault with a dead secret.
        """
        slots = "ab"[: len(ordered)]
        current = self.vault.read_ledger(spec.vault_path)
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
            secret, _written = self.vault.read_version(spec.vault_path, current.version)
            fingerprint, rotated_at, token = known.fingerprint, known.rotated_at, known.rotation_token
        else:
            active_slot = "a"
            fresh = created.get(ordered[0].name)
            secret = fresh.secret if fresh else self.do.regenerate(ordered[0].uuid).secret
            fingerprint, rotated_at, token = (
                secret.fingerprint,
                format_time(self.clock()),
                spec.rotation_token,
            )
        ledger = Ledger(
            fingerprint=fingerprint,
            rotated_at=rotated_at,
            slot_a=uuids[0],
            slot_b=uuids[1] if len(uuids) > 1 else None,
            active_slot=active_slot,
            rotation_token=token,
            stack=self.context.stack,
            origin=known.origin if known is not None and known.fingerprint == fingerprint else "adopt",
        )
        entry = self._write(spec, secret, ledger, expected=current)
        for slot, key in zip(slots, ordered, strict=True):
            if slot != active_slot and key.name not in created:
                try:
                    # Adopted: its secret was shown in the control panel; make sure nobody keeps it.
                    self.do.regenerate(key.uuid)
                except DigitalOceanError as exc:
                    raise exc.add_context(
                        f"Vault holds the active slot's secret, but slot {slot} ({key.name}) may still "
                        "accept the secret shown in the control panel: run the same operation again"
                    ) from None
        return entry

    def _resolve(self, spec: KeySpec, listing: Mapping[str, ModelKey]) -> tuple[list[ModelKey], list[str]]:
        """The keys this declaration owns that exist, and the slot names still to create."""
        if spec.adopt_uuids:
            absent = [u for u in spec.adopt_uuids if u not in listing]
            if absent:
                raise KeyNotFoundError(
                    f"adopt.uuid {_quoted(absent)} does not exist at DigitalOcean; check it with "
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
                raise DigitalOceanError(
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

    def _in_slot_order(self, spec: KeySpec, keys: list[ModelKey]) -> list[ModelKey]:
        if spec.adopt_uuids:
            order = {u: i for i, u in enumerate(spec.adopt_uuids)}
            return sorted(keys, key=lambda k: order.get(k.uuid, 99))
        names = spec.adopt_names or spec.slot_names
        order = {n: i for i, n in enumerate(names)}
        return sorted(keys, key=lambda k: order.get(k.name, 99))

    def _ensure_name(self, key: ModelKey, wanted: str) -> ModelKey:
        if key.name == wanted:
            return key
        renamed = self.do.rename(key.uuid, wanted)
        _update_cache(self.do, renamed)
        return renamed

    def _undo_creates(self, created: list[IssuedKey]) -> None:
        for issued in created:
            try:
                self.do.delete(issued.key.uuid)
                _update_cache(self.do, None, removed=issued.key.uuid)
            except DigitalOceanError as exc:
                log.error("could not delete key %s made by a failed create: %s", issued.key.uuid, exc)

    # -- rename -------------------------------------------------------------------------------
    def rename(self, spec: KeySpec, state: KeyState) -> KeyState:
        listing = cached_listing(self.do)
        renamed: list[ModelKey] = []
        for uuid, wanted in zip(state.uuids, spec.slot_names, strict=True):
            current = listing.get(uuid) or ModelKey(uuid, "")
            renamed.append(self._ensure_name(current, wanted))
        names = [k.name for k in renamed] + [""]
        return replace(state, slot_a_name=names[0], slot_b_name=names[1] if state.slot_b_uuid else "")

    # -- rotate -------------------------------------------------------------------------------
    def rotate(
        self,
        spec: KeySpec,
        state: KeyState,
        *,
        verify: bool = True,
        emergency: bool = False,
        run_id: str | None = None,
        preflight: bool = True,
        expected_version: int | None = None,
    ) -> KeyState:
        """Regenerate and store (see components/rotation.py for which slots, and why).

        Normal dual-slot rotations verify the new secret against the inference endpoint before
        Vault changes (consumers keep the active slot if it fails). An emergency regenerates
        every slot, stores the active one's new secret at once, and verifies nothing first:
        the leaked secrets must die now.

        `expected_version` is the Vault version the rotation was planned against: if another
        rotator moved the key on since, this one is skipped (`RotationSkipped`) instead of
        killing the secret consumers just received.
        """
        if preflight:
            self.vault.preflight([spec.vault_path], delete_mode=spec.on_delete)
        entry = self.vault.read_ledger(spec.vault_path)
        ledger = entry.ledger if entry is not None and not entry.deleted else None
        if entry is not None and ledger is not None and ledger.pending_slots:
            # An emergency stopped half-way: finishing it is this rotation, whoever asked for it.
            return self._finish_emergency(spec, state, entry, ledger)
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
                rotated_at=format_time(self.clock()),
                slot_a=state.slot_a_uuid,
                slot_b=state.slot_b_uuid or None,
                active_slot=state.active_slot,
                stack=self.context.stack,
            )
            steps: tuple[RotationStep, ...] = (plan_step("in-place", ledger),)
        elif emergency:
            steps = emergency_steps(spec.strategy, ledger)
        else:
            steps = (plan_step(spec.strategy, ledger),)
        step, *others = steps  # the slot Vault will hold comes first
        # A normal dual-slot rotation regenerates the slot nobody uses: after an unknown outcome it
        # stops (Vault unchanged, consumers keep the active slot) rather than retry, because the
        # lost request may commit after the retry and kill the secret the retry would store.
        unused_slot = (
            spec.strategy == "dual-slot" and not emergency and step.regenerate_slot != ledger.active_slot
        )
        try:
            issued = self.do.regenerate(state.slot_uuid(step.regenerate_slot), retry_unknown=not unused_slot)
        except UnknownOutcomeError as exc:
            if not unused_slot:
                raise
            raise exc.add_context(
                f"key {spec.name}: Vault is unchanged and consumers keep slot {ledger.active_slot}"
            ) from None
        secret = issued.secret
        if spec.strategy == "dual-slot" and verify and not emergency and not self.verify(secret):
            raise RotationFailedError(
                f"key {spec.name}: the new secret of slot {step.regenerate_slot} "
                f"({state.slot_uuid(step.regenerate_slot)}) was not accepted by the inference endpoint; "
                "Vault is unchanged, consumers keep the active slot. Retry later"
            )
        new_ledger = next_ledger(
            ledger, step, secret.fingerprint, self.clock(), spec.rotation_token, run_id=run_id
        )
        # An emergency records the slots still to regenerate in the same write, so a run that dies
        # or fails before they are done is finished by the next one (`_finish_emergency`).
        pending = "".join(o.regenerate_slot for o in others) or None
        new_ledger = replace(
            new_ledger,
            slot_a=state.slot_a_uuid,
            slot_b=state.slot_b_uuid or None,
            pending_slots=pending,
            unsettled=None if issued.settled else "true",
        )
        written = self._write(spec, secret, new_ledger, expected=entry, regenerated_slot=step.regenerate_slot)
        if pending:
            written = self._regenerate_pending(spec, state, secret, written, new_ledger)
        return self._state(self._keys_of(state), written)

    def stored_secret_dead(self, spec: KeySpec, entry: LedgerEntry) -> bool:
        """For a ledger marked unsettled: does the stored secret no longer work (the lost
        regenerate committed after the retry)? Read-only: one Vault read, one inference call."""
        secret, _written = self.vault.read_version(spec.vault_path, entry.version)
        return not self.verify(secret)

    def _finish_emergency(
        self, spec: KeySpec, state: KeyState, entry: LedgerEntry, ledger: Ledger
    ) -> KeyState:
        log.warning("%s: finishing an emergency (%s)", spec.name, unfinished_emergency(ledger))
        secret, _written = self.vault.read_version(spec.vault_path, entry.version)
        written = self._regenerate_pending(spec, state, secret, entry, ledger)
        return self._state(self._keys_of(state), written)

    def _regenerate_pending(
        self, spec: KeySpec, state: KeyState, secret: Secret, entry: LedgerEntry, ledger: Ledger
    ) -> LedgerEntry:
        """Regenerate every slot the ledger lists as pending, then record that none is."""
        for slot in ledger.pending_slots or "":
            uuid = state.slot_uuid(slot)
            try:
                self.do.regenerate(uuid)
            except DigitalOceanError as exc:
                raise RotationFailedError(
                    f"key {spec.name}: Vault holds a new secret, but slot {slot} ({uuid}) could not be "
                    f"regenerated ({type(exc).__name__}): its old secret MAY STILL WORK. Run the same "
                    "command again (or `pulumi up`) to finish the emergency; the audit reports it as "
                    "emergency-unfinished until then"
                ) from None
        return self._write(spec, secret, replace(ledger, pending_slots=None), expected=entry)

    @staticmethod
    def _keys_of(state: KeyState) -> list[ModelKey]:
        names = (state.slot_a_name, state.slot_b_name)
        return [ModelKey(u, n) for u, n in zip(state.uuids, names, strict=False)]

    @staticmethod
    def state_from_ledger(spec: KeySpec, entry: LedgerEntry | None) -> KeyState | None:
        """The key's state as the Vault ledger records it (what the command works from)."""
        if entry is None or entry.ledger is None or not entry.ledger.slot_a:
            return None
        names = (*spec.slot_names, "")
        return KeyState(
            slot_a_uuid=entry.ledger.slot_a,
            slot_b_uuid=entry.ledger.slot_b or "",
            slot_a_name=names[0],
            slot_b_name=names[1] if entry.ledger.slot_b else "",
            active_slot=entry.ledger.active_slot,
            rotated_at=entry.ledger.rotated_at,
            rotation_token_applied=entry.ledger.rotation_token or "",
            vault_version=entry.version,
            fingerprint=entry.ledger.fingerprint,
        )

    def _write(
        self,
        spec: KeySpec,
        secret: Secret,
        ledger: Ledger,
        expected: LedgerEntry | None = None,
        regenerated_slot: str | None = None,
    ) -> LedgerEntry:
        """Check-and-set write. If another writer got in first and made the slot we just
        regenerated its active slot, its secret is already dead (ours replaced it): ours wins."""
        current = expected if expected is not None else self.vault.read_ledger(spec.vault_path)
        for _attempt in range(3):
            version = current.version if current is not None else 0
            try:
                written = self.vault.write(spec.vault_path, secret, ledger, version)
                _note_owner(self.vault, spec.vault_path, (ledger.slot_a, ledger.slot_b))
                return written
            except VaultConflictError:
                current = self.vault.read_ledger(spec.vault_path)
                theirs = current.ledger if current is not None else None
                if regenerated_slot is None or theirs is None or theirs.active_slot != regenerated_slot:
                    raise
                if not self.verify(secret):
                    # Their regenerate came after ours: ours is the dead one, Vault is right as it is.
                    log.warning("%s: a concurrent rotation won with a newer secret; keeping it", spec.name)
                    assert current is not None
                    return current
                log.warning(
                    "%s: a concurrent rotation stored a secret our regenerate replaced; storing ours",
                    spec.name,
                )
                ledger = replace(
                    theirs,
                    fingerprint=secret.fingerprint,
                    rotated_at=format_time(self.clock()),
                    run_id=ledger.run_id,
                )
        raise VaultConflictError(
            "kept losing check-and-set to other writers", operation="write", path=spec.vault_path
        )

    # -- delete -------------------------------------------------------------------------------
    def delete(self, spec: KeySpec, state: KeyState) -> None:
        """Delete the DigitalOcean keys (already gone is fine), then apply on_delete in Vault.

        A DigitalOcean key that another key's ledger under the same prefix records is kept: when a
        key moves to a new `vault_path`, the new resource adopts the same DigitalOcean keys before
        Pulumi deletes the old one, and deleting them would cut off the new path's consumers.
        """
        self.vault.preflight([spec.vault_path], delete_mode=spec.on_delete)
        held = owners_elsewhere(self.vault, spec.vault_path, state.uuids)
        for uuid in state.uuids:
            if uuid in held:
                log.warning(
                    "%s: keeping DigitalOcean key %s, which %s now holds",
                    spec.name,
                    uuid,
                    ", ".join(held[uuid]),
                )
                continue
            self.do.delete(uuid)
            _update_cache(self.do, None, removed=uuid)
        entry = self.vault.read_ledger(spec.vault_path, repair=False)
        owner = entry.ledger if entry is not None else None
        if owner is not None and {owner.slot_a, owner.slot_b} - {None} != set(state.uuids):
            # The path now belongs to other keys (a replacement wrote it): leave it to them.
            log.info("%s: Vault path now holds other keys; on_delete not applied", spec.name)
            return
        self.vault.remove(spec.vault_path, spec.on_delete)
        _note_owner(self.vault, spec.vault_path, ())

    # -- inspect ------------------------------------------------------------------------------
    def inspect(self, spec: KeySpec, state: KeyState) -> KeyState | None:
        """The key as it is now (one shared listing plus the Vault ledger); None when its
        DigitalOcean keys are gone (deleted outside the tool)."""
        listing = cached_listing(self.do)
        keys = [listing.get(u) for u in state.uuids]
        if all(k is None for k in keys):
            return None
        # One slot gone: the key stays in state (dropping it would make the next `up` adopt anew
        # and regenerate the active slot); the audit reports the missing slot.
        entry = self.vault.read_ledger(spec.vault_path, repair=False)
        # Positions are kept (a missing slot keeps its uuid, with no name), so slot b never becomes a.
        present = [k if k is not None else ModelKey(u, "") for k, u in zip(keys, state.uuids, strict=True)]
        if entry is None or entry.ledger is None or entry.deleted:
            return replace(
                self._state(present, None),
                active_slot=state.active_slot,
                rotated_at=state.rotated_at,
            )
        return self._state(present, entry)

    def _state(self, keys: list[ModelKey], entry: LedgerEntry | None) -> KeyState:
        ledger = entry.ledger if entry is not None else None
        names = [k.name for k in keys] + ["", ""]
        return KeyState(
            slot_a_uuid=keys[0].uuid,
            slot_b_uuid=keys[1].uuid if len(keys) > 1 else "",
            slot_a_name=names[0],
            slot_b_name=names[1],
            active_slot=ledger.active_slot if ledger else "a",
            rotated_at=ledger.rotated_at if ledger else "",
            rotation_token_applied=(ledger.rotation_token or "") if ledger else "",
            vault_version=entry.version if entry is not None else 0,
            fingerprint=ledger.fingerprint if ledger else "",
        )


def _rotated_since(ledger: Ledger | None, planned: KeyState) -> bool:
    """Did the key get a new secret after `planned` was read? A writer that stored the same
    secret again (a new Vault version, same fingerprint and slot) did not rotate anything."""
    if ledger is None or not planned.fingerprint:
        return True
    return (ledger.fingerprint, ledger.active_slot) != (planned.fingerprint, planned.active_slot)


def _quoted(names: list[str] | tuple[str, ...]) -> str:
    return " and ".join(repr(n) for n in names)
