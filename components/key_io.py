"""What every operation on a key shares: its context, its clients, the clock, the check of a new
secret, and the check-and-set Vault write (with the rule for a concurrent rotation)."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from components.account_config import DEFAULT, AccountConfig
from components.clients import ClientFactory, KeyListing, OwnerIndex
from components.config import KeySpec
from components.do_keys import ModelKeys
from components.endpoints import Endpoints
from components.errors import VaultConflictError
from components.key_collection import MODEL_KEYS, KeyCollection
from components.key_state import KeyContext
from components.ledger import Ledger
from components.provenance import Reason, stamp
from components.rotation import format_time
from components.secret import Secret
from components.vault_sink import LedgerEntry, VaultSink

__all__ = ["KeyIO", "utc_now"]

log = logging.getLogger("gradient_keys.keys")

WRITE_ATTEMPTS = 3  # check-and-set rounds against concurrent writers before giving up


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclass
class KeyIO:
    """One stack's clients, from the injected factory; built lazily, so an operation that needs
    only Vault (a preview's rotation check) needs no DigitalOcean token."""

    context: KeyContext
    clients: ClientFactory
    clock: Callable[[], datetime.datetime] = utc_now
    _verify: Callable[[Secret], bool] | None = field(default=None, repr=False)
    # Whose keys `do` and `listing` reach: the model access keys, or one agent's API keys.
    collection: KeyCollection = MODEL_KEYS
    agent_endpoint: str | None = None  # where an agent key's new secrets are checked
    account: AccountConfig = DEFAULT  # the DigitalOcean account (team) `do` reaches

    def scoped(self, spec: KeySpec) -> KeyIO:
        """These clients, for the account and the collection `spec`'s keys live in (the kind of
        key and its account are parameters of every operation, not second code paths)."""
        collection = MODEL_KEYS if spec.agent_uuid is None else KeyCollection(spec.agent_uuid)
        account = self.context.account(spec.account)
        if (collection, spec.agent_endpoint, account) == (self.collection, self.agent_endpoint, self.account):
            return self
        return replace(self, collection=collection, agent_endpoint=spec.agent_endpoint, account=account)

    @property
    def checked_at(self) -> str:
        """Where `verify` sends a new secret, as messages say it."""
        return "the inference endpoint" if self.agent_endpoint is None else "its agent's endpoint"

    @property
    def do(self) -> ModelKeys:
        return self.clients.digitalocean(
            self.context.digitalocean, self.collection, account=self.account, vault=self.context.vault
        )

    @property
    def vault(self) -> VaultSink:
        return self.clients.vault(self.context.vault)

    def listing(self) -> KeyListing:
        return self.clients.listing(self.do)

    def owners(self) -> OwnerIndex:
        return self.clients.owners(self.vault)

    def endpoints(self, agents: Sequence[str] = ()) -> Endpoints:
        return self.clients.endpoints(self.context.digitalocean, self.context.vault, agents)

    def stamp(self, ledger: Ledger, reason: Reason, run_id: str | None = None) -> Ledger:
        """`ledger` as this front end writes it, for `reason` (who and why, recorded in Vault)."""
        return stamp(self.context.provenance, ledger, reason, run_id)

    def verify(self, secret: Secret) -> bool:
        """Does the secret work: a model key at the inference endpoint, an agent key at its agent's?"""
        check = self._verify or self.clients.verifier(
            self.context.digitalocean, self.agent_endpoint, self.account
        )
        return check(secret)

    def write(
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
        for _attempt in range(WRITE_ATTEMPTS):
            version = current.version if current is not None else 0
            try:
                written = self.vault.write(spec.vault_path, secret, ledger, version)
                self.owners().note(spec.vault_path, (ledger.slot_a, ledger.slot_b))
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
                # Their facts (slots, token applied), our secret, and who wrote it and why: ours.
                ledger = replace(
                    theirs, fingerprint=secret.fingerprint, rotated_at=format_time(self.clock())
                ).provenance_of(ledger)
        raise VaultConflictError(
            "kept losing check-and-set to other writers", operation="write", path=spec.vault_path
        )
