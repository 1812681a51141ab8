"""What the core knows about a declared key, beyond its declaration: where it lives and its state.

Neither holds a secret or a credential: both travel into Pulumi state and command output.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from components.account_config import DEFAULT, AccountConfig
from components.config import DigitalOceanConfig, KeySpec, StackSettings, VaultConfig
from components.do_keys import ModelKey
from components.errors import ConfigurationError
from components.policy_config import Policies
from components.provenance import Provenance
from components.vault_sink import LedgerEntry

__all__ = ["KeyContext", "KeyState", "state_from_ledger", "state_of"]


@dataclass(frozen=True)
class KeyContext:
    """Where a key lives, beyond its own declaration, and who is acting on it: never a credential."""

    stack: str
    vault: VaultConfig
    digitalocean: DigitalOceanConfig
    # The front end acting (recorded in every ledger it writes); None: not known (a test, a bench).
    provenance: Provenance | None = None
    # The stack's rules (components/policy.py), which the provider checks each key against.
    policies: Policies = field(default_factory=Policies)
    # The DigitalOcean accounts its keys live in (the default one always among them).
    accounts: tuple[AccountConfig, ...] = (DEFAULT,)

    @classmethod
    def of(cls, settings: StackSettings, provenance: Provenance | None = None) -> KeyContext:
        """The context of a stack's keys, from its validated settings."""
        return cls(
            settings.stack,
            settings.vault,
            settings.digitalocean,
            provenance,
            policies=settings.policies,
            accounts=settings.accounts,
        )

    def account(self, name: str) -> AccountConfig:
        found = next((a for a in self.accounts if a.name == name), None)
        if found is None:
            raise ConfigurationError(f"account {name!r} is not declared (gradient-keys:accounts)")
        return found


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

    def keys(self) -> list[ModelKey]:
        """Its DigitalOcean keys, in slot order, as the state names them."""
        names = (self.slot_a_name, self.slot_b_name)
        return [ModelKey(u, n) for u, n in zip(self.uuids, names, strict=False)]

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


def state_of(keys: list[ModelKey], entry: LedgerEntry | None) -> KeyState:
    """The state of a key made of `keys` (slot order) whose Vault ledger is `entry`."""
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
