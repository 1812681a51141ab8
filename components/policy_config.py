"""The stack's policies (`gradient-keys:policies`), validated: rules every declared key must meet,
each in `warn` or `fail` mode (docs/policies.md). Evaluated by components/policy.py.

    gradient-keys:policies:
      max_key_age: {max: 90d, mode: fail}
      key_name: {pattern: '^[a-z0-9-]+-(dev|prod)(-slot-[ab])?$', mode: warn}
      owner: {mode: fail}
      rotate_every: {min: 1d, max: 30d, mode: warn}
      in_place: {mode: fail}
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Any

from components.config_fields import Errors, Where, duration, given, mapping, parse_duration, text_field

__all__ = ["POLICY_FIELDS", "Mode", "Policies", "Rule", "parse_policies"]


class Mode(enum.StrEnum):
    """What a broken rule does: `warn` reports it, `fail` stops `pulumi preview`/`up` at check time
    (and is a high finding in the audit)."""

    WARN = "warn"
    FAIL = "fail"


class Rule(enum.StrEnum):
    """The rules; each is a field of `gradient-keys:policies` and names its audit finding."""

    MAX_KEY_AGE = "max_key_age"
    KEY_NAME = "key_name"
    OWNER = "owner"
    ROTATE_EVERY = "rotate_every"
    IN_PLACE = "in_place"

    @property
    def finding(self) -> str:
        return "policy-" + self.value.replace("_", "-")


# Policies are meant to be enforced: a rule written without a mode fails.
DEFAULT_MODE = Mode.FAIL
MAX_PATTERN = 256
POLICY_FIELDS = {rule.value for rule in Rule}
_RULE_FIELDS: dict[Rule, set[str]] = {
    Rule.MAX_KEY_AGE: {"max", "mode"},
    Rule.KEY_NAME: {"pattern", "mode"},
    Rule.OWNER: {"mode"},
    Rule.ROTATE_EVERY: {"min", "max", "mode"},
    Rule.IN_PLACE: {"mode"},
}


@dataclass(frozen=True)
class AgeRule:
    """No key's current secret older than `max` (a duration as written, e.g. 90d)."""

    max: str
    mode: Mode

    @property
    def max_seconds(self) -> int:
        seconds = parse_duration(self.max)
        assert seconds is not None  # validated: never is refused
        return seconds


@dataclass(frozen=True)
class NameRule:
    """Every DigitalOcean key name a declared key owns matches `pattern` (whole name)."""

    pattern: str
    mode: Mode

    def matches(self, name: str) -> bool:
        return re.fullmatch(self.pattern, name) is not None


@dataclass(frozen=True)
class RangeRule:
    """`rotate_every` between `min` and `max` (either may be absent; `never` exceeds any max)."""

    mode: Mode
    min: str | None = None
    max: str | None = None


@dataclass(frozen=True)
class ModeRule:
    """A rule with nothing to set but its mode (owner required, in-place keys forbidden)."""

    mode: Mode


@dataclass(frozen=True)
class Policies:
    """The stack's rules; None where the stack sets none."""

    max_key_age: AgeRule | None = None
    key_name: NameRule | None = None
    owner: ModeRule | None = None
    rotate_every: RangeRule | None = None
    in_place: ModeRule | None = None

    def as_inputs(self) -> dict[str, dict[str, str]]:
        """As written in the stack config (the provider's `policies` input): plain values only."""
        values: dict[str, dict[str, str]] = {}
        for rule in Rule:
            setting = getattr(self, rule.value)
            if setting is not None:
                values[rule.value] = {k: str(v) for k, v in vars(setting).items() if v is not None}
        return values


def parse_policies(raw: Any, errors: Errors) -> Policies:
    where: Where = ("policies",)
    values = given(mapping(raw, where, POLICY_FIELDS, errors))
    rules = {
        rule: given(mapping(values[rule.value], (*where, rule.value), _RULE_FIELDS[rule], errors))
        for rule in Rule
        if rule.value in values
    }
    modes = {
        rule: _mode(fields.get("mode"), (*where, rule.value, "mode"), errors)
        for rule, fields in rules.items()
    }
    policies = Policies(
        max_key_age=_age(rules, modes, errors),
        key_name=_name_rule(rules, modes, errors),
        owner=ModeRule(modes[Rule.OWNER]) if Rule.OWNER in rules else None,
        rotate_every=_range(rules, modes, errors),
        in_place=ModeRule(modes[Rule.IN_PLACE]) if Rule.IN_PLACE in rules else None,
    )
    return policies


def _mode(value: Any, where: Where, errors: Errors) -> Mode:
    text = text_field(value, where, errors, choices=tuple(Mode))
    return Mode(text) if text else DEFAULT_MODE


def _age(rules: dict[Rule, dict[str, Any]], modes: dict[Rule, Mode], errors: Errors) -> AgeRule | None:
    if Rule.MAX_KEY_AGE not in rules:
        return None
    where: Where = ("policies", Rule.MAX_KEY_AGE.value, "max")
    limit = _limit(rules[Rule.MAX_KEY_AGE].get("max"), where, errors, required=True)
    return AgeRule(limit, modes[Rule.MAX_KEY_AGE]) if limit else None


def _name_rule(rules: dict[Rule, dict[str, Any]], modes: dict[Rule, Mode], errors: Errors) -> NameRule | None:
    if Rule.KEY_NAME not in rules:
        return None
    where: Where = ("policies", Rule.KEY_NAME.value, "pattern")
    value = rules[Rule.KEY_NAME].get("pattern")
    if value is None:
        errors.at(
            where,
            "is required: a regular expression every DigitalOcean key name must match, e.g. '^[a-z0-9-]+$'",
        )
        return None
    pattern = text_field(value, where, errors, max_len=MAX_PATTERN)
    if pattern is None:
        return None
    try:
        re.compile(pattern)
    except re.error as exc:
        errors.add(where, pattern, f"is not a regular expression ({exc}); write one like '^[a-z0-9-]+$'")
        return None
    return NameRule(pattern, modes[Rule.KEY_NAME])


def _range(rules: dict[Rule, dict[str, Any]], modes: dict[Rule, Mode], errors: Errors) -> RangeRule | None:
    if Rule.ROTATE_EVERY not in rules:
        return None
    where: Where = ("policies", Rule.ROTATE_EVERY.value)
    fields = rules[Rule.ROTATE_EVERY]
    low = _limit(fields.get("min"), (*where, "min"), errors)
    high = _limit(fields.get("max"), (*where, "max"), errors)
    if "min" not in fields and "max" not in fields:
        errors.at(where, "sets neither min nor max; write at least one, e.g. {min: 1d, max: 30d}")
        return None
    if low and high and (parse_duration(low) or 0) > (parse_duration(high) or 0):
        errors.add((*where, "min"), low, f"is longer than max ({high}); no rotate_every could meet both")
        return None
    return RangeRule(modes[Rule.ROTATE_EVERY], low, high)


def _limit(value: Any, where: Where, errors: Errors, *, required: bool = False) -> str | None:
    """A duration limit: never is no limit (leave the field out instead)."""
    if value is None:
        if required:
            errors.at(where, "is required: a duration like 90d, 12w or 720h")
        return None
    text = duration(value, where, errors, examples="90d, 12w, 720h or 30m")
    if text == "never":
        errors.add(where, text, "cannot be never; write a duration like 90d, or remove the rule")
        return None
    return text
