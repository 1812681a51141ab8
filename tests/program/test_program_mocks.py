"""The Pulumi program under Pulumi's mocks (the engine cannot run here)."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest
from pulumi.runtime import rpc

from components.errors import ConfigurationError
from tests.program.harness import DYNAMIC_PREFIX, run_program

CONFIG: dict[str, Any] = {
    "vault": {"mount": "secret", "path_prefix": "gradient-keys/test"},
    "defaults": {"rotate_every": "30d"},
    "keys": [
        {"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d", "rotation_token": "t1"},
        {
            "name": "batch",
            "vault_path": "apps/batch",
            "strategy": "in-place",
            "adopt": {"uuid": "11efb7d6-cdb5-6388-bf8f-4e013e2ddde4"},
        },
    ],
}


def test_one_resource_per_key_with_plain_inputs() -> None:
    _monitor, mocks = run_program(CONFIG)
    by_name = {r.inputs["name"]: r for r in mocks.registered}
    assert sorted(by_name) == ["batch", "chatbot"]
    chatbot = by_name["chatbot"]
    assert chatbot.name == "apps/chatbot"  # resources are named by their Vault path
    assert chatbot.typ == "pulumi-python:dynamic/gradient-keys:ModelAccessKey"
    assert chatbot.inputs["strategy"] == "dual-slot" and chatbot.inputs["rotate_every"] == "7d"
    assert chatbot.inputs["rotation_token"] == "t1" and chatbot.inputs["vault_prefix"] == "gradient-keys/test"
    assert by_name["batch"].inputs["adopt_uuids"] == ["11efb7d6-cdb5-6388-bf8f-4e013e2ddde4"]
    # The serialized provider is the only secret-wrapped input, and it carries no credentials.
    secret_inputs = [k for k, v in chatbot.inputs.items() if rpc.is_rpc_secret(v)]
    assert secret_inputs == ["__provider"]


def test_bad_config_stops_the_program_naming_the_field() -> None:
    bad = {"keys": [{"name": "x", "vault_path": "apps/x", "rotate_every": "30x"}]}
    with pytest.raises(ConfigurationError, match=r'keys\[0\]\.rotate_every: "30x" is not a duration'):
        run_program(bad)


def test_empty_stack_declares_nothing() -> None:
    _monitor, mocks = run_program({"keys": []})
    assert [r for r in mocks.registered if r.typ.startswith("pulumi-python:dynamic")] == []


def test_a_fail_rule_the_declarations_break_stops_the_program_before_any_key() -> None:
    """Every broken rule is logged, then the program ends cleanly (RunError): no key is declared,
    so none is adopted while another fails its check."""
    policies = {"owner": {"mode": "fail"}, "in_place": {"mode": "warn"}}
    with pytest.raises(pulumi.RunError, match=r"2 policy rule\(s\) in fail mode broken; nothing was changed"):
        run_program({**CONFIG, "policies": policies})
    _monitor, mocks = run_program({**CONFIG, "policies": {**policies, "owner": {"mode": "warn"}}})
    assert sorted(r.inputs["name"] for r in mocks.registered if r.typ.startswith(DYNAMIC_PREFIX)) == [
        "batch",
        "chatbot",
    ]
