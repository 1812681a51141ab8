"""Stack-config validation: every error names the field path, the bad value and the fix."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from components.config import load_stack_file, parse_duration, parse_settings, slot_names
from components.errors import ConfigurationError

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def key(**fields: Any) -> dict[str, Any]:
    return {"name": "chatbot", "vault_path": "apps/chatbot", **fields}


def problems(values: dict[str, Any]) -> str:
    with pytest.raises(ConfigurationError) as caught:
        parse_settings(values, "test")
    return str(caught.value)


def test_defaults_apply() -> None:
    settings = parse_settings(
        {"defaults": {"rotate_every": "12h", "on_delete": "destroy"}, "keys": [key()]}, "dev"
    )
    spec = settings.keys[0]
    assert (spec.strategy, spec.rotate_every, spec.on_delete) == ("dual-slot", "12h", "destroy")
    assert spec.slot_names == ("chatbot-slot-a", "chatbot-slot-b")
    assert settings.vault.mount == "secret" and settings.vault.path_prefix == "gradient-keys"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"keys": [key(rotate_every="30x")]}, 'keys[0].rotate_every: "30x" is not a duration; use 30d, 12h'),
        (
            {"keys": [key(strategy="blue-green")]},
            'keys[0].strategy: "blue-green" is not one of dual-slot, in-place',
        ),
        (
            {"keys": [key(on_delete="shred")]},
            'keys[0].on_delete: "shred" is not one of keep, soft-delete, destroy',
        ),
        ({"keys": [key(colour="red")]}, "keys[0].colour: is not a known field"),
        ({"keys": [{"vault_path": "x"}]}, "keys[0].name: is required"),
        ({"keys": [key(vault_path="../etc")]}, 'keys[0].vault_path: "../etc" is not a Vault path'),
        (
            {"keys": [key(vault_path="_gradient-keys/rotation-runs/dev")]},
            'keys[0].vault_path: "_gradient-keys/rotation-runs/dev" is under _gradient-keys/',
        ),
        (
            {"keys": [key(), key(vault_path="apps/other")]},
            'keys[1].name: "chatbot" is already declared by keys[0]',
        ),
        ({"keys": [key(), key(name="other")]}, 'keys[1].vault_path: "apps/chatbot" is already used by key'),
        (
            {"keys": [key(), key(name="chatbot-slot-a", strategy="in-place", vault_path="b")]},
            "also claimed by key 'chatbot'",
        ),
        ({"keys": [key(adopt={"uuid": "u1"})]}, "a dual-slot key owns two DigitalOcean keys"),
        ({"keys": [key(strategy="in-place", adopt={"uuids": ["a", "b"]})]}, "an in-place key owns one"),
        ({"keys": [key(adopt={"uuids": ["a", "a"]})]}, "names the same key twice"),
        (
            {"keys": [key(adopt={"uuid": "a", "name": "b"})]},
            "takes exactly one of uuid, name, uuids or names",
        ),
        (
            {"keys": [key(rotation_token={"secure": "v1:abc"})]},
            "`secure:` value, but the stack config holds no credentials",
        ),
        ({"vault": {"auth": "kerberos"}}, 'vault.auth: "kerberos" is not one of token, approle, jwt'),
        ({"vault": {"auth": "approle", "role": "ci"}}, 'vault.role: "ci" only applies to auth: jwt'),
        ({"digitalocean": {"api_url": "ftp://x"}}, 'digitalocean.api_url: "ftp://x" is not a base URL'),
        ({"keyz": []}, "gradient-keys:keyz: is not a known setting"),
        ({"keys": {"name": "x"}}, "keys: {'name': 'x'} must be a list"),
    ],
    ids=[
        "duration",
        "strategy",
        "on-delete",
        "unknown-field",
        "missing-name",
        "bad-path",
        "reserved-path",
        "duplicate-name",
        "shared-path",
        "slot-collision",
        "dual-one-uuid",
        "inplace-two-uuids",
        "same-uuid-twice",
        "two-adopt-kinds",
        "secure-value",
        "auth-method",
        "role-without-jwt",
        "bad-url",
        "unknown-setting",
        "keys-not-list",
    ],
)
def test_errors_name_field_value_and_fix(values: dict[str, Any], expected: str) -> None:
    assert expected in problems(values)


def test_all_problems_are_reported_at_once() -> None:
    text = problems({"keys": [key(rotate_every="x"), key(name="b", vault_path="b", strategy="y")]})
    assert "2 problem(s)" in text and "keys[0].rotate_every" in text and "keys[1].strategy" in text


def test_scalar_rotation_tokens_become_strings() -> None:
    import datetime

    settings = parse_settings({"keys": [key(rotation_token=datetime.date(2026, 11, 25))]}, "t")
    assert settings.keys[0].rotation_token == "2026-11-25"


@pytest.mark.parametrize(
    ("text", "seconds"), [("90m", 5400), ("12h", 43200), ("30d", 2592000), ("2w", 1209600), ("never", None)]
)
def test_durations(text: str, seconds: int | None) -> None:
    assert parse_duration(text) == seconds


def test_slot_names() -> None:
    assert slot_names("k", "in-place") == ("k",)
    assert slot_names("k", "dual-slot") == ("k-slot-a", "k-slot-b")


@pytest.mark.parametrize("stack_file", sorted(STACKS.glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_shipped_stack_files_are_valid(stack_file: Path) -> None:
    settings = load_stack_file(stack_file)
    assert settings.keys


def test_stack_file_errors_name_the_file(tmp_path: Path) -> None:
    broken = tmp_path / "Pulumi.x.yaml"
    broken.write_text("config:\n  gradient-keys:keys: [\n")
    with pytest.raises(ConfigurationError, match=r"Pulumi\.x\.yaml is not valid YAML at line"):
        load_stack_file(broken)
    with pytest.raises(ConfigurationError, match="does not exist"):
        load_stack_file(tmp_path / "missing.yaml")


def test_adopting_keys_by_their_own_slot_names_is_fine() -> None:
    settings = parse_settings({"keys": [key(adopt={"names": ["chatbot-slot-a", "chatbot-slot-b"]})]}, "t")
    assert settings.keys[0].adopt_names == ("chatbot-slot-a", "chatbot-slot-b")
