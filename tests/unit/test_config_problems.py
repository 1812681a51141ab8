"""`ConfigurationError.problems`: each problem's field path, the value as shown and the fix, made
safe where it is built; the message is built from them; the provider's check failures come from
them (not from the message text); `strategy` and `on_delete` are enums equal to their strings."""

from __future__ import annotations

import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from components.config import (
    STRATEGIES,
    KeySpec,
    OnDelete,
    Strategy,
    load_stack_file,
    parse_settings,
    slot_names,
)
from components.errors import MAX_LISTED_PROBLEMS, ConfigProblem, ConfigurationError, shown_value
from components.provider import _failures
from components.vault_sink import DELETE_MODES


def key(**fields: Any) -> dict[str, Any]:
    return {"name": "chatbot", "vault_path": "apps/chatbot", **fields}


def refused(values: dict[str, Any], source: str = "stack config") -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        parse_settings(values, "test", source=source)
    return caught.value


def triples(error: ConfigurationError) -> list[tuple[str, str | None, str]]:
    return [(p.path, p.value, p.fix) for p in error.problems]


# -- what validation produces ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (
            {
                "keys": [
                    key(),
                    key(name="b", vault_path="b"),
                    key(name="c", vault_path="c", rotate_every="30x"),
                ]
            },
            ("keys[2].rotate_every", '"30x"', "is not a duration; use 30d, 12h, 90m, 2w or never"),
        ),
        (
            {"keys": [key(strategy="blue-green")]},
            ("keys[0].strategy", '"blue-green"', "is not one of dual-slot, in-place"),
        ),
        (
            {"keys": [{"vault_path": "x"}]},
            ("keys[0].name", None, "is required (e.g. name: chatbot-prod)"),
        ),
        (
            {"keys": [key(colour="red")]},
            (
                "keys[0].colour",
                None,
                "is not a known field; use one of account, adopt, allow_in_place, consumer_pickup, name, "
                "on_delete, owner, rotate_every, rotation_token, strategy, vault_path",
            ),
        ),
        (
            {"vault": {"addr": "ftp://x"}},
            (
                "vault.addr",
                '"ftp://x"',
                "is not a base URL; use e.g. https://api.digitalocean.com or http://127.0.0.1:8087",
            ),
        ),
        (
            {"audit": {"ignore": ["ok", 7, True]}},
            ("audit.ignore[2]", "True", "must be a non-empty string"),
        ),
        (
            {"keys": {"name": "x"}},
            ("keys", "{'name': 'x'}", "must be a list of keys, each with at least name and vault_path"),
        ),
        (
            {"keyz": []},
            (
                "gradient-keys:keyz",
                None,
                "is not a known setting; use one of accounts, agents, audit, defaults, digitalocean, keys, "
                "notifications, policies, vault",
            ),
        ),
        (
            {"keys": [key(adopt={"uuids": ["a", "a"]})]},
            (
                "keys[0].adopt.uuids",
                "['a', 'a']",
                "names the same key twice; the two slots need two different keys",
            ),
        ),
        (
            {"keys": [key(strategy="in-place", adopt={"uuid": "not-a-uuid"})]},
            (
                "keys[0].adopt.uuid",
                '"not-a-uuid"',
                "is not a DigitalOcean key uuid (like 11efb7d6-cdb5-6388-bf8f-4e013e2ddde4, from "
                "`gradient-keys keys list`); to adopt by name, write name: or names:",
            ),
        ),
        (
            {"keys": [key(rotate_every="0d")]},
            ("keys[0].rotate_every", '"0d"', "must be longer than nothing; use 30d, 12h, 90m, 2w or never"),
        ),
        (
            {"keys": [key(consumer_pickup="5x")]},
            ("keys[0].consumer_pickup", '"5x"', "is not a duration; use 5m, 15m, 2h or 1d"),
        ),
        (
            {"keys": [key(consumer_pickup="0m")]},
            ("keys[0].consumer_pickup", '"0m"', "must be longer than nothing; use 5m, 15m, 2h or 1d"),
        ),
        (
            {"keys": [key(consumer_pickup="never")]},
            (
                "keys[0].consumer_pickup",
                '"never"',
                "cannot be never: consumers that never use a new Vault version fail after a rotation; "
                "write how long they take to, e.g. 5m, 15m, 2h or 1d (default 5m)",
            ),
        ),
        (
            {"defaults": {"consumer_pickup": "soon"}, "keys": [key()]},
            ("defaults.consumer_pickup", '"soon"', "is not a duration; use 5m, 15m, 2h or 1d"),
        ),
        (
            {"keys": [key(), key(name="chatbot-slot-a", strategy="in-place", vault_path="b")]},
            (
                "keys[1]",
                '"chatbot-slot-a"',
                "is a DigitalOcean key name also claimed by key 'chatbot'; each DigitalOcean key can "
                "belong to one declared key (rename one of them)",
            ),
        ),
    ],
    ids=[
        "duration",
        "strategy",
        "missing-name",
        "unknown-field",
        "vault-url",
        "audit-list-item",
        "keys-not-a-list",
        "unknown-setting",
        "adopt",
        "adopt-not-a-uuid",
        "zero-duration",
        "pickup",
        "zero-pickup",
        "never-pickup",
        "default-pickup",
        "whole-key",
    ],
)
def test_each_problem_has_its_path_value_and_fix(
    values: dict[str, Any], expected: tuple[str, str | None, str]
) -> None:
    assert triples(refused(values)) == [expected]


def test_the_path_is_kept_in_parts() -> None:
    (problem,) = refused({"keys": [key(), key(name="b", vault_path="b", on_delete="shred")]}).problems
    assert problem.location == ("keys", 1, "on_delete") and problem.path == "keys[1].on_delete"


def test_the_message_lists_the_problems_as_before() -> None:
    error = refused({"keys": [key(rotate_every="x"), key(name="b", vault_path="b", strategy="y")]}, "f.yaml")
    assert str(error) == (
        "f.yaml has 2 problem(s); nothing was changed:\n"
        '  - keys[0].rotate_every: "x" is not a duration; use 30d, 12h, 90m, 2w or never\n'
        '  - keys[1].strategy: "y" is not one of dual-slot, in-place'
    )
    assert error.source == "f.yaml" and error.listed == error.problems


def test_all_problems_are_kept_and_the_message_lists_twenty() -> None:
    error = refused({"keys": [1] * 30})
    assert len(error.problems) == 30 and len(error.listed) == MAX_LISTED_PROBLEMS
    assert str(error).endswith("\n  ... and 10 more") and str(error).count("\n  - ") == MAX_LISTED_PROBLEMS


# -- safe, whoever builds a problem ---------------------------------------------------------------
def test_values_are_shown_short_and_escaped() -> None:
    (problem,) = refused({"keys": [key(name="chat\x1b[2Jbot")]}).problems
    assert problem.value == '"chat\\x1b[2Jbot"'
    (long,) = refused({"vault": {"role": "r" * 500, "auth": "jwt"}}).problems
    assert long.value == '"' + "r" * 56 + '..."'  # 61 characters, as the messages always showed


def test_a_problem_built_by_hand_is_made_safe() -> None:
    problem = ConfigProblem(("keys", 0, "na\x1bme\n" + "x" * 500), "fix\x9b it", "v\u202e" * 1000)
    assert "\x1b" not in problem.path and "\n" not in problem.path and len(problem.path) == 200
    assert problem.fix == "fix\\x9b it"
    assert problem.value is not None and len(problem.value) == 360 and "\u202e" not in problem.value
    assert "\n" not in str(problem)


def test_shown_value_bounds_any_value() -> None:
    huge = [{"x": ["y" * 1000] * 1000}] * 50
    assert len(shown_value(huge)) <= 61 and shown_value("a\nb") == '"a\\x0ab"' and shown_value(None) == "None"


def test_found_renders_the_value() -> None:
    assert ConfigProblem.found(("vault", "addr"), "ftp://x", "is bad") == ConfigProblem(
        ("vault", "addr"), "is bad", '"ftp://x"'
    )


# -- one problem, or none about a field -----------------------------------------------------------
def test_a_sentence_is_one_problem_with_an_empty_path() -> None:
    error = ConfigurationError("stack config x.yaml does not exist; pass --stack NAME")
    assert triples(error) == [("", None, "stack config x.yaml does not exist; pass --stack NAME")]
    assert str(error) == "stack config x.yaml does not exist; pass --stack NAME"


def test_a_single_problem_is_its_own_message() -> None:
    problem = ConfigProblem.found(("vault", "mount"), "../x", "is not a Vault path")
    error = ConfigurationError(problem)
    assert error.problems == (problem,) and str(error) == 'vault.mount: "../x" is not a Vault path'


def test_several_problems_without_a_source_name_the_settings() -> None:
    error = ConfigurationError([ConfigProblem(("a",), "is wrong"), ConfigProblem(("b",), "too")])
    assert str(error) == "the settings has 2 problem(s); nothing was changed:\n  - a: is wrong\n  - b: too"


def test_an_error_needs_a_problem() -> None:
    with pytest.raises(ValueError, match="at least one problem"):
        ConfigurationError([])


def test_problems_survive_pickling_and_context() -> None:
    error = refused({"keys": [key(rotate_every="x")]}).add_context("nothing was written")
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own bytes
    assert copy.problems == error.problems and str(copy) == str(error)


# -- the provider's check failures ------------------------------------------------------------------
def failures(error: ConfigurationError) -> list[tuple[str, str]]:
    return [(f.property, f.reason) for f in _failures(error)]


def test_a_keys_field_is_the_failing_input() -> None:
    error = refused({"keys": [key(rotate_every="30x", adopt={"uuids": ["a", 1.5, True]})]})
    assert failures(error) == [
        ("rotate_every", 'keys[0].rotate_every: "30x" is not a duration; use 30d, 12h, 90m, 2w or never'),
        ("adopt", "keys[0].adopt.uuids: True must be a non-empty string"),
    ]


def test_other_problems_name_their_group_or_the_resource() -> None:
    error = ConfigurationError(
        [
            ConfigProblem.found(("vault", "addr"), "ftp://x", "is not a base URL"),
            ConfigProblem(("keys", 0), "is claimed twice"),
            ConfigProblem(("keys",), "must be a list"),
            ConfigProblem((), "the inputs declare no key"),
        ],
        source="ModelAccessKey inputs",
    )
    assert [prop for prop, _reason in failures(error)] == ["vault", "", "", ""]
    assert [reason for _prop, reason in failures(error)] == [str(p) for p in error.problems]


def test_a_field_name_with_dots_or_colons_is_not_split() -> None:
    error = ConfigurationError(ConfigProblem(("keys", 0, "a.b: c"), "is not a known field"))
    assert failures(error) == [("a.b: c", "keys[0].a.b: c: is not a known field")]


def test_failures_are_bounded_like_the_message() -> None:
    error = ConfigurationError([ConfigProblem(("keys", 0, f"f{i}"), "is unknown") for i in range(25)])
    listed = failures(error)
    assert len(listed) == MAX_LISTED_PROBLEMS + 1 and listed[-1] == ("", "... and 5 more")


def test_a_message_that_looks_like_a_listing_is_not_reparsed() -> None:
    error = ConfigurationError("x has 1 problem(s):\n  - keys[0].name: is required")
    assert failures(error) == [("", "x has 1 problem(s):\n  - keys[0].name: is required")]


# -- empty fields never drop a key silently ---------------------------------------------------------
@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"keys": [key(name=None)]}, "keys[0].name"),
        ({"keys": [key(vault_path=None)]}, "keys[0].vault_path"),
        ({"keys": [key(adopt={"uuid": None})]}, "keys[0].adopt.uuid"),
        ({"keys": [key(strategy="in-place", adopt={"names": [None]})]}, "keys[0].adopt.names"),
    ],
    ids=["name", "vault-path", "adopt-uuid", "adopt-names"],
)
def test_an_empty_required_field_is_a_problem(values: dict[str, Any], path: str) -> None:
    assert [p.path for p in refused(values).problems] == [path]


@pytest.mark.parametrize(
    "field", ["strategy", "rotate_every", "on_delete", "rotation_token", "adopt", "consumer_pickup"]
)
def test_an_empty_optional_field_takes_the_default(field: str) -> None:
    defaults = {"strategy": "in-place", "rotate_every": "7d", "on_delete": "keep", "consumer_pickup": "2h"}
    settings = parse_settings({"defaults": defaults, "keys": [key(**{field: None})]}, "t")
    spec = settings.keys[0]
    assert (spec.strategy, spec.rotate_every, spec.on_delete, spec.rotation_token, spec.consumer_pickup) == (
        "in-place",
        "7d",
        "keep",
        None,
        "2h",
    )


def test_an_empty_default_is_the_built_in_one() -> None:
    defaults = {"strategy": None, "rotate_every": None, "on_delete": None, "consumer_pickup": None}
    (spec,) = parse_settings({"defaults": defaults, "keys": [key()]}, "t").keys
    assert (spec.strategy, spec.rotate_every, spec.on_delete, spec.consumer_pickup) == (
        "dual-slot",
        "30d",
        "soft-delete",
        "5m",
    )


# -- strategy and on_delete are enums ---------------------------------------------------------------
def test_the_enums_are_the_documented_strings() -> None:
    assert STRATEGIES == ("dual-slot", "in-place") and tuple(Strategy) == STRATEGIES
    assert tuple(OnDelete) == DELETE_MODES  # the modes the Vault sink applies


def test_a_parsed_key_holds_enums_equal_to_the_strings() -> None:
    (spec,) = parse_settings({"keys": [key(strategy="in-place", on_delete="destroy")]}, "t").keys
    assert (
        spec.strategy == "in-place"
        and f"{spec.on_delete}" == "destroy"
        and f"{spec.strategy!s}" == "in-place"
    )
    assert spec.strategy is Strategy.IN_PLACE and spec.on_delete is OnDelete.DESTROY


def test_a_key_built_in_code_may_pass_the_strings() -> None:
    spec = KeySpec("k", "apps/k", "in-place", on_delete="keep")
    assert spec.strategy is Strategy.IN_PLACE and spec.on_delete is OnDelete.KEEP
    # mypy types replace() by the field; at run time it calls KeySpec.__init__, which takes strings
    assert replace(spec, strategy="dual-slot").strategy is Strategy.DUAL_SLOT  # type: ignore[arg-type]
    assert pickle.loads(pickle.dumps(spec)) == spec  # noqa: S301 - our own bytes
    assert spec == KeySpec("k", "apps/k", Strategy.IN_PLACE, on_delete="keep")


def test_a_key_built_in_code_with_a_wrong_string_is_refused() -> None:
    with pytest.raises(ValueError, match="blue"):
        KeySpec("k", "apps/k", "blue")
    with pytest.raises(ValueError, match="shred"):
        KeySpec("k", "apps/k", on_delete="shred")


def test_slot_names_take_the_enum_or_the_string() -> None:
    assert slot_names("k", Strategy.IN_PLACE) == slot_names("k", "in-place") == ("k",)


def test_a_bug_in_our_own_loading_code_is_not_reported_as_a_bad_stack_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only PyYAML failing to build a value is the file's fault; the same exception raised by
    gradient-keys' own code is a bug and surfaces as itself."""
    import components.config as config_module

    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text("config:\n  gradient-keys:keys: []\n")

    def broken(*_args: object) -> int:
        raise TypeError("a bug in the alias counter")

    monkeypatch.setattr(config_module, "_expanded_size", broken)
    with pytest.raises(TypeError, match="alias counter"):
        config_module.load_stack_file(stack)


def test_a_value_yaml_cannot_build_is_the_files_fault(tmp_path: Path) -> None:
    stack = tmp_path / "Pulumi.dev.yaml"
    stack.write_text(
        "config:\n  gradient-keys:keys: [{name: a, vault_path: apps/a, rotation_token: 2026-02-30}]\n"
    )
    with pytest.raises(ConfigurationError, match="has a value YAML cannot build"):
        load_stack_file(stack)
    stack.write_bytes(b"config:\n  gradient-keys:keys: \xff\xfe\n")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        load_stack_file(stack)
