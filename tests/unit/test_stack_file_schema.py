"""docs/stack-file.schema.json: every shipped stack file and the documented example validate; files
gradient-keys refuses field by field, the schema refuses too; and the schema names the same fields,
choices and limits as components/config.py, so the two cannot drift apart unnoticed."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev requirements
import pytest
import yaml

from components.account_config import ACCOUNT_FIELDS
from components.agent_config import AGENT_FIELDS
from components.config import (
    ADOPT_FIELDS,
    AUDIT_FIELDS,
    DEFAULT_FIELDS,
    DO_FIELDS,
    KEY_FIELDS,
    MAX_NAME,
    MAX_TOKEN,
    NAMESPACE,
    RESERVED_FOLDER,
    TOP_FIELDS,
    VAULT_FIELDS,
    OnDelete,
    Strategy,
    load_stack_file,
)
from components.errors import ConfigurationError
from components.vault_auth import AUTH_METHODS

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "stack-file.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
DEFS = SCHEMA["$defs"]


def as_json(text: str) -> Any:
    """The YAML document as JSON sees it (dates as text, as a JSON Schema validator reads YAML)."""
    return json.loads(json.dumps(yaml.safe_load(text), default=str))


def schema_errors(text: str) -> list[str]:
    return [error.message for error in VALIDATOR.iter_errors(as_json(text))]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("stack_file", sorted((ROOT / "stacks").glob("Pulumi.*.yaml")), ids=lambda p: p.name)
def test_every_shipped_stack_file_validates(stack_file: Path) -> None:
    assert schema_errors(stack_file.read_text()) == []


def test_the_documented_example_validates() -> None:
    doc = (ROOT / "docs" / "pulumi.md").read_text()
    example = re.search(r"## A complete stack config\n\n```yaml\n(.*?)```", doc, re.S)
    assert example is not None
    assert schema_errors(example.group(1)) == []


BAD_KEYS = {
    "unknown-field": "{name: a, vault_path: a, colour: red}",
    "no-name": "{vault_path: a}",
    "empty-name": "{name: null, vault_path: a}",
    "blank-name": "{name: ' ', vault_path: a}",
    "name-with-controls": '{name: "a\\e[2Jb", vault_path: a}',
    "long-name": "{name: " + "n" * (MAX_NAME + 1) + ", vault_path: a}",
    "long-token": "{name: a, vault_path: a, rotation_token: " + "t" * (MAX_TOKEN + 1) + "}",
    "bool-name": "{name: true, vault_path: a}",
    "strategy": "{name: a, vault_path: a, strategy: blue-green}",
    "on-delete": "{name: a, vault_path: a, on_delete: shred}",
    "duration": "{name: a, vault_path: a, rotate_every: 30x}",
    "number-duration": "{name: a, vault_path: a, rotate_every: 30}",
    "pickup": "{name: a, vault_path: a, consumer_pickup: 5x}",
    "zero-pickup": "{name: a, vault_path: a, consumer_pickup: 0m}",
    "never-pickup": "{name: a, vault_path: a, consumer_pickup: never}",
    "dot-dot-path": "{name: a, vault_path: ../etc}",
    "empty-segment": "{name: a, vault_path: a//b}",
    "reserved-path": f"{{name: a, vault_path: {RESERVED_FOLDER}/x}}",
    "secure-token": "{name: a, vault_path: a, rotation_token: {secure: v1:abc}}",
    "two-adopt-kinds": "{name: a, vault_path: a, adopt: {uuid: u, name: n}}",
    "same-key-twice": "{name: a, vault_path: a, adopt: {uuids: [u, u]}}",
    "three-adopted": "{name: a, vault_path: a, adopt: {uuids: [u, v, w]}}",
    "empty-adopted": "{name: a, vault_path: a, adopt: {uuid: null}}",
}
BAD_SETTINGS = {
    "keys-not-a-list": "  gradient-keys:keys: {name: a}\n",
    "no-keys": "  gradient-keys:vault: {mount: secret}\n",
    "unknown-setting": "  gradient-keys:keys: []\n  gradient-keys:keyz: []\n",
    "no-namespace": "  gradient-keys:keys: []\n  vault: {mount: secret}\n",
    "namespace-typo": "  gradient-keys:keys: []\n  gradient_keys:vault: {mount: secret}\n",
    "vault-field": "  gradient-keys:keys: []\n  gradient-keys:vault: {mount: secret, token: x}\n",
    "vault-auth": "  gradient-keys:keys: []\n  gradient-keys:vault: {auth: kerberos}\n",
    "vault-secure": "  gradient-keys:keys: []\n  gradient-keys:vault: {secure: v1:abc}\n",
    "api-url": "  gradient-keys:keys: []\n  gradient-keys:digitalocean: {api_url: 'ftp://x'}\n",
    "url-with-path": "  gradient-keys:keys: []\n  gradient-keys:digitalocean: {api_url: 'https://x/v2'}\n",
    "default-duration": "  gradient-keys:keys: []\n  gradient-keys:defaults: {rotate_every: soon}\n",
    "default-pickup": "  gradient-keys:keys: []\n  gradient-keys:defaults: {consumer_pickup: never}\n",
    "audit-ignore": "  gradient-keys:keys: []\n  gradient-keys:audit: {ignore: chatbot}\n",
    "policy-mode": "  gradient-keys:keys: []\n  gradient-keys:policies: {owner: {mode: strict}}\n",
    "policy-unknown": "  gradient-keys:keys: []\n  gradient-keys:policies: {owners: {}}\n",
    "policy-age-never": "  gradient-keys:keys: []\n  gradient-keys:policies: {max_key_age: {max: never}}\n",
    "policy-age-missing": "  gradient-keys:keys: []\n  gradient-keys:policies: {max_key_age: {mode: warn}}\n",
    "policy-name-missing": "  gradient-keys:keys: []\n  gradient-keys:policies: {key_name: {mode: warn}}\n",
    "policy-range-empty": "  gradient-keys:keys: []\n"
    "  gradient-keys:policies: {rotate_every: {mode: fail}}\n",
    "policy-extra-field": "  gradient-keys:keys: []\n  gradient-keys:policies: {in_place: {allow: true}}\n",
    "key-owner-empty": "  gradient-keys:keys: [{name: a, vault_path: a, owner: ' '}]\n",
    "key-allow-not-bool": "  gradient-keys:keys:\n"
    "    - {name: a, vault_path: a, strategy: in-place, allow_in_place: yes please}\n",
}
BAD_FILES = {
    **{f"key-{name}": f"config:\n  gradient-keys:keys:\n    - {entry}\n" for name, entry in BAD_KEYS.items()},
    **{name: "config:\n" + settings for name, settings in BAD_SETTINGS.items()},
    "no-config": "gradient-keys:keys: []\n",
}


@pytest.mark.parametrize("text", BAD_FILES.values(), ids=BAD_FILES.keys())
def test_a_file_gradient_keys_refuses_the_schema_refuses(tmp_path: Path, text: str) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigurationError):
        load_stack_file(path)
    assert schema_errors(text), "the schema accepts it"


@pytest.mark.parametrize(
    "text",
    [
        "config:\n  gradient-keys:keys: []\n",
        "config:\n  gradient-keys:keys:\n  aws:region: us-east-1\n  pulumi:tags: {team: a}\n",
        "config:\n  gradient-keys:keys: [{name: 42, vault_path: 7, rotation_token: 2026-11-25}]\n",
        "config:\n  gradient-keys:keys: [{name: a, vault_path: /a/b/, strategy: null, rotate_every: null}]\n",
        "config:\n  gradient-keys:keys: []\n  gradient-keys:vault:\n  gradient-keys:defaults: {strategy: }\n",
        "secretsprovider: passphrase\nencryptionsalt: v1:x\nconfig:\n  gradient-keys:keys: []\n",
        "config:\n  gradient-keys:keys: []\n  gradient-keys:audit: {ignore: [a, 7, ~], scope_prefix: ~}\n",
        "config:\n  gradient-keys:defaults: {consumer_pickup: 2h}\n"
        "  gradient-keys:keys: [{name: a, vault_path: a, consumer_pickup: 10m}, {name: b, vault_path: b}]\n",
        "config:\n  gradient-keys:defaults: {owner: ops}\n"
        "  gradient-keys:policies: {owner: {}, in_place: ~}\n"
        "  gradient-keys:keys: [{name: a, vault_path: a, strategy: in-place, allow_in_place: true}]\n",
    ],
    ids=[
        "no-keys-on-purpose",
        "other-namespaces",
        "numbers-and-dates",
        "empty-fields",
        "empty-group",
        "pulumi",
        "audit",
        "consumer-pickup",
        "policies",
    ],
)
def test_a_file_gradient_keys_accepts_the_schema_accepts(tmp_path: Path, text: str) -> None:
    path = tmp_path / "Pulumi.ok.yaml"
    path.write_text(text)
    load_stack_file(path)
    assert schema_errors(text) == []


# -- the schema and components/config.py name the same things -------------------------------------------
def test_the_settings_are_config_py_s() -> None:
    config = SCHEMA["properties"]["config"]
    namespaced = {name.removeprefix(f"{NAMESPACE}:") for name in config["properties"] if ":" in name}
    assert namespaced == TOP_FIELDS
    assert {name for name in config["properties"] if ":" not in name} == TOP_FIELDS  # the bare typos


@pytest.mark.parametrize(
    ("definition", "fields"),
    [
        ("key", KEY_FIELDS),
        ("vault", VAULT_FIELDS),
        ("defaults", DEFAULT_FIELDS),
        ("digitalocean", DO_FIELDS),
        ("audit", AUDIT_FIELDS),
        ("agent", AGENT_FIELDS),
        ("adopt", ADOPT_FIELDS),
    ],
)
def test_each_group_has_config_py_s_fields(definition: str, fields: set[str]) -> None:
    assert set(DEFS[definition]["properties"]) == fields and DEFS[definition]["additionalProperties"] is False


def test_the_accounts_have_account_config_py_s_fields() -> None:
    account = DEFS["accounts"]["items"]
    assert set(account["properties"]) == ACCOUNT_FIELDS and account["additionalProperties"] is False


def test_the_choices_and_limits_are_config_py_s() -> None:
    assert DEFS["strategy"]["enum"] == list(Strategy)
    assert DEFS["onDelete"]["enum"] == list(OnDelete)
    assert [m for m in DEFS["vault"]["properties"]["auth"]["enum"] if m is not None] == list(AUTH_METHODS)
    assert DEFS["key"]["properties"]["name"]["maxLength"] == MAX_NAME
    token = DEFS["key"]["properties"]["rotation_token"]["anyOf"][1]
    assert token["maxLength"] == MAX_TOKEN
    assert RESERVED_FOLDER in DEFS["key"]["properties"]["vault_path"]["not"]["pattern"]
