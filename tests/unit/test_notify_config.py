"""The `gradient-keys:notifications` block (components/config.py) and the webhook URL rules
(components/webhook.py): what is accepted, what is refused with the field and the fix, and that a
webhook URL (a credential) is never echoed, wherever in the file or the environment it was put.
The stack-file JSON Schema agrees with config.py on the block."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs in the dev requirements
import pytest
import yaml

from components.config import (
    MAX_TARGETS,
    NOTIFY_FIELDS,
    URL_FROM_FIELDS,
    URL_VAULT_FIELDS,
    NotificationTarget,
    UrlFromEnv,
    UrlFromVault,
    load_stack_file,
    parse_settings,
)
from components.errors import ConfigurationError
from components.notify_payloads import Event, PayloadFormat
from components.webhook import WebhookUrl, WebhookUrlError, check_url

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "stack-file.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)
DEFS = SCHEMA["$defs"]
TOKEN = "XoXb4PLANTEDwebhookTOKEN9q"  # the secret part of a Slack webhook URL: its path
HOOK = f"https://hooks.slack.com/services/T0000/B0000/{TOKEN}"
KEYS = [{"name": "chatbot", "vault_path": "apps/chatbot"}]


def settings_of(notifications: Any) -> tuple[NotificationTarget, ...]:
    return parse_settings({"keys": KEYS, "notifications": notifications}, "prod").notifications


def problems_of(notifications: Any) -> ConfigurationError:
    with pytest.raises(ConfigurationError) as caught:
        settings_of(notifications)
    return caught.value


def test_targets_from_the_environment_and_from_vault_with_their_defaults() -> None:
    targets = settings_of(
        [
            {"name": "slack-ops", "format": "slack", "url_from": {"env": "GRADIENT_KEYS_SLACK_WEBHOOK"}},
            {
                "name": "pager",
                "url_from": {"vault": {"path": "/notifications/pager/"}},
                "events": ["overdue"],
            },
            {
                "name": "audit-log",
                "url_from": {"vault": {"path": "hooks/log", "field": "endpoint"}},
                "format": None,
            },
        ]
    )
    assert targets == (
        NotificationTarget(
            "slack-ops", PayloadFormat.SLACK, UrlFromEnv("GRADIENT_KEYS_SLACK_WEBHOOK"), tuple(Event)
        ),
        NotificationTarget(
            "pager", PayloadFormat.GENERIC, UrlFromVault("notifications/pager", "url"), (Event.OVERDUE,)
        ),
        NotificationTarget(
            "audit-log", PayloadFormat.GENERIC, UrlFromVault("hooks/log", "endpoint"), tuple(Event)
        ),
    )


@pytest.mark.parametrize("empty", [None, []], ids=["absent", "empty-list"])
def test_no_block_means_no_targets(empty: Any) -> None:
    assert settings_of(empty) == ()


def test_events_are_kept_in_one_order_whatever_the_file_says() -> None:
    (target,) = settings_of(
        [{"name": "a", "url_from": {"env": "X"}, "events": ["overdue", "emergency", "overdue"]}]
    )
    assert target.events == (Event.EMERGENCY, Event.OVERDUE)


def test_a_literal_url_is_refused_naming_the_field_and_where_it_belongs() -> None:
    error = problems_of([{"name": "slack", "format": "slack", "url": HOOK, "url_from": {"env": "X"}}])
    assert [p.path for p in error.problems] == ["notifications[0].url"]
    message = str(error)
    assert "webhook URL is a credential" in message and "url_from: {env:" in message
    assert "url_from: {vault:" in message and TOKEN not in message and "hooks.slack.com" not in message


# A webhook URL pasted into every wrong place: each is refused, and no message shows it.
MISPLACED = {
    "block-is-the-url": HOOK,
    "target-is-the-url": [HOOK],
    "url-field-only": [{"name": "a", "url": HOOK}],
    "webhook-url-field": [{"name": "a", "webhook_url": HOOK, "url_from": {"env": "X"}}],
    "name": [{"name": HOOK, "url_from": {"env": "X"}}],
    "format": [{"name": "a", "format": HOOK, "url_from": {"env": "X"}}],
    "url-from": [{"name": "a", "url_from": HOOK}],
    "env": [{"name": "a", "url_from": {"env": HOOK}}],
    "env-field-name": [{"name": "a", "url_from": {HOOK: "X"}}],
    "vault": [{"name": "a", "url_from": {"vault": HOOK}}],
    "vault-path": [{"name": "a", "url_from": {"vault": {"path": HOOK}}}],
    "vault-field": [{"name": "a", "url_from": {"vault": {"path": "n/s", "field": HOOK}}}],
    "events": [{"name": "a", "url_from": {"env": "X"}, "events": [HOOK]}],
    "events-not-a-list": [{"name": "a", "url_from": {"env": "X"}, "events": HOOK}],
}


@pytest.mark.parametrize("notifications", MISPLACED.values(), ids=MISPLACED.keys())
def test_a_url_in_the_wrong_place_is_refused_and_never_shown(notifications: Any) -> None:
    error = problems_of(notifications)
    shown = "\n".join([str(error), *(f"{p.path} {p.value} {p.fix}" for p in error.problems)])
    assert TOKEN not in shown and "hooks.slack.com" not in shown
    assert all(p.path.startswith("notifications") for p in error.problems)


BAD = {
    "not-a-mapping": ([7], "notifications[0]", "must be a mapping"),
    "no-name": ([{"url_from": {"env": "X"}}], "notifications[0].name", "is required"),
    "bad-name": (
        [{"name": "slack ops", "url_from": {"env": "X"}}],
        "notifications[0].name",
        "letters, digits",
    ),
    "unknown-format": (
        [{"name": "a", "format": "teams", "url_from": {"env": "X"}}],
        "notifications[0].format",
        "generic, slack",
    ),
    "no-url-from": ([{"name": "a"}], "notifications[0].url_from", "is required"),
    "both-sources": (
        [{"name": "a", "url_from": {"env": "X", "vault": {"path": "p"}}}],
        "notifications[0].url_from",
        "exactly one",
    ),
    "bad-variable": (
        [{"name": "a", "url_from": {"env": "1X"}}],
        "notifications[0].url_from.env",
        "environment variable",
    ),
    "unknown-source": (
        [{"name": "a", "url_from": {"file": "/etc/x"}}],
        "notifications[0].url_from.file",
        "not a known field",
    ),
    "vault-no-path": (
        [{"name": "a", "url_from": {"vault": {"field": "url"}}}],
        "notifications[0].url_from.vault.path",
        "Vault path",
    ),
    "vault-dot-dot": (
        [{"name": "a", "url_from": {"vault": {"path": "../x"}}}],
        "notifications[0].url_from.vault.path",
        "Vault path",
    ),
    "vault-key-path": (
        [{"name": "a", "url_from": {"vault": {"path": "apps/chatbot", "field": "api_key"}}}],
        "notifications[0].url_from.vault.path",
        "holds that key's secret",
    ),
    "secure-url-from": (
        [{"name": "a", "url_from": {"env": {"secure": "v1:abc"}}}],
        "notifications[0].url_from.env",
        "`secure:`",
    ),
    "no-events": (
        [{"name": "a", "url_from": {"env": "X"}, "events": []}],
        "notifications[0].events",
        "one or more",
    ),
    "unknown-event": (
        [{"name": "a", "url_from": {"env": "X"}, "events": ["rotated"]}],
        "notifications[0].events[0]",
        "not an event",
    ),
    "same-name": (
        [{"name": "a", "url_from": {"env": "X"}}, {"name": "a", "url_from": {"env": "Y"}}],
        "notifications[1].name",
        "unique",
    ),
    "too-many": (
        [{"name": f"t{i}", "url_from": {"env": "X"}} for i in range(MAX_TARGETS + 1)],
        "notifications",
        "at most",
    ),
}


@pytest.mark.parametrize(("notifications", "path", "fix"), BAD.values(), ids=BAD.keys())
def test_each_problem_names_its_field_and_the_fix(notifications: Any, path: str, fix: str) -> None:
    error = problems_of(notifications)
    assert [p.path for p in error.problems] == [path]
    assert fix in error.problems[0].fix


# -- the JSON Schema agrees ------------------------------------------------------------------------------
def stack_text(notifications: Any) -> str:
    return yaml.safe_dump(
        {"config": {"gradient-keys:keys": KEYS, "gradient-keys:notifications": notifications}}
    )


def schema_errors(text: str) -> list[str]:
    return [
        e.message for e in VALIDATOR.iter_errors(json.loads(json.dumps(yaml.safe_load(text), default=str)))
    ]


GOOD = {
    "env": [{"name": "slack-ops", "format": "slack", "url_from": {"env": "GRADIENT_KEYS_SLACK_WEBHOOK"}}],
    "vault": [
        {
            "name": "pager",
            "url_from": {"vault": {"path": "notifications/pager", "field": None}},
            "events": ["overdue"],
        }
    ],
    "nulls": [{"name": "a", "format": None, "events": None, "url_from": {"env": "X", "vault": None}}],
    "none": None,
}


@pytest.mark.parametrize("notifications", GOOD.values(), ids=GOOD.keys())
def test_a_block_gradient_keys_accepts_the_schema_accepts(tmp_path: Path, notifications: Any) -> None:
    path = tmp_path / "Pulumi.ok.yaml"
    path.write_text(stack_text(notifications))
    load_stack_file(path)
    assert schema_errors(path.read_text()) == []


SCHEMA_BAD = {**{k: v[0] for k, v in BAD.items() if k not in ("vault-key-path", "same-name")}, **MISPLACED}


@pytest.mark.parametrize("notifications", SCHEMA_BAD.values(), ids=SCHEMA_BAD.keys())
def test_a_block_gradient_keys_refuses_the_schema_refuses(tmp_path: Path, notifications: Any) -> None:
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text(stack_text(notifications))
    with pytest.raises(ConfigurationError):
        load_stack_file(path)
    assert schema_errors(path.read_text()), "the schema accepts it"


def test_the_schema_s_notification_fields_are_config_py_s() -> None:
    for definition, fields in (
        ("notificationTarget", NOTIFY_FIELDS),
        ("urlFrom", URL_FROM_FIELDS),
        ("urlFromVault", URL_VAULT_FIELDS),
    ):
        assert (
            set(DEFS[definition]["properties"]) == fields
            and DEFS[definition]["additionalProperties"] is False
        )
    events = DEFS["notificationTarget"]["properties"]["events"]["anyOf"][1]["items"]["enum"]
    assert events == list(Event)
    assert DEFS["notificationTarget"]["properties"]["format"]["enum"] == [None, *PayloadFormat]
    assert DEFS["notifications"]["maxItems"] == MAX_TARGETS


# -- the URL rules ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "url",
    [HOOK, "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]:9/x", "https://example.com"],
    ids=["https", "loopback", "localhost", "ipv6-loopback", "no-path"],
)
def test_urls_that_may_receive_notifications(url: str) -> None:
    checked = check_url(url, {})
    assert isinstance(checked, WebhookUrl) and checked.parts.geturl() == url


REFUSED = {
    "plain-http": (f"http://hooks.example.com/{TOKEN}", "plain http"),
    "userinfo": (f"https://user:{TOKEN}@hooks.example.com/x", "user or password"),
    "ftp": (f"ftp://hooks.example.com/{TOKEN}", "not an http(s) URL"),
    "no-host": (f"https:///{TOKEN}", "not an http(s) URL"),
    "bad-port": (f"https://hooks.example.com:99999/{TOKEN}", "not a valid URL"),
    "space": (f"https://hooks.example.com/a b/{TOKEN}", "spaces"),
    "non-ascii": (f"https://hooks.example.com/é/{TOKEN}", "non-ASCII"),
    "not-a-url": (TOKEN, "not an http(s) URL"),
}


@pytest.mark.parametrize(("url", "why"), REFUSED.values(), ids=REFUSED.keys())
def test_urls_refused_say_why_without_showing_them(url: str, why: str) -> None:
    with pytest.raises(WebhookUrlError) as caught:
        check_url(url, {})
    assert (
        why in str(caught.value) and TOKEN not in str(caught.value) and "example.com" not in str(caught.value)
    )


def test_plain_http_elsewhere_only_with_the_operator_s_opt_in() -> None:
    url = f"http://hooks.example.com/{TOKEN}"
    assert check_url(url, {"GRADIENT_KEYS_ALLOW_INSECURE_HTTP": "1"}).parts.hostname == "hooks.example.com"
    with pytest.raises(WebhookUrlError):
        check_url(url, {"GRADIENT_KEYS_ALLOW_INSECURE_HTTP": "yes"})


def test_a_checked_url_is_never_shown() -> None:
    checked = check_url(HOOK, {})
    assert TOKEN not in f"{checked} {checked!r} {checked:>10}" and "redacted" in repr(checked)
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(checked)
