"""Broken or hostile answers, from DigitalOcean and from Vault: a typed error that names the
operation, never a traceback, and never a secret, in the message or in the traceback's locals.

DigitalOcean answers come from the sandbox (its `answer` fault sends a chosen status, body and
headers, after making the real change when `commit` is set), spoken to by the real pydo. Vault's
come from real OpenBao where it can produce them (outages, check-and-set conflicts); the answers
no real Vault gives (wrong types, missing fields) from `FakeVault`, a loopback server that
impersonates it for the endpoints a test names.
"""

from __future__ import annotations

import json
import os
import random
import socket
import string
import threading
import traceback
import uuid as uuidlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import hvac
import pytest
import requests

from components.do_keys import ModelKeys
from components.errors import (
    DigitalOceanError,
    UnknownOutcomeError,
    VaultConflictError,
    VaultError,
    VaultPermissionError,
    VaultUnavailableError,
)
from components.ledger import Ledger
from components.secret import Secret
from components.vault_sink import VaultSink
from sandbox.server import DEFAULT_ADMIN_TOKEN, DEFAULT_TOKEN, Emulator
from sandbox.store import new_secret
from tests.inference_probe import works

MakeClient = Callable[..., ModelKeys]
PREFIX = "gradient-keys"


# -- helpers ---------------------------------------------------------------------------------------
def planted_secret() -> str:
    """A fresh secret of the sandbox's shape (`sandbox.store.new_secret`), without '_' so that it
    is also a string of the `[0-9A-Za-z-]{1,64}` the request-id filter used to accept."""
    return new_secret().replace("_", "x")


def failure_of(call: Callable[[], object]) -> BaseException:
    """The exception `call` raises, caught here so that the traceback it carries starts in this
    frame, whose only local is `call`: the test's own locals (the planted secret) are not in it."""
    try:
        call()
    except BaseException as exc:
        return exc
    raise AssertionError("expected a failure, the call succeeded")


def rendered(exc: BaseException) -> str:
    """All a crash report could show: message, repr, and the traceback with every frame's locals,
    as the standard library (`capture_locals`, full reprs) and pytest's `--showlocals` print them."""
    stdlib = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    shown = pytest.ExceptionInfo.from_exception(exc).getrepr(showlocals=True, style="long", chain=True)
    return "\n".join([str(exc), repr(exc), stdlib, str(shown)])


# -- a loopback server impersonating Vault ---------------------------------------------------------
@dataclass
class Canned:
    status: int
    body: bytes
    content_type: str = "application/json"


def answer(status: int, body: Any, content_type: str = "application/json") -> Canned:
    """A canned Vault answer: `body` JSON-encoded, or sent as is when it is already bytes."""
    return Canned(status, body if isinstance(body, bytes) else json.dumps(body).encode(), content_type)


NOT_FOUND = answer(404, {"errors": []})


@dataclass
class FakeVault:
    """Answers each request with the canned answers of the first route whose method (or "*")
    and path prefix match (in order; the last one repeats), else 404. Records what it was asked."""

    routes: list[tuple[str, str, list[Canned]]] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)

    def on(self, method: str, path: str, *answers: Canned) -> FakeVault:
        self.routes.append((method, path, list(answers)))
        return self

    def reply_to(self, method: str, path: str) -> Canned:
        self.seen.append(f"{method} {path}")
        for route_method, prefix, answers in self.routes:
            if route_method in (method, "*") and path.split("?", maxsplit=1)[0].startswith(prefix):
                return answers.pop(0) if len(answers) > 1 else answers[0]
        return NOT_FOUND

    def serve(self) -> tuple[ThreadingHTTPServer, str]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes

            def _answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                canned = fake.reply_to(self.command, self.path)
                self.send_response(canned.status)
                self.send_header("Content-Type", canned.content_type)
                self.send_header("Content-Length", str(len(canned.body)))
                self.end_headers()
                self.wfile.write(canned.body)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_LIST = _answer

            def log_message(self, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return server, f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def fake_vault() -> Iterator[tuple[FakeVault, Callable[[], VaultSink]]]:
    fake = FakeVault()
    server, addr = fake.serve()
    env = {"VAULT_ADDR": addr, "VAULT_TOKEN": "hvs.fake-vault-token"}
    yield fake, lambda: VaultSink("secret", PREFIX, environ=env, sleep=lambda _s: None)
    server.shutdown()
    server.server_close()


def ledger_for(secret: Secret) -> Ledger:
    return Ledger(fingerprint=secret.fingerprint, rotated_at="2026-11-25T10:00:00Z", slot_a="uuid-a")


# == The sandbox's `answer` fault ==================================================================
def test_the_answer_fault_sends_exactly_what_it_is_given(emulator: Emulator) -> None:
    admin = {"Authorization": f"Bearer {DEFAULT_ADMIN_TOKEN}"}
    refused = requests.post(
        f"{emulator.base_url}/_sandbox/faults",
        json={"operation": "list", "kind": "answer", "headers": {"bad header": "x"}},
        headers=admin,
        timeout=10,
    )
    assert refused.status_code == 400 and "headers" in refused.json()["message"]
    fault = {
        "operation": "list",
        "kind": "answer",
        "status": 203,
        "body": [1, "two"],
        "headers": {"retry-after": "7"},
    }
    assert requests.post(f"{emulator.base_url}/_sandbox/faults", json=fault, headers=admin, timeout=10).ok
    api = f"{emulator.base_url}/v2/gen-ai/models/api_keys"
    reply = requests.get(api, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=10)
    assert (reply.status_code, reply.json(), reply.headers["retry-after"]) == (203, [1, "two"], "7")
    assert "ratelimit-limit" not in reply.headers  # only what the fault names
    raw = {"operation": "list", "kind": "answer", "raw": "<html>", "headers": {"Content-Type": "text/html"}}
    emulator.inject(**raw)
    reply = requests.get(api, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=10)
    assert (reply.text, reply.headers["Content-Type"]) == ("<html>", "text/html")
    assert requests.get(api, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=10).json()["meta"]


# == DigitalOcean ==================================================================================
def _call(client: ModelKeys, operation: str, key_uuid: str) -> object:
    if operation == "list":
        return client.list_all()
    if operation == "rename":
        return client.rename(key_uuid, "renamed")
    if operation == "delete":
        return client.delete(key_uuid)
    return client.regenerate(key_uuid)


@pytest.mark.parametrize(
    ("operation", "status"),
    [("regenerate", 404), ("rename", 403), ("delete", 401), ("list", 500), ("regenerate", 409)],
    ids=["regenerate-404", "rename-403", "delete-401", "list-500", "regenerate-409"],
)
def test_secret_shaped_request_and_error_ids_are_never_printed(
    emulator: Emulator, make_client: MakeClient, operation: str, status: int
) -> None:
    key = emulator.console_create("k")
    secret = planted_secret()
    # snake_case, so the old `[a-z_]{1,64}` id filter let it through
    error_id = "sk_do_" + "".join(random.choices(string.ascii_lowercase, k=40))
    emulator.inject(
        operation=operation,
        kind="answer",
        status=status,
        times=10,
        body={"id": error_id, "message": secret, "request_id": secret},
    )
    client = make_client()
    exc = failure_of(lambda: _call(client, operation, key["uuid"]))
    assert isinstance(exc, DigitalOceanError) and exc.operation == operation
    assert exc.request_id is None and exc.error_id is None
    for planted in (secret, error_id):
        assert planted not in str(exc) and planted not in repr(exc)


def test_genuine_request_and_error_ids_are_still_quoted(emulator: Emulator, make_client: MakeClient) -> None:
    request_id = str(uuidlib.uuid4())
    emulator.inject(
        operation="regenerate",
        kind="answer",
        status=404,
        body={"id": "not_found", "message": "no", "request_id": request_id},
    )
    with pytest.raises(DigitalOceanError) as caught:
        make_client().regenerate(str(uuidlib.uuid4()))
    assert f"request_id={request_id}" in str(caught.value) and "id=not_found" in str(caught.value)


REGENERATE_ANSWERS: dict[str, tuple[int, Callable[[str, str], Any]]] = {
    "no-uuid": (200, lambda s, u: {"api_key_info": {"name": "k", "secret_key": s}}),
    "uuid-not-a-uuid": (200, lambda s, u: {"api_key_info": {"uuid": s, "name": "k", "secret_key": s}}),
    "another-keys-uuid": (
        200,
        lambda s, u: {"api_key_info": {"uuid": str(uuidlib.uuid4()), "name": "k", "secret_key": s}},
    ),
    "name-not-a-string": (
        200,
        lambda s, u: {"api_key_info": {"uuid": u, "name": {"n": s}, "secret_key": s}},
    ),
    "info-not-an-object": (200, lambda s, u: {"api_key_info": s}),
    "secret-not-a-string": (200, lambda s, u: {"api_key_info": {"uuid": u, "secret_key": {"value": s}}}),
    "body-a-list": (200, lambda s, u: [{"api_key_info": {"uuid": u, "secret_key": s}}]),
    "201-not-200": (201, lambda s, u: {"api_key_info": {"uuid": u, "name": "k", "secret_key": s}}),
}


@pytest.mark.parametrize("shape", list(REGENERATE_ANSWERS))
def test_a_regenerate_answer_not_the_documented_shape_is_an_unknown_outcome(
    emulator: Emulator, make_client: MakeClient, shape: str
) -> None:
    """The secret was minted (the old one is dead) but the answer cannot be trusted: a typed
    error saying so, with the secret in neither the message nor the traceback's locals."""
    key = emulator.console_create("k")
    status, body = REGENERATE_ANSWERS[shape]
    secret = planted_secret()
    emulator.inject(
        operation="regenerate", kind="answer", status=status, commit=True, body=body(secret, key["uuid"])
    )
    client = make_client()
    exc = failure_of(lambda: client.regenerate(key["uuid"]))
    assert isinstance(exc, UnknownOutcomeError), repr(exc)
    assert exc.operation == "regenerate" and "current secret is unknown" in str(exc)
    assert secret not in rendered(exc)
    assert not works(emulator, key["secret_key"])  # the change was made: the message is right to warn


LIST_AND_RENAME_ANSWERS: dict[str, tuple[str, Callable[[str, str], Any]]] = {
    "list-name-not-a-string": ("list", lambda s, u: {"api_key_infos": [{"uuid": u, "name": {"n": s}}]}),
    "list-uuid-not-a-uuid": ("list", lambda s, u: {"api_key_infos": [{"uuid": s, "name": "k"}]}),
    "list-entry-not-an-object": ("list", lambda s, u: {"api_key_infos": [s], "meta": {"pages": 1}}),
    "list-infos-not-a-list": ("list", lambda s, u: {"api_key_infos": {"k": s}, "meta": {"pages": 1}}),
    "list-body-a-list": ("list", lambda s, u: [{"uuid": u, "name": s}]),
    "rename-name-not-a-string": ("rename", lambda s, u: {"api_key_info": {"uuid": u, "name": 7}}),
    "rename-uuid-not-a-uuid": ("rename", lambda s, u: {"api_key_info": {"uuid": s, "name": "renamed"}}),
    "rename-info-missing": ("rename", lambda s, u: {"message": s}),
}


@pytest.mark.parametrize("shape", list(LIST_AND_RENAME_ANSWERS))
def test_list_and_rename_answers_not_the_documented_shape_are_typed_errors(
    emulator: Emulator, make_client: MakeClient, shape: str
) -> None:
    key = emulator.console_create("k")
    operation, body = LIST_AND_RENAME_ANSWERS[shape]
    secret = planted_secret()
    emulator.inject(operation=operation, kind="answer", body=body(secret, key["uuid"]))
    client = make_client()
    exc = failure_of(lambda: _call(client, operation, key["uuid"]))
    assert type(exc) is DigitalOceanError, repr(exc)
    assert exc.operation == operation
    assert "documented shape" in str(exc) or "of the key listing" in str(exc)
    assert secret not in str(exc) and secret not in repr(exc)


def test_a_listing_that_ignores_the_page_asked_for_is_not_paged_for_ever(
    emulator: Emulator, make_client: MakeClient
) -> None:
    key = emulator.console_create("k")
    same_page = {"api_key_infos": [{"uuid": key["uuid"], "name": "k"}], "meta": {"page": 1, "pages": 10**6}}
    emulator.inject(operation="list", kind="answer", body=same_page, times=50)
    client = make_client()
    with pytest.raises(DigitalOceanError, match="page 2 of the key listing repeats page 1"):
        client.list_all()
    assert client.requests_made == 2


# == Vault: answers no real Vault gives ============================================================
META = "/v1/secret/metadata/gradient-keys/apps/a"
DATA = "/v1/secret/data/gradient-keys/apps/a"
CAPS = "/v1/sys/capabilities-self"
GOOD_META = answer(200, {"data": {"current_version": 1, "versions": {"1": {}}, "custom_metadata": None}})

# (what the sink is asked to do, the routes the fake answers, what the message says)
VAULT_CASES: dict[str, tuple[str, list[tuple[str, str, Canned]], str]] = {
    "capabilities-data-a-list": (
        "preflight",
        [("POST", CAPS, answer(200, {"data": ["read"]}))],
        "documented",
    ),
    "capabilities-a-string": (
        "preflight",
        [("POST", CAPS, answer(200, {"data": {"secret/data/gradient-keys/apps/a": "root"}}))],
        "documented",
    ),
    "capabilities-unhashable": (
        "preflight",
        [("POST", CAPS, answer(200, {"secret/data/gradient-keys/apps/a": [{"cap": "read"}]}))],
        "documented",
    ),
    "capabilities-not-json": (
        "preflight",
        [("POST", CAPS, answer(200, b"<html>ok</html>", "text/html"))],
        "documented",
    ),
    "current-version-not-a-number": (
        "read_ledger",
        [("GET", META, answer(200, {"data": {"current_version": "three"}}))],
        "current_version",
    ),
    "metadata-data-a-string": ("read_ledger", [("GET", META, answer(200, {"data": "x"}))], "documented"),
    "metadata-not-json": ("read_ledger", [("GET", META, answer(200, b"<html>", "text/html"))], "documented"),
    "custom-metadata-a-list": (
        "read_ledger",
        [("GET", META, answer(200, {"data": {"current_version": 1, "custom_metadata": ["managed-by"]}}))],
        "custom_metadata",
    ),
    "custom-metadata-values-not-strings": (
        "read_ledger",
        [
            (
                "GET",
                META,
                answer(
                    200,
                    {
                        "data": {
                            "current_version": 1,
                            "custom_metadata": {
                                "managed-by": "gradient-keys",
                                "version": "1",
                                "fingerprint": 123456789012,
                                "rotated_at": "2026-11-25T10:00:00Z",
                            },
                        }
                    },
                ),
            )
        ],
        "custom_metadata",
    ),
    "versions-a-list": (
        "read_ledger",
        [("GET", META, answer(200, {"data": {"current_version": 1, "versions": ["1"]}}))],
        "versions",
    ),
    "error-body-a-json-list": ("read_ledger", [("GET", META, answer(500, [1]))], "could not be read"),
    "undocumented-status": ("read_ledger", [("GET", META, answer(409, {"errors": ["?"]}))], "answered with"),
    "version-data-a-list": (
        "read_secret",
        [("GET", META, GOOD_META), ("GET", DATA, answer(200, {"data": {"data": ["api_key"]}}))],
        "documented",
    ),
    "written-version-not-a-number": (
        "write",
        [("GET", META, NOT_FOUND), ("POST", DATA, answer(200, {"data": {"version": "two"}}))],
        "version",
    ),
    "written-data-missing": (
        "write",
        [("GET", META, NOT_FOUND), ("POST", DATA, answer(200, {}))],
        "documented",
    ),
    "list-keys-a-string": (
        "list_paths",
        [("LIST", "/v1/secret/metadata/gradient-keys", answer(200, {"data": {"keys": "abc"}}))],
        "keys",
    ),
    "soft-delete-version-not-an-object": (
        "remove",
        [("GET", META, answer(200, {"data": {"current_version": 1, "versions": {"1": "yes"}}}))],
        "versions",
    ),
}


# What each case asks of the sink, by name (the property tests use the same table).
SINK_CALLS: dict[str, Callable[[VaultSink, Secret], object]] = {
    "preflight": lambda sink, _s: sink.preflight(["apps/a"]),
    "read_ledger": lambda sink, _s: sink.read_ledger("apps/a"),
    "read_secret": lambda sink, _s: sink.read_secret("apps/a"),
    "write": lambda sink, s: sink.write("apps/a", s, ledger_for(s), 0),
    "list_paths": lambda sink, _s: sink.list_paths(),
    "read_record": lambda sink, _s: sink.read_record("apps/a"),
    "remove": lambda sink, _s: sink.remove("apps/a", "soft-delete"),
}


@pytest.mark.parametrize("case", list(VAULT_CASES))
def test_vault_answers_not_the_documented_shape_are_typed_errors(
    fake_vault: tuple[FakeVault, Callable[[], VaultSink]], case: str
) -> None:
    fake, make_sink = fake_vault
    what, routes, says = VAULT_CASES[case]
    for method, path, canned in routes:
        fake.on(method, path, canned)
    sink = make_sink()
    secret = Secret(planted_secret())
    exc = failure_of(lambda: SINK_CALLS[what](sink, secret))
    assert isinstance(exc, VaultError), repr(exc)
    assert says in str(exc)
    assert secret.reveal() not in rendered(exc)


@pytest.mark.timeout(60)
def test_a_vault_listing_that_nests_for_ever_is_cut_off(
    fake_vault: tuple[FakeVault, Callable[[], VaultSink]],
) -> None:
    fake, make_sink = fake_vault
    fake.on("LIST", "/v1/secret/metadata/gradient-keys", answer(200, {"data": {"keys": ["x/"]}}))
    with pytest.raises(VaultError, match="nest deeper than"):
        make_sink().list_paths()
    assert len(fake.seen) < 100


def test_capabilities_vault_does_not_document_are_not_repeated_back(
    fake_vault: tuple[FakeVault, Callable[[], VaultSink]],
) -> None:
    fake, make_sink = fake_vault
    planted = planted_secret()
    fake.on("POST", CAPS, answer(200, {"data": {"secret/data/gradient-keys/apps/a": ["read", planted]}}))
    with pytest.raises(VaultPermissionError, match=r"may not create .*\(it has: read\)") as caught:
        make_sink().preflight(["apps/a"])
    assert planted not in str(caught.value)


# == Secret containment: tracebacks printed with their locals ======================================
def test_vault_unreachable_mid_write_leaves_no_secret_in_the_traceback(
    vault_env: dict[str, str], key_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = VaultSink(environ=os.environ, sleep=lambda _s: None)
    real = sink._kv.create_or_update_secret
    closed = socket_nobody_listens_on()

    def vault_goes_away(*args: Any, **kwargs: Any) -> Any:
        sink._client.adapter.base_uri = closed  # every attempt from here on is refused
        return real(*args, **kwargs)

    monkeypatch.setattr(sink._kv, "create_or_update_secret", vault_goes_away)
    secret = Secret(planted_secret())
    exc = failure_of(lambda: sink.write(key_path, secret, ledger_for(secret), 0))
    assert isinstance(exc, VaultUnavailableError), repr(exc)
    report = rendered(exc)
    assert "Secret(<redacted>" in report  # the locals were rendered, and show the wrapper
    assert secret.reveal() not in report


def test_a_conflict_mid_write_leaves_no_secret_in_the_traceback(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = VaultSink(environ=os.environ, sleep=lambda _s: None)
    real = sink._kv.create_or_update_secret

    def someone_writes_first(*args: Any, **kwargs: Any) -> Any:
        root_vault.secrets.kv.v2.create_or_update_secret(
            f"{PREFIX}/{key_path}", {"api_key": "sk-do-the-other-writer"}, mount_point="secret"
        )
        return real(*args, **kwargs)

    monkeypatch.setattr(sink._kv, "create_or_update_secret", someone_writes_first)
    secret = Secret(planted_secret())
    exc = failure_of(lambda: sink.write(key_path, secret, ledger_for(secret), 0))
    assert isinstance(exc, VaultConflictError), repr(exc)
    report = rendered(exc)
    assert "Secret(<redacted>" in report
    assert secret.reveal() not in report


def test_reading_a_version_with_a_broken_ledger_leaves_no_secret_in_the_traceback(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str
) -> None:
    planted = planted_secret()
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{PREFIX}/{key_path}",
        {"api_key": planted, "gradient_keys_ledger": "{not json"},
        mount_point="secret",
    )
    sink = VaultSink(environ=os.environ)
    exc = failure_of(lambda: sink.read_version(key_path, 1))
    assert isinstance(exc, VaultError) and "malformed ledger" in str(exc)
    assert planted not in rendered(exc)


def socket_nobody_listens_on() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


# == Ledgers of the wrong types (components/ledger.py) =============================================
def test_a_stored_ledger_whose_fingerprint_is_a_number_is_a_typed_error(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str
) -> None:
    root_vault.secrets.kv.v2.create_or_update_secret(
        f"{PREFIX}/{key_path}",
        {"api_key": "sk-do-x", "gradient_keys_ledger": '{"fingerprint": 123456789012, "rotated_at": "x"}'},
        mount_point="secret",
    )
    with pytest.raises(VaultError, match="malformed ledger"):
        VaultSink(environ=os.environ).read_ledger(key_path)


def test_a_mirror_whose_version_is_not_an_ascii_number_is_rebuilt(
    vault_env: dict[str, str], root_vault: hvac.Client, key_path: str
) -> None:
    sink = VaultSink(environ=os.environ)
    secret = Secret(planted_secret())
    sink.write(key_path, secret, ledger_for(secret), 0)
    root_vault.secrets.kv.v2.update_metadata(
        f"{PREFIX}/{key_path}",
        custom_metadata={
            **{k: v for k, v in ledger_for(secret).to_metadata(1).items() if v is not None},
            "version": "²",
        },
        mount_point="secret",
    )
    entry = sink.read_ledger(key_path)
    assert entry is not None and entry.ledger == ledger_for(secret)
