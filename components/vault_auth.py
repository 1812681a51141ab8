"""Vault connection settings and login, from the environment, at call time.

Login order (the first that is configured wins; `VAULT_AUTH_METHOD` or the stack's `vault.auth`
picks one explicitly):

1. token   `VAULT_TOKEN`, else the file `~/.vault-token` (what `vault login` / `bao login` write)
2. approle `VAULT_ROLE_ID` + `VAULT_SECRET_ID` (mount `VAULT_APPROLE_MOUNT`, default `approle`)
3. jwt     `VAULT_JWT_ROLE` + a JWT from `VAULT_JWT` or the file `VAULT_JWT_FILE`, as CI systems
           provide it (mount `VAULT_JWT_MOUNT`, default `jwt`)

Also read: `VAULT_ADDR` (required), `VAULT_NAMESPACE` (sent as `X-Vault-Namespace`),
`VAULT_CACERT` (CA bundle for https), `GRADIENT_KEYS_VAULT_RETRY_SECONDS` (how long a call
retries). Tokens and JWTs travel as `Secret` and never appear in a message, a repr or a log line.
"""

from __future__ import annotations

import base64
import json
import math
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urljoin, urlsplit

import hvac
import requests
from hvac import exceptions as hvac_errors

from components import endpoints
from components.errors import ConfigurationError, VaultAuthError, VaultError, VaultUnavailableError
from components.secret import Secret

__all__ = ["AUTH_METHODS", "VaultConnection", "VaultLogin", "login", "resolve_login"]

AUTH_METHODS = ("token", "approle", "jwt")
RETRY_SECONDS_ENV = "GRADIENT_KEYS_VAULT_RETRY_SECONDS"
# A raft leader election takes a few seconds (about 2 s measured with performance_multiplier = 1,
# up to ~10 s with the default of 5): a call keeps retrying through one (docs/vault.md).
DEFAULT_RETRY_SECONDS = 15.0
MAX_RETRY_SECONDS = 600.0


@dataclass(frozen=True)
class VaultConnection:
    addr: str
    namespace: str | None = None
    ca_cert: str | None = None
    timeout: float = 30.0
    retry_seconds: float = DEFAULT_RETRY_SECONDS

    @classmethod
    def from_env(cls, environ: Mapping[str, str], configured_addr: str | None = None) -> VaultConnection:
        """`VAULT_ADDR`, else the stack config's `configured_addr` (see components/endpoints.py)."""
        env = environ
        endpoint = endpoints.vault(configured_addr, env)
        if endpoint is None:
            raise ConfigurationError(
                "VAULT_ADDR is not set: export the Vault address, e.g. https://vault.example.com:8200 "
                '(for the local sandbox, `eval "$(gradient-keys sandbox up)"` sets it)'
            )
        addr = endpoint.url
        ca_cert = env.get("VAULT_CACERT") or None
        if ca_cert and not Path(ca_cert).is_file():
            raise ConfigurationError(
                f"VAULT_CACERT {ca_cert} is not a readable file; point it at a PEM CA bundle"
            )
        namespace = env.get("VAULT_NAMESPACE", "").strip().strip("/") or None
        return cls(addr=addr, namespace=namespace, ca_cert=ca_cert, retry_seconds=_retry_seconds(env))

    def client(self, token: Secret | None = None) -> hvac.Client:
        # hvac takes TLS verification from a session it is given (its `verify` argument is then
        # ignored while the session's is set, and a new session's always is): set it on the session.
        session = VaultSession()
        session.verify = self.ca_cert if self.ca_cert else True
        # token="" (not None) stops hvac from reading VAULT_TOKEN / ~/.vault-token by itself.
        return hvac.Client(
            url=self.addr,
            token=token.reveal() if token is not None else "",
            namespace=self.namespace,
            verify=session.verify,
            timeout=int(self.timeout),
            session=session,
        )


def _retry_seconds(env: Mapping[str, str]) -> float:
    text = env.get(RETRY_SECONDS_ENV, "").strip()
    if not text:
        return DEFAULT_RETRY_SECONDS
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not 0 <= value <= MAX_RETRY_SECONDS:
        raise ConfigurationError(
            f"{RETRY_SECONDS_ENV} must be a number of seconds from 0 to {MAX_RETRY_SECONDS:g} "
            f"(how long a Vault call keeps retrying; default {DEFAULT_RETRY_SECONDS:g}), not {text[:20]!r}"
        )
    return value


class RedirectRefused(VaultError):
    """Vault answered with a redirect to another origin, which was not followed. A standby of an
    HA cluster answers so while it cannot forward (a leader election): the call is retried against
    the same VAULT_ADDR within the retry window (components/vault_sink.py), never sent elsewhere."""

    def __init__(self, here: str, there: str) -> None:
        self.detail = f"redirected to another origin ({there}), not followed"
        super().__init__(
            f"Vault at {here} {self.detail}, so the token and any secret stay where VAULT_ADDR points. "
            "A standby redirects while it cannot forward: point VAULT_ADDR at a load balancer in front "
            "of the cluster (or at the active node)"
        )


class SameOriginRedirects(requests.Session):
    """Follows a redirect only to the same scheme, host and port. requests strips `Authorization`
    when the host changes, but not Vault's `X-Vault-Token`, and it would resend a secret's body
    over plain http after an https answer: such redirects are refused, before they are followed."""

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is not None:
            here, there = _origin(urlsplit(resp.url)), _origin(urlsplit(urljoin(resp.url, target)))
            if there != here:
                raise RedirectRefused(here, there)
        return target


class VaultSession(SameOriginRedirects):
    """Read-your-writes against a cluster whose standbys answer reads themselves (OpenBao, Vault
    Enterprise performance standbys): every answer's `X-Vault-Index` (the storage index a write
    reached) is kept, the newest per cluster, and sent back with each request together with
    `X-Vault-Inconsistent: forward-active-node`, so a standby that has not caught up forwards the
    request to the active node instead of answering from before our own write (a 404, an old
    version). A single server, or a Vault without these headers, ignores them."""

    def __init__(self) -> None:
        super().__init__()
        self._index: dict[str, tuple[int, str]] = {}  # cluster id -> (index, header value)
        self._index_lock = threading.Lock()

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.get("headers") or {})
        with self._index_lock:
            known = [value for _index, value in self._index.values()]
        if known:
            headers["X-Vault-Index"] = ",".join(known)
            headers["X-Vault-Inconsistent"] = "forward-active-node"
        kwargs["headers"] = headers  # hvac passes everything but method and url by keyword
        response = super().request(method, url, *args, **kwargs)
        self._note(response.headers.get("X-Vault-Index"))
        return response

    def _note(self, header: str | None) -> None:
        for value in (header or "").split(","):
            state = _index_state(value.strip())
            if state is None:
                continue
            cluster, index = state
            with self._index_lock:
                if index > self._index.get(cluster, (-1, ""))[0]:
                    self._index[cluster] = (index, value.strip())


def _index_state(value: str) -> tuple[str, int] | None:
    """(cluster, index) from an `X-Vault-Index` value (base64 JSON); None when it is not one."""
    if not value:
        return None
    try:
        decoded = json.loads(base64.b64decode(value + "=" * (-len(value) % 4), validate=False))
        return str(decoded["cluster"]), int(decoded["value"])
    except (ValueError, KeyError, TypeError):
        return None


def _origin(parts: SplitResult) -> str:
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme, 0)
    return f"{parts.scheme}://{parts.hostname}:{port}"


@dataclass(frozen=True)
class VaultLogin:
    """How to log in, resolved from the environment; credentials are `Secret`s."""

    method: str
    token: Secret | None = None
    role: str | None = None
    credential: Secret | None = None  # AppRole secret_id or the JWT
    mount: str | None = None
    source: str = ""  # where the credential came from, for messages (never the value)


def _read_file(path: Path) -> str | None:
    try:
        text = path.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigurationError(f"cannot read {path}: {exc.strerror}") from None
    return text or None


def resolve_login(
    environ: Mapping[str, str], method: str | None = None, home: Path | None = None
) -> VaultLogin:
    """Pick the login method by the documented order, or the one asked for."""
    env = environ
    wanted = (method or env.get("VAULT_AUTH_METHOD", "")).strip().lower() or None
    if wanted is not None and wanted not in AUTH_METHODS:
        raise ConfigurationError(
            f"Vault auth method {wanted!r} is not supported; use one of {', '.join(AUTH_METHODS)}"
        )
    candidates = [wanted] if wanted else list(AUTH_METHODS)
    for candidate in candidates:
        found = _try_method(candidate, env, home or Path.home(), explicit=wanted is not None)
        if found is not None:
            return found
    raise ConfigurationError(
        "no Vault credentials found: set VAULT_TOKEN (or log in so ~/.vault-token exists), or "
        "VAULT_ROLE_ID and VAULT_SECRET_ID (AppRole), "
        "or VAULT_JWT_ROLE with VAULT_JWT or VAULT_JWT_FILE (JWT/OIDC)"
    )


def _try_method(method: str, env: Mapping[str, str], home: Path, explicit: bool) -> VaultLogin | None:
    """The login `method` would make from `env` (None when its variables are not set at all, or
    raises when they are set half-way or the method was asked for explicitly)."""
    return _METHODS[method](env, home, explicit)


def _token_login(env: Mapping[str, str], home: Path, explicit: bool) -> VaultLogin | None:
    token = env.get("VAULT_TOKEN", "").strip()
    if token:
        return VaultLogin("token", token=Secret(token), source="VAULT_TOKEN")
    file_token = _read_file(home / ".vault-token")
    if file_token:
        return VaultLogin("token", token=Secret(file_token), source="~/.vault-token")
    if explicit:
        raise ConfigurationError("Vault auth is token but neither VAULT_TOKEN nor ~/.vault-token is set")
    return None


def _approle_login(env: Mapping[str, str], _home: Path, explicit: bool) -> VaultLogin | None:
    role_id, secret_id = env.get("VAULT_ROLE_ID", "").strip(), env.get("VAULT_SECRET_ID", "").strip()
    if role_id and secret_id:
        mount = env.get("VAULT_APPROLE_MOUNT", "").strip() or "approle"
        return VaultLogin(
            "approle", role=role_id, credential=Secret(secret_id), mount=mount, source="AppRole"
        )
    if explicit and not (role_id or secret_id):
        raise ConfigurationError(
            "Vault auth is approle but neither VAULT_ROLE_ID nor VAULT_SECRET_ID is set; set both"
        )
    if role_id or secret_id:
        missing = "VAULT_SECRET_ID" if role_id else "VAULT_ROLE_ID"
        also = "" if explicit else " (or neither, to log in another way)"
        raise ConfigurationError(f"Vault AppRole login needs {missing} as well: set both{also}")
    return None


def _jwt_login(env: Mapping[str, str], _home: Path, explicit: bool) -> VaultLogin | None:
    role = env.get("VAULT_JWT_ROLE", "").strip()
    jwt_value = env.get("VAULT_JWT", "").strip()
    jwt_file = env.get("VAULT_JWT_FILE", "").strip()
    if jwt_file and not jwt_value:
        jwt_value = _read_file(Path(jwt_file)) or ""
        if not jwt_value:
            raise ConfigurationError(f"VAULT_JWT_FILE {jwt_file} is missing or empty")
    if role and jwt_value:
        mount = env.get("VAULT_JWT_MOUNT", "").strip() or "jwt"
        source = "VAULT_JWT_FILE" if jwt_file else "VAULT_JWT"
        return VaultLogin("jwt", role=role, credential=Secret(jwt_value), mount=mount, source=source)
    if role or jwt_value or explicit:
        missing = "VAULT_JWT or VAULT_JWT_FILE" if role else "VAULT_JWT_ROLE"
        raise ConfigurationError(f"Vault JWT login needs {missing} as well")
    return None


_METHODS: dict[str, Callable[[Mapping[str, str], Path, bool], VaultLogin | None]] = {
    "token": _token_login,
    "approle": _approle_login,
    "jwt": _jwt_login,
}


def login(connection: VaultConnection, how: VaultLogin) -> hvac.Client:
    """An authenticated client. Login failures name the method and the variables, never values."""
    if how.method == "token":
        return connection.client(how.token)
    client = connection.client()
    assert how.credential is not None and how.role is not None
    problem: str | None = None
    try:
        if how.method == "approle":
            client.auth.approle.login(
                role_id=how.role, secret_id=how.credential.reveal(), mount_point=how.mount
            )
        else:
            client.auth.jwt.jwt_login(role=how.role, jwt=how.credential.reveal(), path=how.mount)
    except (hvac_errors.InvalidRequest, hvac_errors.Forbidden, hvac_errors.Unauthorized):
        problem = "refused"
    except hvac_errors.InvalidPath:
        problem = "no such auth mount"
    except (
        requests.ConnectionError,
        requests.Timeout,
        hvac_errors.VaultDown,
        hvac_errors.InternalServerError,
    ):
        problem = "unreachable"
    if problem == "unreachable":
        raise VaultUnavailableError(f"Vault at {connection.addr} did not answer the {how.method} login")
    if problem is not None:
        hint = (
            "check VAULT_ROLE_ID / VAULT_SECRET_ID and VAULT_APPROLE_MOUNT"
            if how.method == "approle"
            else "check VAULT_JWT_ROLE, the JWT's audience/issuer/expiry and VAULT_JWT_MOUNT"
        )
        raise VaultAuthError(f"Vault {how.method} login at mount {how.mount!r} was {problem}: {hint}")
    return client
