"""The one error tree. Every message names the operation, the key and what to do next.

No message, repr or attribute ever holds a response body, a header, a token or a secret: the
DigitalOcean errors keep only the HTTP status, the short error `id` (e.g. `not_found`) and the
`request_id` to quote to support.

    GradientKeysError
    +-- ConfigurationError            bad settings or environment (exit code 2)
    +-- DigitalOceanError             an API call failed (operation, key, status, error_id, request_id)
        +-- AuthenticationError       401: the token is missing, wrong or revoked
        +-- PermissionDeniedError     403: the token lacks a genai scope
        +-- KeyNotFoundError          404: no such key
        +-- AmbiguousKeyError         several keys carry the name asked for
        +-- CreateRetiredError        410: create is retired; make the key in the control panel
        +-- RateLimitedError          429 that outlasted the retry budget
        +-- UnavailableError          5xx or network failure that outlasted the retry budget (exit 3)
        +-- UnknownOutcomeError       a secret-minting call whose result could not be established
    +-- VaultError                    a Vault call failed (operation, path)
        +-- VaultAuthError            login refused, or the token is invalid or expired
        +-- VaultPermissionError      the token lacks a capability on a path (named)
        +-- VaultConflictError        check-and-set lost: someone wrote a newer version first
        +-- VaultUnavailableError     sealed, down or 5xx beyond the retry budget (exit 3)

`ServiceUnavailable` is mixed into both "unavailable" errors so callers can map them to exit 3.
"""

from __future__ import annotations

__all__ = [
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
]


class GradientKeysError(Exception):
    """Base of every error gradient-keys raises on purpose."""


class ConfigurationError(GradientKeysError):
    """Settings or environment are wrong; nothing was changed."""


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
