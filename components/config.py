"""The stack config schema: validated before anything else, into typed declarations.

The same file is read two ways: by Pulumi (`pulumi.Config`) for `pulumi up`, and by the
`gradient-keys` command with PyYAML (`stacks/Pulumi.<stack>.yaml`). Both hand this module the
`gradient-keys:*` values as plain data. Every error names the field path, the bad value and the
fix, and all errors are reported at once.

    gradient-keys:digitalocean: {api_url, inference_url}                 (optional)
    gradient-keys:vault: {mount, path_prefix, auth, role, auth_mount, namespace, addr}
    gradient-keys:defaults: {rotate_every, strategy, on_delete, consumer_pickup, owner}
    gradient-keys:keys: [{name, vault_path, strategy, rotate_every, rotation_token, adopt, on_delete,
                          consumer_pickup, owner, allow_in_place}]
    gradient-keys:policies: {max_key_age, key_name, owner, rotate_every, in_place}      (optional)
    gradient-keys:agents: [{uuid, endpoint, account, keys: [like gradient-keys:keys]}]    (optional)
    gradient-keys:accounts: [{name, token_from: {env} | {vault: {path, field}}, api_url,
                              inference_url}]                                           (optional)
    gradient-keys:audit: {ignore: [name or uuid, ...], scope_prefix}                   (optional)
    gradient-keys:notifications: [{name, format, url_from: {env} | {vault: {path, field}}, events}]
                                                                                       (optional)
"""

from __future__ import annotations

import difflib
import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from components.account_config import DEFAULT, DEFAULT_ACCOUNT, AccountConfig, check_accounts, parse_accounts
from components.agent_config import parse_agents
from components.config_fields import (
    Errors,
    Where,
    duration,
    given,
    mapping,
    parse_duration,
    reject_secure,
    shown_name,
    text_field,
    url,
    vault_path_field,
)
from components.errors import ConfigProblem, ConfigurationError
from components.notify_payloads import Event, PayloadFormat
from components.policy_config import Policies, parse_policies
from components.vault_auth import AUTH_METHODS
from components.vault_sink import check_path

__all__ = [
    "NAMESPACE",
    "AuditConfig",
    "STRATEGIES",
    "DigitalOceanConfig",
    "KeySpec",
    "NotificationTarget",
    "OnDelete",
    "Strategy",
    "StackSettings",
    "UrlFromEnv",
    "UrlFromVault",
    "VaultConfig",
    "load_stack_file",
    "stack_values",
    "parse_duration",
    "parse_settings",
    "read_document",
    "slot_names",
]

NAMESPACE = "gradient-keys"


class Strategy(enum.StrEnum):
    """How a declared key rotates (docs/rotation.md). Members equal their strings."""

    DUAL_SLOT = "dual-slot"  # two DigitalOcean keys take turns: the old secret works until the next rotation
    IN_PLACE = "in-place"  # one DigitalOcean key, regenerated: the old secret dies at once


class OnDelete(enum.StrEnum):
    """What deleting a declared key does to its Vault path (vault_sink.DELETE_MODES, the same values)."""

    KEEP = "keep"
    SOFT_DELETE = "soft-delete"
    DESTROY = "destroy"


STRATEGIES = tuple(Strategy)
SLOT_SUFFIXES = ("-slot-a", "-slot-b")
DEFAULT_ROTATE_EVERY = "30d"
# How long a key's consumers take to start using a new Vault version, unless the stack says: Vault
# Agent (and `bao agent`) re-render a KV v2 secret every 5 minutes by default
# (`template_config.static_secret_render_interval`). The audit compares it with `rotate_every`.
DEFAULT_CONSUMER_PICKUP = "5m"
MAX_NAME = 120
MAX_TOKEN = 64
MAX_ALIASES = 1000
MAX_VALUES = 100_000
MAX_STACK_FILE_BYTES = 1 << 20
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

TOP_FIELDS = {
    "vault",
    "defaults",
    "keys",
    "digitalocean",
    "audit",
    "notifications",
    "policies",
    "agents",
    "accounts",
}
AUDIT_FIELDS = {"ignore", "scope_prefix"}
VAULT_FIELDS = {"mount", "path_prefix", "auth", "role", "auth_mount", "namespace", "addr"}
DEFAULT_FIELDS = {"rotate_every", "strategy", "on_delete", "consumer_pickup", "owner"}
# Where gradient-keys keeps its own records under a stack's prefix (the rotation-run journals).
RESERVED_FOLDER = "_gradient-keys"
KEY_FIELDS = {
    "name",
    "vault_path",
    "strategy",
    "rotate_every",
    "rotation_token",
    "adopt",
    "on_delete",
    "consumer_pickup",
    "owner",
    "allow_in_place",
    "account",
}
MAX_OWNER = 128
ADOPT_FIELDS = {"uuid", "name", "uuids", "names"}
DO_FIELDS = {"api_url", "inference_url"}
NOTIFY_FIELDS = {"name", "format", "url_from", "events"}
URL_FROM_FIELDS = {"env", "vault"}
URL_VAULT_FIELDS = {"path", "field"}
MAX_TARGETS = 20
DEFAULT_URL_FIELD = "url"
_TARGET_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_FIELD_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_SHOWN_FIELD = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,40}")
URL_REFUSED = (
    "is refused: a webhook URL is a credential (whoever has it can post to the channel) and the stack "
    "file holds none. Put it in an environment variable (url_from: {env: GRADIENT_KEYS_SLACK_WEBHOOK}) "
    "or in Vault (url_from: {vault: {path: notifications/slack, field: url}}), and remove this field"
)


def slot_names(name: str, strategy: str) -> tuple[str, ...]:
    """The DigitalOcean key names a declared key owns: `NAME-slot-a`/`-slot-b`, or `NAME` in place."""
    if strategy == Strategy.IN_PLACE:
        return (name,)
    return tuple(f"{name}{suffix}" for suffix in SLOT_SUFFIXES)


@dataclass(frozen=True)
class VaultConfig:
    mount: str = "secret"
    path_prefix: str = NAMESPACE
    auth: str | None = None
    role: str | None = None
    auth_mount: str | None = None
    namespace: str | None = None
    addr: str | None = None


@dataclass(frozen=True)
class DigitalOceanConfig:
    api_url: str | None = None
    inference_url: str | None = None


@dataclass(frozen=True, init=False)
class KeySpec:
    """One declared key, validated. `strategy` and `on_delete` are enums (equal to their strings);
    built in code, they may be given as the strings, which are checked here."""

    name: str
    vault_path: str
    strategy: Strategy = Strategy.DUAL_SLOT
    rotate_every: str = DEFAULT_ROTATE_EVERY
    rotation_token: str | None = None
    adopt_uuids: tuple[str, ...] = ()
    adopt_names: tuple[str, ...] = ()
    on_delete: OnDelete = OnDelete.SOFT_DELETE
    # How long its consumers take to start using a new Vault version (read by the audit only).
    consumer_pickup: str = DEFAULT_CONSUMER_PICKUP
    # Who answers for the key (a team, an address): written into its Vault metadata as `owner`.
    owner: str | None = None
    # An exception to the `in_place` policy for this key (docs/policies.md).
    allow_in_place: bool = False
    # An agent's API key (declared under `gradient-keys:agents`): the agent, and its endpoint,
    # where the key's new secrets are checked. None: a model access key.
    agent_uuid: str | None = None
    agent_endpoint: str | None = None
    # The DigitalOcean account (team) it lives in: `gradient-keys:accounts`, or the default one.
    account: str = DEFAULT_ACCOUNT

    def __init__(  # noqa: PLR0913, PLR0917 - the dataclass's own signature, with strings accepted
        self,
        name: str,
        vault_path: str,
        strategy: Strategy | str = Strategy.DUAL_SLOT,
        rotate_every: str = DEFAULT_ROTATE_EVERY,
        rotation_token: str | None = None,
        adopt_uuids: tuple[str, ...] = (),
        adopt_names: tuple[str, ...] = (),
        on_delete: OnDelete | str = OnDelete.SOFT_DELETE,
        consumer_pickup: str = DEFAULT_CONSUMER_PICKUP,
        *,
        owner: str | None = None,
        allow_in_place: bool = False,
        agent_uuid: str | None = None,
        agent_endpoint: str | None = None,
        account: str = DEFAULT_ACCOUNT,
    ) -> None:
        fields = {
            "name": name,
            "vault_path": vault_path,
            "strategy": Strategy(strategy),
            "rotate_every": rotate_every,
            "rotation_token": rotation_token,
            "adopt_uuids": adopt_uuids,
            "adopt_names": adopt_names,
            "on_delete": OnDelete(on_delete),
            "consumer_pickup": consumer_pickup,
            "owner": owner,
            "allow_in_place": allow_in_place,
            "agent_uuid": agent_uuid,
            "agent_endpoint": agent_endpoint,
            "account": account,
        }
        for field_name, value in fields.items():
            object.__setattr__(self, field_name, value)

    @property
    def slot_names(self) -> tuple[str, ...]:
        return slot_names(self.name, self.strategy)

    @property
    def rotate_every_seconds(self) -> int | None:
        return parse_duration(self.rotate_every)

    @property
    def consumer_pickup_seconds(self) -> int:
        seconds = parse_duration(self.consumer_pickup)
        if seconds is None:
            raise ValueError(f"consumer_pickup of key {self.name!r} cannot be never")
        return seconds


@dataclass(frozen=True)
class AuditConfig:
    """Which DigitalOcean keys the audit may call unmanaged: those not ignored, and (when a
    scope prefix is set) only those whose name starts with it."""

    ignore: tuple[str, ...] = ()
    scope_prefix: str | None = None


@dataclass(frozen=True)
class UrlFromEnv:
    """The webhook URL is in this environment variable of the process that runs the command."""

    variable: str


@dataclass(frozen=True)
class UrlFromVault:
    """The webhook URL is in this field of the KV entry at `path`, under the stack's
    `vault.path_prefix` in its mount (read with the stack's Vault login)."""

    path: str
    field: str = DEFAULT_URL_FIELD


@dataclass(frozen=True)
class NotificationTarget:
    """A webhook to tell of some events (docs/notifications.md). Never the URL itself: it is a
    credential, read when a notification is sent."""

    name: str
    format: PayloadFormat
    url_from: UrlFromEnv | UrlFromVault
    events: tuple[Event, ...] = tuple(Event)


@dataclass(frozen=True)
class StackSettings:
    stack: str
    vault: VaultConfig = field(default_factory=VaultConfig)
    digitalocean: DigitalOceanConfig = field(default_factory=DigitalOceanConfig)
    keys: tuple[KeySpec, ...] = ()
    audit: AuditConfig = field(default_factory=AuditConfig)
    notifications: tuple[NotificationTarget, ...] = ()
    policies: Policies = field(default_factory=Policies)
    accounts: tuple[AccountConfig, ...] = (DEFAULT,)

    def account(self, name: str) -> AccountConfig:
        return next(a for a in self.accounts if a.name == name)

    @property
    def token_paths(self) -> set[str]:
        """The Vault paths (under the prefix) accounts read their API tokens from."""
        return {a.token_vault_path for a in self.accounts if a.token_vault_path is not None}

    @property
    def notification_paths(self) -> set[str]:
        """The Vault paths (under the prefix) notification targets read their URLs from."""
        return {t.url_from.path for t in self.notifications if isinstance(t.url_from, UrlFromVault)}


PICKUP_EXAMPLES = "5m, 15m, 2h or 1d"


def _pickup(value: Any, where: Where, errors: Errors) -> str | None:
    """`consumer_pickup`: how long consumers take to start using a new Vault version."""
    text = duration(value, where, errors, examples=PICKUP_EXAMPLES)
    if text == "never":
        errors.add(
            where,
            text,
            "cannot be never: consumers that never use a new Vault version fail after a rotation; "
            f"write how long they take to, e.g. {PICKUP_EXAMPLES} (default {DEFAULT_CONSUMER_PICKUP})",
        )
        return None
    return text


def parse_settings(values: Mapping[str, Any], stack: str, source: str = "stack config") -> StackSettings:
    """Validate the `gradient-keys:*` values (keys without the namespace) into settings."""
    errors = Errors()
    for name in sorted(set(values) - TOP_FIELDS, key=repr):
        errors.at(
            (f"{NAMESPACE}:{shown_name(name)}",),
            f"is not a known setting; use one of {', '.join(sorted(TOP_FIELDS))}",
        )

    raw_vault = mapping(values.get("vault"), ("vault",), VAULT_FIELDS, errors)
    vault = VaultConfig(
        mount=vault_path_field(raw_vault.get("mount", "secret"), ("vault", "mount"), errors) or "secret",
        path_prefix=vault_path_field(
            raw_vault.get("path_prefix", NAMESPACE), ("vault", "path_prefix"), errors
        )
        or NAMESPACE,
        auth=text_field(raw_vault.get("auth"), ("vault", "auth"), errors, choices=AUTH_METHODS),
        role=text_field(raw_vault.get("role"), ("vault", "role"), errors),
        auth_mount=text_field(raw_vault.get("auth_mount"), ("vault", "auth_mount"), errors),
        namespace=text_field(raw_vault.get("namespace"), ("vault", "namespace"), errors),
        addr=url(raw_vault.get("addr"), ("vault", "addr"), errors),
    )
    if vault.role and vault.auth not in ("jwt", None):
        errors.add(
            ("vault", "role"),
            vault.role,
            f"only applies to auth: jwt (auth is {vault.auth}); remove it or use jwt",
        )

    raw_do = mapping(values.get("digitalocean"), ("digitalocean",), DO_FIELDS, errors)
    digitalocean = DigitalOceanConfig(
        api_url=url(raw_do.get("api_url"), ("digitalocean", "api_url"), errors),
        inference_url=url(raw_do.get("inference_url"), ("digitalocean", "inference_url"), errors),
    )

    raw_audit = mapping(values.get("audit"), ("audit",), AUDIT_FIELDS, errors)
    ignore = raw_audit.get("ignore", [])
    if not isinstance(ignore, list):
        errors.add(("audit", "ignore"), ignore, "must be a list of DigitalOcean key names or uuids")
        ignore = []
    ignored = [
        t for i, v in enumerate(ignore) if (t := text_field(v, ("audit", "ignore", i), errors)) is not None
    ]
    audit = AuditConfig(
        tuple(ignored), text_field(raw_audit.get("scope_prefix"), ("audit", "scope_prefix"), errors)
    )

    defaults = _key_defaults(values.get("defaults"), errors)
    raw_keys = values.get("keys", [])
    if raw_keys is None:
        raw_keys = []
    if not isinstance(raw_keys, list):
        errors.add(("keys",), raw_keys, "must be a list of keys, each with at least name and vault_path")
        raw_keys = []
    indexed: list[tuple[Where, KeySpec]] = [
        (("keys", index), spec)
        for index, raw in enumerate(raw_keys)
        if (spec := _key(raw, ("keys", index), errors, defaults)) is not None
    ]
    indexed += parse_agents(
        values.get("agents"), errors, lambda raw, where: _key(raw, where, errors, defaults)
    )
    accounts = parse_accounts(values.get("accounts"), errors)
    check_accounts(indexed, accounts, errors)
    _check_unique(indexed, errors)
    key_paths = {spec.vault_path for _index, spec in indexed}
    notifications = _notifications(values.get("notifications"), errors, key_paths)
    policies = parse_policies(values.get("policies"), errors)
    errors.raise_if_any(source)
    keys = tuple(spec for _index, spec in indexed)
    return StackSettings(
        stack=stack,
        vault=vault,
        digitalocean=digitalocean,
        keys=keys,
        audit=audit,
        notifications=notifications,
        policies=policies,
        accounts=tuple(accounts.values()),
    )


@dataclass(frozen=True)
class _KeyDefaults:
    """`gradient-keys:defaults`, validated: what each key's omitted fields take. None where the
    default itself is wrong (reported once, at `defaults.<field>`)."""

    rotate_every: str | None
    strategy: str | None
    on_delete: str | None
    consumer_pickup: str | None
    owner: str | None


def _key_defaults(raw: Any, errors: Errors) -> _KeyDefaults:
    where: Where = ("defaults",)
    defaults = given(mapping(raw, where, DEFAULT_FIELDS, errors))
    return _KeyDefaults(
        rotate_every=duration(
            defaults.get("rotate_every", DEFAULT_ROTATE_EVERY), (*where, "rotate_every"), errors
        ),
        strategy=text_field(
            defaults.get("strategy", Strategy.DUAL_SLOT), (*where, "strategy"), errors, choices=STRATEGIES
        ),
        on_delete=text_field(
            defaults.get("on_delete", OnDelete.SOFT_DELETE),
            (*where, "on_delete"),
            errors,
            choices=tuple(OnDelete),
        ),
        consumer_pickup=_pickup(
            defaults.get("consumer_pickup", DEFAULT_CONSUMER_PICKUP), (*where, "consumer_pickup"), errors
        ),
        owner=text_field(defaults.get("owner"), (*where, "owner"), errors, max_len=MAX_OWNER),
    )


def _key(raw: Any, where: Where, errors: Errors, defaults: _KeyDefaults) -> KeySpec | None:
    before = len(errors.items)
    values = given(mapping(raw, where, KEY_FIELDS, errors))
    if raw is not None and not isinstance(raw, dict):
        return None
    for required, example in (("name", "chatbot-prod"), ("vault_path", "apps/chatbot")):
        if required not in values:
            errors.at((*where, required), f"is required (e.g. {required}: {example})")
    name = text_field(values.get("name"), (*where, "name"), errors, max_len=MAX_NAME)
    vault_path = vault_path_field(values.get("vault_path"), (*where, "vault_path"), errors)
    if vault_path is not None and vault_path.split("/")[0] == RESERVED_FOLDER:
        errors.add(
            (*where, "vault_path"),
            vault_path,
            f"is under {RESERVED_FOLDER}/, where gradient-keys keeps its own records (rotation-run "
            "journals); choose another path, e.g. apps/chatbot",
        )
        vault_path = None
    strategy = text_field(
        values.get("strategy", defaults.strategy), (*where, "strategy"), errors, choices=STRATEGIES
    )
    every = duration(values.get("rotate_every", defaults.rotate_every), (*where, "rotate_every"), errors)
    token = text_field(values.get("rotation_token"), (*where, "rotation_token"), errors, max_len=MAX_TOKEN)
    on_delete = text_field(
        values.get("on_delete", defaults.on_delete), (*where, "on_delete"), errors, choices=tuple(OnDelete)
    )
    pickup = _pickup(
        values.get("consumer_pickup", defaults.consumer_pickup), (*where, "consumer_pickup"), errors
    )
    uuids, names = _adopt(values.get("adopt"), (*where, "adopt"), errors, strategy)
    owner = text_field(values.get("owner", defaults.owner), (*where, "owner"), errors, max_len=MAX_OWNER)
    account = text_field(values.get("account", DEFAULT_ACCOUNT), (*where, "account"), errors)
    allow_in_place = _allow_in_place(
        values.get("allow_in_place"), (*where, "allow_in_place"), errors, strategy
    )
    if len(errors.items) > before or not (
        name and vault_path and strategy and every and on_delete and pickup
    ):
        return None
    return KeySpec(
        name,
        vault_path,
        strategy,
        every,
        token,
        uuids,
        names,
        on_delete,
        pickup,
        owner=owner,
        allow_in_place=allow_in_place,
        account=account or DEFAULT_ACCOUNT,
    )


def _path(where: Where) -> str:
    """`keys[2]`, `agents[0].keys[1]`: a key's place in the file, as problems name it."""
    return ConfigProblem(where, "").path


def _allow_in_place(value: Any, where: Where, errors: Errors, strategy: str | None) -> bool:
    """`allow_in_place: true`: this in-place key is an exception to the `in_place` policy."""
    if value is None:
        return False
    if not isinstance(value, bool):
        errors.add(where, value, "must be true or false")
        return False
    if value and strategy not in (Strategy.IN_PLACE, None):
        errors.at(where, "only applies to strategy: in-place; remove it from this dual-slot key")
        return False
    return value


def _adopt(
    raw: Any, where: Where, errors: Errors, strategy: str | None
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(uuids, names) an `adopt` block names; ((), ()) when it names none or has a problem."""
    given = _adopt_items(raw, where, errors)
    if given is None:
        return (), ()
    kind, texts = given
    problem = _adopt_problem(texts, strategy)
    if problem:
        errors.add((*where, kind), texts[0] if len(texts) == 1 else list(texts), problem)
        return (), ()
    bad = [t for t in texts if kind in ("uuid", "uuids") and not _UUID.fullmatch(t)]
    if bad:
        errors.add(
            (*where, kind),
            bad[0],
            "is not a DigitalOcean key uuid (like 11efb7d6-cdb5-6388-bf8f-4e013e2ddde4, from "
            "`gradient-keys keys list`); to adopt by name, write name: or names:",
        )
        return (), ()
    return (texts, ()) if kind in ("uuid", "uuids") else ((), texts)


def _adopt_items(raw: Any, where: Where, errors: Errors) -> tuple[str, tuple[str, ...]] | None:
    """The block's one kind (uuid, name, uuids, names) and its texts, or None (problems added)."""
    values = mapping(raw, where, ADOPT_FIELDS, errors)
    if not values:
        return None
    if len(values) != 1:
        errors.add(where, raw, "takes exactly one of uuid, name, uuids or names")
        return None
    ((kind, value),) = values.items()
    items = value if isinstance(value, list) else [value]
    if any(item is None for item in items):
        errors.at(
            (*where, kind), f"is empty; write the DigitalOcean key's {kind.rstrip('s')} or remove adopt"
        )
        return None
    texts = [text_field(v, (*where, kind), errors) for v in items]
    found = tuple(t for t in texts if t is not None)
    return (kind, found) if len(found) == len(texts) else None


def _adopt_problem(texts: tuple[str, ...], strategy: str | None) -> str | None:
    wanted = 1 if strategy == Strategy.IN_PLACE else 2
    if len(texts) != wanted:
        if strategy == Strategy.IN_PLACE:
            fix = "an in-place key owns one DigitalOcean key: adopt: {uuid: ...} or {name: ...}"
        else:
            fix = "a dual-slot key owns two DigitalOcean keys: adopt: {uuids: [A, B]} or {names: [A, B]}"
        return f"names {len(texts)} key(s); {fix}"
    if len(set(texts)) != len(texts):
        return "names the same key twice; the two slots need two different keys"
    return None


def _check_unique(keys: list[tuple[Where, KeySpec]], errors: Errors) -> None:
    """One owner per DigitalOcean key name and uuid, one key per Vault path, unique names."""
    owners: dict[tuple[str | None, str], str] = {}  # (agent, name): a name is unique per collection
    paths: dict[str, str] = {}
    names: dict[str, Where] = {}
    adopted: dict[str, str] = {}
    for where, spec in keys:
        if spec.name in names:
            errors.add(
                (*where, "name"),
                spec.name,
                f"is already declared by {_path(names[spec.name])}; names must be unique",
            )
            continue
        names[spec.name] = where
        for do_name in dict.fromkeys((*spec.slot_names, *spec.adopt_names)):
            if (spec.agent_uuid, do_name) in owners:
                errors.add(
                    where,
                    do_name,
                    f"is a DigitalOcean key name also claimed by key {owners[spec.agent_uuid, do_name]!r}; "
                    "each DigitalOcean key can belong to one declared key (rename one of them)",
                )
            owners.setdefault((spec.agent_uuid, do_name), spec.name)
        if spec.vault_path in paths:
            errors.add(
                (*where, "vault_path"),
                spec.vault_path,
                f"is already used by key {paths[spec.vault_path]!r}; give each key its own Vault path",
            )
        paths.setdefault(spec.vault_path, spec.name)
        for uuid in spec.adopt_uuids:
            if uuid in adopted:
                errors.add((*where, "adopt"), uuid, f"is also adopted by key {adopted[uuid]!r}")
            adopted.setdefault(uuid, spec.name)


# -- notifications: a webhook URL pasted in the wrong place must not be echoed, so no problem in
# this block quotes the value written, and unknown field names are shown only when they look like one.
def _notifications(raw: Any, errors: Errors, key_paths: set[str]) -> tuple[NotificationTarget, ...]:
    where: Where = ("notifications",)
    if raw is None or reject_secure(raw, where, errors):
        return ()
    if not isinstance(raw, list):
        errors.at(where, "must be a list of targets, each {name, format, url_from, events}")
        return ()
    if len(raw) > MAX_TARGETS:
        errors.at(where, f"lists {len(raw)} targets; at most {MAX_TARGETS}")
        return ()
    targets: list[NotificationTarget] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        target = _target(item, (*where, index), errors, key_paths)
        if target is None:
            continue
        if target.name in seen:
            errors.at(
                (*where, index, "name"), f"is also notifications[{seen[target.name]}]'s; names are unique"
            )
            continue
        seen[target.name] = index
        targets.append(target)
    return tuple(targets)


def _fields_of(
    raw: Any, where: Where, allowed: set[str], errors: Errors, refused: frozenset[str] = frozenset()
) -> dict[str, Any] | None:
    """A mapping's fields written with a value (problems added, no value quoted); None if not one.
    `refused` fields are the caller's to report."""
    if reject_secure(raw, where, errors):
        return None
    if not isinstance(raw, dict):
        errors.at(where, f"must be a mapping with fields {', '.join(sorted(allowed))}")
        return None
    for name in sorted(set(raw) - allowed - refused, key=repr):
        shown = name if isinstance(name, str) and _SHOWN_FIELD.fullmatch(name) else "(a field)"
        errors.at((*where, shown), f"is not a known field; use one of {', '.join(sorted(allowed))}")
    for name, item in raw.items():
        reject_secure(item, (*where, str(name)), errors)
    return {k: v for k, v in given(raw).items() if k in allowed and not _is_secure(v)}


def _is_secure(value: Any) -> bool:
    return isinstance(value, dict) and set(value) == {"secure"}


def _target(raw: Any, where: Where, errors: Errors, key_paths: set[str]) -> NotificationTarget | None:
    before = len(errors.items)
    if isinstance(raw, dict) and "url" in raw:
        errors.at((*where, "url"), URL_REFUSED)
    values = _fields_of(raw, where, NOTIFY_FIELDS, errors, refused=frozenset({"url"}))
    if values is None:
        return None
    name = values.get("name")
    if name is None:
        errors.at(
            (*where, "name"), "is required: the target's name, shown in the run's output (e.g. slack-ops)"
        )
    elif not isinstance(name, str) or not _TARGET_NAME.fullmatch(name):
        errors.at((*where, "name"), "must be letters, digits, '.', '_' or '-' (at most 64), e.g. slack-ops")
    shape = values.get("format", PayloadFormat.GENERIC)
    if shape not in tuple(PayloadFormat):
        errors.at((*where, "format"), f"is not one of {', '.join(PayloadFormat)}")
    url_from = _url_from(values.get("url_from"), (*where, "url_from"), errors, key_paths)
    events = _events(values.get("events"), (*where, "events"), errors)
    if len(errors.items) > before or url_from is None or events is None:
        return None
    return NotificationTarget(str(name), PayloadFormat(shape), url_from, events)


def _url_from(
    raw: Any, where: Where, errors: Errors, key_paths: set[str]
) -> UrlFromEnv | UrlFromVault | None:
    example = "{env: GRADIENT_KEYS_SLACK_WEBHOOK} or {vault: {path: notifications/slack, field: url}}"
    if raw is None:
        errors.at(where, f"is required: where the webhook URL is read from, {example}")
        return None
    values = _fields_of(raw, where, URL_FROM_FIELDS, errors)
    if values is None:
        return None
    if not values and any(v is not None for v in raw.values()):
        return None  # reported above: unknown fields, or a `secure:` value
    if len(values) != 1:
        errors.at(where, f"takes exactly one of env or vault: {example}")
        return None
    if "env" in values:
        return _url_from_env(values["env"], (*where, "env"), errors)
    return _url_from_vault(values["vault"], (*where, "vault"), errors, key_paths)


def _url_from_env(variable: Any, where: Where, errors: Errors) -> UrlFromEnv | None:
    if isinstance(variable, str) and _ENV_NAME.fullmatch(variable):
        return UrlFromEnv(variable)
    errors.at(
        where,
        "must name an environment variable holding the URL (letters, digits and '_', "
        "e.g. GRADIENT_KEYS_SLACK_WEBHOOK), not the URL itself",
    )
    return None


def _url_from_vault(raw: Any, where: Where, errors: Errors, key_paths: set[str]) -> UrlFromVault | None:
    values = _fields_of(raw, where, URL_VAULT_FIELDS, errors)
    if values is None:
        return None
    path: str | None = None
    try:
        if not isinstance(values.get("path"), str):
            raise ConfigurationError("not a path")
        path = check_path(values["path"])
    except ConfigurationError:
        errors.at(
            (*where, "path"),
            "must be a Vault path under the stack's vault.path_prefix (letters, digits, '.', '_', '-' "
            "segments), e.g. notifications/slack",
        )
    if path is not None and path in key_paths:
        errors.at(
            (*where, "path"),
            "is a declared key's vault_path, which holds that key's secret: store the webhook URL at a "
            "path of its own, e.g. notifications/slack",
        )
        path = None
    field_name = values.get("field", DEFAULT_URL_FIELD)
    if not isinstance(field_name, str) or not _FIELD_NAME.fullmatch(field_name):
        errors.at((*where, "field"), "must be the name of the entry's field holding the URL (default url)")
        return None
    return UrlFromVault(path, field_name) if path is not None else None


def _events(raw: Any, where: Where, errors: Errors) -> tuple[Event, ...] | None:
    choices = ", ".join(Event)
    if raw is None:
        return tuple(Event)
    if not isinstance(raw, list) or not raw:
        errors.at(where, f"must be a list of one or more of {choices} (default: all of them)")
        return None
    wrong = [i for i, item in enumerate(raw) if item not in tuple(Event)]
    for index in wrong:
        errors.at((*where, index), f"is not an event; use one of {choices}")
    return None if wrong else tuple(e for e in Event if e in raw)


def stack_values(entries: Mapping[Any, Any], source: str) -> dict[str, Any]:
    """The `gradient-keys:*` values of a stack's config (names without the namespace).

    A key in a namespace that looks like ours (`gradient-key:keys`, `gradient_keys:vault`) or a
    bare `keys:` is a typo that would silently declare nothing, so it is an error; other
    namespaces (`aws:region`, `pulumi:tags`) belong to other tools and are left alone.
    """
    errors = Errors()
    values: dict[str, Any] = {}
    for key in entries:
        text = key if isinstance(key, str) else repr(key)
        namespace, colon, name = text.partition(":")
        if namespace == NAMESPACE and colon:
            values[name] = entries[key]
        elif not colon and text in TOP_FIELDS:
            errors.at((text,), f"has no namespace; write {NAMESPACE}:{text}")
        elif _looks_like_ours(namespace):
            fix = f"{NAMESPACE}:{shown_name(name)}" if colon else f"{NAMESPACE}:<setting>"
            errors.at((shown_name(text),), f"is not in the {NAMESPACE} namespace; did you mean {fix}?")
    if "keys" not in values:
        errors.at(
            (f"{NAMESPACE}:keys",),
            "is missing: the stack declares no key. Declare keys (see stacks/Pulumi.prod.example.yaml), "
            "or write `gradient-keys:keys: []` to manage none on purpose",
        )
    errors.raise_if_any(source)
    return values


def _looks_like_ours(namespace: str) -> bool:
    folded = re.sub(r"[^a-z]", "", namespace.lower())
    return (
        folded.startswith("gradient") or difflib.SequenceMatcher(None, folded, "gradientkeys").ratio() >= 0.8
    )


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with a budget of aliases. Loading shares aliased values, so it is
    cheap; anything that walks the result (validation, messages) pays for the expansion, which
    `_expanded_size` bounds."""

    aliases_seen = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases_seen += 1
            if self.aliases_seen > MAX_ALIASES:
                raise _TooManyAliases
        return super().compose_node(parent, index)


class _TooManyAliases(Exception):
    pass


def _expanded_size(value: Any, memo: dict[int, int], active: set[int]) -> int:
    """How many values the document holds with every alias written out (shared values are
    measured once, so this costs what the file holds, not what it expands to)."""
    if not isinstance(value, (dict, list)):
        return 1
    ident = id(value)
    if ident in active:
        raise _SelfReference
    if ident not in memo:
        active.add(ident)
        children = value.values() if isinstance(value, dict) else value
        memo[ident] = 1 + sum(min(_expanded_size(c, memo, active), MAX_VALUES + 1) for c in children)
        active.discard(ident)
    return memo[ident]


class _SelfReference(Exception):
    pass


def read_document(path: Path) -> Any:
    """A YAML file read as a stack file is (bounded; ConfigurationError when it cannot be)."""
    return _read_document(path)


def _read_document(path: Path) -> Any:
    if "\x00" in str(path):
        raise ConfigurationError("the stack config path contains a NUL character; check --config/--stack")
    try:
        return _load_bounded(path)
    except _YAML_BUILD as exc:
        if not (isinstance(exc, UnicodeDecodeError) or _raised_in_yaml(exc)):
            raise  # not PyYAML building a value: a bug in gradient-keys, which surfaces as itself
        raise ConfigurationError(_read_failure(path, exc)) from None
    except _READ_FAILURE_TYPES as exc:
        raise ConfigurationError(_read_failure(path, exc)) from None


def _raised_in_yaml(exc: BaseException) -> bool:
    """Was `exc` raised while PyYAML built a value (its innermost Python frame is in `yaml.`)?"""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and str(tb.tb_frame.f_globals.get("__name__", "")).startswith("yaml.")


def _load_bounded(path: Path) -> Any:
    size = path.stat().st_size
    if size > MAX_STACK_FILE_BYTES:
        raise ConfigurationError(
            f"stack config {path} is {size} bytes; a stack file is at most {MAX_STACK_FILE_BYTES} bytes"
        )
    loader = _BoundedLoader(path.read_text(encoding="utf-8"))
    try:
        document = loader.get_single_data()
    finally:
        loader.dispose()
    if _expanded_size(document, {}, set()) > MAX_VALUES:
        raise ConfigurationError(
            f"stack config {path} expands to more than {MAX_VALUES} values (YAML aliases); write it out"
        )
    return document


def _yaml_line(exc: BaseException) -> str:
    mark = getattr(exc, "problem_mark", None)
    return f" at line {mark.line + 1}" if mark is not None else ""


def _os_reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__


_YAML_BUILD = (TypeError, IndexError, KeyError, AttributeError, OverflowError, ValueError)
# Why a stack file could not be read, by exception, first match wins (one table, not a ladder of
# except clauses). PyYAML recognises some scalars it then cannot build (`2026-02-30`, `!!int ''`):
# those are the ValueError .. OverflowError row.
_READ_FAILURES: tuple[tuple[tuple[type[BaseException], ...], Callable[[Path, BaseException], str]], ...] = (
    (
        (FileNotFoundError,),
        lambda p, _e: (
            f"stack config {shown_name(str(p), 300)} does not exist; check the path (--config FILE)"
        ),
    ),
    (
        (OSError, UnicodeDecodeError),
        lambda p, e: f"stack config {shown_name(str(p), 300)} cannot be read ({_os_reason(e)})",
    ),
    (_YAML_BUILD, lambda p, _e: f"stack config {shown_name(str(p), 300)} has a value YAML cannot build"),
    ((RecursionError,), lambda p, _e: f"stack config {p} is nested too deeply"),
    ((_SelfReference,), lambda p, _e: f"stack config {p} has a value that contains itself (YAML alias)"),
    (
        (_TooManyAliases,),
        lambda p, _e: (
            f"stack config {p} uses more than {MAX_ALIASES} YAML aliases (*name); write the values out"
        ),
    ),
    ((yaml.YAMLError,), lambda p, e: f"stack config {p} is not valid YAML{_yaml_line(e)}"),
)
_READ_FAILURE_TYPES = tuple(kind for kinds, _message in _READ_FAILURES for kind in kinds)


def _read_failure(path: Path, exc: BaseException) -> str:
    return next(message(path, exc) for kinds, message in _READ_FAILURES if isinstance(exc, kinds))


def load_stack_file(path: Path, stack: str | None = None) -> StackSettings:
    """Read `stacks/Pulumi.<stack>.yaml` without the Pulumi engine."""
    document = _read_document(path)
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise ConfigurationError(
            f"stack config {path} must be a mapping with a `config:` mapping of settings "
            f"(found {type(document).__name__}); see stacks/Pulumi.prod.example.yaml"
        )
    values = stack_values(document["config"], str(path))
    name = stack or path.name.removeprefix("Pulumi.").removesuffix(".yaml").removesuffix(".yml")
    return parse_settings(values, name, source=str(path))
