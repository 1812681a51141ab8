"""A secret value that cannot leak by accident.

`repr`, `str`, `format` and logging all show `<redacted>`; pickling (which is how Pulumi
serializes a dynamic provider into state) is refused outright. The value is only reachable
through `reveal()`, which makes every use of it greppable.

`seal` wraps a secret the moment a reply is parsed, so that no plain string copy of it sits in a
local variable that a traceback printed with its locals (pytest -l, Sentry's default) would show.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, NoReturn

__all__ = ["FINGERPRINT_HEX_CHARS", "Secret", "UnreadableSecret", "fingerprint", "seal"]

FINGERPRINT_HEX_CHARS = 12


def fingerprint(value: str) -> str:
    """First 12 hex characters of SHA-256: proves which secret Vault holds, reveals nothing usable."""
    return hashlib.sha256(value.encode()).hexdigest()[:FINGERPRINT_HEX_CHARS]


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str) or not value:
            raise ValueError("a secret must be a non-empty string")
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def fingerprint(self) -> str:
        return fingerprint(self._value)

    def __repr__(self) -> str:
        return f"Secret(<redacted>, fingerprint={self.fingerprint})"

    def __str__(self) -> str:
        return "<redacted>"

    def __format__(self, spec: str) -> str:
        return "<redacted>"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(self.fingerprint)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled or serialized; write it to Vault instead")

    def __getstate__(self) -> NoReturn:
        raise TypeError("a Secret cannot be pickled or serialized; write it to Vault instead")


class UnreadableSecret:
    """Stands where a secret field held something other than a non-empty string: not a usable
    secret, and not printable either (it may still hold one, nested)."""

    __slots__ = ("kind",)

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def __repr__(self) -> str:
        return f"<unreadable secret: {self.kind}>"


def seal(body: Any, field: str) -> Any:
    """Replace, in place, every value under the key `field` anywhere in a parsed JSON body: a
    non-empty string by a `Secret`, anything else by an `UnreadableSecret`. Returns `body`.

    Iterative, so a deeply nested hostile body cannot exhaust the stack.
    """
    pending = [body]
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            for name, value in node.items():
                if name == field and not isinstance(value, (Secret, UnreadableSecret)):
                    node[name] = (
                        Secret(value)
                        if isinstance(value, str) and value
                        else UnreadableSecret(type(value).__name__)
                    )
                elif isinstance(value, (dict, list)):
                    pending.append(value)
        elif isinstance(node, list):
            pending.extend(item for item in node if isinstance(item, (dict, list)))
    return body
