"""The sandbox HTTP server: DigitalOcean's model-key API, the inference surface and a control panel.

Routes (all JSON, `application/json; charset=utf-8`):

  DigitalOcean API, bearer = an API token (`--token`, or `--read-only-token` for genai:read only)
    GET    /v2/gen-ai/models?page=&per_page=&usecases=     list_models 200 400 401 429 500
    GET    /v2/gen-ai/models/api_keys?page=&per_page=      list        200 401 404 429 500
    POST   /v2/gen-ai/models/api_keys                      create      410 (retired) or 200 (legacy)
    PUT    /v2/gen-ai/models/api_keys/{uuid}               rename      200 401 403 404 429 500
    PUT    /v2/gen-ai/models/api_keys/{uuid}/regenerate    regenerate  200 401 403 404 429 500
    DELETE /v2/gen-ai/models/api_keys/{uuid}               delete      200 401 403 404 429 500
    GET    /v2/gen-ai/agents                               list_agents 200 401 429 500
    GET|POST   /v2/gen-ai/agents/{agent}/api_keys          agent_list, agent_create (200)
    PUT|DELETE /v2/gen-ai/agents/{agent}/api_keys/{uuid}   agent_rename, agent_delete
    PUT    /v2/gen-ai/agents/{agent}/api_keys/{uuid}/regenerate   agent_regenerate
      (sandbox/api_routes.py; an unknown agent is a 404)
  Serverless inference, bearer = a currently valid model access key
    GET    /v1/models                                      models
    POST   /v1/chat/completions                            chat_completions
  An agent's endpoint, bearer = a currently valid API key of that agent (never a model key)
    POST   /agents/{agent}/api/v1/chat/completions         chat_completions (the agent's model)
  Control panel, bearer = the admin token (never an API token)
    GET    /_sandbox/health                                (no auth) readiness
    GET    /_sandbox/console/keys                          keys, no secrets
    POST   /_sandbox/console/keys  {"name"}                make a key; its secret is shown once (201)
    GET|POST /_sandbox/console/agents  {"name"}            agents; make one (201)
    GET|PUT /_sandbox/settings                             create_mode and rate-limit budgets
    GET|POST|DELETE /_sandbox/faults                       list, inject, clear faults
    GET    /_sandbox/stats                                 requests served per operation and status
    POST   /_sandbox/reset                                 forget keys, faults, rate windows, stats
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import socket
import ssl
import threading
import time
import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

from sandbox.api_routes import AGENTS_PATH, ApiTarget, RouteError, is_api, route_api, scope_of
from sandbox.faults import Fault, FaultBook, FaultSpecError
from sandbox.gen_ai_models import MODELS_PATH, FilterError, api_model, select_models
from sandbox.inference import InferenceError, InferenceState, Request, Stream, find_route
from sandbox.options import CREATE_MODES, DEFAULT_ADMIN_TOKEN, DEFAULT_TOKEN
from sandbox.ratelimit import HEADER_MODES, Decision, HeaderMode, RateLimiter
from sandbox.store import MODEL_KEYS, KeyStore, StoredAgent, StoredKey

__all__ = [
    "CREATE_MODES",
    "DEFAULT_ADMIN_TOKEN",
    "DEFAULT_TOKEN",
    "Emulator",
    "EmulatorConfig",
]

AGENT_MODEL = (
    "llama3.3-70b-instruct"  # what every sandbox agent answers with (the request's model is ignored)
)
AGENT_ENDPOINT = re.compile(r"/agents/(?P<agent>[^/]+)/api(?P<rest>/v1/.*)")
DEFAULT_ACCOUNT = "default"  # the account of `tokens` (and the state file)
MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 20
MAX_NAME_LENGTH = 128
MAX_BODY_BYTES = 1 << 20
MAX_DRAINED_BYTES = 16 << 20  # an oversized body up to this is read (and dropped) before the 413
DRAIN_WAIT_SECONDS = 0.5  # how long such a body may pause before the 413 goes out anyway
MAX_JSON_DEPTH = 256  # an inference body's nesting (arrays and objects)

RETIRED_MESSAGE = (
    "resource retired: Creating model API keys through this endpoint is retired. "
    "Go to manage page in the control panel to create a model access key."
)
ERRORS = {
    400: ("bad_request", "The request was malformed."),
    401: ("unauthorized", "Unable to authenticate you."),
    403: ("forbidden", "You do not have access for the attempted action."),
    404: ("not_found", "The resource you requested could not be found."),
    405: ("method_not_allowed", "The method is not allowed for this resource."),
    410: ("gone", RETIRED_MESSAGE),
    413: ("request_entity_too_large", "The request body is too large."),
    429: ("too_many_requests", "API rate limit exceeded."),
    500: ("server_error", "Unexpected server-side error"),
}


@dataclass
class EmulatorConfig:
    host: str = "127.0.0.1"
    port: int = 0
    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    read_only_tokens: tuple[str, ...] = ()
    # Other DigitalOcean accounts (teams): (name, token) pairs. Each has its own key table, agents
    # and rate budget (in memory); `tokens` and `read_only_tokens` are the default account's.
    accounts: tuple[tuple[str, str], ...] = ()
    admin_token: str = DEFAULT_ADMIN_TOKEN
    create_mode: str = "retired"
    rate_limit_per_minute: int = 250
    rate_limit_per_hour: int = 5000
    # What the ratelimit-* headers report: DigitalOcean's hourly quota, or the earlier minute budget.
    rate_limit_headers: HeaderMode = "documented"
    # Window lengths exist for tests that exercise pacing without waiting a real minute.
    minute_seconds: float = 60.0
    hour_seconds: float = 3600.0
    state_file: Path | None = None
    created_by: str = "1000001"
    access_log: bool = False
    # PEM files to serve https instead of http (pydo's default bearer auth insists on TLS).
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def validate(self) -> None:
        if self.create_mode not in CREATE_MODES:
            raise ValueError(
                f"create_mode must be one of {', '.join(CREATE_MODES)}, not {self.create_mode!r}"
            )
        if not self.tokens and not self.read_only_tokens:
            raise ValueError("at least one API token is needed")
        overlap = set(self.tokens) | set(self.read_only_tokens)
        others = [token for _name, token in self.accounts]
        names = [name for name, _token in self.accounts]
        if len(set(others)) != len(others) or overlap & set(others):
            raise ValueError("every account needs a token of its own")
        if len(set(names)) != len(names) or DEFAULT_ACCOUNT in names:
            raise ValueError(f"account names must be unique, and not {DEFAULT_ACCOUNT!r}")
        if self.admin_token in overlap | set(others):
            raise ValueError("the admin token must differ from every API token")
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("TLS needs both a certificate and its key")
        if self.rate_limit_per_minute < 0 or self.rate_limit_per_hour < 0:
            raise ValueError("rate limits must be 0 (off) or positive")
        if self.rate_limit_headers not in HEADER_MODES:
            raise ValueError(f"rate_limit_headers must be one of {', '.join(HEADER_MODES)}")


class _ApiError(ValueError):
    def __init__(self, status: int, message: str | None = None, extra_headers: dict[str, str] | None = None):
        super().__init__(message or ERRORS.get(status, ERRORS[500])[1])
        self.status = status
        self.message = message or ERRORS.get(status, ERRORS[500])[1]
        self.extra_headers = extra_headers or {}


class _Drop(Exception):
    """Close the connection without answering."""


class _Canned(Exception):
    """Send an `answer` fault's reply verbatim instead of the operation's own."""

    def __init__(self, fault: Fault) -> None:
        super().__init__(fault.kind)
        self.fault = fault


@dataclass
class _Stats:
    lock: threading.Lock = field(default_factory=threading.Lock)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def record(self, operation: str, outcome: int | str) -> None:
        with self.lock:
            per_op = self.counts.setdefault(operation, {})
            per_op[str(outcome)] = per_op.get(str(outcome), 0) + 1

    def view(self) -> dict[str, Any]:
        with self.lock:
            counts = {op: dict(v) for op, v in self.counts.items()}
        return {"requests": counts, "total": sum(sum(v.values()) for v in counts.values())}

    def reset(self) -> None:
        with self.lock:
            self.counts.clear()


class Emulator:
    """A running sandbox. Use `start()` in-process (tests) or `serve_forever()` (the command)."""

    def __init__(self, config: EmulatorConfig | None = None) -> None:
        self.config = config or EmulatorConfig()
        self.config.validate()
        self.stores = {DEFAULT_ACCOUNT: KeyStore(self.config.state_file, created_by=self.config.created_by)}
        self.stores.update(
            (name, KeyStore(created_by=self.config.created_by)) for name, _ in self.config.accounts
        )
        self._account_of = {token: name for name, token in self.config.accounts}
        self.faults = FaultBook()
        self.stats = _Stats()
        self.inference = InferenceState()  # async jobs, the prompt cache
        self.limiter = RateLimiter(
            self.config.rate_limit_per_minute,
            self.config.rate_limit_per_hour,
            self.config.minute_seconds,
            self.config.hour_seconds,
            headers=self.config.rate_limit_headers,
        )
        try:
            self._httpd = _Server((self.config.host, self.config.port), _Handler)
        except BaseException:
            self.store.close()  # the port is taken, say: release the state file too
            raise
        self._httpd.emulator = self
        self.scheme = "http"
        if self.config.tls_cert is not None and self.config.tls_key is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(self.config.tls_cert, self.config.tls_key)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
            self.scheme = "https"
        self._thread: threading.Thread | None = None

    @property
    def store(self) -> KeyStore:
        """The default account's keys (the one `tokens` reach, and the state file's)."""
        return self.stores[DEFAULT_ACCOUNT]

    @store.setter
    def store(self, store: KeyStore) -> None:  # a benchmark puts another table behind it
        self.stores[DEFAULT_ACCOUNT] = store

    @property
    def base_url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"{self.scheme}://{host!s}:{port}"

    def start(self) -> str:
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="sandbox", daemon=True)
        self._thread.start()
        return self.base_url

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.close()  # folds the state file's WAL back in; keys stay readable in memory

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- control panel, in-process ------------------------------------------------------------
    def console_create(self, name: object) -> dict[str, str]:
        """Make a key as the control panel does; the result holds its secret, shown this once."""
        key, secret = self.store.create(_valid_name(name))
        return {**key.info(), "secret_key": secret}

    def console_create_agent(self, name: object) -> dict[str, Any]:
        """Make an agent as the control panel does (its model: AGENT_MODEL); its keys are then
        made through the API (`POST /v2/gen-ai/agents/{uuid}/api_keys`)."""
        return self.agent_info(self.store.create_agent(_valid_name(name)))

    def agent_info(self, agent: StoredAgent) -> dict[str, Any]:
        """The agent as `GET /v2/gen-ai/agents` shows it: the fields an agent's keys need, and
        its endpoint here (DigitalOcean's is `https://<id>.agents.do-ai.run`)."""
        return {
            "uuid": agent.uuid,
            "name": agent.name,
            "created_at": agent.created_at,
            "model": {"inference_name": AGENT_MODEL},
            "deployment": {"url": f"{self.base_url}/agents/{agent.uuid}", "status": "STATUS_RUNNING"},
        }

    def account_store(self, token: str) -> KeyStore:
        """The key table of the account `token` belongs to."""
        return self.stores[self._account_of.get(token, DEFAULT_ACCOUNT)]

    def find_by_secret(self, secret: str) -> StoredKey | None:
        """The live key, in any account, this secret belongs to (inference endpoints are shared)."""
        return next((key for store in self.stores.values() if (key := store.find_by_secret(secret))), None)

    def find_agent(self, agent_uuid: str) -> StoredAgent | None:
        return next((agent for store in self.stores.values() if (agent := store.agent(agent_uuid))), None)

    def inject(self, **fault: Any) -> None:
        self.faults.add(Fault.from_request(fault))

    def reset(self) -> None:
        for store in self.stores.values():
            store.reset()
        self.faults.clear()
        self.limiter.reset()
        self.stats.reset()
        self.inference = InferenceState()


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` levels (walked without recursion)."""
    pending = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            pending.extend(
                (child, depth + 1) for child in (item.values() if isinstance(item, dict) else item)
            )
    return False


def _inference_body(method: str, raw: bytes) -> Any:
    """A POST's JSON body; None for a GET. InferenceError 400 `invalid_json` when it is not JSON
    (RFC 8259: Python's NaN and Infinity are not) or nests deeper than MAX_JSON_DEPTH: a fixed
    limit, well under the recursion limit that parsing, and later digesting, the body would hit."""
    if method != "POST":
        return None
    reason = f"nested more than {MAX_JSON_DEPTH} levels deep"
    try:
        body = json.loads(raw, parse_constant=_not_json) if raw.strip() else None
    except RecursionError:
        body = None
    except (ValueError, UnicodeDecodeError):
        reason = "send RFC 8259 JSON in UTF-8: no NaN, no Infinity"
    else:
        if not _deeper_than(body, MAX_JSON_DEPTH):
            return body
    raise InferenceError(
        400, f"request body is not valid JSON ({reason})", "invalid_request_error", "invalid_json"
    )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive connections must not hold up a stop
    allow_reuse_address = True
    emulator: Emulator


def _valid_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise _ApiError(400, "name must be a non-empty string")
    if len(name) > MAX_NAME_LENGTH:
        raise _ApiError(400, f"name must be at most {MAX_NAME_LENGTH} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise _ApiError(400, "name must not contain control characters")
    return name


def _positive_int(query: dict[str, list[str]], name: str, default: int) -> int:
    values = query.get(name)
    if not values:
        return default
    raw = values[-1]
    if not re.fullmatch(r"[0-9]{1,9}", raw) or int(raw) < 1:
        raise _ApiError(400, f"{name} must be a positive integer, got {raw[:20]!r}")
    return int(raw)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, keep-alive clients wait ~40 ms on each.
    disable_nagle_algorithm = True
    server: _Server

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def emulator(self) -> Emulator:
        return self.server.emulator

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.emulator.config.access_log:
            super().log_message(format, *args)

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the connection was dropped on purpose
            super().finish()

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def _bearer(self) -> str:
        header = self.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        return token.strip() if scheme.lower() == "bearer" else ""

    def _read_raw_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        if not length.isdigit() or int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            if length.isdigit() and int(length) <= MAX_DRAINED_BYTES:
                self._drain(int(length))
            raise _ApiError(413)
        return self.rfile.read(int(length))

    def _drain(self, length: int) -> None:
        """Read (and drop) what the client is sending before refusing it: closing with the body
        unread makes its write fail (EPIPE) before it can read the 413, a race it loses under load.
        A client that claims a length it does not send is refused after DRAIN_WAIT_SECONDS."""
        self.connection.settimeout(DRAIN_WAIT_SECONDS)
        remaining = length
        with contextlib.suppress(OSError):  # a timeout, or the client gone: answer anyway
            while remaining and (chunk := self.rfile.read1(min(remaining, 1 << 16))):
                remaining -= len(chunk)

    def _json_body(self, raw: bytes, required: bool) -> Any:
        if not raw.strip():
            if required:
                raise _ApiError(400, "a JSON request body is required")
            return {}
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8"
            raise _ApiError(400, f"request body is not valid JSON ({reason})") from None
        except RecursionError:  # nested deeper than the parser goes: refused, not a dropped connection
            raise _ApiError(400, "request body is not valid JSON (nested too deeply)") from None

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        payload = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("x-request-id", self._request_id)
        if self.close_connection:  # say so, or a keep-alive client reuses a socket we are closing
            self.send_header("Connection", "close")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_canned(self, fault: Fault) -> None:
        """An `answer` fault's status, headers and body, exactly: none of the emulator's own headers
        (ratelimit-*, x-request-id) unless the fault names them, and a JSON content type by default."""
        payload = fault.payload() if fault.status != 204 else b""  # a 204 has no body (RFC 9110 15.3.5)
        self.send_response(fault.status)
        if not any(name.lower() == "content-type" for name in fault.headers):
            self.send_header("Content-Type", "application/json; charset=utf-8")
        if fault.status != 204:
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        for name, value in fault.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(payload)

    def _send_error(self, status: int, message: str | None, headers: dict[str, str] | None) -> None:
        error_id = ERRORS.get(status, ("error", ""))[0]
        body = {
            "id": error_id,
            "message": message or ERRORS.get(status, ERRORS[500])[1],
            "request_id": self._request_id,
        }
        self._send(status, body, headers)

    def _drop(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- routing ------------------------------------------------------------------------------
    def _dispatch(self, method: str) -> None:
        self._request_id = str(uuidlib.uuid4())
        parts = urlsplit(self.path)
        path = parts.path.rstrip("/") or "/"
        api = is_api(path)
        try:
            raw = self._read_raw_body()
        except _ApiError as err:
            if path.startswith("/v1/"):  # the inference surface refuses in its own error shape
                message = f"request body is larger than {MAX_BODY_BYTES} bytes"
                self._send(
                    err.status, InferenceError(err.status, message, "invalid_request_error", "too_large").body
                )
                return
            # Every DigitalOcean API response carries the ratelimit-* headers (description.yml, "Rate
            # Limit"; the spec's `default` response declares them), a refused body included.
            headers = self.emulator.limiter.peek(self._bearer()).headers() if api else None
            self._send_error(err.status, err.message, headers)
            return
        if api:
            self._api(method, path, parse_qs(parts.query, keep_blank_values=True), raw)
        elif path.startswith(("/v1/", "/agents/")):
            self._inference(method, path, raw)
        elif path.startswith("/_sandbox/"):
            self._admin(method, path, raw)
        else:
            self._send_error(404, None, None)

    def _api(self, method: str, path: str, query: dict[str, list[str]], raw: bytes) -> None:
        emulator = self.emulator
        token = self._bearer()
        scopes_write = token in emulator.config.tokens or token in emulator._account_of
        if not token or not (scopes_write or token in emulator.config.read_only_tokens):
            self._send_error(401, None, emulator.limiter.peek(token).headers())
            emulator.stats.record("unauthenticated", 401)
            return
        decision = emulator.limiter.hit(token)
        rate_headers = decision.headers()
        operation = "unrouted"
        try:
            try:
                target = route_api(method, path)
            except RouteError as err:
                raise _ApiError(err.status) from None
            operation = target.operation
            if not decision.allowed:
                raise _ApiError(429)
            if target.writes and not scopes_write:
                raise _ApiError(403, f"this token lacks the genai:{scope_of(target.action)} scope")
            status, body = self._with_faults(operation, decision, lambda: self._api_op(target, query, raw))
        except _Drop:
            emulator.stats.record(operation, "dropped")
            self._drop()
            return
        except _Canned as canned:
            emulator.stats.record(operation, f"answer {canned.fault.status}")
            self._send_canned(canned.fault)
            return
        except _ApiError as err:
            emulator.stats.record(operation, err.status)
            self._send_error(err.status, err.message, {**rate_headers, **err.extra_headers})
            return
        emulator.stats.record(operation, status)
        self._send(status, body, rate_headers)

    def _with_faults(self, operation: str, decision: Decision, handler: Any) -> tuple[int, Any]:
        fault = self.emulator.faults.take(operation)
        if fault is None:
            return handler()  # type: ignore[no-any-return]
        if fault.kind == "delay":
            time.sleep(fault.delay_seconds)
            return handler()  # type: ignore[no-any-return]
        if fault.kind == "drop":
            raise _Drop()
        if fault.kind == "drop_after_commit":
            handler()
            raise _Drop()
        if fault.kind == "answer":
            if fault.commit:
                with contextlib.suppress(_ApiError):  # the canned answer replaces a refusal too
                    handler()
            raise _Canned(fault)
        if fault.kind == "rate_limit":
            raise _ApiError(
                429,
                extra_headers={
                    "ratelimit-remaining": "0",
                    "ratelimit-reset": str(math.ceil(time.time()) + fault.retry_after),
                    "retry-after": str(fault.retry_after),
                },
            )
        raise _ApiError(fault.status)

    @property
    def _store(self) -> KeyStore:
        """The key table of the account the request's token belongs to."""
        return self.emulator.account_store(self._bearer())

    def _api_op(self, target: ApiTarget, query: dict[str, list[str]], raw: bytes) -> tuple[int, Any]:
        if target.operation == "list_models":
            return 200, self._list_models(query)
        if target.operation == "list_agents":
            return 200, self._list_agents(query)
        if target.agent_uuid != MODEL_KEYS and self._store.agent(target.agent_uuid) is None:
            raise _ApiError(404)  # no such agent: none of its keys exist either
        if target.action == "list":
            return 200, self._list(target, query)
        if target.action == "create":
            return self._create(target, raw)
        assert target.key_uuid is not None
        return self._KEY_OPERATIONS[target.action](self, target, raw)

    def _json_object(self, raw: bytes) -> dict[str, Any]:
        body = self._json_body(raw, required=True)
        if not isinstance(body, dict):
            raise _ApiError(400, "request body must be a JSON object")
        return body

    def _create(self, target: ApiTarget, raw: bytes) -> tuple[int, Any]:
        # Retired for model keys only (June 2026): an agent's keys are still made through the API.
        if target.agent_uuid == MODEL_KEYS and self.emulator.config.create_mode == "retired":
            raise _ApiError(410)
        body = self._json_object(raw)
        self._same_agent(target, body)
        key, secret = self._store.create(_valid_name(body.get("name")), target.agent_uuid)
        return 200, {"api_key_info": {**key.info(), "secret_key": secret}}

    @staticmethod
    def _same_agent(target: ApiTarget, body: dict[str, Any]) -> None:
        """An agent key's body may repeat the agent's uuid (`agent_uuid`); it must be the path's."""
        if target.agent_uuid != MODEL_KEYS and body.get("agent_uuid") not in (None, target.agent_uuid):
            raise _ApiError(400, "agent_uuid in the body does not match the path")

    def _rename(self, target: ApiTarget, raw: bytes) -> tuple[int, Any]:
        store, key_uuid, agent_uuid = self._store, target.key_uuid or "", target.agent_uuid
        body = self._json_object(raw)
        body_uuid = body.get("api_key_uuid")
        if body_uuid is not None and body_uuid != key_uuid:
            raise _ApiError(400, "api_key_uuid in the body does not match the path")
        self._same_agent(target, body)
        name = body.get("name")
        existing: StoredKey | None
        if name is None:
            existing = store.get(key_uuid, agent_uuid)
        else:
            existing = store.rename(key_uuid, _valid_name(name), agent_uuid)
        if existing is None:
            raise _ApiError(404)
        return 200, {"api_key_info": existing.info()}

    def _regenerate(self, target: ApiTarget, raw: bytes) -> tuple[int, Any]:
        regenerated = self._store.regenerate(target.key_uuid or "", target.agent_uuid)
        if regenerated is None:
            raise _ApiError(404)
        key, secret = regenerated
        return 200, {"api_key_info": {**key.info(), "secret_key": secret}}

    def _delete(self, target: ApiTarget, raw: bytes) -> tuple[int, Any]:
        deleted = self._store.delete(target.key_uuid or "", target.agent_uuid)
        if deleted is None:
            raise _ApiError(404)
        key, deleted_at = deleted
        return 200, {"api_key_info": {**key.info(), "deleted_at": deleted_at}}

    # The operations on one key (the path names it), by ApiTarget.action.
    _KEY_OPERATIONS: ClassVar[dict[str, Callable[[_Handler, ApiTarget, bytes], tuple[int, Any]]]] = {
        "rename": _rename,
        "regenerate": _regenerate,
        "delete": _delete,
    }

    def _list(self, target: ApiTarget, query: dict[str, list[str]]) -> dict[str, Any]:
        chunk, paging = self._paged(self._store.list(target.agent_uuid), query, target.collection, {})
        return {"api_key_infos": [k.info() for k in chunk], **paging}

    def _list_agents(self, query: dict[str, list[str]]) -> dict[str, Any]:
        chunk, paging = self._paged(self._store.agents(), query, AGENTS_PATH, {})
        return {"agents": [self.emulator.agent_info(a) for a in chunk], **paging}

    def _list_models(self, query: dict[str, list[str]]) -> dict[str, Any]:
        try:
            models = select_models(query)
        except FilterError as err:
            raise _ApiError(400, str(err)) from None
        kept: dict[str, str] = {
            name: ",".join(query[name]) for name in ("usecases", "public_only") if name in query
        }
        chunk, paging = self._paged(models, query, MODELS_PATH, kept)
        return {"models": [api_model(m) for m in chunk], **paging}

    def _paged(
        self, items: list[Any], query: dict[str, list[str]], path: str, kept: dict[str, str]
    ) -> tuple[list[Any], dict[str, Any]]:
        """The page of `items` the query asks for, and its `links` and `meta` (gen-ai paging); the
        links repeat the `kept` query parameters."""
        page = _positive_int(query, "page", 1)
        per_page = min(_positive_int(query, "per_page", DEFAULT_PER_PAGE), MAX_PER_PAGE)
        total = len(items)
        pages = max(1, math.ceil(total / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])

        def link(number: int) -> str:
            query = urlencode({**kept, "page": number, "per_page": per_page})
            return f"{self.emulator.scheme}://{host}{path}?{query}"

        # Only the links that make sense, as the API documents: none back from page 1, none on.
        links: dict[str, str] = {}
        if page > 1:
            links["first"] = link(1)
            links["previous"] = link(min(page - 1, pages))
        if page < pages:
            links["next"] = link(page + 1)
            links["last"] = link(pages)
        return chunk, {"links": {"pages": links}, "meta": {"page": page, "pages": pages, "total": total}}

    # -- inference ----------------------------------------------------------------------------
    def _inference(self, method: str, path: str, raw: bytes) -> None:
        emulator = self.emulator
        operation = "inference"
        try:
            agent, route_path = self._endpoint_of(path)
            found = find_route(method, route_path)
            # An agent's endpoint serves chat completions only.
            if found is None or (agent is not None and found[0].operation != "chat_completions"):
                raise InferenceError(404, f"no such endpoint: {path}", "invalid_request_error", "not_found")
            route, params = found
            operation = route.operation
            token = self._bearer()
            key = emulator.find_by_secret(token) if token else None
            # A model key calls the serverless endpoints, an agent's key its agent only.
            if key is None or key.agent_uuid != (agent.uuid if agent is not None else MODEL_KEYS):
                what = "agent access key" if agent is not None else "model access key"
                raise InferenceError(
                    401, f"invalid or revoked {what}", "authentication_error", "invalid_api_key"
                )
            body = _inference_body(method, raw)
            if agent is not None and isinstance(body, dict):
                body = {**body, "model": AGENT_MODEL}  # the agent's model, whatever the request names
            request = Request(body, params, emulator.inference)
            answer = self._with_faults(operation, emulator.limiter.peek(""), lambda: route.handler(request))
        except InferenceError as err:
            emulator.stats.record(operation, err.status)
            self._send(err.status, err.body)
            return
        except _Drop:
            emulator.stats.record(operation, "dropped")
            self._drop()
            return
        except _Canned as canned:
            emulator.stats.record(operation, f"answer {canned.fault.status}")
            self._send_canned(canned.fault)
            return
        except _ApiError as err:
            emulator.stats.record(operation, err.status)
            kind = "rate_limit_error" if err.status == 429 else "server_error"
            self._send(
                err.status, {"error": {"message": err.message, "type": kind, "code": kind}}, err.extra_headers
            )
            return
        emulator.stats.record(operation, 200 if isinstance(answer, Stream) else answer[0])
        if isinstance(answer, Stream):
            self._send_events(answer)
        else:
            self._send(*answer)

    def _endpoint_of(self, path: str) -> tuple[StoredAgent | None, str]:
        """The agent whose endpoint `path` is under (None: the serverless surface), and the path
        the inference routes know (`/v1/...`)."""
        matched = AGENT_ENDPOINT.fullmatch(path)
        if matched is None:
            if path.startswith("/agents/"):
                raise InferenceError(404, f"no such endpoint: {path}", "invalid_request_error", "not_found")
            return None, path
        agent = self.emulator.find_agent(matched["agent"])
        if agent is None:
            raise InferenceError(404, "no such agent", "invalid_request_error", "not_found")
        return agent, matched["rest"]

    def _send_events(self, stream: Stream) -> None:
        """Server-sent events as OpenAI streams them: `data: {json}` blocks, then `data: [DONE]`."""
        self.close_connection = True  # no Content-Length: the answer ends with the connection
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("x-request-id", self._request_id)
        self.send_header("Connection", "close")
        self.end_headers()
        for event in stream.events:
            self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()

    # -- control panel ------------------------------------------------------------------------
    def _admin(self, method: str, path: str, raw: bytes) -> None:
        emulator = self.emulator
        try:
            if path == "/_sandbox/health":
                if method != "GET":
                    raise _ApiError(405)
                self._send(200, {"status": "ok"})
                return
            token = self._bearer()
            if token != emulator.config.admin_token:
                if token in emulator.config.tokens or token in emulator.config.read_only_tokens:
                    raise _ApiError(403, "the control panel is not reachable with an API token")
                raise _ApiError(401)
            status, body = self._admin_op(method, path, raw)
        except _ApiError as err:
            self._send_error(err.status, err.message, None)
            return
        self._send(status, body)

    def _admin_op(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        handler = self._ADMIN_ROUTES.get((method, path))
        if handler is not None:
            return handler(self, raw)
        if path in self._ADMIN_PATHS:
            raise _ApiError(405)
        raise _ApiError(404)

    def _console_keys(self, raw: bytes) -> tuple[int, Any]:
        return 200, {"api_key_infos": [k.info() for k in self.emulator.store.list()]}

    def _console_create(self, raw: bytes) -> tuple[int, Any]:
        body = self._json_object(raw)
        return 201, {"api_key_info": self.emulator.console_create(body.get("name"))}

    def _console_agents(self, raw: bytes) -> tuple[int, Any]:
        return 200, {"agents": [self.emulator.agent_info(a) for a in self.emulator.store.agents()]}

    def _console_create_agent(self, raw: bytes) -> tuple[int, Any]:
        body = self._json_object(raw)
        return 201, {"agent": self.emulator.console_create_agent(body.get("name"))}

    def _faults(self, raw: bytes) -> tuple[int, Any]:
        return 200, {"faults": self.emulator.faults.pending()}

    def _add_fault(self, raw: bytes) -> tuple[int, Any]:
        try:
            fault = Fault.from_request(self._json_body(raw, required=True))
        except FaultSpecError as exc:
            raise _ApiError(400, f"fault: {exc}") from None
        self.emulator.faults.add(fault)
        return 201, {"fault": fault.view()}

    def _clear_faults(self, raw: bytes) -> tuple[int, Any]:
        self.emulator.faults.clear()
        return 200, {"faults": []}

    def _stats(self, raw: bytes) -> tuple[int, Any]:
        return 200, self.emulator.stats.view()

    def _reset(self, raw: bytes) -> tuple[int, Any]:
        self.emulator.reset()
        return 200, {"status": "reset"}

    def _get_settings(self, raw: bytes) -> tuple[int, Any]:
        return 200, self._settings()

    def _put_settings(self, raw: bytes) -> tuple[int, Any]:
        self._update_settings(self._json_body(raw, required=True))
        return 200, self._settings()

    # The control panel behind the admin token (/_sandbox/health, open to all, is served by _admin).
    _ADMIN_ROUTES: ClassVar[dict[tuple[str, str], Callable[[_Handler, bytes], tuple[int, Any]]]] = {
        ("GET", "/_sandbox/console/keys"): _console_keys,
        ("POST", "/_sandbox/console/keys"): _console_create,
        ("GET", "/_sandbox/console/agents"): _console_agents,
        ("POST", "/_sandbox/console/agents"): _console_create_agent,
        ("GET", "/_sandbox/faults"): _faults,
        ("POST", "/_sandbox/faults"): _add_fault,
        ("DELETE", "/_sandbox/faults"): _clear_faults,
        ("GET", "/_sandbox/stats"): _stats,
        ("POST", "/_sandbox/reset"): _reset,
        ("GET", "/_sandbox/settings"): _get_settings,
        ("PUT", "/_sandbox/settings"): _put_settings,
    }
    # A known path asked with another method is a 405, any other path a 404.
    _ADMIN_PATHS: ClassVar[frozenset[str]] = frozenset(path for _, path in _ADMIN_ROUTES)

    def _settings(self) -> dict[str, Any]:
        config = self.emulator.config
        limiter = self.emulator.limiter
        return {
            "create_mode": config.create_mode,
            "rate_limit_per_minute": limiter.per_minute,
            "rate_limit_per_hour": limiter.per_hour,
        }

    def _update_settings(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise _ApiError(400, "request body must be a JSON object")
        unknown = set(body) - {"create_mode", "rate_limit_per_minute", "rate_limit_per_hour"}
        if unknown:
            raise _ApiError(400, f"unknown setting(s): {', '.join(sorted(unknown))}")
        mode = body.get("create_mode", self.emulator.config.create_mode)
        if mode not in CREATE_MODES:
            raise _ApiError(400, f"create_mode must be one of {', '.join(CREATE_MODES)}")
        budgets = {}
        for name in ("rate_limit_per_minute", "rate_limit_per_hour"):
            value = body.get(name, getattr(self.emulator.limiter, name.removeprefix("rate_limit_")))
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise _ApiError(400, f"{name} must be 0 (off) or a positive integer")
            budgets[name] = value
        self.emulator.config.create_mode = mode
        self.emulator.limiter.per_minute = budgets["rate_limit_per_minute"]
        self.emulator.limiter.per_hour = budgets["rate_limit_per_hour"]
