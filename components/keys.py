"""The core operations on a declared key, behind one facade: create or adopt, rename, rotate,
delete, inspect.

Knows nothing of Pulumi: the dynamic provider and the `gradient-keys` command both call it.
Composed from the DigitalOcean client, the Vault sink and the pure rotation policy, in the
failure order DESIGN.md gives: preflight Vault before anything mints a secret; hold secrets only
in memory; write Vault with check-and-set; if Vault cannot be written, delete keys just created
(no orphan) and leave a dual-slot key's active slot untouched (no outage).

Each concept lives in its own module: adoption.py (create, adopt, rename), key_rotation.py (is
it due, rotate), deletion.py, inspection.py; key_io.py holds what they share (the clients from
the injected factory, the clock, the check of a new secret, the check-and-set write).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Unpack

from components import deletion, inspection
from components.account_config import DEFAULT, AccountConfig
from components.adoption import Adoption
from components.clients import ClientFactory
from components.config import KeySpec
from components.do_keys import ModelKey, ModelKeys
from components.endpoints import Endpoints
from components.errors import RotationFailedError, RotationSkipped
from components.key_collection import KeyCollection
from components.key_io import KeyIO, utc_now
from components.key_rotation import RotateOptions, Rotation, Standing
from components.key_state import KeyContext, KeyState, state_from_ledger
from components.secret import Secret
from components.vault_sink import LedgerEntry, VaultSink

__all__ = [
    "KeyContext",
    "KeyOperations",
    "KeyState",
    "RotationFailedError",
    "RotationSkipped",
]


class KeyOperations:
    """The operations for one stack's keys, on the clients of `clients` (built by a front end from
    its environment). Tests may pass clients directly (`do`, `vault`, `verify`) instead."""

    def __init__(  # noqa: PLR0913 - the factory, or the clients tests hand in instead (keyword-only)
        self,
        context: KeyContext,
        clients: ClientFactory | None = None,
        *,
        do: ModelKeys | None = None,
        vault: VaultSink | None = None,
        clock: Callable[[], datetime.datetime] = utc_now,
        verify: Callable[[Secret], bool] | None = None,
    ) -> None:
        factory = clients if clients is not None else ClientFactory.of(digitalocean=do, vault=vault)
        self.context = context
        self.io = KeyIO(context, factory, clock, verify)

    # Each operation works on the collection its key lives in (model keys, or an agent's).
    def _adoption(self, spec: KeySpec) -> Adoption:
        return Adoption(self.io.scoped(spec))

    def _rotation(self, spec: KeySpec) -> Rotation:
        return Rotation(self.io.scoped(spec))

    # -- clients ------------------------------------------------------------------------------
    @property
    def clock(self) -> Callable[[], datetime.datetime]:
        return self.io.clock

    @property
    def do(self) -> ModelKeys:
        return self.io.do

    @property
    def vault(self) -> VaultSink:
        return self.io.vault

    def client_for(self, spec: KeySpec) -> ModelKeys:
        """The DigitalOcean client of `spec`'s account and collection (built once: its token read)."""
        return self.io.scoped(spec).do

    def list_collection(self, collection: KeyCollection, account: AccountConfig = DEFAULT) -> list[ModelKey]:
        """Every key of `collection` (the model access keys, or an agent's) of `account`, listed now."""
        client = self.io.clients.digitalocean(
            self.context.digitalocean, collection, account=account, vault=self.context.vault
        )
        return client.list_all()

    def digitalocean_requests(self) -> int:
        """Requests sent to DigitalOcean so far (0 when no client was needed)."""
        return sum(client.requests_made for client in self.io.clients.digitalocean_built())

    def time_spent(self) -> dict[str, float]:
        """Seconds spent so far waiting on each kind of call (components/timing.py): the pacer's
        waits, DigitalOcean's answers, Vault's (once Vault is in use), the checks of new secrets."""
        built = self.io.clients.digitalocean_built()
        pacers = {id(client.pacer): client.pacer for client in built}  # one per account, shared
        return {
            "pacing": sum(pacer.waited_seconds for pacer in pacers.values()),
            "digitalocean": sum(client.stopwatch.seconds for client in built),
            "vault": self.vault.stopwatch.seconds,
            "verification": self.io.clients.verification.seconds,
        }

    def endpoints(self, specs: Sequence[KeySpec] = ()) -> Endpoints:
        """Where each credential will go and why, the endpoints of the agents of `specs` included
        (checked: raises ConfigurationError)."""
        return self.io.endpoints([s.agent_endpoint for s in specs if s.agent_endpoint])

    def verify(self, secret: Secret, spec: KeySpec | None = None) -> bool:
        """Does the secret work (at its agent's endpoint, for an agent key's `spec`)?"""
        return (self.io.scoped(spec) if spec is not None else self.io).verify(secret)

    # -- create or adopt, rename --------------------------------------------------------------
    def plan_create(self, spec: KeySpec) -> str:
        return self._adoption(spec).plan(spec)

    def create_or_adopt(self, spec: KeySpec) -> KeyState:
        return self._adoption(spec).create_or_adopt(spec)

    def rename(self, spec: KeySpec, state: KeyState) -> KeyState:
        return self._adoption(spec).rename(spec, state)

    # -- rotation -----------------------------------------------------------------------------
    def standing(self, spec: KeySpec) -> Standing:
        return self._rotation(spec).standing(spec)

    def pending_rotation(self, spec: KeySpec) -> str:
        return self._rotation(spec).standing(spec).pending_rotation

    def rotation_due(self, spec: KeySpec, state: KeyState) -> tuple[str, KeyState]:
        return self._rotation(spec).due(spec, state)

    def rotate(self, spec: KeySpec, state: KeyState, **options: Unpack[RotateOptions]) -> KeyState:
        return self._rotation(spec).rotate(spec, state, **options)

    def stored_secret_dead(self, spec: KeySpec, entry: LedgerEntry) -> bool:
        return self._rotation(spec).stored_secret_dead(spec, entry)

    @staticmethod
    def state_from_ledger(spec: KeySpec, entry: LedgerEntry | None) -> KeyState | None:
        return state_from_ledger(spec, entry)

    def set_owner(self, spec: KeySpec) -> None:
        """Write the declared owner into the key's Vault metadata (removed when none is declared)."""
        self.vault.set_owner(spec.vault_path, spec.owner)

    # -- delete, inspect ----------------------------------------------------------------------
    def delete(self, spec: KeySpec, state: KeyState) -> None:
        deletion.delete(self.io.scoped(spec), spec, state)

    def inspect(self, spec: KeySpec, state: KeyState) -> KeyState | None:
        return inspection.inspect(self.io.scoped(spec), spec, state)
