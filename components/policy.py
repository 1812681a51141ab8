"""The stack's policies, evaluated (docs/policies.md): the same verdicts for `pulumi preview`
(the provider's check: a failure in `fail` mode, a warning in `warn` mode) and for the audit (a
finding each). Pure: it reads the declaration and, for the age rule, when the key's current
secret was minted (the Vault ledger's `rotated_at`), and decides nothing from text.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from components.config import KeySpec, Strategy, parse_duration
from components.policy_config import Mode, Policies, Rule
from components.rotation import format_time, parse_time

__all__ = ["Violation", "age_violation", "declaration_violations"]


@dataclass(frozen=True)
class Violation:
    """One rule a key breaks: which, in which mode, the key's field it is about, and the fix."""

    rule: Rule
    mode: Mode
    key: str
    field: str  # the declared key's field: name, owner, rotate_every, strategy, or "" for its secret
    message: str
    fix: str

    def __str__(self) -> str:
        return f"policy {self.rule} ({self.mode}): {self.message}; {self.fix}"


def declaration_violations(spec: KeySpec, policies: Policies) -> list[Violation]:
    """What the declaration alone breaks, in rule order."""
    found: list[Violation] = []
    _name(spec, policies, found)
    _owner(spec, policies, found)
    _rotate_every(spec, policies, found)
    _age_schedule(spec, policies, found)
    _in_place(spec, policies, found)
    return found


def age_violation(
    spec: KeySpec, policies: Policies, rotated_at: str, now: datetime.datetime
) -> Violation | None:
    """Is the key's current secret (minted at `rotated_at`) older than `max_key_age` allows?"""
    rule = policies.max_key_age
    if rule is None or not rotated_at:
        return None
    fix = (
        f"rotate it now (`gradient-keys rotate {spec.name}`, or a new rotation_token and `pulumi up`), "
        f"and keep rotate_every at {rule.max} or less"
    )
    try:
        minted = parse_time(rotated_at)
    except ValueError:
        return Violation(
            Rule.MAX_KEY_AGE, rule.mode, spec.name, "", f"its age is unknown (rotated_at {rotated_at!r})", fix
        )
    age = now - minted
    if age <= datetime.timedelta(seconds=rule.max_seconds):
        return None
    message = (
        f"key {spec.name!r} holds a secret minted {format_time(minted)}, {_days(age)} ago: "
        f"older than max_key_age {rule.max}"
    )
    return Violation(Rule.MAX_KEY_AGE, rule.mode, spec.name, "", message, fix)


def _days(age: datetime.timedelta) -> str:
    if age >= datetime.timedelta(days=2):
        return f"{age.days} days"
    return f"{int(age.total_seconds() // 3600)} hours"


def _name(spec: KeySpec, policies: Policies, found: list[Violation]) -> None:
    rule = policies.key_name
    if rule is None:
        return
    bad = [name for name in spec.slot_names if not rule.matches(name)]
    if bad:
        names = ", ".join(repr(n) for n in bad)
        verb = "does" if len(bad) == 1 else "do"
        found.append(
            Violation(
                Rule.KEY_NAME,
                rule.mode,
                spec.name,
                "name",
                f"DigitalOcean key name {names} {verb} not match key_name {rule.pattern!r}",
                "rename the key (its name: field; `pulumi up` renames it at DigitalOcean) to one the "
                "pattern accepts",
            )
        )


def _owner(spec: KeySpec, policies: Policies, found: list[Violation]) -> None:
    rule = policies.owner
    if rule is not None and not spec.owner:
        found.append(
            Violation(
                Rule.OWNER,
                rule.mode,
                spec.name,
                "owner",
                f"key {spec.name!r} names no owner",
                "add owner: TEAM to the key (or to gradient-keys:defaults); it is written into the key's "
                "Vault metadata",
            )
        )


def _rotate_every(spec: KeySpec, policies: Policies, found: list[Violation]) -> None:
    rule = policies.rotate_every
    if rule is None:
        return
    period = spec.rotate_every_seconds
    if rule.min and period is not None and period < (parse_duration(rule.min) or 0):
        found.append(
            Violation(
                Rule.ROTATE_EVERY,
                rule.mode,
                spec.name,
                "rotate_every",
                f"rotate_every {spec.rotate_every} is shorter than the policy's min {rule.min}",
                f"set rotate_every to {rule.min} or more",
            )
        )
    if rule.max and (period is None or period > (parse_duration(rule.max) or 0)):
        found.append(
            Violation(
                Rule.ROTATE_EVERY,
                rule.mode,
                spec.name,
                "rotate_every",
                f"rotate_every {spec.rotate_every} is longer than the policy's max {rule.max}",
                f"set rotate_every to {rule.max} or less",
            )
        )


def _age_schedule(spec: KeySpec, policies: Policies, found: list[Violation]) -> None:
    """A schedule slower than max_key_age breaks the age rule as surely as an old key: said now,
    before the key is old."""
    rule = policies.max_key_age
    period = spec.rotate_every_seconds
    if rule is None or (period is not None and period <= rule.max_seconds):
        return
    found.append(
        Violation(
            Rule.MAX_KEY_AGE,
            rule.mode,
            spec.name,
            "rotate_every",
            f"rotate_every {spec.rotate_every} lets the key grow older than max_key_age {rule.max}",
            f"set rotate_every to {rule.max} or less",
        )
    )


def _in_place(spec: KeySpec, policies: Policies, found: list[Violation]) -> None:
    rule = policies.in_place
    if rule is None or spec.strategy is not Strategy.IN_PLACE or spec.allow_in_place:
        return
    found.append(
        Violation(
            Rule.IN_PLACE,
            rule.mode,
            spec.name,
            "strategy",
            f"key {spec.name!r} is in-place: each rotation kills the secret its consumers hold (an outage)",
            "use strategy: dual-slot (zero downtime), or write allow_in_place: true on this key to accept it",
        )
    )
