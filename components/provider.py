"""The Pulumi dynamic provider: a thin map of check/diff/create/read/update/delete onto keys.py.

The provider object holds nothing: no credentials, no clients, no settings. Pulumi pickles it
into the state (`__provider`), so its clients come from the provider process's factory
(components/clients.py: built once from the environment the engine gave the process, with one
Vault login), and the declaration travels as plain, non-secret inputs. State holds only uuids,
names, times, the active slot, the Vault path and version, and the secret's fingerprint.

Inputs computed by `check`, so that `pulumi preview` shows them as changes:
- `plan`: what creating the key will do (create, or adopt and regenerate once, which keys);
- `pending_rotation`: why the key rotates on this update (due by age, new rotation_token, ...)
  or "" when it does not. Read from the Vault ledger, which the command shares: a rotation done
  by `gradient-keys rotate` is not repeated here.
"""

from __future__ import annotations

import functools
import logging
import os
import sys
import traceback
import uuid
from collections.abc import Callable
from dataclasses import replace
from typing import Any, TypeVar

from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    ResourceProvider,
    UpdateResult,
)

from components.account_config import DEFAULT, DEFAULT_ACCOUNT
from components.clients import process_factory
from components.config import KeySpec, parse_settings
from components.errors import ConfigProblem, ConfigurationError, GradientKeysError
from components.keys import KeyContext, KeyOperations, KeyState, RotationSkipped
from components.policy import Violation, age_violation, declaration_violations
from components.policy_config import Mode
from components.provenance import Actor, Provenance
from components.run_lease import shared_lease

__all__ = ["REPLACE_ON", "ModelKeyProvider", "ProviderInternalError", "inputs_for"]

log = logging.getLogger("gradient_keys.provider")

F = TypeVar("F", bound=Callable[..., Any])


class ProviderInternalError(GradientKeysError):
    """An unexpected failure inside the provider (a bug): its message carries the traceback."""


def in_engine_provider_process() -> bool:
    """True inside the provider process the engine starts (`python -m pulumi.dynamic`)."""
    spec = getattr(sys.modules.get("__main__"), "__spec__", None)
    return spec is not None and spec.name == "pulumi.dynamic.__main__"


if in_engine_provider_process():
    # The engine shows a failed operation as the provider's formatted exception. Without frames
    # that is `ErrorType: message`, the clear message users need, instead of a traceback through
    # the provider's internals; unexpected errors bring their own traceback (see `_reported`).
    sys.tracebacklimit = 0


def _reported(method: F) -> F:
    """Errors gradient-keys raises on purpose reach the engine as their message alone; anything
    else is a bug, reported with its traceback so it can be fixed."""

    @functools.wraps(method)
    def wrapper(*args: Any) -> Any:
        try:
            return method(*args)
        except GradientKeysError:
            raise
        except Exception as exc:
            # An explicit limit: the process-wide tracebacklimit of 0 must not strip a bug's frames.
            frames = "".join(traceback.format_exception(exc, limit=64))
            raise ProviderInternalError(
                f"{method.__name__} failed unexpectedly, please report it:\n{frames}"
            ) from exc

    return wrapper  # type: ignore[return-value]


# A new Vault location or strategy is a different key: replaced, the old one deleted first so the
# new one never shares (and then loses) the old one's DigitalOcean keys.
REPLACE_ON = ("vault_path", "strategy", "vault_mount", "vault_prefix", "agent_uuid", "account")
UPDATE_ON = (
    "name",
    "rotate_every",
    "rotation_token",
    "on_delete",
    "adopt_uuids",
    "adopt_names",
    "stack",
    "vault",
    "digitalocean",
    "owner",
    "account_settings",
)


def inputs_for(spec: KeySpec, context: KeyContext) -> dict[str, Any]:
    """The resource inputs for a declared key: plain, non-secret values only."""
    account = context.account(spec.account)
    vault = {k: v for k, v in vars(context.vault).items() if v is not None}
    digitalocean = {k: v for k, v in vars(context.digitalocean).items() if v is not None}
    return {
        "name": spec.name,
        "vault_path": spec.vault_path,
        "vault_mount": context.vault.mount,
        "vault_prefix": context.vault.path_prefix,
        "strategy": spec.strategy,
        "rotate_every": spec.rotate_every,
        "rotation_token": spec.rotation_token or "",
        "adopt_uuids": list(spec.adopt_uuids),
        "adopt_names": list(spec.adopt_names),
        "on_delete": spec.on_delete,
        "owner": spec.owner or "",
        "allow_in_place": spec.allow_in_place,
        "policies": context.policies.as_inputs(),
        # An agent's API key: its agent, and the endpoint its new secrets are checked at ("" for a
        # model access key). Another agent is another key (a replacement).
        "agent_uuid": spec.agent_uuid or "",
        "agent_endpoint": spec.agent_endpoint or "",
        # The DigitalOcean account it lives in, and where that account's token is read ({} for
        # the default account's DIGITALOCEAN_TOKEN). Another account is another key.
        "account": spec.account,
        "account_settings": account.as_declared()
        if account.name != DEFAULT_ACCOUNT or account != DEFAULT
        else {},
        "stack": context.stack,
        "vault": vault,
        "digitalocean": digitalocean,
    }


def _declaration(props: dict[str, Any]) -> tuple[KeySpec, KeyContext]:
    """Validate the inputs with the stack-config schema (the same errors, the same fixes)."""
    key: dict[str, Any] = {
        field: props.get(field)
        for field in ("name", "vault_path", "strategy", "rotate_every", "on_delete")
        if props.get(field) is not None
    }
    for optional in ("rotation_token", "owner", "allow_in_place"):
        if props.get(optional):
            key[optional] = props[optional]
    if props.get("adopt_uuids"):
        key["adopt"] = {"uuids": list(props["adopt_uuids"])}
    elif props.get("adopt_names"):
        key["adopt"] = {"names": list(props["adopt_names"])}
    vault = dict(props.get("vault") or {})
    settings = parse_settings(
        {
            **_placed(key, props),
            "vault": vault,
            "digitalocean": dict(props.get("digitalocean") or {}),
            "policies": dict(props.get("policies") or {}),
        },
        str(props.get("stack") or ""),
        source="ModelAccessKey inputs",
    )
    if not settings.keys:
        raise ConfigurationError("ModelAccessKey inputs declare no key")
    context = KeyContext.of(settings)
    return settings.keys[0], context


def _placed(key: dict[str, Any], props: dict[str, Any]) -> dict[str, Any]:
    """The key where the stack config declares it: under its agent, or among the model keys; in
    its account."""
    account = str(props.get("account") or DEFAULT_ACCOUNT)
    placed: dict[str, Any] = (
        {"accounts": [props["account_settings"]]} if props.get("account_settings") else {}
    )
    if props.get("agent_uuid"):
        agent = {"uuid": props["agent_uuid"], "endpoint": props.get("agent_endpoint"), "keys": [key]}
        if account != DEFAULT_ACCOUNT:
            agent["account"] = account
        return {**placed, "agents": [agent]}
    if account != DEFAULT_ACCOUNT:
        key = {**key, "account": account}
    return {**placed, "keys": [key]}


def _failures(error: ConfigurationError) -> list[CheckFailure]:
    """The engine's per-input failures, one for each problem the error lists (the rest counted)."""
    failures = [CheckFailure(_input_of(problem), str(problem)) for problem in error.listed]
    if more := len(error.problems) - len(error.listed):
        failures.append(CheckFailure("", f"... and {more} more"))
    return failures


def _input_of(problem: ConfigProblem) -> str:
    """The input a problem is about: the key's field (`rotate_every` for `keys[0].rotate_every`),
    the settings group (`vault` for `vault.addr`), or "" for the resource as a whole (the engine
    then reports the failure without a property)."""
    match problem.location:
        case ("keys", int(), str(field), *_) | ("agents", int(), "keys", int(), str(field), *_):
            return field
        case ("agents", int(), str(field), *_):
            return f"agent_{field}"  # the agent's uuid or endpoint
        case (str(group), *_) if group != "keys":
            return group
    return ""


def _policy_failures(violations: list[Violation]) -> list[CheckFailure]:
    """The rules in `fail` mode the key breaks, as check failures on its field: they stop
    `pulumi preview` and `pulumi up` before anything changes."""
    return [CheckFailure(v.field, str(v)) for v in violations if v.mode is Mode.FAIL]


# One id per provider process: the engine starts one for each `pulumi up` (or preview), so every
# version that update writes records the same run id (`gradient-keys history` shows it).
PROCESS_RUN_ID = uuid.uuid4().hex[:12]


def _operations(context: KeyContext) -> KeyOperations:
    """The core, on this process's clients: the provider is a front end, the one place it reads
    the environment. One Vault login and one DigitalOcean listing serve every operation the engine
    sends this process (a preview of N keys logs in once). What it writes records the provider,
    this process's run id and the CI job it runs in (components/provenance.py)."""
    provenance = Provenance.from_environ(Actor.PULUMI, os.environ, run_id=PROCESS_RUN_ID)
    return KeyOperations(replace(context, provenance=provenance), process_factory(os.environ))


def _outputs(inputs: dict[str, Any], state: KeyState) -> dict[str, Any]:
    return {**inputs, **state.as_dict(), "pending_rotation": ""}


LEASE_WAIT_SECONDS = 300.0  # a `gradient-keys rotate --all` of a few hundred keys


def _rotate_if_still_due(ops: KeyOperations, spec: KeySpec, state: KeyState, basis: str) -> KeyState:
    """Rotate as decided at check time, unless the key got a new secret since (another run
    rotated it): rotating again now would kill the secret its consumers were just given."""
    reason, checked = ops.rotation_due(spec, state)
    if basis and basis != f"{checked.vault_version}:{checked.fingerprint}":
        _version, _, fingerprint = basis.partition(":")
        if fingerprint != checked.fingerprint:
            reason = ""  # rotated by someone else after this update was planned
    if reason:
        log.info("key %s: rotating (%s)", spec.name, reason)
        # Against the version just checked: a rotation by the command in between skips this one.
        try:
            return ops.rotate(spec, checked, expected_version=checked.vault_version or None)
        except RotationSkipped:
            pass
    log.info("key %s: rotated meanwhile by another run; not rotating again", spec.name)
    return ops.inspect(spec, state) or state


class ModelKeyProvider(ResourceProvider):
    """Stateless by design; see the module docstring."""

    @_reported
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        try:
            spec, context = _declaration(news)
        except ConfigurationError as exc:
            return CheckResult(news, _failures(exc))
        inputs = inputs_for(spec, context)
        ops = _operations(context)
        violations = declaration_violations(spec, context.policies)
        if olds.get("name"):
            inputs["plan"] = olds.get("plan", "")
            try:
                standing = ops.standing(spec)
            except GradientKeysError as exc:
                return CheckResult(
                    inputs, [CheckFailure("vault_path", f"cannot read the Vault ledger: {exc}")]
                )
            inputs["pending_rotation"] = standing.pending_rotation
            if standing.pending_rotation:
                inputs["rotation_basis"] = standing.rotation_basis
            # A rotation this update makes renews the secret: its age breaks no rule then.
            elif aged := age_violation(spec, context.policies, standing.rotated_at, ops.clock()):
                violations.append(aged)
                if aged.mode is Mode.WARN:
                    # The provider's log reaches the engine's output; the program warns of the
                    # rules the declaration alone breaks, on the key's resource (__main__.py).
                    log.warning("key %s: %s", aged.key, aged)
        else:
            inputs["pending_rotation"] = ""
            try:
                inputs["plan"] = ops.plan_create(spec)
            except GradientKeysError as exc:
                return CheckResult(inputs, [CheckFailure("name", f"cannot plan the key: {exc}")])
        return CheckResult(inputs, _policy_failures(violations))

    @_reported
    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        replaces = [f for f in REPLACE_ON if olds.get(f) != news.get(f)]
        changed = [f for f in UPDATE_ON if olds.get(f) != news.get(f)]
        rotating = bool(news.get("pending_rotation"))
        return DiffResult(
            changes=bool(replaces or changed or rotating),
            replaces=replaces,
            stables=[],
            delete_before_replace=True,
        )

    @_reported
    def create(self, props: dict[str, Any]) -> CreateResult:
        spec, context = _declaration(props)
        ops = _operations(context)
        state = ops.create_or_adopt(spec)
        if spec.owner:
            ops.set_owner(spec)
        return CreateResult(
            state.slot_a_uuid, _outputs({**inputs_for(spec, context), "plan": props.get("plan", "")}, state)
        )

    @_reported
    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        spec, context = _declaration(props)
        state = _operations(context).inspect(spec, KeyState.from_dict(props))
        if state is None:
            log.info("key %s: its DigitalOcean keys are gone; dropping it from state", spec.name)
            return ReadResult(None, {})
        return ReadResult(id_, {**props, **state.as_dict()})

    @_reported
    def update(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        spec, context = _declaration(news)
        ops = _operations(context)
        state = KeyState.from_dict(olds)
        if olds.get("name") != news.get("name"):
            state = ops.rename(spec, state)
        if (olds.get("owner") or "") != (news.get("owner") or ""):
            ops.set_owner(spec)
        if news.get("pending_rotation"):
            # Decided at check time; decided again now, from the ledger: if `gradient-keys rotate`
            # rotated the key in between, rotating again would kill the secret consumers just got.
            # Under the stack's rotation lease, so a `gradient-keys rotate` run and this update
            # never regenerate the same slot at once; decided again inside it, from the ledger.
            with shared_lease(ops.vault, context.stack, clock=ops.clock, wait_seconds=LEASE_WAIT_SECONDS):
                state = _rotate_if_still_due(ops, spec, state, str(news.get("rotation_basis") or ""))
        return UpdateResult(_outputs({**inputs_for(spec, context), "plan": olds.get("plan", "")}, state))

    @_reported
    def delete(self, _id: str, props: dict[str, Any]) -> None:
        spec, context = _declaration(props)
        _operations(context).delete(spec, KeyState.from_dict(props))
