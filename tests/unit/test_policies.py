"""`gradient-keys:policies`: validation of the block, and each rule's verdict in both modes
(components/policy.py, the one evaluation the provider's check and the audit share)."""

from __future__ import annotations

import datetime
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.config import KeySpec, parse_settings, stack_values
from components.errors import ConfigurationError
from components.policy import Violation, age_violation, declaration_violations
from components.policy_config import Mode, Policies, Rule
from tests.unit.test_stack_file_schema import schema_errors

REPO = Path(__file__).resolve().parents[2]
NOW = datetime.datetime(2026, 11, 26, 12, 0, tzinfo=datetime.UTC)


def settings(policies: Any, **key: Any) -> tuple[KeySpec, Policies]:
    parsed = parse_settings(
        {"keys": [{"name": "chatbot-prod", "vault_path": "apps/chatbot", **key}], "policies": policies},
        "test",
    )
    return parsed.keys[0], parsed.policies


def problems(policies: Any, **key: Any) -> list[str]:
    with pytest.raises(ConfigurationError) as caught:
        settings(policies, **key)
    return [str(p) for p in caught.value.problems]


def verdicts(policies: Any, **key: Any) -> list[tuple[Rule, Mode, str]]:
    spec, parsed = settings(policies, **key)
    return [(v.rule, v.mode, v.field) for v in declaration_violations(spec, parsed)]


# -- the block ------------------------------------------------------------------------------------
def test_no_policies_no_rules() -> None:
    spec, parsed = settings(None)
    assert parsed == Policies() and declaration_violations(spec, parsed) == []


def test_a_rule_without_mode_fails() -> None:
    _spec, parsed = settings({"owner": {}, "in_place": None, "max_key_age": {"max": "90d"}})
    assert parsed.owner is not None and parsed.owner.mode is Mode.FAIL
    assert parsed.max_key_age is not None and parsed.max_key_age.mode is Mode.FAIL
    assert parsed.in_place is None  # an empty field is no rule


@pytest.mark.parametrize(
    ("policies", "expected"),
    [
        ({"owner": {"mode": "strict"}}, 'policies.owner.mode: "strict" is not one of warn, fail'),
        ({"max_key_age": {}}, "policies.max_key_age.max: is required: a duration like 90d, 12w or 720h"),
        (
            {"max_key_age": {"max": "never"}},
            'policies.max_key_age.max: "never" cannot be never; write a duration like 90d, '
            "or remove the rule",
        ),
        (
            {"max_key_age": {"max": "3 months"}},
            'policies.max_key_age.max: "3 months" is not a duration; use 90d, 12w, 720h or 30m',
        ),
        (
            {"key_name": {"mode": "warn"}},
            "policies.key_name.pattern: is required: a regular expression every DigitalOcean key name must "
            "match, e.g. '^[a-z0-9-]+$'",
        ),
        (
            {"rotate_every": {"mode": "warn"}},
            "policies.rotate_every: sets neither min nor max; write at least one, e.g. {min: 1d, max: 30d}",
        ),
        (
            {"rotate_every": {"min": "30d", "max": "7d"}},
            'policies.rotate_every.min: "30d" is longer than max (7d); no rotate_every could meet both',
        ),
        (
            {"owners": {"mode": "warn"}},
            "policies.owners: is not a known field; use one of in_place, key_name, max_key_age, owner, "
            "rotate_every",
        ),
        (
            {"in_place": {"mode": "warn", "allow": True}},
            "policies.in_place.allow: is not a known field; use one of mode",
        ),
        ({"owner": "fail"}, 'policies.owner: "fail" must be a mapping with fields mode'),
    ],
    ids=[
        "mode",
        "age-missing",
        "age-never",
        "age-bad",
        "pattern-missing",
        "range-empty",
        "range-inverted",
        "unknown-rule",
        "unknown-field",
        "not-a-mapping",
    ],
)
def test_bad_policies_are_named_with_their_fix(policies: dict[str, Any], expected: str) -> None:
    assert problems(policies) == [expected]


def test_a_pattern_that_does_not_compile_is_refused() -> None:
    (problem,) = problems({"key_name": {"pattern": "^(unclosed"}})
    assert problem.startswith('policies.key_name.pattern: "^(unclosed" is not a regular expression (')
    assert problem.endswith("); write one like '^[a-z0-9-]+$'")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (
            {"allow_in_place": "yes", "strategy": "in-place"},
            'keys[0].allow_in_place: "yes" must be true or false',
        ),
        (
            {"allow_in_place": True},
            "keys[0].allow_in_place: only applies to strategy: in-place; remove it from this dual-slot key",
        ),
        ({"owner": ""}, 'keys[0].owner: "" must be a non-empty string'),
    ],
    ids=["not-bool", "dual-slot", "empty-owner"],
)
def test_bad_key_fields_are_named(key: dict[str, Any], expected: str) -> None:
    assert problems(None, **key) == [expected]


def test_owner_comes_from_defaults_unless_the_key_says() -> None:
    parsed = parse_settings(
        {
            "defaults": {"owner": "platform"},
            "keys": [
                {"name": "a", "vault_path": "apps/a"},
                {"name": "b", "vault_path": "apps/b", "owner": "search-team"},
            ],
        },
        "test",
    )
    assert [k.owner for k in parsed.keys] == ["platform", "search-team"]


def test_policies_survive_the_provider_inputs() -> None:
    """The provider rebuilds the rules from its `policies` input: the same rules, and the same
    verdicts, as the stack config gave the program."""
    rules = {
        "max_key_age": {"max": "90d", "mode": "warn"},
        "key_name": {"pattern": "^[a-z-]+$"},
        "owner": {"mode": "warn"},
        "rotate_every": {"min": "1d", "max": "30d", "mode": "fail"},
        "in_place": {"mode": "warn"},
    }
    _spec, parsed = settings(rules)
    _spec, again = settings(parsed.as_inputs())
    assert again == parsed


# -- each rule, in both modes ---------------------------------------------------------------------
@pytest.mark.parametrize("mode", list(Mode))
def test_key_name_rule(mode: Mode) -> None:
    rule = {"key_name": {"pattern": "^[a-z]+-prod(-slot-[ab])?$", "mode": mode}}
    assert verdicts(rule) == []
    assert verdicts(rule, name="chatbot-dev") == [(Rule.KEY_NAME, mode, "name")]
    spec, parsed = settings(rule, name="Chatbot-prod")
    (violation,) = declaration_violations(spec, parsed)
    assert violation.message == (
        "DigitalOcean key name 'Chatbot-prod-slot-a', 'Chatbot-prod-slot-b' do not match key_name "
        "'^[a-z]+-prod(-slot-[ab])?$'"
    )


def test_key_name_rule_reads_the_names_the_strategy_gives() -> None:
    """An in-place key owns one DigitalOcean key, named as declared; a dual-slot key two."""
    rule = {"key_name": {"pattern": "^[a-z-]+-slot-[ab]$"}}
    assert verdicts(rule) == []
    assert verdicts(rule, strategy="in-place", allow_in_place=True) == [(Rule.KEY_NAME, Mode.FAIL, "name")]


@pytest.mark.parametrize("mode", list(Mode))
def test_owner_rule(mode: Mode) -> None:
    rule = {"owner": {"mode": mode}}
    assert verdicts(rule, owner="chat-team") == []
    assert verdicts(rule) == [(Rule.OWNER, mode, "owner")]


@pytest.mark.parametrize("mode", list(Mode))
def test_rotate_every_rule(mode: Mode) -> None:
    rule = {"rotate_every": {"min": "1d", "max": "30d", "mode": mode}}
    assert verdicts(rule, rotate_every="1d") == verdicts(rule, rotate_every="30d") == []
    assert verdicts(rule, rotate_every="23h") == [(Rule.ROTATE_EVERY, mode, "rotate_every")]
    assert verdicts(rule, rotate_every="31d") == [(Rule.ROTATE_EVERY, mode, "rotate_every")]
    assert verdicts(rule, rotate_every="never") == [(Rule.ROTATE_EVERY, mode, "rotate_every")]
    only_min = {"rotate_every": {"min": "1d", "mode": mode}}
    assert verdicts(only_min, rotate_every="never") == []


@pytest.mark.parametrize("mode", list(Mode))
def test_in_place_rule(mode: Mode) -> None:
    rule = {"in_place": {"mode": mode}}
    assert verdicts(rule) == []
    assert verdicts(rule, strategy="in-place") == [(Rule.IN_PLACE, mode, "strategy")]
    assert verdicts(rule, strategy="in-place", allow_in_place=True) == []


@pytest.mark.parametrize("mode", list(Mode))
def test_max_key_age_rule_on_the_schedule(mode: Mode) -> None:
    """A schedule that lets the key grow older than the limit is reported before it does."""
    rule = {"max_key_age": {"max": "30d", "mode": mode}}
    assert verdicts(rule, rotate_every="30d") == []
    assert verdicts(rule, rotate_every="31d") == [(Rule.MAX_KEY_AGE, mode, "rotate_every")]
    assert verdicts(rule, rotate_every="never") == [(Rule.MAX_KEY_AGE, mode, "rotate_every")]


@pytest.mark.parametrize("mode", list(Mode))
def test_max_key_age_rule_on_the_secret(mode: Mode) -> None:
    spec, parsed = settings({"max_key_age": {"max": "30d", "mode": mode}}, rotate_every="7d")
    assert age_violation(spec, parsed, "2026-10-27T12:00:00Z", NOW) is None  # exactly 30 days
    assert age_violation(spec, parsed, "", NOW) is None  # nothing stored yet: nothing is old
    old = age_violation(spec, parsed, "2026-10-27T11:59:59Z", NOW)
    assert isinstance(old, Violation) and (old.rule, old.mode, old.field) == (Rule.MAX_KEY_AGE, mode, "")
    assert old.message == (
        "key 'chatbot-prod' holds a secret minted 2026-10-27T11:59:59Z, 30 days ago: "
        "older than max_key_age 30d"
    )
    assert "gradient-keys rotate chatbot-prod" in old.fix
    unreadable = age_violation(spec, parsed, "last tuesday", NOW)
    assert unreadable is not None and "its age is unknown" in unreadable.message
    unruled, none = settings(None)
    assert age_violation(unruled, none, "2020-01-01T00:00:00Z", NOW) is None


def test_a_violation_reads_as_rule_mode_message_and_fix() -> None:
    spec, parsed = settings({"owner": {"mode": "warn"}})
    (violation,) = declaration_violations(spec, parsed)
    assert str(violation) == (
        "policy owner (warn): key 'chatbot-prod' names no owner; add owner: TEAM to the key (or to "
        "gradient-keys:defaults); it is written into the key's Vault metadata"
    )
    assert Rule.MAX_KEY_AGE.finding == "policy-max-key-age"


def test_the_documented_example_is_valid_and_every_key_meets_its_rules() -> None:
    doc = (REPO / "docs" / "policies.md").read_text()
    example = re.search(r"## A complete example\n\n```yaml\n(.*?)```", doc, re.S)
    assert example is not None
    assert schema_errors(example.group(1)) == []
    values = stack_values(yaml.safe_load(example.group(1))["config"], "docs/policies.md")
    parsed = parse_settings(values, "prod")
    assert [(k.name, k.owner) for k in parsed.keys] == [
        ("chatbot-prod", "chat-team"),
        ("batch-prod", "platform-team"),
    ]
    assert parsed.policies.in_place is not None and parsed.policies.rotate_every is not None
    assert parsed.policies.rotate_every.mode is Mode.WARN
    assert [v for spec in parsed.keys for v in declaration_violations(spec, parsed.policies)] == []
