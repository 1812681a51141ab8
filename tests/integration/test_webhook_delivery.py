"""Webhook delivery (components/webhook.py, components/notify.py) against a real local receiver:
what is retried and how often, what is not, the time a dead or hanging receiver costs, TLS, and
URLs read from the environment or from a real OpenBao. No error ever shows the URL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import hvac
import pytest

from components.config import NotificationTarget, UrlFromEnv, UrlFromVault
from components.notify import Notifier
from components.notify_payloads import Event, KeyNotice, KeyStatus, Notice, PayloadFormat, Source
from components.pacing import Backoff
from components.vault_sink import VaultSink
from components.webhook import DeliveryPolicy, WebhookResult, check_url, post_json
from sandbox.openbao import OpenBaoServer
from tests.integration.rotation_env import policy_only_token
from tests.integration.test_https import make_certificate
from tests.webhook_receiver import Receiver, Reply, dead_url

TOKEN = "T0KEN-in-the-path-7c1d"
PATH = f"/services/T000/B000/{TOKEN}"
DOCUMENT = {"schema": "test", "hello": "world"}
FAST = DeliveryPolicy(
    max_attempts=4, timeout_seconds=2.0, budget_seconds=10.0, backoff=Backoff(base=0.01, cap=0.01)
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def send(url: str, policy: DeliveryPolicy = FAST, environ: dict[str, str] | None = None) -> WebhookResult:
    result = post_json(check_url(url, environ or {}), DOCUMENT, environ=environ or {}, policy=policy)
    assert TOKEN not in str(result)  # no error, whatever it says, shows the URL
    return result


def test_delivered_as_json_on_the_first_answer(receiver: Receiver) -> None:
    result = send(receiver.url(PATH))
    assert result == WebhookResult(True, 1, 200, None)
    (request,) = receiver.received
    assert request.method == "POST" and request.path == PATH and request.json() == DOCUMENT
    assert request.headers["Content-Type"] == "application/json"


def test_5xx_and_429_are_retried_until_delivered(receiver: Receiver) -> None:
    receiver.script(Reply(500), Reply(503), Reply(429))
    result = send(receiver.url(PATH))
    assert result.delivered and result.attempts == 4 and len(receiver.received) == 4
    assert all(r.json() == DOCUMENT for r in receiver.received)


def test_retries_stop_at_the_attempt_limit(receiver: Receiver) -> None:
    receiver.default = Reply(500)
    result = send(receiver.url(PATH))
    assert not result.delivered and result.attempts == 4 == len(receiver.received)
    assert result.status == 500 and result.error == "answered HTTP 500 after 4 attempt(s)"


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410])
def test_a_4xx_is_not_retried(receiver: Receiver, status: int) -> None:
    receiver.default = Reply(status)
    result = send(receiver.url(PATH))
    assert not result.delivered and result.attempts == 1 == len(receiver.received)
    assert result.status == status and "refused" in (result.error or "")


def test_a_redirect_is_not_followed(receiver: Receiver) -> None:
    with Receiver() as elsewhere:
        receiver.default = Reply(307, {"Location": elsewhere.url("/stolen")})
        result = send(receiver.url(PATH))
        assert not result.delivered and result.attempts == 1 and "redirect" in (result.error or "")
        assert elsewhere.received == []


def test_retry_after_is_honoured_up_to_its_cap(receiver: Receiver) -> None:
    receiver.script(Reply(429, {"Retry-After": "1"}), Reply(503, {"Retry-After": "3600"}))
    waits: list[float] = []
    policy = DeliveryPolicy(max_attempts=4, budget_seconds=30.0, max_retry_after=2.5)
    result = post_json(
        check_url(receiver.url(PATH), {}), DOCUMENT, environ={}, policy=policy, sleep=waits.append
    )
    assert result.delivered and result.attempts == 3 and waits == [1.0, 2.5]


def test_a_dead_receiver_costs_the_attempts_and_says_no_answer() -> None:
    waits: list[float] = []
    policy = DeliveryPolicy(max_attempts=4, backoff=Backoff(base=0.5, cap=2.0))
    result = post_json(check_url(dead_url(PATH), {}), DOCUMENT, environ={}, policy=policy, sleep=waits.append)
    assert not result.delivered and result.attempts == 4 and result.status is None
    assert result.error == "no answer (ConnectionRefusedError) after 4 attempt(s)"
    assert len(waits) == 3 and all(0 <= w <= 2.0 for w in waits)


def test_a_hanging_receiver_is_bounded_by_the_timeout_and_the_budget(receiver: Receiver) -> None:
    receiver.default = Reply(200, delay=3.0)
    policy = DeliveryPolicy(
        max_attempts=100, timeout_seconds=0.3, budget_seconds=1.0, backoff=Backoff(0.05, 0.05)
    )
    started = time.monotonic()
    result = send(receiver.url(PATH), policy)
    elapsed = time.monotonic() - started
    assert not result.delivered and "timed out" in (result.error or "")
    assert elapsed < 1.0 + 0.3 + 0.5  # the budget, one more attempt's timeout, slack
    assert 2 <= result.attempts <= 5


def test_the_budget_bounds_retries_whatever_the_attempt_limit(receiver: Receiver) -> None:
    receiver.default = Reply(502)
    policy = DeliveryPolicy(max_attempts=1000, budget_seconds=0.6, backoff=Backoff(base=0.2, cap=0.2))
    started = time.monotonic()
    result = send(receiver.url(PATH), policy)
    assert not result.delivered and time.monotonic() - started < 1.5 and result.attempts < 10


def test_https_with_the_ca_bundle_the_environment_names(tmp_path: Path) -> None:
    cert, key = make_certificate(tmp_path)
    with Receiver(tls=(cert, key)) as tls_receiver:
        url = tls_receiver.url(PATH)
        assert url.startswith("https://")
        trusted = send(url, environ={"REQUESTS_CA_BUNDLE": str(cert)})
        assert trusted.delivered and tls_receiver.received[0].json() == DOCUMENT
        untrusted = send(url)
        assert (
            not untrusted.delivered and untrusted.attempts == 1 and "not trusted" in (untrusted.error or "")
        )
        unreadable = send(url, environ={"REQUESTS_CA_BUNDLE": str(tmp_path / "missing.pem")})
        assert (
            not unreadable.delivered and unreadable.attempts == 0 and "CA bundle" in (unreadable.error or "")
        )
        assert len(tls_receiver.received) == 1


# -- the notifier: targets, their URLs, their events ----------------------------------------------------
NOTICE = Notice(
    Event.ROTATION_SUCCEEDED,
    Source.ROTATE,
    "prod",
    "2026-11-26T03:17:09Z",
    "a" * 32,
    "run1",
    False,
    (KeyNotice("chatbot", "apps/chatbot", KeyStatus.ROTATED, "requested", "", "b", "0123456789ab", 2),),
)
OVERDUE = Notice(Event.OVERDUE, Source.AUDIT, "prod", "2026-11-26T03:17:09Z", "b" * 32, keys=NOTICE.keys)


def target(name: str, url_from: UrlFromEnv | UrlFromVault, *events: Event) -> NotificationTarget:
    return NotificationTarget(name, PayloadFormat.GENERIC, url_from, events or tuple(Event))


def test_each_target_gets_the_events_it_asked_for(receiver: Receiver) -> None:
    env = {"HOOK_A": receiver.url("/a"), "HOOK_B": receiver.url("/b")}
    notifier = Notifier(
        [target("a", UrlFromEnv("HOOK_A")), target("b", UrlFromEnv("HOOK_B"), Event.OVERDUE)],
        environ=env,
        policy=FAST,
    )
    deliveries = notifier.send([NOTICE, OVERDUE])
    assert [(d.target, d.event, d.delivered) for d in deliveries] == [
        ("a", "rotation_succeeded", True),
        ("a", "overdue", True),
        ("b", "overdue", True),
    ]
    assert [r.json()["event"] for r in receiver.to("/a")] == ["rotation_succeeded", "overdue"]
    assert [r.json()["event"] for r in receiver.to("/b")] == ["overdue"]


def test_a_target_without_a_usable_url_is_reported_not_tried(receiver: Receiver) -> None:
    env = {"PLAIN": f"http://hooks.example.com/{TOKEN}", "JUNK": TOKEN}
    notifier = Notifier(
        [
            target("unset", UrlFromEnv("NOT_SET")),
            target("plain", UrlFromEnv("PLAIN")),
            target("junk", UrlFromEnv("JUNK")),
        ],
        environ=env,
        policy=FAST,
    )
    deliveries = notifier.send([NOTICE])
    assert [(d.delivered, d.attempts) for d in deliveries] == [(False, 0)] * 3
    errors = [d.error or "" for d in deliveries]
    assert (
        "NOT_SET is not set" in errors[0] and "plain http" in errors[1] and "not an http(s) URL" in errors[2]
    )
    assert all(TOKEN not in e and "example.com" not in e for e in errors)


def test_a_silent_target_is_not_tried_again_in_the_same_run(receiver: Receiver) -> None:
    notifier = Notifier(
        [target("dead", UrlFromEnv("DEAD")), target("alive", UrlFromEnv("ALIVE"))],
        environ={"DEAD": dead_url("/x"), "ALIVE": receiver.url("/alive")},
        policy=FAST,
    )
    deliveries = notifier.send([NOTICE, OVERDUE])
    assert [(d.target, d.delivered, d.attempts) for d in deliveries] == [
        ("dead", False, 4),
        ("alive", True, 1),
        ("dead", False, 0),  # gave no answer already: not another budget
        ("alive", True, 1),
    ]
    assert "earlier in this run" in (deliveries[2].error or "")


def test_a_refusing_target_is_still_tried_for_the_next_event(receiver: Receiver) -> None:
    receiver.script(Reply(400))
    notifier = Notifier([target("t", UrlFromEnv("HOOK"))], environ={"HOOK": receiver.url("/t")}, policy=FAST)
    assert [d.delivered for d in notifier.send([NOTICE, OVERDUE])] == [False, True]


@pytest.fixture
def vault_prefix(openbao: OpenBaoServer, tmp_path: Path) -> tuple[str, VaultSink]:
    prefix = f"gradient-keys/notify-{tmp_path.name[-8:]}"
    env = {**openbao.environment(policy_only_token(openbao, prefix)), "HOME": str(tmp_path)}
    return prefix, VaultSink(path_prefix=prefix, environ=env)


def test_a_url_kept_in_vault_read_with_the_policy_only_token(
    receiver: Receiver, root_vault: hvac.Client, vault_prefix: tuple[str, VaultSink]
) -> None:
    prefix, sink = vault_prefix
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{prefix}/notifications/hook", {"url": receiver.url(PATH), "note": "x"}, mount_point="secret"
    )
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{prefix}/notifications/other-field", {"endpoint": receiver.url("/other")}, mount_point="secret"
    )
    notifier = Notifier(
        [
            target("vault", UrlFromVault("notifications/hook")),
            target("field", UrlFromVault("notifications/other-field", "endpoint")),
            target("missing", UrlFromVault("notifications/nothing-here")),
            target("wrong-field", UrlFromVault("notifications/hook", "nope")),
        ],
        environ={},
        vault=lambda: sink,
        policy=FAST,
    )
    deliveries = notifier.send([NOTICE])
    assert [d.delivered for d in deliveries] == [True, True, False, False]
    assert receiver.to(PATH)[0].json()["id"] == "a" * 32 and len(receiver.to("/other")) == 1
    assert all("holds no webhook URL" in (d.error or "") for d in deliveries[2:])


def test_a_url_vault_refuses_to_give_is_reported(
    receiver: Receiver, openbao: OpenBaoServer, root_vault: hvac.Client, tmp_path: Path
) -> None:
    granted, other = (
        f"gradient-keys/notify-a-{tmp_path.name[-6:]}",
        f"gradient-keys/notify-b-{tmp_path.name[-6:]}",
    )
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{other}/notifications/hook", {"url": receiver.url(PATH)}, mount_point="secret"
    )
    env = {**openbao.environment(policy_only_token(openbao, granted)), "HOME": str(tmp_path)}
    sink = VaultSink(path_prefix=other, environ=env)  # a prefix this token's policy does not cover
    notifier = Notifier(
        [target("t", UrlFromVault("notifications/hook"))], environ={}, vault=lambda: sink, policy=FAST
    )
    (delivery,) = notifier.send([NOTICE])
    assert not delivery.delivered and delivery.attempts == 0 and "could not be read" in (delivery.error or "")
    assert receiver.received == []
