"""The one error tree. Every message names the operation, the key and what to do next.

No message, repr or attribute ever holds a response body, a header, a token or a secret: the
DigitalOcean errors keep only the HTTP status, the short error `id` (e.g. `not_found`) and the
`request_id` to quote to support.

    GradientKeysError
    +-- ConfigurationError            bad arguments, settings or environment (exit code 2);
                                      `.problems`: ConfigProblem(path, value, fix) for each
    +-- DigitalOceanError             an API call failed (operation, key, status, error_id, request_id)
        +-- AuthenticationError       401: the token is missing, wrong or revoked (exit 4)
        +-- PermissionDeniedError     403: the token lacks a genai scope (exit 4)
        +-- KeyNotFoundError          404: no such key
        +-- AmbiguousKeyError         several keys carry the name asked for
        +-- CreateRetiredError        410: create is retired; make the key in the control panel
        +-- RateLimitedError          429 that outlasted the retry budget
        +-- UnavailableError          5xx or network failure that outlasted the retry budget (exit 3)
        +-- UnknownOutcomeError       a secret-minting call whose result could not be established
    +-- VaultError                    a Vault call failed (operation, path)
        +-- VaultAuthError            login refused, or the token is invalid or expired (exit 4)
        +-- VaultPermissionError      the token lacks a capability on a path (named) (exit 4)
        +-- VaultConflictError        check-and-set lost: someone wrote a newer version first
        +-- VaultInvalidRequestError  400: the request was refused as invalid
        +-- VaultUnavailableError     sealed, down or 5xx beyond the retry budget (exit 3)
    +-- RotationFailedError           a rotation stopped on its own terms (new secret refused, ...)
    +-- RotationSkipped               not a failure: another run rotated the key after this one planned

`ServiceUnavailable` is mixed into both "unavailable" errors. `exit_code` maps any error to the
one exit-code table every command shares (docs/exit-codes.md). `add_context` says what the error
left behind without rebuilding it, so its type, status and request id survive.
"""

from __future__ import annotations

import enum
import reprlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Self

from components.terminal import escape_controls

__all__ = [
    "ExitCode",
    "AmbiguousKeyError",
    "AuthenticationError",
    "ConfigProblem",
    "ConfigurationError",
    "CreateRetiredError",
    "DigitalOceanError",
    "GradientKeysError",
    "KeyNotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RotationFailedError",
    "RotationSkipped",
    "ServiceUnavailable",
    "UnavailableError",
    "UnknownOutcomeError",
    "VaultAuthError",
    "VaultConflictError",
    "VaultInvalidRequestError",
    "VaultError",
    "VaultPermissionError",
    "VaultUnavailableError",
    "exit_code",
]


class GradientKeysError(Exception):
    """Base of every error gradient-keys raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.context: tuple[str, ...] = ()

    def add_context(self, note: str) -> Self:
        """Append what the failure left behind (e.g. "Vault is unchanged"); the same error object,
        so callers still see its class and attributes. Returns it, for `raise exc.add_context(...)`."""
        self.context = (*self.context, note)
        return self

    def __str__(self) -> str:
        # Messages quote names typed in DigitalOcean's control panel: controls are shown escaped
        # wherever the message goes (the commands, the engine's diagnostics, logs).
        text = "; ".join((super().__str__(), *getattr(self, "context", ())))
        return escape_controls(text, keep_newlines=True)


MAX_LISTED_PROBLEMS = 20  # a message lists this many; `problems` holds them all
_MAX_SHOWN = 60
_MAX_ESCAPED = 6 * _MAX_SHOWN  # a shown value once escaped: `\u202e` is six characters for one
_MAX_PATH = 200

_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxdict, _REPR.maxlist, _REPR.maxstring, _REPR.maxother = (
    2,
    4,
    4,
    _MAX_SHOWN,
    _MAX_SHOWN,
)


def shown_value(value: object) -> str:
    """A value as a message quotes it: one line, some 60 characters, controls escaped. A hostile
    value (a YAML alias bomb) costs no more to show than a small one."""
    text = _REPR.repr(value) if not isinstance(value, str) else f'"{value[:80]}"'
    return escape_controls(text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + '..."')


def _bounded(text: str, limit: int) -> str:
    """One line of at most `limit` characters, controls escaped."""
    shown = escape_controls(text)
    return shown if len(shown) <= limit else shown[: limit - 3] + "..."


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the settings: where, the value found there, and what to do.

    `location` is the field path in parts, `("keys", 2, "rotate_every")`, shown as `path`
    (`keys[2].rotate_every`); empty for a problem that is not about one field (a missing file).
    `value` is the value as shown (`shown_value`; `ConfigProblem.found` renders it), or None when
    the problem quotes none (a missing field). All of it is made safe here, whatever the caller
    passed: bounded, controls escaped, so a problem can be shown anywhere as it is.
    """

    location: tuple[str | int, ...]
    fix: str
    value: str | None = None

    def __post_init__(self) -> None:
        parts = tuple(p if isinstance(p, int) else _bounded(p, _MAX_PATH) for p in self.location)
        object.__setattr__(self, "location", parts)
        object.__setattr__(self, "fix", escape_controls(self.fix, keep_newlines=True))
        if self.value is not None:
            object.__setattr__(self, "value", _bounded(self.value, _MAX_ESCAPED))

    @classmethod
    def found(cls, location: tuple[str | int, ...], value: object, fix: str) -> ConfigProblem:
        """The problem with `value` (any value read from the file) at `location`."""
        return cls(location, fix, shown_value(value))

    @property
    def path(self) -> str:
        """`keys[2].rotate_every`, `vault.addr`, `gradient-keys:keyz`; "" when not about a field."""
        text = "".join(
            f"[{part}]" if isinstance(part, int) else f".{part}" if i else part
            for i, part in enumerate(self.location)
        )
        return text if len(text) <= _MAX_PATH else text[: _MAX_PATH - 3] + "..."

    def __str__(self) -> str:
        if not self.location:
            return self.fix
        shown = f" {self.value}" if self.value is not None else ""
        return f"{self.path}:{shown} {self.fix}"


class ConfigurationError(GradientKeysError):
    """Settings, arguments or environment are wrong; raised before anything is changed.

    Carries its `problems` (at least one). Raised with a sentence, it holds one problem with an
    empty path; raised with problems and the `source` they come from (a stack file, "ModelAccessKey
    inputs"), its message lists them: `SOURCE has N problem(s); nothing was changed:` and one
    `  - path: value fix` line each (the first 20, then how many more).
    """

    def __init__(
        self, message: str | ConfigProblem | Sequence[ConfigProblem], *, source: str | None = None
    ) -> None:
        if isinstance(message, str):
            problems: tuple[ConfigProblem, ...] = (ConfigProblem((), message),)
        elif isinstance(message, ConfigProblem):
            problems = (message,)
        else:
            problems = tuple(message)
        if not problems:
            raise ValueError("a ConfigurationError needs at least one problem")
        listed = problems[:MAX_LISTED_PROBLEMS]
        if source is None and len(problems) == 1:
            text = str(problems[0])
        else:
            lines = "\n".join(f"  - {problem}" for problem in listed)
            more = len(problems) - len(listed)
            tail = f"\n  ... and {more} more" if more else ""
            origin = _bounded(source or "the settings", 300)
            text = f"{origin} has {len(problems)} problem(s); nothing was changed:\n{lines}{tail}"
        super().__init__(text)
        self.problems = problems
        self.listed = listed  # the problems the message lists; the rest it counts
        self.source = source


class ServiceUnavailable(GradientKeysError):
    """DigitalOcean or Vault could not be reached (or is sealed) beyond the retry budget."""


class InferenceUnavailableError(ServiceUnavailable):
    """The inference endpoint gave no usable answer (no connection, a timeout, a 5xx) on every
    attempt, so a secret could not be checked: not the same as a secret it refused."""


class DigitalOceanError(GradientKeysError):
    """A DigitalOcean API call failed: the operation, the key, and only the safe fields of the
    answer (HTTP status, error id, request id). Its subclasses say which way."""

    def __init__(  # noqa: PLR0913 - the message, then keyword-only safe fields of the answer
        self,
        message: str,
        *,
        operation: str,
        key: str | None = None,
        status: int | None = None,
        error_id: str | None = None,
        request_id: str | None = None,
    ) -> None:
        details = []
        if status is not None:
            details.append(f"HTTP {status}")
        if error_id:
            details.append(f"id={error_id}")
        if request_id:
            details.append(f"request_id={request_id}")
        suffix = f" [{', '.join(details)}]" if details else ""
        target = f" key {key}" if key else ""
        super().__init__(f"DigitalOcean {operation}{target}: {message}{suffix}")
        self.operation = operation
        self.key = key
        self.status = status
        self.error_id = error_id
        self.request_id = request_id


class AuthenticationError(DigitalOceanError):
    """401: the token is missing, wrong or revoked (exit 4)."""


class PermissionDeniedError(DigitalOceanError):
    """403: the token lacks a genai scope, e.g. a read-only token asked to regenerate (exit 4)."""


class KeyNotFoundError(DigitalOceanError):
    """404, or a declared `adopt` uuid or name that DigitalOcean does not list."""


class AmbiguousKeyError(DigitalOceanError):
    """Several DigitalOcean keys carry the name asked for: adopt by uuid instead."""


class CreateRetiredError(DigitalOceanError):
    """410 on create (retired in June 2026): make the key in the control panel, then adopt it."""


class RateLimitedError(DigitalOceanError):
    """429 beyond the retry budget, or a wait longer than gradient-keys waits: nothing changed."""


class UnavailableError(DigitalOceanError, ServiceUnavailable):
    """5xx or network failures beyond the retry budget on a call that changes nothing, or a
    secret-minting call that never reached DigitalOcean (exit 3)."""


class UnknownOutcomeError(DigitalOceanError):
    """A secret-minting call (regenerate, create) whose result could not be established: it may
    have changed the key, or may still commit later. Never retried blindly (DESIGN.md)."""


class VaultError(GradientKeysError):
    """A Vault call failed (operation and path named; never a secret or token). Its subclasses
    say which way; this class itself means an answer Vault should not have given."""

    def __init__(self, message: str, *, operation: str | None = None, path: str | None = None) -> None:
        where = f" {path}" if path else ""
        prefix = f"Vault {operation}{where}: " if operation else ""
        super().__init__(f"{prefix}{message}")
        self.operation = operation
        self.path = path


class VaultAuthError(VaultError):
    """The login was refused, or the token is invalid or expired (exit 4)."""


class VaultPermissionError(VaultError):
    """The token lacks a capability on a path; the preflight names both before anything changes (exit 4)."""


class VaultConflictError(VaultError):
    """Check-and-set lost: another writer stored a newer version first (the core decides, from the
    ledger, whose secret is alive)."""


class VaultInvalidRequestError(VaultError):
    """Vault answered 400: the request was refused as invalid. A check-and-set write gets the same
    answer when another writer got there first; the sink tells the two apart by the path's
    version, never by the error's text, and raises `VaultConflictError` for the latter."""


class VaultUntrustedError(VaultError):
    """Vault's TLS certificate failed verification: no CA this machine trusts (or VAULT_CACERT)
    signed it, or it does not name the host. A setting to fix, not an outage: never retried (exit 2)."""


class VaultUnavailableError(VaultError, ServiceUnavailable):
    """Vault is sealed, down, or answered 5xx beyond the retry budget (exit 3)."""


class RotationFailedError(GradientKeysError):
    """A rotation could not finish for a reason of its own (the new secret was refused by the
    inference endpoint, an emergency's other slot could not be regenerated); the message says what
    consumers see and what to do."""


class RotationSkipped(GradientKeysError):
    """Not a failure: the key was rotated by someone else after this rotation was planned, so
    rotating it again would kill the secret its consumers were just given. The bulk runner counts
    it as already done; the provider reads the key as it is."""


class ExitCode(enum.IntEnum):
    """The exit codes of every `gradient-keys` command (docs/exit-codes.md)."""

    OK = 0
    FAILED = 1  # work failed (a key not rotated), or audit findings at the --fail-on threshold
    USAGE = 2  # bad arguments, stack file or environment; nothing was changed
    UNREACHABLE = 3  # DigitalOcean or Vault unreachable or sealed beyond the retry budget
    REFUSED = 4  # a credential was refused: DigitalOcean token (401/403) or Vault login/policy


_REFUSED = (AuthenticationError, PermissionDeniedError, VaultAuthError, VaultPermissionError)


def exit_code(exc: BaseException) -> ExitCode:
    """The exit code for a run that ended with `exc`."""
    if isinstance(exc, (ConfigurationError, VaultUntrustedError)):
        return ExitCode.USAGE
    if isinstance(exc, ServiceUnavailable):
        return ExitCode.UNREACHABLE
    if isinstance(exc, _REFUSED):
        return ExitCode.REFUSED
    return ExitCode.FAILED
