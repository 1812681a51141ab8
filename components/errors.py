"""The one error tree. Every message names the operation, the key and what to do next.

No message, repr or attribute ever holds a response body, a header, a token or a secret: the
DigitalOcean errors keep only the HTTP status, the short error `id` (e.g. `not_found`) and the
`request_id` to quote to support.

    GradientKeysError
    +-- ConfigurationError            bad arguments, settings or environment (exit code 2)
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
        +-- VaultUnavailableError     sealed, down or 5xx beyond the retry budget (exit 3)

`ServiceUnavailable` is mixed into both "unavailable" errors. `exit_code` maps any error to the
one exit-code table every command shares (docs/exit-codes.md). `add_context` says what the error
left behind without rebuilding it, so its type, status and request id survive.
"""

from __future__ import annotations

import enum
from typing import Self

from components.terminal import escape_controls

__all__ = [
    "ExitCode",
    "AmbiguousKeyError",
    "AuthenticationError",
    "ConfigurationError",
    "CreateRetiredError",
    "DigitalOceanError",
    "GradientKeysError",
    "KeyNotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "ServiceUnavailable",
    "UnavailableError",
    "UnknownOutcomeError",
    "VaultAuthError",
    "VaultConflictError",
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


class ConfigurationError(GradientKeysError):
    """Settings, arguments or environment are wrong; raised before anything is changed."""


class ServiceUnavailable(GradientKeysError):
    """DigitalOcean or Vault could not be reached (or is sealed) beyond the retry budget."""


class DigitalOceanError(GradientKeysError):
    def __init__(
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
    pass


class PermissionDeniedError(DigitalOceanError):
    pass


class KeyNotFoundError(DigitalOceanError):
    pass


class AmbiguousKeyError(DigitalOceanError):
    pass


class CreateRetiredError(DigitalOceanError):
    pass


class RateLimitedError(DigitalOceanError):
    pass


class UnavailableError(DigitalOceanError, ServiceUnavailable):
    pass


class UnknownOutcomeError(DigitalOceanError):
    pass


class VaultError(GradientKeysError):
    def __init__(self, message: str, *, operation: str | None = None, path: str | None = None) -> None:
        where = f" {path}" if path else ""
        prefix = f"Vault {operation}{where}: " if operation else ""
        super().__init__(f"{prefix}{message}")
        self.operation = operation
        self.path = path


class VaultAuthError(VaultError):
    pass


class VaultPermissionError(VaultError):
    pass


class VaultConflictError(VaultError):
    pass


class VaultUnavailableError(VaultError, ServiceUnavailable):
    pass


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
    if isinstance(exc, ConfigurationError):
        return ExitCode.USAGE
    if isinstance(exc, ServiceUnavailable):
        return ExitCode.UNREACHABLE
    if isinstance(exc, _REFUSED):
        return ExitCode.REFUSED
    return ExitCode.FAILED
