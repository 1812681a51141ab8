"""`consumer_pickup`: how long a key's consumers take to start using a new Vault version, per key
or from `defaults` (built in: 5m, Vault Agent's default re-render interval), and the audit's
`rotation-outpaces-consumers` finding when a key rotates faster than that."""

from __future__ import annotations

from typing import Any

import pytest

from components.audit import Finding, Severity, _check_pickup
from components.config import DEFAULT_CONSUMER_PICKUP, KeySpec, parse_settings
from components.errors import ConfigurationError


def key(**fields: Any) -> dict[str, Any]:
    return {"name": "chatbot", "vault_path": "apps/chatbot", **fields}


def pickup_of(values: dict[str, Any]) -> tuple[str, int]:
    (spec,) = parse_settings(values, "t").keys
    return spec.consumer_pickup, spec.consumer_pickup_seconds


# -- the stack config -------------------------------------------------------------------------------
def test_the_built_in_default_is_vault_agents_render_interval() -> None:
    assert DEFAULT_CONSUMER_PICKUP == "5m"
    assert pickup_of({"keys": [key()]}) == ("5m", 300)
    assert KeySpec("k", "apps/k").consumer_pickup == "5m"


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("1m", 60), ("5m", 300), ("15m", 900), ("2h", 7200), ("1d", 86400), ("2w", 1209600)],
)
def test_a_key_declares_its_own(written: str, seconds: int) -> None:
    assert pickup_of({"keys": [key(consumer_pickup=written)]}) == (written, seconds)


def test_the_stack_wide_default_applies_and_a_key_overrides_it() -> None:
    settings = parse_settings(
        {
            "defaults": {"consumer_pickup": "2h"},
            "keys": [key(), key(name="search", vault_path="apps/search", consumer_pickup="10m")],
        },
        "t",
    )
    assert [(s.name, s.consumer_pickup) for s in settings.keys] == [("chatbot", "2h"), ("search", "10m")]


def test_a_bad_default_is_reported_once_and_drops_no_key_silently() -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_settings({"defaults": {"consumer_pickup": "never"}, "keys": [key()]}, "t")
    assert [p.path for p in caught.value.problems] == ["defaults.consumer_pickup"]
    assert "cannot be never" in caught.value.problems[0].fix


@pytest.mark.parametrize("written", ["never", "0m", "5", "5 m", "5min", "-5m", 5, True, ""])
def test_anything_but_a_duration_is_refused_naming_the_field(written: object) -> None:
    with pytest.raises(ConfigurationError) as caught:
        parse_settings({"keys": [key(consumer_pickup=written)]}, "t")
    (problem,) = caught.value.problems
    assert problem.path == "keys[0].consumer_pickup"
    assert "5m" in problem.fix or "non-empty string" in problem.fix


def test_a_key_built_in_code_with_never_has_no_pickup_time() -> None:
    spec = KeySpec("k", "apps/k", consumer_pickup="never")
    with pytest.raises(ValueError, match="consumer_pickup of key 'k' cannot be never"):
        _ = spec.consumer_pickup_seconds


# -- the audit's rule -------------------------------------------------------------------------------
def found(spec: KeySpec) -> list[Finding]:
    findings: list[Finding] = []

    def add(finding_id: str, severity: Severity, message: str, fix: str) -> None:
        findings.append(Finding(finding_id, severity, spec.name, message, fix, spec.vault_path))

    _check_pickup(add, spec)
    return findings


def spec_of(strategy: str = "dual-slot", rotate_every: str = "30d", pickup: str = "5m") -> KeySpec:
    return KeySpec("chatbot", "apps/chatbot", strategy, rotate_every, consumer_pickup=pickup)


@pytest.mark.parametrize(
    ("rotate_every", "pickup", "reported"),
    [
        ("4m", "5m", True),
        ("5m", "5m", False),  # the previous secret lives exactly as long as consumers need
        ("6m", "5m", False),
        ("1h", "2h", True),
        ("119m", "2h", True),
        ("120m", "2h", False),
        ("1d", "1w", True),
        ("never", "2w", False),  # no scheduled rotation, nothing to outpace
    ],
    ids=["shorter", "equal", "longer", "hours", "a-minute-short", "same-in-minutes", "days", "never"],
)
@pytest.mark.parametrize("strategy", ["dual-slot", "in-place"])
def test_a_finding_exactly_when_rotate_every_is_shorter(
    strategy: str, rotate_every: str, pickup: str, *, reported: bool
) -> None:
    findings = found(spec_of(strategy, rotate_every, pickup))
    assert [(f.id, f.severity) for f in findings] == (
        [("rotation-outpaces-consumers", Severity.MEDIUM)] if reported else []
    )


def test_the_dual_slot_finding_names_the_key_both_durations_and_the_fix() -> None:
    (finding,) = found(spec_of("dual-slot", "1h", "2h"))
    assert finding.key == "chatbot" and finding.vault_path == "apps/chatbot"
    assert finding.message == (
        "key 'chatbot' rotates every 1h (rotate_every), but its consumers take up to 2h (consumer_pickup) "
        "to start using a new Vault version: the replaced secret dies at the next rotation, 1h later, "
        "while some consumers still use it"
    )
    assert finding.fix == (
        "lengthen rotate_every to 2h or more, or make the consumers pick up new versions sooner (e.g. a "
        "shorter Vault Agent static_secret_render_interval), then set consumer_pickup to match"
    )


def test_the_in_place_finding_says_any_pickup_time_is_an_outage() -> None:
    (finding,) = found(spec_of("in-place", "1h", "2h"))
    assert finding.message.startswith("key 'chatbot' rotates every 1h (rotate_every), but its consumers")
    assert "for an in-place key any pickup time is an outage" in finding.message
    assert "replaced secret" not in finding.message
    assert finding.fix.startswith("lengthen rotate_every well beyond 2h") and "consumer_pickup" in finding.fix
