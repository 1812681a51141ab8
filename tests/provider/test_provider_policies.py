"""The stack's policies in the provider's check, as the engine drives it (gRPC, against the
emulator and a real OpenBao): `fail` rules are check failures on the key's field, before
anything changes; `warn` rules are not; the age rule reads the Vault ledger; the declared owner
is written into the key's Vault metadata on create and on update."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import hvac
import pytest
from pulumi.runtime.proto import provider_pb2

from components.config import parse_settings
from components.keys import KeyContext
from components.policy_config import Mode
from components.provider import inputs_for
from components.vault_sink import VaultSink
from sandbox.server import Emulator
from tests.provider.harness import ProviderProcess, from_struct, with_provider

ALL_RULES = {
    "max_key_age": {"max": "40d"},
    "key_name": {"pattern": "^[a-z]+-prod(-slot-[ab])?$"},
    "owner": {},
    "rotate_every": {"min": "1d", "max": "30d"},
    "in_place": {},
}


def declare(policies: dict[str, Any], **key: Any) -> dict[str, Any]:
    settings = parse_settings(
        {"keys": [{"name": "chatbot", "vault_path": "apps/chatbot", **key}], "policies": policies}, "test"
    )
    context = KeyContext("test", settings.vault, settings.digitalocean, policies=settings.policies)
    return with_provider(inputs_for(settings.keys[0], context))


def with_mode(mode: Mode) -> dict[str, Any]:
    return {rule: {**fields, "mode": mode} for rule, fields in ALL_RULES.items()}


def owner_in_vault(root_vault: hvac.Client) -> str | None:
    read = root_vault.secrets.kv.v2.read_secret_metadata("gradient-keys/apps/chatbot", mount_point="secret")
    return (read["data"]["custom_metadata"] or {}).get("owner")


def test_fail_rules_are_check_failures_by_field(provider: ProviderProcess, emulator: Emulator) -> None:
    news = declare(with_mode(Mode.FAIL), strategy="in-place", rotate_every="never")
    checked = provider.check("chatbot", {}, news)
    assert [(f.property, f.reason.split(":")[0]) for f in checked.failures] == [
        ("name", "policy key_name (fail)"),
        ("owner", "policy owner (fail)"),
        ("rotate_every", "policy rotate_every (fail)"),
        ("rotate_every", "policy max_key_age (fail)"),
        ("strategy", "policy in_place (fail)"),
    ]
    assert checked.failures[1].reason == (
        "policy owner (fail): key 'chatbot' names no owner; add owner: TEAM to the key (or to "
        "gradient-keys:defaults); it is written into the key's Vault metadata"
    )
    assert len(emulator.store) == 0  # a check changes nothing


def test_warn_rules_are_no_failures(provider: ProviderProcess) -> None:
    news = declare(with_mode(Mode.WARN), strategy="in-place", rotate_every="never")
    checked = provider.check("chatbot", {}, news)
    assert list(checked.failures) == []
    assert from_struct(checked.inputs)["policies"]["owner"] == {"mode": "warn"}


def test_rules_met_are_no_failures(provider: ProviderProcess) -> None:
    news = declare(with_mode(Mode.FAIL), name="chatbot-prod", owner="chat-team", rotate_every="7d")
    assert list(provider.check("chatbot", {}, news).failures) == []


@pytest.mark.parametrize("mode", list(Mode))
def test_the_age_rule_reads_the_ledger(
    provider: ProviderProcess, emulator: Emulator, env: dict[str, str], mode: Mode
) -> None:
    """A key whose secret is older than max_key_age: a failure (fail) or a logged warning (warn),
    unless this update rotates it anyway."""
    emulator.console_create("chatbot-slot-a")
    emulator.console_create("chatbot-slot-b")
    rules = {"max_key_age": {"max": "40d", "mode": mode}}
    checked = provider.check("chatbot", {}, declare({}, rotate_every="never"))
    outs = from_struct(provider.create("chatbot", from_struct(checked.inputs)).properties)
    sink = VaultSink(environ=env)
    secret, entry = sink.read_secret("apps/chatbot")
    assert entry.ledger is not None
    sink.write(
        "apps/chatbot", secret, replace(entry.ledger, rotated_at="2026-01-01T00:00:00Z"), entry.version
    )

    aged = provider.check("chatbot", outs, declare(rules, rotate_every="never"))
    reasons = [(f.property, f.reason) for f in aged.failures]
    age_failures = [r for p, r in reasons if p == ""]
    if mode is Mode.FAIL:
        assert len(age_failures) == 1
        assert age_failures[0].startswith(
            "policy max_key_age (fail): key 'chatbot' holds a secret minted 2026-01-01T00:00:00Z, "
        )
    else:
        assert reasons == []
    # rotate_every 30d makes this update rotate it: the age breaks no rule then
    rotating = provider.check("chatbot", outs, declare(rules, rotate_every="30d"))
    assert from_struct(rotating.inputs)["pending_rotation"].startswith("due since")
    assert list(rotating.failures) == []
    logged = provider.close()
    warned = "policy max_key_age (warn): key 'chatbot' holds a secret minted 2026-01-01T00:00:00Z"
    assert (warned in logged) is (mode is Mode.WARN)


def test_the_owner_is_written_on_create_and_update(
    provider: ProviderProcess, emulator: Emulator, root_vault: hvac.Client
) -> None:
    emulator.console_create("chatbot-slot-a")
    emulator.console_create("chatbot-slot-b")
    checked = provider.check("chatbot", {}, declare({}, owner="chat-team"))
    made = provider.create("chatbot", from_struct(checked.inputs))
    outs = from_struct(made.properties)
    assert owner_in_vault(root_vault) == "chat-team" and outs["owner"] == "chat-team"

    news = from_struct(provider.check("chatbot", outs, declare({}, owner="search-team")).inputs)
    assert provider.diff("chatbot", made.id, outs, news).changes == provider_pb2.DiffResponse.DIFF_SOME
    outs = from_struct(provider.update("chatbot", made.id, outs, news).properties)
    assert owner_in_vault(root_vault) == "search-team"
    assert outs["vault_version"] == 1.0  # a new owner is no new secret

    news = from_struct(provider.check("chatbot", outs, declare({})).inputs)
    provider.update("chatbot", made.id, outs, news)
    assert owner_in_vault(root_vault) is None  # no owner declared: none claimed
