"""The key client with the real pydo, over HTTP, against the sandbox."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from components.do_keys import PAGE_SIZE, ClientSettings, ModelKeys
from components.errors import (
    AmbiguousKeyError,
    AuthenticationError,
    CreateRetiredError,
    KeyNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UnavailableError,
)
from components.pacing import RateLimitPacer
from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.conftest import READ_ONLY_TOKEN
from tests.inference_probe import works

MakeClient = Callable[..., ModelKeys]


def requests_for(emulator: Emulator, operation: str) -> dict[str, int]:
    counts: dict[str, int] = emulator.stats.view()["requests"].get(operation, {})
    return counts


def test_reads_settings_from_the_environment_at_call_time(do_env: Emulator) -> None:
    do_env.console_create("k")
    with ModelKeys(ClientSettings.from_env(os.environ)) as client:
        assert [k.name for k in client.list_all()] == ["k"]


@pytest.mark.slow
def test_lists_over_a_thousand_keys_in_pages_of_200(emulator: Emulator, make_client: MakeClient) -> None:
    made = {emulator.console_create(f"key-{i:04d}")["uuid"] for i in range(1050)}
    client = make_client()
    keys = client.list_all()
    assert {k.uuid for k in keys} == made
    assert client.requests_made == 6 == -(-1050 // PAGE_SIZE)
    assert requests_for(emulator, "list") == {"200": 6}


def test_empty_account_is_one_request(emulator: Emulator, make_client: MakeClient) -> None:
    client = make_client()
    assert client.list_all() == []
    assert client.requests_made == 1


def test_find_by_uuid_and_exact_name(emulator: Emulator, make_client: MakeClient) -> None:
    a = emulator.console_create("alpha")
    emulator.console_create("alpha-2")
    client = make_client()
    assert client.find(uuid=a["uuid"]) is not None
    found = client.find(name="alpha")
    assert found is not None and found.uuid == a["uuid"]
    assert client.find(name="ALPHA") is None
    emulator.console_create("alpha")
    with pytest.raises(AmbiguousKeyError, match="adopt by uuid"):
        client.find(name="alpha")


def test_rename(emulator: Emulator, make_client: MakeClient) -> None:
    key = emulator.console_create("old")
    renamed = make_client().rename(key["uuid"], "new")
    assert renamed.name == "new" and renamed.uuid == key["uuid"]
    assert [k.name for k in emulator.store.list()] == ["new"]


def test_regenerate_returns_a_working_secret_and_kills_the_old(
    emulator: Emulator, make_client: MakeClient
) -> None:
    key = emulator.console_create("k")
    issued = make_client().regenerate(key["uuid"])
    assert issued.key.uuid == key["uuid"]
    assert works(emulator, issued.secret.reveal())
    assert not works(emulator, key["secret_key"])


def test_delete_then_delete_again_is_success(emulator: Emulator, make_client: MakeClient) -> None:
    key = emulator.console_create("k")
    client = make_client()
    assert client.delete(key["uuid"]).already_gone is False
    assert client.delete(key["uuid"]).already_gone is True
    assert not works(emulator, key["secret_key"])


@pytest.mark.parametrize("operation", ["rename", "regenerate"])
def test_404_raises_key_not_found(emulator: Emulator, make_client: MakeClient, operation: str) -> None:
    client = make_client()
    with pytest.raises(KeyNotFoundError) as caught:
        if operation == "rename":
            client.rename("no-such-uuid", "x")
        else:
            client.regenerate("no-such-uuid")
    assert caught.value.status == 404 and "no-such-uuid" in str(caught.value)


def test_401_names_the_variable(emulator: Emulator, make_client: MakeClient) -> None:
    with pytest.raises(AuthenticationError, match="DIGITALOCEAN_TOKEN"):
        make_client(token="dop_v1_not_a_real_token").list_all()


@pytest.mark.parametrize("operation", ["rename", "regenerate", "delete"])
def test_403_names_the_missing_scope(emulator: Emulator, make_client: MakeClient, operation: str) -> None:
    key = emulator.console_create("k")
    client = make_client(token=READ_ONLY_TOKEN)
    with pytest.raises(PermissionDeniedError, match=r"genai:(update|delete)") as caught:
        getattr(client, operation)(*([key["uuid"], "x"] if operation == "rename" else [key["uuid"]]))
    assert caught.value.status == 403
    assert works(emulator, key["secret_key"])


def test_create_where_retired_tells_the_user_what_to_make(
    emulator: Emulator, make_client: MakeClient
) -> None:
    with pytest.raises(CreateRetiredError) as caught:
        make_client().create("chatbot-prod")
    message = str(caught.value)
    assert "'chatbot-prod'" in message and "control panel" in message and "adopt" in message
    assert len(emulator.store) == 0


def test_create_in_legacy_mode(emulator: Emulator, make_client: MakeClient) -> None:
    emulator.config.create_mode = "legacy"
    issued = make_client().create("made-by-api")
    assert issued.key.name == "made-by-api"
    assert works(emulator, issued.secret.reveal())


def test_429_is_waited_out_and_recovered(emulator: Emulator, make_client: MakeClient) -> None:
    emulator.console_create("k")
    emulator.inject(operation="list", kind="rate_limit", retry_after=1, times=2)
    client = make_client()
    assert len(client.list_all()) == 1
    assert requests_for(emulator, "list") == {"429": 2, "200": 1}


def test_persistent_429_gives_a_typed_error(emulator: Emulator, make_client: MakeClient) -> None:
    emulator.inject(operation="list", kind="rate_limit", retry_after=0, times=10)
    with pytest.raises(RateLimitedError, match="budget"):
        make_client(max_attempts=3).list_all()
    assert requests_for(emulator, "list") == {"429": 3}


def test_a_wait_beyond_the_budget_is_not_slept(emulator: Emulator, make_client: MakeClient) -> None:
    emulator.inject(operation="list", kind="rate_limit", retry_after=3600)
    with pytest.raises(RateLimitedError, match="3600s"):
        make_client().list_all()


@pytest.mark.parametrize("operation", ["list", "rename", "delete"])
def test_idempotent_calls_retry_500s(emulator: Emulator, make_client: MakeClient, operation: str) -> None:
    key = emulator.console_create("k")
    emulator.inject(operation=operation, kind="error", status=500, times=2)
    client = make_client()
    if operation == "list":
        client.list_all()
    elif operation == "rename":
        client.rename(key["uuid"], "renamed")
    else:
        assert client.delete(key["uuid"]).already_gone is False
    assert requests_for(emulator, operation) == {"500": 2, "200": 1}


def test_500s_that_never_stop_raise_unavailable(emulator: Emulator, make_client: MakeClient) -> None:
    emulator.inject(operation="list", kind="error", status=502, times=10)
    with pytest.raises(UnavailableError) as caught:
        make_client(max_attempts=3).list_all()
    assert caught.value.status == 502


def test_unreachable_api_raises_unavailable(emulator: Emulator, make_client: MakeClient) -> None:
    from components.do_keys import ClientSettings
    from components.secret import Secret

    client = ModelKeys(ClientSettings("http://127.0.0.1:9", Secret("t"), max_attempts=2))
    client.backoff.base = 0.01
    with pytest.raises(UnavailableError, match="did not answer"):
        client.list_all()


def test_delete_whose_answer_was_lost_still_succeeds(emulator: Emulator, make_client: MakeClient) -> None:
    key = emulator.console_create("k")
    emulator.inject(operation="delete", kind="drop_after_commit")
    outcome = make_client().delete(key["uuid"])
    assert outcome.already_gone is False  # we deleted it; the answer was lost
    assert len(emulator.store) == 0


def test_regenerate_whose_answer_was_lost_is_resolved_by_looking(
    emulator: Emulator, make_client: MakeClient
) -> None:
    """The change was made but the secret never arrived: look, then mint a secret we know."""
    key = emulator.console_create("k")
    emulator.inject(operation="regenerate", kind="drop_after_commit")
    issued = make_client().regenerate(key["uuid"])
    assert works(emulator, issued.secret.reveal())
    assert not works(emulator, key["secret_key"])
    assert requests_for(emulator, "regenerate") == {"dropped": 1, "200": 1}
    assert requests_for(emulator, "list") == {"200": 1}  # it looked before regenerating again


def test_regenerate_500_is_looked_into_not_blindly_retried(
    emulator: Emulator, make_client: MakeClient
) -> None:
    key = emulator.console_create("k")
    emulator.inject(operation="regenerate", kind="error", status=500)
    issued = make_client().regenerate(key["uuid"])
    assert works(emulator, issued.secret.reveal())
    assert requests_for(emulator, "regenerate") == {"500": 1, "200": 1}
    assert requests_for(emulator, "list") == {"200": 1}


def test_regenerate_on_429_waits_without_looking(emulator: Emulator, make_client: MakeClient) -> None:
    key = emulator.console_create("k")
    emulator.inject(operation="regenerate", kind="rate_limit", retry_after=0)
    make_client().regenerate(key["uuid"])
    assert requests_for(emulator, "regenerate") == {"429": 1, "200": 1}
    assert requests_for(emulator, "list") == {}


def test_regenerate_of_a_key_deleted_meanwhile(emulator: Emulator, make_client: MakeClient) -> None:
    key = emulator.console_create("k")
    emulator.store.delete(key["uuid"])
    emulator.inject(operation="regenerate", kind="drop")
    with pytest.raises(KeyNotFoundError, match="disappeared"):
        make_client().regenerate(key["uuid"])


def test_create_whose_answer_was_lost_is_found_by_name(emulator: Emulator, make_client: MakeClient) -> None:
    emulator.config.create_mode = "legacy"
    emulator.inject(operation="create", kind="drop_after_commit")
    issued = make_client().create("lost-answer")
    assert [k.name for k in emulator.store.list()] == ["lost-answer"]  # no duplicate made
    assert works(emulator, issued.secret.reveal())


def test_bulk_work_paces_itself_under_the_limit(emulator: Emulator, make_client: MakeClient) -> None:
    """With a 10-per-2-seconds budget in the headers (the emulator's earlier `minute` headers),
    20 renames (twice the budget) finish without a single 429."""
    emulator.limiter.headers = "minute"
    emulator.limiter.per_minute = 10
    emulator.limiter.minute_seconds = 2.0
    emulator.limiter.per_hour = 5000
    keys = [emulator.console_create(f"k{i}")["uuid"] for i in range(20)]
    client = make_client()
    client.pacer = RateLimitPacer(low_water=5)
    for i, key in enumerate(keys):
        client.rename(key, f"renamed-{i}")
    assert requests_for(emulator, "rename") == {"200": 20}
    assert client.pacer.waited_seconds > 0


def test_bulk_work_told_the_burst_limit_is_never_refused(emulator: Emulator, make_client: MakeClient) -> None:
    """DigitalOcean's headers show only the hourly quota: told the burst limit (50 per second),
    120 renames (over two windows' worth) finish without a 429, and the hourly remaining went down."""
    emulator.limiter.per_minute, emulator.limiter.minute_seconds = 50, 1.0
    emulator.limiter.per_hour = 5000
    keys = [emulator.console_create(f"k{i}")["uuid"] for i in range(120)]
    client = make_client()
    client.pacer = RateLimitPacer(burst_per_minute=3000)
    for i, key in enumerate(keys):
        client.rename(key, f"renamed-{i}")
    assert requests_for(emulator, "rename") == {"200": 120}
    assert emulator.limiter.peek(DEFAULT_TOKEN).remaining == 5000 - 120


def test_lost_regenerate_then_failed_lookup_is_an_unknown_outcome(
    emulator: Emulator, make_client: MakeClient
) -> None:
    """Not "unreachable, nothing changed": the old secret is already dead, and the error says so."""
    from components.errors import UnknownOutcomeError

    key = emulator.console_create("k")
    emulator.inject(operation="regenerate", kind="drop_after_commit")
    emulator.inject(operation="list", kind="error", status=503, times=10)
    with pytest.raises(UnknownOutcomeError, match="current secret is unknown"):
        make_client(max_attempts=2).regenerate(key["uuid"])
    assert not works(emulator, key["secret_key"])


@pytest.mark.parametrize("operation", ["list", "rename", "regenerate"])
def test_answers_that_are_not_json_are_clear_errors(operation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    import http.server
    import threading

    from components.do_keys import ClientSettings
    from components.errors import DigitalOceanError
    from components.secret import Secret

    planted = "sk-do-PLANTED-in-a-broken-body"

    class Handler(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            self.rfile.read(length)
            body = f'<html>proxy error {{"secret_key": "{planted}"'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        client = ModelKeys(ClientSettings(url, Secret("t"), max_attempts=2))
        client.backoff.base = 0.01
        with pytest.raises(DigitalOceanError) as caught:
            if operation == "list":
                client.list_all()
            elif operation == "rename":
                client.rename("u", "n")
            else:
                client.regenerate("u")
        text = (
            str(caught.value)
            + repr(caught.value)
            + repr(caught.value.__context__)
            + repr(caught.value.__cause__)
        )
        assert planted not in text
    finally:
        server.shutdown()
        server.server_close()
