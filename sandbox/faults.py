"""Faults the control panel can inject into chosen operations, to rehearse failure handling."""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["FAULT_KINDS", "OPERATIONS", "Fault", "FaultBook", "FaultSpecError"]

# Operation names as the sandbox routes them; `any` matches every API and inference operation.
OPERATIONS = (
    "list",
    "create",
    "rename",
    "regenerate",
    "delete",
    "list_models",
    "list_agents",
    "agent_list",
    "agent_create",
    "agent_rename",
    "agent_regenerate",
    "agent_delete",
    "models",
    "chat_completions",
    "responses",
    "images_generations",
    "async_invoke",
    "async_invoke_status",
    "async_invoke_result",
    "any",
)

FAULT_KINDS = {
    "error": "answer with an error status (default 500) and the standard error body",
    "rate_limit": "answer 429 too_many_requests with retry-after",
    "delay": "wait delay_seconds, then handle the request normally",
    "drop": "close the connection before doing anything",
    "drop_after_commit": "make the change, then close the connection without answering",
    "answer": "answer exactly `status` (default 200), `body` or `raw` and `headers` (after the change when "
    "`commit` is true): a hostile or broken server, for tests of what the client does with it",
}
# What an `answer` fault may set. Header names are HTTP tokens and values single lines, so a fault
# cannot split the response it rides on.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]{0,1024}")
_MAX_ANSWER_BYTES = 1 << 16


class FaultSpecError(ValueError):
    """A fault request the control panel cannot accept; the message names the field."""


@dataclass
class Fault:
    operation: str
    kind: str
    times: int = 1
    status: int = 500
    delay_seconds: float = 0.0
    retry_after: int = 1
    after: int = 0  # let this many matching requests through first ("fail the second regenerate")
    # `answer` only: the reply, verbatim (`body` is JSON-encoded, `raw` is sent as UTF-8 text).
    body: Any = None
    raw: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    commit: bool = False  # make the change first, so the hostile answer replaces a real one

    def payload(self) -> bytes:
        """What an `answer` fault sends: `raw` as is, else `body` as JSON (`null` when unset)."""
        return self.raw.encode() if self.raw is not None else json.dumps(self.body).encode()

    @classmethod
    def from_request(cls, body: Any) -> Fault:
        if not isinstance(body, dict):
            raise FaultSpecError("body must be a JSON object")
        unknown = set(body) - {
            "operation",
            "kind",
            "times",
            "status",
            "delay_seconds",
            "retry_after",
            "after",
            "body",
            "raw",
            "headers",
            "commit",
        }
        if unknown:
            raise FaultSpecError(f"unknown field(s): {', '.join(sorted(unknown))}")
        operation = body.get("operation")
        if operation not in OPERATIONS:
            raise FaultSpecError(f"operation must be one of {', '.join(OPERATIONS)}")
        kind = body.get("kind")
        if kind not in FAULT_KINDS:
            raise FaultSpecError(f"kind must be one of {', '.join(FAULT_KINDS)}")
        fault = cls(operation=operation, kind=kind)
        fault.times = _int_field(body, "times", 1, minimum=1)
        if kind == "answer":
            fault.status = _int_field(body, "status", 200, minimum=200, maximum=599)
            _answer_fields(fault, body)
        else:
            answer_only = {"body", "raw", "headers", "commit"} & set(body)
            if answer_only:
                raise FaultSpecError(f"only kind answer takes {', '.join(sorted(answer_only))}")
            fault.status = _int_field(body, "status", 500, minimum=400, maximum=599)
        fault.retry_after = _int_field(body, "retry_after", 1, minimum=0)
        fault.after = _int_field(body, "after", 0, minimum=0)
        delay = body.get("delay_seconds", 0.0)
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 300:
            raise FaultSpecError("delay_seconds must be a number from 0 to 300")
        fault.delay_seconds = float(delay)
        return fault

    def view(self) -> dict[str, Any]:
        return asdict(self)


def _answer_fields(fault: Fault, body: dict[str, Any]) -> None:
    if "body" in body and "raw" in body:
        raise FaultSpecError("body and raw are exclusive: give the JSON body or the raw text")
    raw = body.get("raw")
    if raw is not None and not isinstance(raw, str):
        raise FaultSpecError("raw must be a string")
    fault.raw = raw
    fault.body = body.get("body")
    try:
        size = len(fault.payload())
    except UnicodeEncodeError:
        raise FaultSpecError("raw must be text that UTF-8 can encode (no lone surrogates)") from None
    if size > _MAX_ANSWER_BYTES:
        raise FaultSpecError(f"body or raw must encode to at most {_MAX_ANSWER_BYTES} bytes")
    headers = body.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str)
        and isinstance(v, str)
        and _HEADER_NAME.fullmatch(k)
        and _HEADER_VALUE.fullmatch(v)
        and k.lower() not in ("content-length", "transfer-encoding", "connection")
        for k, v in headers.items()
    ):
        raise FaultSpecError(
            "headers must map HTTP header names to printable one-line values "
            "(Content-Length, Transfer-Encoding and Connection are the server's)"
        )
    fault.headers = dict(headers)
    commit = body.get("commit", False)
    if not isinstance(commit, bool):
        raise FaultSpecError("commit must be true or false")
    fault.commit = commit


def _int_field(
    body: dict[str, Any], name: str, default: int, minimum: int, maximum: int | None = None
) -> int:
    value = body.get(name, default)
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < minimum
        or (maximum is not None and value > maximum)
    ):
        bounds = f"from {minimum} to {maximum}" if maximum is not None else f"of at least {minimum}"
        raise FaultSpecError(f"{name} must be an integer {bounds}")
    return value


class FaultBook:
    """Queued faults; each lets its first `after` matching requests through, then fires on the
    next ones until its `times` are used."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.view() for f in self._faults]

    def take(self, operation: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.operation in (operation, "any"):
                    if fault.after > 0:
                        fault.after -= 1
                        return None
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
            return None
