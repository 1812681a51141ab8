"""The clients the core works with, built once per process from the front end's environment.

The front ends (the `gradient-keys` command, the Pulumi provider and program) build one
`ClientFactory` from `os.environ`; nothing below them reads the environment. A factory keeps, for
as long as the process lives and per account: one Vault login (with AppRole or JWT, a preview of
N keys is one login, not N), one DigitalOcean pacer (DigitalOcean's budget is per token, and the
engine runs provider operations on several threads) shared by one client per key collection (the
model access keys, each agent's API keys), one shared listing per collection, and the index of
which Vault paths hold which DigitalOcean keys.

Tests hand a factory the clients they built (`ClientFactory.of`), or an environment of their own.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TypeVar

from components import endpoints
from components.account_config import DEFAULT, AccountConfig
from components.config import DigitalOceanConfig, VaultConfig
from components.do_keys import ClientSettings, ModelKey, ModelKeys
from components.endpoints import Endpoints
from components.errors import ConfigurationError
from components.inference_check import agent_key_works, key_works
from components.key_collection import MODEL_KEYS, KeyCollection
from components.pacing import RateLimitPacer
from components.secret import Secret
from components.timing import Stopwatch
from components.vault_auth import VaultConnection
from components.vault_sink import VaultSink

__all__ = ["LISTING_TTL_SECONDS", "ClientFactory", "KeyListing", "OwnerIndex", "process_factory"]

LISTING_TTL_SECONDS = 30.0
# Everything the clients are built from: a front end whose environment changed gets a new factory.
_ENV_PREFIXES = ("DIGITALOCEAN_", "VAULT_", "GRADIENT_KEYS_")

T = TypeVar("T")


class KeyListing:
    """One account's DigitalOcean keys by uuid, as this process knows them: one listing of every
    page (about N/200 requests for N keys), kept current by the changes the core makes (a key
    created, renamed, regenerated or deleted updates it in place; nothing is listed again for them).

    Three ways to read it, by how fresh the caller needs it:
    - `current()`: at any age (listed once if never). Adoption resolves declarations here: a first
      `pulumi up` of N keys lists once, not once per key.
    - `get(max_age)`: relisted when older than `max_age` (a refresh).
    - `fresh(since)`: a listing begun after the call or after `since` (what DigitalOcean holds
      now: after a lost answer; when a declared key is missing, as it may have been made in the
      control panel after the listing).

    `_lock` guards the mapping and is never held across a network call; a listing is fetched under
    `_fetch_lock`, so threads that need it at once wait for one fetch (single flight). Changes
    recorded while a fetch is in flight are applied on top of its result, which may predate them.
    Callers get a copy: one thread's `changed` must not alter a mapping another thread is iterating."""

    def __init__(self, client: ModelKeys, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._client = client
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._fetch_lock = threading.Lock()
        self._began_at: float | None = None  # when the last fetch began: what existed then is in it
        self._fetched_at: float | None = None  # when it ended
        self._keys: dict[str, ModelKey] = {}
        self._during_fetch: list[tuple[ModelKey | None, str | None]] | None = None

    def current(self) -> dict[str, ModelKey]:
        """The keys as of the last listing plus this process's changes since (listed if never)."""
        return self._read(lambda _began, _fetched: True)

    def get(self, max_age: float = LISTING_TTL_SECONDS) -> dict[str, ModelKey]:
        """A listing younger than `max_age`, or fetched by another thread while this one waited."""
        asked = self._monotonic()
        return self._read(lambda _began, fetched: self._monotonic() - fetched < max_age or fetched >= asked)

    def fresh(self, since: float | None = None) -> dict[str, ModelKey]:
        """A listing begun after this call (or after `since`, a `moment()`): threads that ask while
        one is under way share the next one."""
        asked = self._monotonic() if since is None else since
        return self._read(lambda began, _fetched: began >= asked)

    def moment(self) -> float:
        """Now, on the listing's clock: for `fresh(since=...)`."""
        return self._monotonic()

    def _read(self, good_enough: Callable[[float, float], bool]) -> dict[str, ModelKey]:
        with self._fetch_lock:
            with self._lock:
                began, fetched = self._began_at, self._fetched_at
                if began is not None and fetched is not None and good_enough(began, fetched):
                    return dict(self._keys)
                self._during_fetch = []
            started = self._monotonic()
            try:
                keys = {k.uuid: k for k in self._client.list_all()}  # network I/O: fetch lock only
            except BaseException:
                with self._lock:
                    self._during_fetch = None
                raise
            with self._lock:
                for key, removed in self._during_fetch or []:
                    _apply(keys, key, removed)
                self._during_fetch = None
                self._began_at, self._fetched_at, self._keys = started, self._monotonic(), keys
                return dict(keys)

    def changed(self, key: ModelKey | None = None, removed: str | None = None) -> None:
        """Record a change the core made (a key created, renamed or regenerated, a key deleted)."""
        with self._lock:
            if self._during_fetch is not None:
                self._during_fetch.append((key, removed))
            if self._fetched_at is not None:
                _apply(self._keys, key, removed)


def _apply(keys: dict[str, ModelKey], key: ModelKey | None, removed: str | None) -> None:
    if key is not None:
        keys[key.uuid] = key
    if removed is not None:
        keys.pop(removed, None)


class OwnerIndex:
    """uuid -> the Vault paths under one prefix whose current ledger records it. Read once (one
    listing, one ledger read per path) when a delete first needs it, then kept up to date by the
    core's own writes. A delete keeps a DigitalOcean key another path holds (a key that moved to a
    new `vault_path` is adopted by the new resource before Pulumi deletes the old one)."""

    def __init__(self, vault: VaultSink) -> None:
        self._vault = vault
        self._lock = threading.Lock()
        self._index: dict[str, set[str]] | None = None

    def _load(self) -> dict[str, set[str]]:
        with self._lock:
            if self._index is not None:
                return self._index
        index: dict[str, set[str]] = {}
        for path in self._vault.list_paths():  # network I/O: outside the lock
            entry = self._vault.read_ledger(path, repair=False)
            if entry is not None and entry.ledger is not None and not entry.deleted:
                for uuid in (entry.ledger.slot_a, entry.ledger.slot_b):
                    if uuid:
                        index.setdefault(uuid, set()).add(path)
        with self._lock:
            if self._index is None:
                self._index = index
            return self._index

    def elsewhere(self, path: str, uuids: tuple[str, ...]) -> dict[str, list[str]]:
        """For each of `uuids` that another path holds, those paths."""
        index = self._load()
        with self._lock:
            return {u: sorted(index.get(u, set()) - {path}) for u in uuids if index.get(u, set()) - {path}}

    def note(self, path: str, uuids: tuple[str | None, ...]) -> None:
        """`path` now holds `uuids` (none: it holds nothing any more)."""
        with self._lock:
            if self._index is None:
                return
            for holders in self._index.values():
                holders.discard(path)
            for uuid in uuids:
                if uuid:
                    self._index.setdefault(uuid, set()).add(path)

    def forget(self) -> None:
        """Drop what was read: the next delete reads Vault again."""
        with self._lock:
            self._index = None


def _timed(stopwatch: Stopwatch, check: Callable[[Secret], bool], secret: Secret) -> bool:
    with stopwatch.timing():
        return check(secret)


class ClientFactory:
    """Clients for the core, each built once and shared by every operation of the process."""

    def __init__(
        self,
        environ: Mapping[str, str],
        *,
        digitalocean: ModelKeys | None = None,
        vault: VaultSink | None = None,
        verify: Callable[[Secret], bool] | None = None,
    ) -> None:
        self._environ = dict(environ)  # a snapshot: what the front end was started with
        self._given_do, self._given_vault, self._given_verify = digitalocean, vault, verify
        self._lock = threading.Lock()
        self._build_locks: dict[object, threading.Lock] = {}
        self._built: dict[object, object] = {}
        self.verification = Stopwatch()  # time spent checking new secrets at the inference endpoint
        self.vault_logins = 0  # counted for tests and benchmarks: one per account and process

    @classmethod
    def of(
        cls,
        *,
        digitalocean: ModelKeys | None = None,
        vault: VaultSink | None = None,
        verify: Callable[[Secret], bool] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> ClientFactory:
        """A factory that hands out the clients given (and builds others from `environ`, if any)."""
        return cls(environ or {}, digitalocean=digitalocean, vault=vault, verify=verify)

    def _once(self, key: object, build: Callable[[], T]) -> T:
        """`build()` once per key, even when threads ask at the same time (a login is slow)."""
        with self._lock:
            if key in self._built:
                return self._built[key]  # type: ignore[return-value]
            build_lock = self._build_locks.setdefault(key, threading.Lock())
        with build_lock:
            with self._lock:
                if key in self._built:
                    return self._built[key]  # type: ignore[return-value]
            value = build()  # network I/O (a Vault login): under this key's lock only
            with self._lock:
                self._built[key] = value
            return value

    # -- DigitalOcean -------------------------------------------------------------------------
    def digitalocean(
        self,
        config: DigitalOceanConfig,
        collection: KeyCollection = MODEL_KEYS,
        *,
        account: AccountConfig = DEFAULT,
        vault: VaultConfig | None = None,
    ) -> ModelKeys:
        """The client for `collection` (the model access keys by default) of `account` (the
        default one: DIGITALOCEAN_TOKEN); every collection of one account (API URL and token) waits
        on the account's one pacer. `vault`: where an account whose token is in Vault reads it."""
        given = self._given_do
        if given is not None and collection == MODEL_KEYS and account == DEFAULT:
            return given
        settings = self._once(("settings", account, config), lambda: self._settings(config, account, vault))
        key = ("do", settings.api_url, settings.token.fingerprint)
        if given is not None and account == DEFAULT:
            pacer = given.pacer  # the account of the client a test handed in
        else:
            pacer = self._once(("pacer", *key), RateLimitPacer)
        return self._once((*key, collection), lambda: ModelKeys(settings, collection=collection, pacer=pacer))

    def _settings(
        self, config: DigitalOceanConfig, account: AccountConfig, vault: VaultConfig | None
    ) -> ClientSettings:
        """The account's token and API URL. Its own `api_url` is not overridden by
        DIGITALOCEAN_API_URL, which belongs to the default account."""
        environ = dict(self._environ)
        if account.api_url is not None:
            environ.pop("DIGITALOCEAN_API_URL", None)
        if account.token_env is None and account.token_vault_path is None:
            return ClientSettings.from_env(environ, account.api_url or config.api_url)
        token = self._account_token(account, vault)
        environ["DIGITALOCEAN_TOKEN"] = token.reveal()
        return ClientSettings.from_env(environ, account.api_url or config.api_url)

    def _account_token(self, account: AccountConfig, vault: VaultConfig | None) -> Secret:
        if account.token_env is not None:
            token = self._environ.get(account.token_env, "").strip()
            if not token:
                raise ConfigurationError(
                    f"account {account.name}: {account.token_env} is not set; export that account's "
                    "DigitalOcean API token in it (gradient-keys:accounts names the variable, never the "
                    "token)"
                )
            return Secret(token)
        assert account.token_vault_path is not None and vault is not None
        found = self.vault(vault).read_field(account.token_vault_path, account.token_vault_field)
        if found is None:
            raise ConfigurationError(
                f"account {account.name}: Vault holds no {account.token_vault_field!r} at "
                f"{account.token_vault_path} (under the stack's path_prefix); write the account's API "
                "token there"
            )
        return found

    def digitalocean_built(self) -> list[ModelKeys]:
        """The DigitalOcean clients built (or given) so far: a run that needed none made no request."""
        with self._lock:
            built = [v for v in self._built.values() if isinstance(v, ModelKeys)]
        return [self._given_do, *built] if self._given_do is not None else built

    def listing(self, client: ModelKeys) -> KeyListing:
        """The account's shared listing; the client looks keys up in it too (after a lost answer)."""

        def build() -> KeyListing:
            listing = KeyListing(client)
            client.use_listing(lambda: list(listing.fresh().values()))
            return listing

        return self._once(("listing", id(client)), build)

    # -- Vault --------------------------------------------------------------------------------
    def vault(self, config: VaultConfig) -> VaultSink:
        if self._given_vault is not None:
            return self._given_vault
        return self._once(("vault", config), lambda: self._login(config))

    def _login(self, config: VaultConfig) -> VaultSink:
        env = self._vault_environ(config)
        connection = VaultConnection.from_env(env, config.addr)
        sink = VaultSink(
            config.mount, config.path_prefix, environ=env, auth_method=config.auth, connection=connection
        )
        with self._lock:
            self.vault_logins += 1
        return sink

    def _vault_environ(self, config: VaultConfig) -> dict[str, str]:
        """The environment, with the stack config's Vault settings filling only what it leaves unset."""
        mount_var = {"jwt": "VAULT_JWT_MOUNT", "approle": "VAULT_APPROLE_MOUNT"}.get(config.auth or "", "")
        defaults = {
            "VAULT_NAMESPACE": config.namespace,
            "VAULT_JWT_ROLE": config.role,
            **({mount_var: config.auth_mount} if mount_var else {}),
        }
        env = dict(self._environ)
        for name, value in defaults.items():
            if value and not env.get(name):
                env[name] = value
        return env

    def owners(self, vault: VaultSink) -> OwnerIndex:
        return self._once(("owners", id(vault)), lambda: OwnerIndex(vault))

    # -- where secrets go, and the check of a new one -----------------------------------------
    def endpoints(
        self, digitalocean: DigitalOceanConfig, vault: VaultConfig, agents: Sequence[str] = ()
    ) -> Endpoints:
        """Where each credential will go and why (checked: raises ConfigurationError)."""
        return endpoints.resolve(
            digitalocean.api_url, digitalocean.inference_url, vault.addr, self._environ, agents
        )

    def verifier(
        self, config: DigitalOceanConfig, agent_endpoint: str | None = None, account: AccountConfig = DEFAULT
    ) -> Callable[[Secret], bool]:
        """Does a secret work: a model key at the inference endpoint (`GET /v1/models`), an agent's
        key at that agent's endpoint (components/inference_check.py)?"""
        check = self._given_verify
        if check is None and agent_endpoint is not None:
            check = partial(agent_key_works, endpoints.agent(agent_endpoint, self._environ).url)
        elif check is None:
            environ = dict(self._environ)
            if account.inference_url is not None:  # its own, not the default account's override
                environ.pop("DIGITALOCEAN_INFERENCE_URL", None)
            url = endpoints.inference(account.inference_url or config.inference_url, environ).url
            check = partial(key_works, url)
        return partial(_timed, self.verification, check)


_process_lock = threading.Lock()
_process_factories: dict[str, ClientFactory] = {}


def process_factory(environ: Mapping[str, str]) -> ClientFactory:
    """The factory for this process, for front ends that are entered many times (the provider):
    one per environment, so a changed environment (a test, a renewed token) gets fresh clients."""
    relevant = sorted((k, v) for k, v in environ.items() if k.startswith(_ENV_PREFIXES))
    digest = hashlib.sha256(repr(relevant).encode()).hexdigest()  # never kept in clear: it holds tokens
    with _process_lock:
        factory = _process_factories.get(digest)
        if factory is None:
            factory = _process_factories[digest] = ClientFactory(environ)
        return factory
