"""The provider as the engine drives it: a `python -m pulumi.dynamic` process over gRPC, against
the sandbox emulator (real pydo over HTTP) and a real OpenBao."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import grpc
import hvac
import pytest
from pulumi.runtime.proto import provider_pb2

from components.config import parse_settings
from components.keys import KeyContext
from components.provider import inputs_for
from components.secret import Secret
from components.vault_sink import VaultSink
from sandbox.server import Emulator
from tests.inference_probe import works
from tests.provider.harness import ProviderProcess, from_struct, with_provider

DIFF_NONE, DIFF_SOME = provider_pb2.DiffResponse.DIFF_NONE, provider_pb2.DiffResponse.DIFF_SOME


def declare(**key: Any) -> dict[str, Any]:
    settings = parse_settings(
        {"keys": [{"name": "chatbot", "vault_path": key.pop("vault_path", "apps/chatbot"), **key}]}, "test"
    )
    return with_provider(
        inputs_for(settings.keys[0], KeyContext("test", settings.vault, settings.digitalocean))
    )


def vault_secret(env: dict[str, str], path: str = "apps/chatbot") -> tuple[Secret, Any]:
    return VaultSink(environ=env).read_secret(path)


def create(provider: ProviderProcess, news: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    checked = provider.check("chatbot", {}, news)
    assert not checked.failures, checked.failures
    inputs = from_struct(checked.inputs)
    made = provider.create("chatbot", from_struct(checked.inputs))
    return made.id, inputs, from_struct(made.properties)


def test_adopts_control_panel_keys_and_stores_the_secret_in_vault(
    provider: ProviderProcess, emulator: Emulator, env: dict[str, str]
) -> None:
    a = emulator.console_create("chatbot-slot-a")
    b = emulator.console_create("chatbot-slot-b")
    checked = provider.check("chatbot", {}, declare())
    plan = from_struct(checked.inputs)["plan"]
    assert "adopt chatbot-slot-a" in plan and "regenerate" in plan  # the preview shows the regenerate
    made = provider.create("chatbot", from_struct(checked.inputs))
    outs = from_struct(made.properties)
    assert made.id == a["uuid"] and outs["slot_b_uuid"] == b["uuid"]
    assert outs["active_slot"] == "a" and outs["vault_version"] == 1.0  # Struct numbers are doubles
    secret, entry = vault_secret(env)
    assert works(emulator, secret.reveal())
    assert outs["fingerprint"] == secret.fingerprint == entry.ledger.fingerprint
    assert not works(emulator, a["secret_key"]) and not works(
        emulator, b["secret_key"]
    )  # console secrets dead
    assert "secret_key" not in outs and secret.reveal() not in str(made)


def test_create_in_legacy_mode(provider: ProviderProcess, emulator: Emulator, env: dict[str, str]) -> None:
    emulator.config.create_mode = "legacy"
    _id, inputs, outs = create(provider, declare())
    assert inputs["plan"].startswith("create 'chatbot-slot-a' and 'chatbot-slot-b' at DigitalOcean")
    assert outs["fingerprint"] == vault_secret(env)[0].fingerprint
    assert sorted(k.name for k in emulator.store.list()) == ["chatbot-slot-a", "chatbot-slot-b"]
    assert works(emulator, vault_secret(env)[0].reveal())


def test_retired_create_names_the_keys_to_make(provider: ProviderProcess, emulator: Emulator) -> None:
    emulator.console_create("chatbot-slot-a")
    news = declare()
    checked = provider.check("chatbot", {}, news)
    with pytest.raises(grpc.RpcError) as caught:
        provider.create("chatbot", from_struct(checked.inputs))
    assert "create 'chatbot-slot-b'" in caught.value.details()
    assert "control panel" in caught.value.details()


def test_lifecycle_rotate_rename_refresh_delete(
    provider: ProviderProcess, emulator: Emulator, env: dict[str, str]
) -> None:
    emulator.console_create("chatbot-slot-a")
    emulator.console_create("chatbot-slot-b")
    id_, _inputs, outs = create(provider, declare())
    first = vault_secret(env)[0]

    unchanged = from_struct(provider.check("chatbot", outs, declare()).inputs)
    assert unchanged["pending_rotation"] == ""
    assert provider.diff("chatbot", id_, outs, unchanged).changes == DIFF_NONE

    # A new rotation_token rotates once: slot b gets a new secret, becomes active; a's stays valid.
    news = from_struct(provider.check("chatbot", outs, declare(rotation_token="2026-11-25")).inputs)
    assert news["pending_rotation"] == "rotation_token changed to '2026-11-25'"
    assert provider.diff("chatbot", id_, outs, news).changes == DIFF_SOME
    outs = from_struct(provider.update("chatbot", id_, outs, news).properties)
    second = vault_secret(env)[0]
    assert (
        outs["active_slot"] == "b"
        and outs["vault_version"] == 2.0
        and outs["rotation_token_applied"] == "2026-11-25"
    )
    assert works(emulator, second.reveal()) and works(emulator, first.reveal())  # zero downtime
    again = from_struct(provider.check("chatbot", outs, declare(rotation_token="2026-11-25")).inputs)
    assert again["pending_rotation"] == "" and provider.diff("chatbot", id_, outs, again).changes == DIFF_NONE

    # A new name is an update that renames both slots.
    renamed = from_struct(
        provider.check("chatbot", outs, declare(name="chatbot-v2", rotation_token="2026-11-25")).inputs
    )
    diff = provider.diff("chatbot", id_, outs, renamed)
    assert diff.changes == DIFF_SOME and not diff.replaces
    outs = from_struct(provider.update("chatbot", id_, outs, renamed).properties)
    assert sorted(k.name for k in emulator.store.list()) == ["chatbot-v2-slot-a", "chatbot-v2-slot-b"]

    # A new Vault path is a replacement.
    moved = from_struct(
        provider.check("chatbot", outs, declare(name="chatbot-v2", vault_path="apps/other")).inputs
    )
    assert list(provider.diff("chatbot", id_, outs, moved).replaces) == ["vault_path"]

    # Refresh reads state back; a key deleted outside the tool drops out of state.
    read = provider.read("chatbot", id_, outs)
    assert read.id == id_ and from_struct(read.properties)["fingerprint"] == outs["fingerprint"]
    provider.delete("chatbot", id_, outs)
    assert len(emulator.store) == 0
    entry = VaultSink(environ=env).read_ledger("apps/chatbot")
    assert entry is not None and entry.deleted  # on_delete: soft-delete


def test_refresh_drops_a_key_deleted_outside(
    provider: ProviderProcess, emulator: Emulator, env: dict[str, str]
) -> None:
    emulator.console_create("chatbot-slot-a")
    emulator.console_create("chatbot-slot-b")
    id_, _inputs, outs = create(provider, declare())
    secret = vault_secret(env)[0]
    emulator.store.delete(outs["slot_b_uuid"])  # one slot gone: the key stays (the audit reports it)
    first = ProviderProcess(env)  # a new process: a new refresh, a new listing
    try:
        kept = first.read("chatbot", id_, outs)
        assert kept.id == id_ and from_struct(kept.properties)["slot_b_uuid"] == outs["slot_b_uuid"]
    finally:
        first.close()
    assert works(emulator, secret.reveal())  # and consumers were never touched
    emulator.store.delete(outs["slot_a_uuid"])  # both gone: the key leaves the state
    second = ProviderProcess(env)
    try:
        assert second.read("chatbot", id_, outs).id == ""
    finally:
        second.close()


def test_re_adopting_a_managed_key_keeps_the_secret_consumers_hold(
    provider: ProviderProcess, emulator: Emulator, env: dict[str, str]
) -> None:
    """Pulumi state lost (or a resource dropped): `up` adopts again without cutting consumers off."""
    emulator.console_create("chatbot-slot-a")
    emulator.console_create("chatbot-slot-b")
    create(provider, declare())
    held = vault_secret(env)[0]
    _id, _inputs, outs = create(provider, declare())  # a second create of the same declaration
    assert works(emulator, held.reveal())
    assert vault_secret(env)[0] == held and outs["fingerprint"] == held.fingerprint


def test_rotation_due_by_age_shows_in_check(
    provider: ProviderProcess, emulator: Emulator, env: dict[str, str]
) -> None:
    emulator.console_create("chatbot-slot-a")
    emulator.console_create("chatbot-slot-b")
    _id, _inputs, outs = create(provider, declare(rotate_every="1h"))
    sink = VaultSink(environ=env)
    secret, entry = sink.read_secret("apps/chatbot")
    assert entry.ledger is not None
    aged = replace(entry.ledger, rotated_at="2026-01-01T00:00:00Z")
    sink.write("apps/chatbot", secret, aged, entry.version)
    news = from_struct(provider.check("chatbot", outs, declare(rotate_every="1h")).inputs)
    assert news["pending_rotation"].startswith("due since 2026-01-01T01:00:00Z")


def test_check_reports_bad_inputs_by_field(provider: ProviderProcess) -> None:
    news = declare()
    news["rotate_every"] = "30x"
    checked = provider.check("chatbot", {}, news)
    assert [(f.property, f.reason) for f in checked.failures] == [
        ("rotate_every", 'keys[0].rotate_every: "30x" is not a duration; use 30d, 12h, 90m, 2w or never')
    ]


def create_in_place_keys(
    env: dict[str, str], root_vault: hvac.Client, names: list[str]
) -> list[tuple[str, str, dict[str, Any]]]:
    """In-place keys made through one provider process (legacy create), each at `apps/NAME`:
    (name, id, properties) as the engine would keep them."""
    creator = ProviderProcess(env)
    records = []
    try:
        for name in names:
            path = f"apps/{name}"
            root_vault.secrets.kv.v2.delete_metadata_and_all_versions(
                f"gradient-keys/{path}", mount_point="secret"
            )
            checked = creator.check(name, {}, declare(name=name, vault_path=path, strategy="in-place"))
            made = creator.create(name, from_struct(checked.inputs))
            records.append((name, made.id, from_struct(made.properties)))
    finally:
        creator.close()
    return records


def test_refresh_of_many_keys_lists_once(
    emulator: Emulator, env: dict[str, str], root_vault: hvac.Client
) -> None:
    emulator.config.create_mode = "legacy"
    for i in range(3):
        emulator.console_create(f"filler-{i}")
    records = create_in_place_keys(env, root_vault, [f"many-{i}" for i in range(6)])
    emulator.stats.reset()
    refresher = ProviderProcess(env)  # a refresh runs in a provider process of its own
    try:
        for name, id_, outs in records:
            assert refresher.read(name, id_, outs).id == id_
    finally:
        refresher.close()
    assert emulator.stats.view()["requests"].get("list") == {"200": 1}  # 6 keys, one listing


def test_vault_preflight_fails_before_anything_changes(
    emulator: Emulator, env: dict[str, str], root_vault: hvac.Client
) -> None:
    a = emulator.console_create("chatbot-slot-a")
    b = emulator.console_create("chatbot-slot-b")
    weak = root_vault.auth.token.create(policies=["default"], ttl="5m")["auth"]["client_token"]
    process = ProviderProcess({**env, "VAULT_TOKEN": weak})
    try:
        checked = process.check("chatbot", {}, declare())
        with pytest.raises(grpc.RpcError) as caught:
            process.create("chatbot", from_struct(checked.inputs))
    finally:
        process.close()
    assert "may not create secret/data/gradient-keys/apps/chatbot" in caught.value.details()
    assert works(emulator, a["secret_key"]) and works(emulator, b["secret_key"])  # nothing regenerated
    assert emulator.stats.view()["requests"].get("regenerate") is None
