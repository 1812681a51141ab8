"""DigitalOcean Gradient AI model access keys and agent API keys, over the official `pydo` client.

Routes (`/v2/gen-ai/models/api_keys`, or an agent's `/v2/gen-ai/agents/{agent}/api_keys`: one
client per collection, components/key_collection.py; see spec/do-openapi): list GET (page,
per_page), rename PUT `/{uuid}`, regenerate PUT `/{uuid}/regenerate`, delete DELETE `/{uuid}`
(200 with body), create POST (retired upstream in June 2026 for model keys: 410 `gone`).

How this module handles pydo's traps (each verified against the sandbox; see DESIGN.md):
- pydo's default retry policy retries PUT on 429/5xx/lost responses, and every retried regenerate
  mints a new secret. It is replaced by `_Retry`, azure-core's `RetryPolicy` with this module's
  rules: list, rename and delete retry on 429, 5xx and lost or unreadable answers, waiting as
  `pacing.Backoff` says (`retry-after`, then `ratelimit-reset`, then jittered exponential); a
  request that mints a secret (regenerate, create) is never repeated by it, whatever the call
  asks. `_mint` decides for those: an unknown outcome is resolved by listing first.
- Pacing and request counting are per-attempt pipeline policies (`_PacedAndCounted`), so every
  request sent, retries included, waits its turn and is counted.
- A 404 does not raise in pydo (the error dict is returned): statuses are checked explicitly.
- Create goes out as a raw request: pydo >= 0.37 accepts only 410 and puts a 200 body, secret
  included, in its exception text.
- pydo's network-trace logging (which prints the Authorization header and bodies) is replaced by
  a no-op policy, so no logging setting can make it print a token or a secret.
- Errors carry only status, error id and request id (each only when shaped like DigitalOcean's);
  secrets travel as `Secret`, wrapped the moment pydo hands a body over (`seal`), so no frame's
  locals ever hold one as a plain string.
- Every answer is checked against its documented shape before use: anything else is a
  `DigitalOceanError` naming the operation and the field (never a value from the answer); for a
  create or regenerate, which may have minted a secret, an `UnknownOutcomeError`.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any, NoReturn, cast
from urllib.parse import urlsplit

import pydo
from azure.core.exceptions import DecodeError, HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import ContentDecodePolicy, HTTPPolicy, RetryPolicy, SansIOHTTPPolicy
from azure.core.rest import HttpRequest
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from components import endpoints
from components.endpoints import DEFAULT_API_URL
from components.errors import (
    AmbiguousKeyError,
    AuthenticationError,
    ConfigurationError,
    CreateRetiredError,
    DigitalOceanError,
    KeyNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    UnavailableError,
    UnknownOutcomeError,
)
from components.key_collection import MODEL_KEYS, GenAIKeys, KeyCollection
from components.pacing import (
    DEFAULT_BURST_PER_MINUTE,
    Backoff,
    RateLimitPacer,
    RateLimitState,
    parse_rate_headers,
)
from components.secret import Secret, seal
from components.timing import Stopwatch

__all__ = [
    "BURST_ENV",
    "DEFAULT_API_URL",
    "PAGE_SIZE",
    "ClientSettings",
    "DeleteOutcome",
    "IssuedKey",
    "ModelKey",
    "ModelKeys",
]

log = logging.getLogger("gradient_keys.digitalocean")

BURST_ENV = "GRADIENT_KEYS_DO_BURST_PER_MINUTE"
PAGE_SIZE = 200  # the API's maximum per_page: N keys cost ceil(N/200) list requests
# What goes into an error message from an error body: only fields shaped like what DigitalOcean
# sends, so a hostile or broken endpoint cannot make us print a secret it planted there.
# - `id` is a short snake_case word naming the status (spec/do-openapi shared/responses:
#   not_found, too_many_requests, server_error, unauthorized; description.yml: forbidden, gone).
#   Words of at most 16 letters, at most 5 of them: a random token of that shape is implausible, and
#   ids that start like a credential (sk_, dop_, doo_, dor_) are dropped all the same.
# - `request_id` is a uuid (shared/models/error.yml, example 4d9d8375-3c56-4925-a3e7-eb137fed17e9).
#   A model access key (`sk-do-...`) or a token (`dop_v1_...`) can never have that shape.
_SAFE_ID = re.compile(r"(?!(?:sk|dop|doo|dor)_)[a-z]{1,16}(?:_[a-z]{1,16}){0,4}")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_SECRET_FIELD = "secret_key"  # noqa: S105 - a field name


@dataclass(frozen=True)
class ClientSettings:
    """Where and as whom to call DigitalOcean. The token is a `Secret`: never printed, never pickled."""

    api_url: str
    token: Secret
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_attempts: int = 5
    # The burst limit the pacer stays under (requests per minute; 0: none); None leaves the pacer's own.
    burst_per_minute: float | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str], configured_url: str | None = None) -> ClientSettings:
        """`DIGITALOCEAN_TOKEN`, and the API at `DIGITALOCEAN_API_URL`, else the stack config's
        `configured_url`, else the real API (components/endpoints.py says who may redirect it);
        `GRADIENT_KEYS_DO_BURST_PER_MINUTE`, else DigitalOcean's documented 250."""
        env = environ
        token = env.get("DIGITALOCEAN_TOKEN", "").strip()
        if not token:
            raise ConfigurationError(
                "DIGITALOCEAN_TOKEN is not set: export a DigitalOcean API token with the genai scopes "
                '(for the local sandbox, `eval "$(gradient-keys sandbox up)"` sets it)'
            )
        endpoint = endpoints.digitalocean_api(configured_url, env)
        parts = urlsplit(endpoint.url)
        if parts.path not in ("", "/") or parts.query:
            raise ConfigurationError(
                f"{endpoint.setting} must be a bare base URL such as {DEFAULT_API_URL} (no path or query)"
            )
        return cls(api_url=endpoint.url, token=Secret(token), burst_per_minute=_burst_per_minute(env))


def _burst_per_minute(environ: Mapping[str, str]) -> float:
    """DigitalOcean's burst limit shows in no header, so the pacer is told it: a number of requests
    per minute (a test window scales it: 60 per second is 3600), 0 for a sandbox without one."""
    raw = environ.get(BURST_ENV, "").strip()
    if not raw:
        return DEFAULT_BURST_PER_MINUTE
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise ConfigurationError(
            f"{BURST_ENV} must be a number of requests per minute (DigitalOcean's limit is "
            f"{DEFAULT_BURST_PER_MINUTE:g}), or 0 for no burst limit; it is {raw[:20]!r}"
        )
    return value


@dataclass(frozen=True)
class ModelKey:
    """A model access key as DigitalOcean lists it (no secret: listings never carry one)."""

    uuid: str
    name: str
    created_at: str | None = None
    created_by: str | None = None

    @classmethod
    def from_info(cls, info: Any) -> ModelKey:
        """An `apiModelAPIKeyInfo`; ValueError naming the field (never its value) when it is not one."""
        problem = _key_info_problem(info)
        if problem is not None:
            raise ValueError(problem)
        return cls(
            uuid=info["uuid"],
            name=info.get("name") or "",
            # Informational only, never decided on: a value of another type is dropped, not an error.
            created_at=info.get("created_at") if isinstance(info.get("created_at"), str) else None,
            created_by=info.get("created_by") if isinstance(info.get("created_by"), str) else None,
        )


def _key_info_problem(info: Any) -> str | None:
    """What makes `info` unusable as a key (it names fields, never values), or None."""
    if not isinstance(info, dict):
        return "api_key_info is not an object"
    uuid = info.get("uuid")
    if uuid is None:
        return "api_key_info has no uuid"
    if not isinstance(uuid, str) or not _UUID.fullmatch(uuid):
        # Key uuids end up in messages and Pulumi state: only a uuid-shaped one is believed.
        return "api_key_info.uuid is not a uuid"
    if not isinstance(info.get("name"), (str, type(None))):
        return "api_key_info.name is not a string"
    return None


@dataclass(frozen=True)
class IssuedKey:
    """A key together with the secret that create or regenerate just handed out."""

    key: ModelKey
    secret: Secret
    # False when an earlier attempt's answer was lost: that request may still commit later and
    # kill this secret, so whoever stores it should check it again on the next run.
    settled: bool = True


@dataclass(frozen=True)
class DeleteOutcome:
    uuid: str
    already_gone: bool  # True when DigitalOcean had no such key on our first attempt


@dataclass(frozen=True, repr=False)
class _Reply:
    """One answer. `body` is the parsed JSON, every `secret_key` in it already sealed (`seal`)."""

    status: int
    body: Any
    headers: Mapping[str, str]
    attempt: int = 1  # which attempt of its call this answer came from (the pipeline retries)

    def __repr__(self) -> str:
        # Never the body: a traceback printed with its locals (pytest -l, Sentry) shows this.
        return f"_Reply(status={self.status})"


class _TransportFailure(Exception):
    def __init__(self, reached_server: bool, kind: str) -> None:
        super().__init__(kind)
        self.reached_server = reached_server  # False: nothing was sent, so nothing changed
        self.kind = kind


class _WaitRefused(Exception):
    """The server asks for a longer wait than `Backoff.max_wait`: not slept (see `_retry_wait`)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


class _TryAgain(Exception):
    """A secret-minting attempt that may be repeated: nothing changed (a 429, whose rate-limit
    headers are `state`, or a request never sent), or a lost outcome was looked into."""

    def __init__(self, state: RateLimitState | None = None) -> None:
        super().__init__()
        self.state = state


@dataclass
class _MintLog:
    refused: bool = False  # some attempt was answered 429
    unknown: bool = False  # some attempt's outcome is unknown: it may have minted a secret


class _UnreadableAnswer(ServiceResponseError):
    """An answer pydo could not read: a lost answer, to the retry policy. Holds no text of it."""


# A per-call option, popped by `_Retry` before the transport sees it: (operation, key) for logs.
_CALL_OPTION = "gradient_keys_call"
_ATTEMPT = "gradient_keys_attempt"  # pipeline context: the number of the attempt under way
_RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")


def _retry_wait(backoff: Backoff, attempt: int, state: RateLimitState | None) -> float:
    """Seconds to wait after failed attempt `attempt`; `_WaitRefused` beyond `backoff.max_wait`."""
    wait = backoff.delay(attempt, state)
    if wait > backoff.max_wait:
        raise _WaitRefused(wait)
    return wait


def _mints_secret(request: Any) -> bool:
    """Create (POST) and regenerate: a repeat mints another secret and kills the one before."""
    return bool(request.method.upper() == "POST" or urlsplit(request.url).path.endswith("/regenerate"))


class _Retry(RetryPolicy[HttpRequest, Any]):
    """azure-core's retry loop with DigitalOcean's rules, in place of pydo's default policy.

    Retries 429 and every 5xx (azure-core's default skips 501 and 505 and retries 408), and lost
    (`ServiceResponseError`, `_UnreadableAnswer` included) or unsent (`ServiceRequestError`)
    requests, for GET, PUT and DELETE;
    `max_attempts` attempts in all. Never a request that mints a secret, whatever the call asks.
    Waits as `pacing.Backoff` says, through the injected `sleep`, and refuses a wait beyond
    `Backoff.max_wait` (`_WaitRefused`, which `ModelKeys` reports as `RateLimitedError`).
    """

    def __init__(
        self, max_attempts: int, backoff: Callable[[], Backoff], sleep: Callable[[float], None]
    ) -> None:
        retries = max(0, max_attempts - 1)
        # Every counter at the total: the attempts are bounded by it, whatever failed.
        super().__init__(retry_total=retries, retry_connect=retries, retry_read=retries, retry_status=retries)
        self._backoff = backoff
        self._sleep = sleep

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        settings = super().configure_retries(options)
        settings["allowed"] = settings["total"]
        settings["call"] = options.pop(_CALL_OPTION, ("request", None))
        return settings

    def _is_method_retryable(self, settings: dict[str, Any], request: Any, response: Any = None) -> bool:
        # Unlike azure-core's, never a POST on a 5xx, and never a regenerate (a PUT).
        return request.method.upper() in settings["methods"] and not _mints_secret(request)

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse[Any, Any]) -> bool:
        status = response.http_response.status_code
        return (status == 429 or status >= 500) and self._is_method_retryable(settings, response.http_request)

    def sleep(
        self,
        settings: dict[str, Any],
        transport: Any,
        response: PipelineResponse[HttpRequest, Any] | None = None,
    ) -> None:
        attempt = settings["allowed"] - settings["total"]
        state: RateLimitState | None = None
        if response is not None and response.http_response.status_code == 429:
            state = parse_rate_headers(response.http_response.headers)  # retry-after, ratelimit-reset
        wait = _retry_wait(self._backoff(), attempt, state)
        operation, key = settings["call"]
        log.debug("%s %s: attempt %d failed, retrying in %.2fs", operation, key or "", attempt, wait)
        self._sleep(wait)


class _PacedAndCounted(HTTPPolicy[HttpRequest, Any]):
    """Per attempt (it stands after `_Retry`): wait for the pacer's turn, count the request, number
    the attempt, and feed the answer's rate-limit headers back to the pacer."""

    def __init__(
        self, pacer: Callable[[], RateLimitPacer], counted: Callable[[], None], stopwatch: Stopwatch
    ) -> None:
        super().__init__()
        self._pacer = pacer
        self._counted = counted
        self._stopwatch = stopwatch

    def send(self, request: PipelineRequest[HttpRequest]) -> PipelineResponse[HttpRequest, Any]:
        pacer = self._pacer()
        pacer.wait_turn()
        self._counted()
        request.context[_ATTEMPT] = request.context.get(_ATTEMPT, 0) + 1
        with self._stopwatch.timing():  # the request itself, the pacer's wait apart
            response = self.next.send(request)
        pacer.observe(parse_rate_headers(response.http_response.headers))
        return response


class _ReadableAnswers(SansIOHTTPPolicy[HttpRequest, Any]):
    """Inside the retry loop, so that an answer that could not be read is retried like a lost one
    (as list, rename and delete always did): what azure-core's ContentDecodePolicy parses after
    the retries (any body labelled JSON), and what pydo's model-key methods parse after the
    pipeline returns (the JSON body of a 200 or 404 and its `ratelimit-*` headers as integers;
    pydo/operations/_operations.py, `regenerate_model_api_key`). Create goes out raw and reads
    its answer itself (`ModelKeys._raw`)."""

    def on_response(
        self, request: PipelineRequest[HttpRequest], response: PipelineResponse[HttpRequest, Any]
    ) -> None:
        http = response.http_response
        parsed_by_pydo = request.http_request.method.upper() != "POST" and http.status_code in (200, 404)
        unreadable = False
        try:
            ContentDecodePolicy.deserialize_from_http_generics(http)
            if parsed_by_pydo:
                if http.content:
                    http.json()
                for name in _RATE_HEADERS:
                    value = http.headers.get(name)
                    if value is not None:
                        int(value)
        except (DecodeError, ValueError):
            unreadable = True
        # Raised outside the except block: the parse error, which quotes the body, is not chained.
        if unreadable:
            raise _UnreadableAnswer("unreadable response")


class _PlainHttpBearer(SansIOHTTPPolicy[HttpRequest, Any]):
    """Bearer auth for http:// sandboxes, which azure-core's credential policy refuses."""

    def __init__(self, token: Secret) -> None:
        super().__init__()
        self._token = token

    def on_request(self, request: PipelineRequest[HttpRequest]) -> None:
        request.http_request.headers["Authorization"] = f"Bearer {self._token.reveal()}"


class _NoNetworkTrace(SansIOHTTPPolicy[HttpRequest, Any]):
    """Stands where azure-core's NetworkTraceLoggingPolicy would, which logs the Authorization
    header and bodies (secrets included) once a caller turns on `logging_enable`; this one logs nothing and
    consumes that option so it never reaches the transport."""

    def on_request(self, request: PipelineRequest[HttpRequest]) -> None:
        request.context.options.pop("logging_enable", None)


def _build_client(settings: ClientSettings, retry: _Retry, per_attempt: list[Any]) -> pydo.Client:
    kwargs: dict[str, Any] = {
        "endpoint": settings.api_url,
        "retry_policy": retry,
        "per_retry_policies": per_attempt,
        "connection_timeout": settings.connect_timeout,
        "read_timeout": settings.read_timeout,
        "logging_policy": _NoNetworkTrace(),
    }
    if settings.api_url.startswith("http://"):
        kwargs["authentication_policy"] = _PlainHttpBearer(settings.token)
    return pydo.Client(settings.token.reveal(), **kwargs)


def _safe_error_fields(body: Any) -> tuple[str | None, str | None]:
    """The error id and request id, and only if they look like identifiers (never free text)."""
    if not isinstance(body, dict):
        return None, None
    error_id = body.get("id")
    request_id = body.get("request_id")
    return (
        error_id if isinstance(error_id, str) and _SAFE_ID.fullmatch(error_id) else None,
        request_id if isinstance(request_id, str) and _UUID.fullmatch(request_id) else None,
    )


def _error_reply(exc: HttpResponseError) -> _Reply:
    """An HTTP error answer as a `_Reply` that keeps only its status, headers and the two safe
    fields of its body (the error id and the request id): never body text, which may quote a secret."""
    response: Any = exc.response
    body: Any = None
    if response is not None:
        try:
            body = response.json()
        except Exception:
            body = None
    error_id, request_id = _safe_error_fields(body)
    return _Reply(
        exc.status_code or 0,
        {"id": error_id, "request_id": request_id},
        response.headers if response is not None else {},
    )


def _capture(pipeline_response: Any, body: Any, _headers: Any) -> _Reply:
    """pydo `cls=` hook: keep the status, the headers and the attempt number the generated code
    would drop, and seal the secret before the body leaves pydo's frame."""
    http = pipeline_response.http_response
    attempt = pipeline_response.context.get(_ATTEMPT, 1)
    return _Reply(http.status_code, seal(body, _SECRET_FIELD), http.headers, attempt)


class ModelKeys:
    """Client for the key endpoints. Build one per job; it reads nothing global after __init__.

    `requests_made` counts HTTP requests sent (retries included), for benchmarks and audits.
    """

    def __init__(
        self,
        settings: ClientSettings,
        *,
        collection: KeyCollection = MODEL_KEYS,
        pacer: RateLimitPacer | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self.collection = collection
        self._sleep = sleep
        self.pacer = pacer if pacer is not None else RateLimitPacer(sleep=sleep)
        if settings.burst_per_minute is not None:  # the account's burst limit, wherever the pacer came from
            self.pacer.burst_per_minute = settings.burst_per_minute
        self.backoff = backoff if backoff is not None else Backoff()
        self.requests_made = 0
        self.stopwatch = Stopwatch()  # time in requests (pacing apart: `pacer.waited_seconds`)
        self._counting = threading.Lock()
        # The policies read `pacer` and `backoff` at each use: callers may swap them.
        retry = _Retry(self.settings.max_attempts, lambda: self.backoff, sleep)
        per_attempt = [
            _PacedAndCounted(lambda: self.pacer, self._count_request, self.stopwatch),
            _ReadableAnswers(),
        ]
        self._client = _build_client(self.settings, retry, per_attempt)
        self._api: GenAIKeys = self._client.genai
        self._lookup: Callable[[], list[ModelKey]] = self.list_all

    def __repr__(self) -> str:
        return f"ModelKeys(api_url={self.settings.api_url!r}, collection={self.collection!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("ModelKeys holds credentials and cannot be serialized; build one per call")

    def close(self) -> None:
        self._client.close()

    def _count_request(self) -> None:
        with self._counting:
            self.requests_made += 1

    def __enter__(self) -> ModelKeys:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- listing ------------------------------------------------------------------------------
    def iter_pages(self) -> Iterator[list[ModelKey]]:
        """Every key, a page of up to 200 at a time, following `meta.pages`.

        A page that is not the documented shape raises `DigitalOceanError` naming the page and
        the field (never a value from it).
        """
        page = 1
        previous: list[str] = []
        while True:
            reply = self._idempotent(
                "list",
                None,
                lambda n=page, **o: self.collection.list(self._api, n, PAGE_SIZE, **o),
            )
            if reply.status != 200:
                self._raise_for(reply, "list", None)
            if not isinstance(reply.body, dict):
                raise _malformed("list", None, f"page {page} of the key listing is not a JSON object")
            body: dict[str, Any] = reply.body
            infos = body.get("api_key_infos")
            if infos is None and "meta" in body:
                infos = []  # an empty account
            if not isinstance(infos, list):
                raise _malformed("list", None, f"page {page} of the key listing has no api_key_infos list")
            problem = next(filter(None, map(_key_info_problem, infos)), None)
            if problem is not None:
                raise _malformed("list", None, f"page {page} of the key listing: {problem}")
            keys = [ModelKey.from_info(info) for info in infos]
            uuids = [k.uuid for k in keys]
            if uuids and uuids == previous:
                # A server that ignores `page` would otherwise be paged through for ever.
                raise _malformed("list", None, f"page {page} of the key listing repeats page {page - 1}")
            previous = uuids
            yield keys
            meta = body.get("meta")
            pages = meta.get("pages") if isinstance(meta, dict) else None
            links = body.get("links")
            pages_links = links.get("pages") if isinstance(links, dict) else None
            has_next = isinstance(pages_links, dict) and bool(pages_links.get("next"))
            more = page < pages if isinstance(pages, int) and not isinstance(pages, bool) else has_next
            if not infos or not more:
                return
            page += 1

    def list_all(self) -> list[ModelKey]:
        seen: dict[str, ModelKey] = {}
        for chunk in self.iter_pages():
            for key in chunk:
                # A key created or deleted while paging can shift items across pages: de-duplicate.
                seen.setdefault(key.uuid, key)
        return list(seen.values())

    def use_listing(self, lookup: Callable[[], list[ModelKey]]) -> None:
        """Look keys up (`find`) through `lookup`, a listing begun after each call that the rest of
        the process shares (`clients.KeyListing.fresh`): lost answers that several threads resolve
        at once cost one listing, and what it shows updates the process's listing."""
        self._lookup = lookup

    def find(self, *, uuid: str | None = None, name: str | None = None) -> ModelKey | None:
        """The key with this uuid, or the only key with exactly this name (several: an error), in a
        listing begun after the call (`list_all`, or the listing given to `use_listing`)."""
        if (uuid is None) == (name is None):
            raise ValueError("find() takes exactly one of uuid= or name=")
        keys = self._lookup()
        if uuid is not None:
            return next((k for k in keys if k.uuid == uuid), None)
        matches = [k for k in keys if k.name == name]
        if len(matches) > 1:
            raise AmbiguousKeyError(
                f"{len(matches)} keys are named {name!r}; adopt by uuid instead "
                f"({', '.join(k.uuid for k in matches)})",
                operation="find",
                key=name,
            )
        return matches[0] if matches else None

    # -- changes ------------------------------------------------------------------------------
    def rename(self, key_uuid: str, name: str) -> ModelKey:
        reply = self._idempotent(
            "rename",
            key_uuid,
            lambda **o: self.collection.rename(self._api, key_uuid, name, **o),
        )
        if reply.status != 200:
            self._raise_for(reply, "rename", key_uuid)
        info = reply.body.get("api_key_info") if isinstance(reply.body, dict) else None
        problem = _key_info_problem(info)
        if problem is not None:
            raise _malformed(
                "rename",
                key_uuid,
                f"the answer is not the documented shape ({problem}); the new name may or may not "
                "have been applied",
            )
        return ModelKey.from_info(info)

    def delete(self, key_uuid: str) -> DeleteOutcome:
        """Delete; a key that is already gone is success, reported as `already_gone`."""
        reply = self._idempotent(
            "delete", key_uuid, lambda **o: self.collection.delete(self._api, key_uuid, **o)
        )
        if reply.status == 404:
            # A 404 after a lost earlier attempt means that attempt deleted it.
            gone_before = reply.attempt == 1
            log.debug("delete %s: already gone (first attempt: %s)", key_uuid, gone_before)
            return DeleteOutcome(key_uuid, already_gone=gone_before)
        if reply.status != 200:
            self._raise_for(reply, "delete", key_uuid)
        return DeleteOutcome(key_uuid, already_gone=False)

    def regenerate(self, key_uuid: str, *, retry_unknown: bool = True) -> IssuedKey:
        """A new secret for the key; the previous one stops working at once.

        Never retried blindly: a 429 or a refused connection changed nothing and is retried; a
        lost response or a 5xx may have minted a secret we never saw, so the key is looked up
        and, if it still exists, regenerated again to learn a secret that is known to be current.
        With `retry_unknown=False` such an outcome raises `UnknownOutcomeError` at once instead:
        a request that timed out may still commit later and kill the secret a retry would return,
        so a caller that can afford to wait (a dual-slot rotation of the unused slot) does not retry.
        """
        return self._mint(
            "regenerate",
            key_uuid,
            lambda: self._genai(
                "regenerate",
                key_uuid,
                lambda **o: self.collection.regenerate(self._api, key_uuid, retry_total=0, **o),
            ),
            resolve=self._resolve_lost_regenerate if retry_unknown else None,
            exhausted=(
                f"no regenerate answer after {self.settings.max_attempts} attempts; the key's current "
                "secret is unknown to gradient-keys. Run the rotation again once DigitalOcean answers"
            ),
        )

    def _resolve_lost_regenerate(self, key_uuid: str, why: str) -> None:
        """After a lost regenerate: the key still exists (so regenerate again), or an error."""
        log.warning(
            "regenerate %s: outcome unknown (%s); looking the key up before trying again", key_uuid, why
        )
        try:
            still_there = self.find(uuid=key_uuid) is not None
        except DigitalOceanError:
            still_there = None
        if still_there is None:
            # The old secret may already be dead: say so, rather than "unreachable, nothing changed".
            raise UnknownOutcomeError(
                f"the regenerate answer was lost ({why}) and the key could not be looked up afterwards; "
                "its current secret is unknown to gradient-keys. Rotate again once DigitalOcean answers",
                operation="regenerate",
                key=key_uuid,
            )
        if not still_there:
            raise KeyNotFoundError(
                "the key disappeared while it was being regenerated (deleted outside gradient-keys?)",
                operation="regenerate",
                key=key_uuid,
            )

    def create(self, name: str) -> IssuedKey:
        """Create a key where the API allows it: an agent's keys; model keys only in the
        pre-June-2026 API (or the sandbox's legacy mode).

        Sent as a raw request (see the module docstring). A 410 raises `CreateRetiredError` telling
        the user to make the key in the control panel for adoption. After a lost response the key
        is looked up by name before anything is tried again.
        """
        collection = self.collection

        def resolve(name: str, why: str) -> IssuedKey | None:
            log.warning("create %r: outcome unknown (%s); looking it up by name", name, why)
            existing = self.find(name=name)
            # Made, but its secret was lost with the response: mint a known one.
            return self.regenerate(existing.uuid) if existing is not None else None

        return self._mint(
            "create",
            name,
            lambda: self._raw("create", name, "POST", collection.path, collection.create_body(name)),
            resolve=resolve,
            exhausted=f"no create answer after {self.settings.max_attempts} attempts "
            f"and no key named {name!r} exists",
        )

    def _mint(
        self,
        operation: str,
        key: str,
        send: Callable[[], _Reply],
        *,
        resolve: Callable[[str, str], IssuedKey | None] | None,
        exhausted: str,
    ) -> IssuedKey:
        """Send a request that mints a secret (create, regenerate), up to `max_attempts` times but
        never blindly (DESIGN.md, failure ordering 4). The pipeline never retries it (`_Retry`).

        An attempt that changed nothing (a 429, a request never sent) is tried again after the
        wait `Backoff` gives. One whose outcome is unknown (a lost answer, a 5xx) is handed to
        `resolve(key, why)`, which looks at DigitalOcean: it returns the issued key, or None to try
        again, or raises. Without `resolve` an unknown outcome is `UnknownOutcomeError` at once.
        A secret issued after an unknown outcome is marked `settled=False`.
        """
        seen = _MintLog()

        def wait(state: RetryCallState) -> float:
            failed = state.outcome.exception() if state.outcome is not None else None
            headers = failed.state if isinstance(failed, _TryAgain) else None
            return _retry_wait(self.backoff, state.attempt_number, headers)

        retrying = Retrying(
            stop=stop_after_attempt(self.settings.max_attempts),
            wait=wait,
            retry=retry_if_exception_type(_TryAgain),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda state: log.debug(
                "%s %s: attempt %d failed, retrying in %.2fs",
                operation,
                key,
                state.attempt_number,
                state.upcoming_sleep,
            ),
        )
        try:
            return retrying(lambda: self._mint_once(operation, key, send, resolve, seen))
        except _TryAgain:
            raise self._mint_exhausted(operation, key, seen, exhausted) from None
        except _WaitRefused as refused:
            seconds = refused.seconds
        raise self._wait_refused(seconds, operation, key)

    def _mint_once(
        self,
        operation: str,
        key: str,
        send: Callable[[], _Reply],
        resolve: Callable[[str, str], IssuedKey | None] | None,
        seen: _MintLog,
    ) -> IssuedKey:
        """One attempt: the issued key, or `_TryAgain` when repeating it is safe, or an error."""
        why: str
        try:
            reply = send()
        except _TransportFailure as failure:
            if not failure.reached_server:
                raise _TryAgain() from None  # nothing was sent, so nothing changed
            why = failure.kind
        else:
            if 200 <= reply.status < 300:
                issued = self._issued(reply, operation, key)
                return replace(issued, settled=False) if seen.unknown else issued
            if reply.status == 429:
                seen.refused = True
                raise _TryAgain(parse_rate_headers(reply.headers))
            if reply.status < 500:
                self._raise_for(reply, operation, key)
            why = f"HTTP {reply.status}"
        seen.unknown = True
        if resolve is None:
            raise UnknownOutcomeError(
                f"the {operation}'s outcome is unknown ({why}) and it may still commit later; not "
                "retried, so no secret it could kill is stored. Rotate again in a few minutes",
                operation=operation,
                key=key,
            )
        issued_meanwhile = resolve(key, why)
        if issued_meanwhile is not None:
            return issued_meanwhile
        raise _TryAgain()

    def _mint_exhausted(self, operation: str, key: str, seen: _MintLog, exhausted: str) -> DigitalOceanError:
        """The error after the last attempt of `_mint`: unknown if any attempt may have minted."""
        if seen.unknown:
            return UnknownOutcomeError(exhausted, operation=operation, key=key)
        # Every attempt was refused (429) or never reached DigitalOcean: nothing changed.
        error = RateLimitedError if seen.refused else UnavailableError
        return error(
            f"no attempt of {self.settings.max_attempts} got through; nothing was changed, retry later",
            operation=operation,
            key=key,
            status=429 if seen.refused else None,
        )

    # -- plumbing -----------------------------------------------------------------------------
    def _genai(self, operation: str, key: str | None, call: Callable[..., Any]) -> _Reply:
        """Call a pydo `client.genai` method, capturing status and headers through `cls=`."""
        return self._send(
            operation,
            key,
            lambda: cast(_Reply, call(cls=_capture, **{_CALL_OPTION: (operation, key)})),
        )

    def _raw(self, operation: str, key: str | None, method: str, path: str, body: Any) -> _Reply:
        def call() -> _Reply:
            request = HttpRequest(method, path, json=body)
            options: dict[str, Any] = {"retry_total": 0, _CALL_OPTION: (operation, key)}
            response = self._client.send_request(request, **options)
            try:
                parsed = response.json()
            except ValueError:
                parsed = None
            return _Reply(response.status_code, seal(parsed, _SECRET_FIELD), response.headers)

        return self._send(operation, key, call)

    def _send(self, operation: str, key: str | None, call: Callable[[], _Reply]) -> _Reply:
        """One call through the pipeline (which paces, counts and, for idempotent requests,
        retries each attempt). HTTP errors become a `_Reply` holding no body text; a lost or
        unreadable answer a `_TransportFailure`; a wait refused a `RateLimitedError`."""
        failure: _TransportFailure | None = None
        refused_wait: float | None = None
        try:
            reply = call()
        except _WaitRefused as refused:
            refused_wait = refused.seconds
        except (DecodeError, _UnreadableAnswer):
            # A body that is not JSON (a proxy's page, a cut-off answer). azure-core's DecodeError
            # quotes the body, which may hold a secret: it is dropped, not chained.
            failure = _TransportFailure(reached_server=True, kind="unreadable response")
        except HttpResponseError as exc:
            reply = _error_reply(exc)
        except ServiceRequestError as exc:
            failure = _TransportFailure(reached_server=False, kind=type(exc).__name__)
        except ServiceResponseError as exc:
            failure = _TransportFailure(reached_server=True, kind=type(exc).__name__)
        except ValueError:
            # An answer pydo could not parse, should `_ReadableAnswers` have let one through: like a
            # lost answer. The parse error, which quotes the body, is dropped. Only the parse error:
            # an AttributeError or TypeError is a bug in our code and must surface as one.
            failure = _TransportFailure(reached_server=True, kind="unreadable response")
        # Raised outside the except blocks so no azure exception (which holds bodies) is chained.
        if refused_wait is not None:
            raise self._wait_refused(refused_wait, operation, key)
        if failure is not None:
            raise failure
        return reply

    def _idempotent(self, operation: str, key: str | None, call: Callable[..., Any]) -> _Reply:
        """list, rename and delete: sent once, retried by the pipeline (`_Retry`) on 429, 5xx and
        lost answers; here only what the last attempt brought is turned into our errors."""
        try:
            reply = self._genai(operation, key, call)
        except _TransportFailure as failure:
            raise UnavailableError(
                f"DigitalOcean did not answer ({failure.kind}) after {self.settings.max_attempts} attempts",
                operation=operation,
                key=key,
            ) from None
        if reply.status == 429 or reply.status >= 500:
            self._raise_for(reply, operation, key)
        return reply

    def _wait_refused(self, wait: float, operation: str, key: str | None) -> RateLimitedError:
        return RateLimitedError(
            f"DigitalOcean asks to wait {wait:.0f}s, more than the {self.backoff.max_wait:.0f}s "
            "gradient-keys waits; the token's hourly budget is spent. Retry later",
            operation=operation,
            key=key,
            status=429,
        )

    def _issued(self, reply: _Reply, operation: str, key: str) -> IssuedKey:
        """The key and secret of a 2xx create or regenerate answer (its secret already sealed).

        Anything else is `UnknownOutcomeError`: the call may well have minted a secret (and, for a
        regenerate, killed the previous one), but an answer we cannot trust does not tell which.
        """
        # Judged in a helper: this frame, which raises, holds no part of the answer but `reply`
        # (whose repr is its status), so a traceback printed with its locals shows none of it.
        problem = _issued_problem(reply.body, key if operation == "regenerate" else None)
        if problem is not None:
            minted = (
                "a new secret may have been minted and the previous one invalidated"
                if operation == "regenerate"
                else "the key may have been created"
            )
            raise UnknownOutcomeError(
                f"DigitalOcean answered HTTP {reply.status} but not the documented shape ({problem}); "
                f"{minted}, so the key's current secret is unknown to gradient-keys. Run the operation "
                "again once DigitalOcean answers normally",
                operation=operation,
                key=key,
                status=reply.status,
            )
        info = reply.body["api_key_info"]
        return IssuedKey(ModelKey.from_info(info), info[_SECRET_FIELD])

    def _raise_for(self, reply: _Reply, operation: str, key: str | None) -> NoReturn:
        error_id, request_id = _safe_error_fields(reply.body)
        status = reply.status
        context: dict[str, Any] = {
            "operation": operation,
            "key": key,
            "status": status,
            "error_id": error_id,
            "request_id": request_id,
        }
        if status == 410 and operation == "create":
            raise CreateRetiredError(
                "DigitalOcean retired key creation through the API. Create a model access key "
                f"named {key!r} in the control panel (INFERENCE > Manage; choose its model scope "
                "and VPC there) and declare it for adoption (adopt: {name: ...} or {uuid: ...})",
                operation=operation,
                key=key,
                status=410,
                error_id="gone",
            )
        if status == 401:
            raise AuthenticationError(
                "the token was refused; check DIGITALOCEAN_TOKEN (is it current, for this account?)",
                **context,
            )
        if status == 403:
            scope = {"list": "read", "create": "create", "delete": "delete"}.get(operation, "update")
            raise PermissionDeniedError(
                f"the token lacks permission; give it the genai:{scope} scope", **context
            )
        if status == 404 and operation == "list":
            raise DigitalOceanError(
                "the key listing answered 404: is DIGITALOCEAN_API_URL the API's base URL?", **context
            )
        if status == 404:
            raise KeyNotFoundError("no such key at DigitalOcean (deleted outside gradient-keys?)", **context)
        if status == 429:
            raise RateLimitedError(
                "rate limited on every attempt; the token's budget (250/minute, 5,000/hour) is spent. "
                "Retry later or spread the work",
                **context,
            )
        if status >= 500:
            raise UnavailableError("DigitalOcean failed on every attempt; retry later", **context)
        raise DigitalOceanError("unexpected answer", **context)


def _issued_problem(body: Any, expected_uuid: str | None) -> str | None:
    """What makes a create or regenerate answer unusable (fields named, never values), or None."""
    info: Any = body.get("api_key_info") if isinstance(body, dict) else None
    problem = _key_info_problem(info)
    if problem is not None:
        return problem
    if not isinstance(info.get(_SECRET_FIELD), Secret):
        return "api_key_info has no secret_key string"
    if expected_uuid is not None and info["uuid"].lower() != expected_uuid.lower():
        return "api_key_info describes another key"
    return None


def _malformed(operation: str, key: str | None, problem: str) -> DigitalOceanError:
    """A 200 whose body is not what the spec documents (a proxy, a broken or hostile endpoint)."""
    return DigitalOceanError(
        f"{problem}; is DIGITALOCEAN_API_URL the DigitalOcean API?",
        operation=operation,
        key=key,
        status=200,
    )
