"""POST a JSON document to a webhook URL: checked first, retried with bounded backoff, and the URL
never shown.

A webhook URL is a credential: whoever holds a Slack incoming-webhook URL can post to the channel,
and its path is the token. So the URL appears in no message, log line or exception this module
makes (`WebhookUrl` shows `<redacted>` like a `Secret`), failures are described by HTTP status or
error class only (the standard library's and requests' exception texts quote URLs), and the
transport is `http.client`: it logs nothing and follows no redirect.

The rules (components/urls.py's, applied without quoting the URL): https, or plain http to a
loopback address, or plain http anywhere only with `GRADIENT_KEYS_ALLOW_INSECURE_HTTP=1`; no
user:password part. https is verified against `REQUESTS_CA_BUNDLE` or `SSL_CERT_FILE` when the
environment handed in names one (as for every other endpoint), else the system's CAs and certifi's.

Retries (tenacity, the project's one retry engine): a connection error, a timeout, 408, 429 and
5xx are tried again, up to `max_attempts`, waiting `Backoff` (honouring `Retry-After`), and no
attempt starts after `budget_seconds`; any other answer ends the delivery (2xx delivered; 3xx, a
redirect, and other 4xx refused: trying again would get the same answer).
"""

from __future__ import annotations

import http.client
import json
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import SplitResult, urlsplit

import certifi
from tenacity import RetryCallState, Retrying, retry_if_result, stop_after_attempt, stop_before_delay

from components.pacing import Backoff, parse_rate_headers
from components.urls import ALLOW_HTTP_ENV, is_loopback

__all__ = ["DeliveryPolicy", "WebhookResult", "WebhookUrl", "WebhookUrlError", "check_url", "post_json"]

USER_AGENT = "gradient-keys-notifications/1"
_RETRY_STATUSES = frozenset({408, 429})
_CA_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")
_PRINTABLE_ASCII = re.compile(r"[!-~]+")


class WebhookUrlError(ValueError):
    """The URL breaks a rule; the message says which, and never quotes the URL."""


class WebhookUrl:
    """A checked webhook URL. Shown as `<redacted>` everywhere; `parts` only where it is sent."""

    __slots__ = ("_parts",)

    def __init__(self, parts: SplitResult) -> None:
        self._parts = parts

    @property
    def parts(self) -> SplitResult:
        return self._parts

    def __repr__(self) -> str:
        return "WebhookUrl(<redacted>)"

    def __str__(self) -> str:
        return "<redacted>"

    def __format__(self, spec: str) -> str:
        return "<redacted>"

    def __reduce__(self) -> Any:
        raise TypeError("a webhook URL is a credential and cannot be pickled or serialized")


def check_url(url: str, environ: Mapping[str, str]) -> WebhookUrl:
    """The URL, if it may receive notifications; else `WebhookUrlError` saying why (not showing it)."""
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        raise WebhookUrlError("is not a valid URL (check its host and port)") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlError("is not an http(s) URL")
    if not _PRINTABLE_ASCII.fullmatch(url.strip()):
        raise WebhookUrlError("holds spaces, control or non-ASCII characters (percent-encode them)")
    if parts.username is not None or parts.password is not None:
        raise WebhookUrlError("carries a user or password: a webhook URL holds its token in its path")
    if parts.scheme == "http" and not is_loopback(parts.hostname) and environ.get(ALLOW_HTTP_ENV) != "1":
        raise WebhookUrlError(
            "uses plain http to a host that is not loopback: the URL (a credential) would cross the "
            f"network unencrypted. Use https, or set {ALLOW_HTTP_ENV}=1 for a trusted network"
        )
    return WebhookUrl(parts)


@dataclass(frozen=True)
class DeliveryPolicy:
    """How hard to try. The defaults bound one delivery to about `budget_seconds` plus one
    attempt's `timeout_seconds` (no attempt starts after the budget)."""

    max_attempts: int = 4
    timeout_seconds: float = 5.0  # each network step of an attempt (connect, send, read the answer)
    budget_seconds: float = 10.0
    backoff: Backoff = field(default_factory=lambda: Backoff(base=0.5, cap=2.0))
    max_retry_after: float = 5.0  # a longer Retry-After is waited only this long


@dataclass(frozen=True)
class _Answer:
    status: int | None  # None: no answer (connection error, timeout)
    problem: str  # "" when delivered
    retry: bool
    retry_after: float | None = None


@dataclass(frozen=True)
class WebhookResult:
    delivered: bool
    attempts: int
    status: int | None  # the last answer's HTTP status, None when there was none
    error: str | None  # why it was not delivered (never the URL)


def post_json(
    url: WebhookUrl,
    document: Mapping[str, Any],
    *,
    environ: Mapping[str, str],
    policy: DeliveryPolicy | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> WebhookResult:
    """POST `document` as JSON, with `policy`'s retries. Never raises for a delivery that failed."""
    chosen = policy or DeliveryPolicy()
    body = json.dumps(document, separators=(",", ":")).encode()
    try:
        context = _tls_context(environ) if url.parts.scheme == "https" else None
    except (OSError, ValueError):
        named = " or ".join(_CA_VARIABLES)
        return WebhookResult(False, 0, None, f"the CA bundle {named} names cannot be read as PEM")

    def wait(state: RetryCallState) -> float:
        answer = state.outcome.result() if state.outcome is not None else None
        retry_after = answer.retry_after if isinstance(answer, _Answer) else None
        if retry_after is not None:
            return min(retry_after, chosen.max_retry_after)
        return chosen.backoff.delay(state.attempt_number)

    retrying = Retrying(
        stop=stop_after_attempt(chosen.max_attempts) | stop_before_delay(chosen.budget_seconds),
        wait=wait,
        retry=retry_if_result(lambda answer: answer.retry),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome is not None else None,
        sleep=sleep,
    )
    attempts = 0

    def attempt() -> _Answer:
        nonlocal attempts
        attempts += 1
        return _attempt(url.parts, body, chosen.timeout_seconds, context)

    answer: _Answer = retrying(attempt)
    if not answer.problem:
        return WebhookResult(True, attempts, answer.status, None)
    tries = f" after {attempts} attempt(s)" if answer.retry else ""
    return WebhookResult(False, attempts, answer.status, f"{answer.problem}{tries}")


def _attempt(parts: SplitResult, body: bytes, timeout: float, context: ssl.SSLContext | None) -> _Answer:
    """One POST: the answer's status and whether trying again could help."""
    assert parts.hostname is not None
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection: http.client.HTTPConnection = (
        http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout, context=context)
        if context is not None
        else http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    )
    headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
    try:
        connection.request("POST", target, body=body, headers=headers)
        response = connection.getresponse()
        status = response.status
        retry_after = parse_rate_headers({"retry-after": response.getheader("retry-after") or ""}).retry_after
    except ssl.SSLCertVerificationError:
        return _Answer(None, "its TLS certificate is not trusted (SSLCertVerificationError)", retry=False)
    except (OSError, http.client.HTTPException) as exc:
        # Only the class: the texts of these exceptions may quote the host, the path or the answer.
        kind = "timed out" if isinstance(exc, TimeoutError) else "no answer"
        return _Answer(None, f"{kind} ({type(exc).__name__})", retry=True)
    finally:
        connection.close()
    return _classify(status, retry_after)


def _classify(status: int, retry_after: float | None) -> _Answer:
    if 200 <= status < 300:
        return _Answer(status, "", retry=False)
    if status in _RETRY_STATUSES or status >= 500:
        return _Answer(status, f"answered HTTP {status}", retry=True, retry_after=retry_after)
    if 300 <= status < 400:
        return _Answer(
            status, f"answered HTTP {status}, a redirect: not followed (check the URL)", retry=False
        )
    return _Answer(
        status,
        f"answered HTTP {status}: the receiver refused it (a revoked or mistyped URL?); not retried",
        retry=False,
    )


def _tls_context(environ: Mapping[str, str]) -> ssl.SSLContext:
    """Verified TLS: the CA bundle the environment names (as for every other endpoint), else the
    system's CAs and certifi's."""
    bundle = next((environ[v] for v in _CA_VARIABLES if environ.get(v)), None)
    if bundle:
        return ssl.create_default_context(cafile=bundle)
    context = ssl.create_default_context()
    context.load_verify_locations(cafile=certifi.where())
    return context
