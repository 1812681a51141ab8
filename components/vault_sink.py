"""Vault KV v2: where every secret goes, and the ledger both front ends share. Over `hvac`.

Routes used (mount `M`, path `P` = `<path_prefix>/<key path>`):
    POST /v1/sys/capabilities-self           preflight: may this token do what the tool needs?
    GET  /v1/M/metadata/P                     ledger mirror (custom_metadata), current version,
                                              every kept version's times and state (history)
    POST /v1/M/data/P {options.cas}           write a version: api_key + the ledger, check-and-set
    POST /v1/M/metadata/P {custom_metadata}   mirror the ledger
    GET  /v1/M/data/P[?version=N]             read a version (verify, repair a stale mirror;
                                              history: its ledger only, the secret dropped unread)
    POST /v1/M/delete/P, DELETE /v1/M/metadata/P   soft-delete / destroy

Reliability: each call retries (tenacity; at least `max_attempts` tries and `retry_seconds` of
waits from `pacing.Backoff`, enough for an HA cluster to elect a new leader) on 5xx, sealed (503),
a standby not caught up (412) and connection errors; a check-and-set loss is never retried here
(`VaultConflictError`: the caller re-reads and decides).
An answer that is not the documented shape (a proxy's page, a broken or hostile server) is a
`VaultError` naming the call and the field, never a traceback and never a value from the answer.
A version is complete on its own (secret + ledger in one write), so a failure between the data
write and the mirror leaves nothing half-written: the mirror is rebuilt on the next read.
No message, repr or log line carries the secret, the token or a Vault response body.
"""

from __future__ import annotations

import datetime
import functools
import logging
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol, TypeVar, cast

import hvac
import requests
from hvac import exceptions as hvac_errors
from tenacity import RetryCallState, Retrying, retry_if_exception_type

from components.errors import (
    ConfigurationError,
    VaultAuthError,
    VaultConflictError,
    VaultError,
    VaultInvalidRequestError,
    VaultPermissionError,
    VaultUnavailableError,
    VaultUntrustedError,
)
from components.ledger import LEDGER_DATA_FIELD, SECRET_DATA_FIELD, Ledger, LedgerFormatError
from components.pacing import Backoff
from components.secret import Secret, seal
from components.timing import Stopwatch
from components.vault_auth import RedirectRefused, VaultConnection, VaultLogin, login, resolve_login

__all__ = ["DELETE_MODES", "LedgerEntry", "VaultSink", "VersionInfo", "VersionLedger", "vault_time"]

log = logging.getLogger("gradient_keys.vault")

# The key's owner in its custom_metadata, beside the ledger mirror's keys (config.KeySpec.owner).
OWNER_FIELD = "owner"
DELETE_MODES = ("keep", "soft-delete", "destroy")
_SEGMENT = re.compile(r"[A-Za-z0-9._-]+")
T = TypeVar("T")
# Capability names Vault documents; anything else in a capabilities answer is not repeated back.
_CAPABILITIES = frozenset(
    {"create", "read", "update", "patch", "delete", "list", "sudo", "root", "deny", "subscribe", "recover"}
)
_VERSION = re.compile(r"[0-9]{1,18}")  # not str.isdigit(), which also takes "²" (and int() refuses it)
_VAULT_TIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)")
_MAX_LIST_DEPTH = 64  # folders below the prefix; a server that answers "x/" for ever is cut off here

# hvac raises one exception class per HTTP status (hvac/exceptions.py, `VaultError.from_status`)
# and lets requests' own through. What each means to `_call`, most specific first: an outcome, and
# the detail a retry exhaustion reports (`{name}`: the exception's class). A programming error
# (TypeError, AttributeError, ...) in gradient-keys is not in the table and surfaces as itself.
MAX_ATTEMPTS = 100  # a ceiling on tries per call, whatever the backoff and retry_seconds say
_OUTCOMES: tuple[tuple[type[Exception], str, str], ...] = (
    (hvac_errors.InvalidPath, "missing", "404"),
    (hvac_errors.Forbidden, "forbidden", "403"),
    (hvac_errors.Unauthorized, "unauthorized", "401"),
    (hvac_errors.InvalidRequest, "invalid", "400"),  # a lost check-and-set too: see `_cas_lost`
    (hvac_errors.VaultDown, "retry", "sealed or in maintenance (503)"),
    (hvac_errors.InternalServerError, "retry", "{name}"),
    (hvac_errors.BadGateway, "retry", "{name}"),
    (hvac_errors.RateLimitExceeded, "retry", "{name}"),
    (hvac_errors.PreconditionFailed, "retry", "a standby that has not caught up yet (412)"),
    (hvac_errors.VaultNotInitialized, "uninitialized", "not initialized (501)"),
    (hvac_errors.VaultError, "unexpected", "an HTTP status Vault does not document for this call"),
    (requests.ConnectionError, "retry", "unreachable ({name})"),
    (requests.Timeout, "retry", "unreachable ({name})"),
    (requests.exceptions.ChunkedEncodingError, "retry", "answer cut off ({name})"),
    (requests.RequestException, "unusable", "{name}"),
)

# What the tool needs on each path it manages. policies/gradient-keys.hcl is generated from these
# tables (components/vault_policy.py), so the preflight and the policy cannot drift apart.
# Reading data is part of writing: a stale ledger mirror is rebuilt from the current version.
# The ledger mirror is a JSON merge PATCH of custom_metadata: `patch`, not `create`/`update` (which
# would also let a token set max_versions or delete_version_after on every key's path).
WRITE_NEEDS = {"data": ("create", "update", "read"), "metadata": ("read", "patch")}
AUDIT_NEEDS = {"metadata": ("read", "list")}  # list: find entries under the prefix nothing declares
VERIFY_NEEDS = {"data": ("read",)}  # audit --verify-secrets compares each secret with its fingerprint
DELETE_NEEDS: dict[str, dict[str, tuple[str, ...]]] = {
    "keep": {},
    "soft-delete": {"delete": ("update",)},
    "destroy": {"metadata": ("delete",)},
}


@dataclass(frozen=True)
class VersionInfo:
    """One version Vault keeps at a path, as its metadata describes it (no data read)."""

    version: int
    created_time: str  # as Vault wrote it (RFC 3339, nanoseconds)
    deletion_time: str  # "" unless deleted (or, with delete_version_after, when it will be)
    destroyed: bool


@dataclass(frozen=True)
class LedgerEntry:
    """What Vault says about one key path, without its secret."""

    path: str  # relative to the prefix
    version: int  # current KV version
    ledger: Ledger | None  # the ledger of the current version (None: not written by gradient-keys)
    mirror_in_sync: bool  # False: the metadata mirror described another version and was rebuilt
    deleted: bool  # the current version is soft-deleted or destroyed
    # Every version Vault keeps (max_versions, 10 by default), newest first: the same answer's.
    versions: tuple[VersionInfo, ...] = field(default=(), compare=False, repr=False)
    # The key's owner, as its Vault metadata says (`owner` in custom_metadata; see `set_owner`).
    owner: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class VersionLedger:
    """The ledger one version was written with, or why it cannot be told (never its secret)."""

    version: int
    ledger: Ledger | None  # None: no ledger (not written by gradient-keys), or see below
    gone: bool = False  # deleted or destroyed after it was listed
    malformed: str = ""  # what is wrong with a ledger gradient-keys cannot read


def check_path(relative: str, what: str = "Vault path") -> str:
    segments = relative.strip("/").split("/")
    if not relative.strip("/") or any(s in (".", "..") or not _SEGMENT.fullmatch(s) for s in segments):
        raise ConfigurationError(
            f"{what} {relative!r} is not valid: use segments of letters, digits, '.', '_' or '-' "
            "separated by '/', for example apps/chatbot"
        )
    return "/".join(segments)


class KvV2(Protocol):
    """The part of hvac's KV v2 API the sink calls, typed: hvac ships no type information, so this
    is where the boundary is checked (mypy --strict) rather than trusted."""

    def read_secret_metadata(self, path: str, mount_point: str) -> dict[str, Any]: ...

    def read_secret_version(
        self, path: str, version: int | None = None, *, mount_point: str, raise_on_deleted_version: bool
    ) -> dict[str, Any]: ...

    def create_or_update_secret(
        self, path: str, secret: dict[str, Any], cas: int | None = None, *, mount_point: str
    ) -> dict[str, Any]: ...

    def delete_metadata_and_all_versions(self, path: str, mount_point: str) -> object: ...

    def delete_secret_versions(self, path: str, versions: list[int], mount_point: str) -> object: ...

    def list_secrets(self, path: str, mount_point: str) -> dict[str, Any]: ...


class VaultSink:
    """KV v2 at `mount`, under `path_prefix`. Logs in when built: with `credentials` on
    `connection`, or as the `environ` a front end hands over says (components/vault_auth.py)."""

    def __init__(  # noqa: PLR0913 - where (mount, prefix), then keyword-only login and retry settings
        self,
        mount: str = "secret",
        path_prefix: str = "gradient-keys",
        *,
        connection: VaultConnection | None = None,
        credentials: VaultLogin | None = None,
        environ: Mapping[str, str],
        auth_method: str | None = None,
        max_attempts: int = 4,
        retry_seconds: float | None = None,
        backoff: Backoff | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.mount = check_path(mount, "Vault mount")
        self.prefix = check_path(path_prefix, "Vault path_prefix")
        self.connection = connection or VaultConnection.from_env(environ)
        self.max_attempts = max_attempts
        # How long, in backoff waits, a call keeps retrying: long enough to ride out a leader
        # election of an HA cluster (docs/vault.md), GRADIENT_KEYS_VAULT_RETRY_SECONDS by default.
        self.retry_seconds = self.connection.retry_seconds if retry_seconds is None else retry_seconds
        self.backoff = backoff or Backoff(base=0.25, cap=5.0)
        self._sleep = sleep
        self.requests_made = 0
        self.stopwatch = Stopwatch()  # time in Vault requests (the backoff between tries apart)
        how = credentials or resolve_login(environ, auth_method)
        self._client: hvac.Client = self._call("login", None, lambda: login(self.connection, how))
        self._kv: KvV2 = self._client.secrets.kv.v2

    def __repr__(self) -> str:
        return f"VaultSink(addr={self.connection.addr!r}, mount={self.mount!r}, prefix={self.prefix!r})"

    def __reduce__(self) -> NoReturn:
        raise TypeError("VaultSink holds a Vault token and cannot be serialized; build one per call")

    def full_path(self, relative: str) -> str:
        return f"{self.prefix}/{check_path(relative)}"

    def api_path(self, relative: str, kind: str) -> str:
        """e.g. `secret/data/gradient-keys/apps/chatbot` (what policies and capabilities name)."""
        return f"{self.mount}/{kind}/{self.full_path(relative)}"

    # -- preflight ----------------------------------------------------------------------------
    def preflight(
        self,
        paths: list[str],
        *,
        delete_mode: str | None = None,
        audit: bool = False,
        write: bool = True,
        read_secrets: bool = False,
    ) -> None:
        """Prove, before anything mints a secret, that this token may do what the tool will do.

        One `sys/capabilities-self` call for every path; raises `VaultPermissionError` naming
        the first missing capability and the path, having changed nothing.
        """
        needs = _needs(delete_mode=delete_mode, audit=audit, write=write, read_secrets=read_secrets)
        wanted = {self.api_path(p, kind): caps for p in paths for kind, caps in needs.items()}
        if not wanted:
            return
        granted = self._capabilities("preflight", list(wanted))
        for api_path, caps in wanted.items():
            have = granted[api_path]
            if "root" in have:
                continue
            missing = [c for c in caps if c not in have or "deny" in have]
            if missing:
                shown = sorted(have & _CAPABILITIES)
                policy = "--audit-only " + ("--verify-secrets " if read_secrets else "") if not write else ""
                raise VaultPermissionError(
                    f"the Vault token may not {missing[0]} {api_path} "
                    f"(it has: {', '.join(shown) or 'nothing'}); grant the policy that "
                    f"`gradient-keys vault policy {policy}--stack NAME` prints. Nothing was changed",
                    operation="preflight",
                    path=api_path,
                )

    def mount_engine(self) -> tuple[str, str] | None:
        """The mount's engine and its version (`("kv", "2")`), as `sys/internal/ui/mounts` tells
        this login; None when it tells nothing: no such mount, or one this login may not see."""
        where = f"sys/internal/ui/mounts/{self.mount}"
        try:
            reply = self._call("mount", where, lambda: self._client.adapter.get(f"/v1/{where}"))
        except VaultPermissionError:
            return None
        data = _object(_object(reply, "mount", where).get("data"), "mount", where, "its data")
        options = data.get("options")
        version = options.get("version") if isinstance(options, dict) else None
        return str(data.get("type")), str(version or "1")

    def may(self, relative: str, kind: str, capability: str) -> bool:
        """May this token do `capability` on the path's `kind` (`data`, `metadata`, ...)? One
        `sys/capabilities-self` call; asked before a read the policy may not grant (`history`
        with the audit-only policy), so Vault's audit log records no refused request."""
        api_path = self.api_path(relative, kind)
        have = self._capabilities("capabilities", [api_path])[api_path]
        return "root" in have or (capability in have and "deny" not in have)

    def _capabilities(self, operation: str, api_paths: list[str]) -> dict[str, set[str]]:
        """What `sys/capabilities-self` says this token may do on each of `api_paths`."""
        reply = self._call(operation, None, lambda: self._client.sys.get_capabilities(paths=api_paths))
        answer = _object(reply, operation, None, "the sys/capabilities-self answer")
        granted = _object(answer.get("data", answer), operation, None, "its data")
        found: dict[str, set[str]] = {}
        for api_path in api_paths:
            listed = granted.get(api_path)
            if listed is not None and (
                not isinstance(listed, list) or not all(isinstance(c, str) for c in listed)
            ):
                raise _malformed(operation, api_path, "its capabilities are not a list of strings")
            found[api_path] = set(listed or [])
        return found

    # -- reads --------------------------------------------------------------------------------
    def read_ledger(self, relative: str, *, repair: bool = True) -> LedgerEntry | None:
        """The ledger of the current version, from the metadata mirror (no secret is read).

        Only when the mirror describes another version (a writer died between its two writes)
        is the current version read to rebuild it. None when nothing is stored at the path.
        """
        full = self.full_path(relative)
        metadata = self._call(
            "read ledger",
            full,
            lambda: self._kv.read_secret_metadata(full, mount_point=self.mount),
            missing_ok=True,
        )
        if metadata is None:
            return None
        data = _object(_object(metadata, "read ledger", full).get("data"), "read ledger", full, "its data")
        version = _count(data.get("current_version"), "read ledger", full, "current_version")
        if version == 0:
            return None
        deleted = _version_deleted(data, version, full)
        kept = _version_list(data, full)
        custom = data.get("custom_metadata")
        if custom is not None and (
            not isinstance(custom, dict) or not all(isinstance(v, str) for v in custom.values())
        ):
            # Vault stores custom_metadata as a map of strings: anything else is not Vault talking.
            raise _malformed("read ledger", full, "custom_metadata is not a map of strings")
        try:
            mirrored = Ledger.from_metadata(custom)
        except LedgerFormatError as exc:
            # An edited or damaged mirror is treated as stale: the version's own copy is the truth.
            log.warning("ledger mirror of %s is malformed (%s); rebuilding it from the version", full, exc)
            mirrored = None
        owner = (custom or {}).get(OWNER_FIELD)
        if mirrored is not None and mirrored[1] == version:
            return LedgerEntry(relative, version, mirrored[0], True, deleted, kept, owner)
        if deleted or not repair:
            return LedgerEntry(
                relative, version, mirrored[0] if mirrored else None, False, deleted, kept, owner
            )
        _secret, ledger = self._read_version(full, version)
        if ledger is not None:
            log.info("ledger mirror of %s described another version; rebuilt for version %d", full, version)
            try:
                self._mirror(full, ledger, version)
            except VaultError as exc:
                log.warning(
                    "%s: ledger mirror not rebuilt (%s); the next read retries", full, type(exc).__name__
                )
        return LedgerEntry(relative, version, ledger, False, deleted, kept, owner)

    def read_secret(self, relative: str) -> tuple[Secret, LedgerEntry]:
        """The current secret (for verification and consumers), with its ledger."""
        full = self.full_path(relative)
        entry = self.read_ledger(relative)
        if entry is None or entry.deleted:
            raise VaultError("no current secret is stored here", operation="read secret", path=full)
        secret, _ledger = self._read_version(full, entry.version)
        return secret, entry

    def read_version(self, relative: str, version: int) -> tuple[Secret, Ledger | None]:
        """One version's secret and the ledger written with it (reads, never repairs)."""
        return self._read_version(self.full_path(relative), version)

    def read_field(self, relative: str, name: str) -> Secret | None:
        """The field `name` of the current version at `relative` (a webhook URL), sealed at once; None when
        nothing is stored there or the field is not a non-empty string."""
        full = self.full_path(relative)
        reply = self._call(
            "read",
            full,
            lambda: seal(
                self._kv.read_secret_version(full, mount_point=self.mount, raise_on_deleted_version=True),
                name,
            ),
            missing_ok=True,
        )
        if reply is None:
            return None
        data = _object(_object(reply, "read", full).get("data"), "read", full, "its data")
        value = _object(data.get("data") or {}, "read", full, "its data.data").get(name)
        return value if isinstance(value, Secret) else None

    def read_version_ledger(self, relative: str, version: int) -> VersionLedger:
        """The ledger one version was written with (`gradient-keys history`). Its secret comes in
        the same answer: it is dropped here, unread, and never returned. Never repairs anything.
        A version deleted or destroyed since it was listed, or whose ledger is malformed, says so
        instead of raising: one bad version does not hide the others."""
        full = self.full_path(relative)
        reply = self._call(  # its api_key already a `Secret` (see _call), dropped with `reply`
            "read version",
            full,
            lambda: self._kv.read_secret_version(
                full, version=version, mount_point=self.mount, raise_on_deleted_version=True
            ),
            missing_ok=True,
        )
        if reply is None:
            return VersionLedger(version, None, gone=True)
        outer = _object(_object(reply, "read version", full).get("data"), "read version", full, "its data")
        raw = _object(outer.get("data") or {}, "read version", full, "its data.data").get(LEDGER_DATA_FIELD)
        del reply, outer
        try:
            return VersionLedger(version, Ledger.from_data_field(raw))
        except LedgerFormatError as exc:
            problem = str(exc)
        return VersionLedger(version, None, malformed=problem)

    def verify(self, relative: str) -> bool:
        """Does the stored secret still match the ledger's fingerprint (not changed outside the tool)?"""
        secret, entry = self.read_secret(relative)
        return entry.ledger is not None and secret.fingerprint == entry.ledger.fingerprint

    # -- writes -------------------------------------------------------------------------------
    def write(self, relative: str, secret: Secret, ledger: Ledger, expected_version: int) -> LedgerEntry:
        """Store `secret` as a new version with check-and-set on `expected_version` (0: new path).

        Writing the secret the current version already holds, with the same ledger, makes no new
        version. Raises `VaultConflictError` when someone else wrote first: the caller re-reads.
        """
        full = self.full_path(relative)
        if ledger.fingerprint != secret.fingerprint:
            raise ValueError("the ledger's fingerprint must be the secret's")
        current = self.read_ledger(relative)
        current_version = current.version if current else 0
        if current is not None and current.ledger == ledger and not current.deleted:
            log.debug("%s already holds this secret and ledger at version %d", full, current_version)
            return current
        if current_version != expected_version:
            raise VaultConflictError(
                f"expected version {expected_version} but Vault holds {current_version}: "
                "another writer got there first; re-read the ledger and decide again",
                operation="write",
                path=full,
            )
        try:
            # The payload is built inside the call, never bound to a local of this frame: a
            # traceback printed with its locals (pytest -l, Sentry) then shows only `Secret`.
            reply = self._call(
                "write",
                full,
                lambda: self._kv.create_or_update_secret(
                    full,
                    {SECRET_DATA_FIELD: secret.reveal(), LEDGER_DATA_FIELD: ledger.to_data_field()},
                    cas=expected_version,
                    mount_point=self.mount,
                ),
            )
        except VaultInvalidRequestError:
            moved_to = self._current_version(full)
            if moved_to == expected_version:
                raise  # the path did not move: the write itself was refused
            if moved_to == expected_version + 1:
                # A retried write whose first attempt committed (its answer was lost) loses
                # check-and-set to itself: if the next version holds exactly our ledger, it succeeded.
                landed = self.read_ledger(relative)
                if landed is not None and landed.version == moved_to and landed.ledger == ledger:
                    return landed
            raise _conflict("write", full) from None
        written = _object(_object(reply, "write", full).get("data"), "write", full, "its data")
        version = _count(written.get("version"), "write", full, "version", minimum=1)
        try:
            self._mirror(full, ledger, version)
        except VaultError as exc:
            # The version is complete (secret and ledger were one write); the mirror catches up on
            # the next read. Do not fail a write that consumers can already use.
            log.warning(
                "%s: version %d written, ledger mirror not updated (%s)", full, version, type(exc).__name__
            )
            return LedgerEntry(relative, version, ledger, False, False)
        return LedgerEntry(relative, version, ledger, True, False)

    def remove(self, relative: str, mode: str) -> None:
        """Apply `on_delete`: keep, soft-delete every version (recoverable), or destroy all."""
        full = self.full_path(relative)
        if mode == "keep":
            return
        if mode == "destroy":
            self._call(
                "destroy",
                full,
                lambda: self._kv.delete_metadata_and_all_versions(full, mount_point=self.mount),
                missing_ok=True,
            )
            return
        if mode != "soft-delete":
            raise ConfigurationError(f"on_delete {mode!r} is not one of {', '.join(DELETE_MODES)}")
        metadata = self._call(
            "soft-delete",
            full,
            lambda: self._kv.read_secret_metadata(full, mount_point=self.mount),
            missing_ok=True,
        )
        if metadata is None:
            return
        data = _object(_object(metadata, "soft-delete", full).get("data"), "soft-delete", full, "its data")
        versions = [
            int(v)
            for v, info in _versions(data, "soft-delete", full).items()
            if not _gone(info, datetime.datetime.now(datetime.UTC))
        ]
        if versions:
            self._call(
                "soft-delete",
                full,
                lambda: self._kv.delete_secret_versions(full, versions=versions, mount_point=self.mount),
            )

    def list_paths(self, skip: str = "_gradient-keys") -> list[str]:
        """Every KV entry under the prefix, relative to it (folders walked; a folder named `skip`,
        at any depth, left out)."""
        found: list[str] = []
        folders = [""]
        while folders:
            folder = folders.pop()
            full = f"{self.prefix}/{folder}".rstrip("/")
            if folder.count("/") > _MAX_LIST_DEPTH:
                raise _malformed("list", full, f"folders nest deeper than {_MAX_LIST_DEPTH} levels")
            lister: Callable[[], Any] = functools.partial(self._kv.list_secrets, full, mount_point=self.mount)
            reply = self._call("list", full, lister, missing_ok=True)
            if reply is None:
                continue
            data = _object(_object(reply, "list", full).get("data"), "list", full, "its data")
            names = data.get("keys")
            if not isinstance(names, list) or not all(
                isinstance(n, str) and n.rstrip("/") and "/" not in n.rstrip("/") for n in names
            ):
                raise _malformed("list", full, "keys is not a list of entry names")
            for name in names:
                relative = f"{folder}{name}"
                if name.rstrip("/") == skip:
                    continue  # the tool's own records, this stack's or a nested prefix's
                if name.endswith("/"):
                    folders.append(relative)
                else:
                    found.append(relative)
        return sorted(found)

    # -- small non-secret records (the rotation-run journal) -----------------------------------
    def read_record(self, relative: str) -> dict[str, Any] | None:
        return self.read_record_version(relative)[0]

    def read_record_version(self, relative: str) -> tuple[dict[str, Any] | None, int]:
        """The record and its KV version (0 when there is none), for a check-and-set rewrite."""
        full = self.full_path(relative)
        reply = self._call(
            "read record",
            full,
            lambda: self._kv.read_secret_version(full, mount_point=self.mount, raise_on_deleted_version=True),
            missing_ok=True,
        )
        if reply is None:
            return None, 0
        data = _object(_object(reply, "read record", full).get("data"), "read record", full, "its data")
        metadata = _object(data.get("metadata") or {}, "read record", full, "its metadata")
        version = _count(metadata.get("version", 0), "read record", full, "version", minimum=0)
        record = data.get("data")
        return (dict(record) if isinstance(record, dict) else None), version

    def write_record(self, relative: str, data: dict[str, Any], cas: int | None = None) -> None:
        """Write a record; with `cas`, only if its version is still `cas` (else VaultConflictError)."""
        full = self.full_path(relative)
        try:
            self._call(
                "write record",
                full,
                lambda: self._kv.create_or_update_secret(full, data, cas=cas, mount_point=self.mount),
            )
        except VaultInvalidRequestError:
            if cas is None or self._current_version(full) == cas:
                raise
            raise _conflict("write record", full) from None

    def _current_version(self, full: str) -> int:
        """The path's current version (0: none), read after a refused check-and-set write: a path
        that moved past the version the write expected is a lost check-and-set. Vault says so
        only in its error text; the version says it for certain."""
        metadata = self._call(
            "read metadata",
            full,
            lambda: self._kv.read_secret_metadata(full, mount_point=self.mount),
            missing_ok=True,
        )
        if metadata is None:
            return 0
        data = _object(
            _object(metadata, "read metadata", full).get("data"), "read metadata", full, "its data"
        )
        return _count(data.get("current_version"), "read metadata", full, "current_version")

    def set_owner(self, relative: str, owner: str | None) -> None:
        """Write the key's owner into its Vault metadata (`owner` in custom_metadata; None removes
        it), a merge patch like the ledger mirror's: the ledger and an operator's keys stay."""
        full = self.full_path(relative)
        self._patch_metadata("set owner", full, {OWNER_FIELD: owner})

    # -- plumbing -----------------------------------------------------------------------------
    def _mirror(self, full: str, ledger: Ledger, version: int) -> None:
        # A JSON merge patch of custom_metadata alone: hvac's update_metadata would also reset the
        # path's delete_version_after and replace every custom_metadata key, an operator's included.
        self._patch_metadata("mirror ledger", full, ledger.to_metadata(version))

    def _patch_metadata(self, operation: str, full: str, custom: dict[str, str | None]) -> None:
        body = {"custom_metadata": custom}
        self._call(
            operation,
            full,
            lambda: self._client.adapter.request(
                "PATCH",
                f"/v1/{self.mount}/metadata/{full}",
                json=body,
                headers={"Content-Type": "application/merge-patch+json"},
            ),
        )

    def _read_version(self, full: str, version: int) -> tuple[Secret, Ledger | None]:
        reply = self._call(  # its api_key already a `Secret` (see _call)
            "read",
            full,
            lambda: self._kv.read_secret_version(
                full, version=version, mount_point=self.mount, raise_on_deleted_version=True
            ),
            missing_ok=True,
        )
        if reply is None:
            raise VaultError(f"version {version} is gone", operation="read", path=full)
        outer = _object(_object(reply, "read", full).get("data"), "read", full, "its data")
        data = _object(outer.get("data") or {}, "read", full, "its data.data")
        value = data.get(SECRET_DATA_FIELD)
        if not isinstance(value, Secret):
            raise VaultError(
                f"version {version} has no {SECRET_DATA_FIELD} field", operation="read", path=full
            )
        problem: str | None = None
        try:
            ledger = Ledger.from_data_field(data.get(LEDGER_DATA_FIELD))
        except LedgerFormatError as exc:
            problem = str(exc)
        if problem is not None:
            # Raised outside the except block: nothing chained, no frame of the parse kept.
            raise VaultError(
                f"version {version} holds a malformed ledger ({problem})", operation="read", path=full
            )
        return value, ledger

    def _call(self, operation: str, path: str | None, call: Callable[[], T], missing_ok: bool = False) -> T:
        """Run one Vault call with retries; map hvac's and requests' exceptions to ours (`_OUTCOMES`).

        Outcomes `_OUTCOMES` calls "retry" (5xx, sealed, rate limited, unreachable) are tried
        again, up to `max_attempts` in all, waiting as `backoff` says; any other ends the call.
        Every `api_key` in the answer, wherever it is, comes back as a `Secret` (`seal`), before
        any caller binds the answer to a local that a traceback printed with its locals would show.
        Every error leaves without a chained exception or a frame of hvac's or requests' below
        this one: those frames hold the request (a secret being written) and the answer.
        """
        retrying = Retrying(
            stop=self._stop_retrying,
            wait=lambda state: self.backoff.delay(state.attempt_number),
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
            before_sleep=lambda state: log.debug(
                "vault %s %s: %s, retry %d in %.2fs",
                operation,
                path or "",
                _transient_detail(state),
                state.attempt_number,
                state.upcoming_sleep,
            ),
        )
        detail: str | None = None
        try:
            return cast(T, retrying(self._attempt, operation, path, call, missing_ok))
        except _Transient as last:
            detail = last.detail
        tries = retrying.statistics.get("attempt_number", self.max_attempts)
        waited = retrying.statistics.get("idle_for", 0.0)
        raise VaultUnavailableError(
            f"Vault at {self.connection.addr}: {detail}, after {tries} attempts over {waited:.0f}s; "
            "nothing was changed by the failed call. Retry when Vault is unsealed and reachable",
            operation=operation,
            path=path,
        )

    def _stop_retrying(self, state: RetryCallState) -> bool:
        """Stop after `max_attempts` tries and `retry_seconds` of waiting between them, whichever
        comes last (never past MAX_ATTEMPTS, should the backoff wait nothing)."""
        if state.attempt_number >= MAX_ATTEMPTS:
            return True
        return state.attempt_number >= self.max_attempts and state.idle_for >= self.retry_seconds

    def _attempt(self, operation: str, path: str | None, call: Callable[[], T], missing_ok: bool) -> T:
        """One try of `_call`: the answer, our error, or `_Transient` (to be tried again)."""
        outcome = "retry"
        detail = ""
        ours: VaultError | None = None
        try:
            self.requests_made += 1
            with self.stopwatch.timing():
                answer = call()
            return cast(T, seal(answer, SECRET_DATA_FIELD))
        except RedirectRefused as exc:
            # Not followed; tried again here: a standby redirects only while it cannot forward.
            outcome, detail = "retry", exc.detail
        except VaultError as exc:
            ours = exc  # ours, raised from inside the call (a login)
        except (hvac_errors.VaultError, requests.RequestException) as exc:
            outcome, detail = _classify(exc)
        except (AttributeError, TypeError, KeyError) as exc:
            if not _raised_by_hvac(exc):
                raise  # a bug in gradient-keys: surfaces as itself
            # hvac reads some answers itself (the `errors` of a JSON error body, a login's token)
            # and trips over malformed ones: that is the answer's fault, not ours. (A ValueError
            # from hvac is about its arguments, a bug of ours; a JSON parse error is requests'.)
            outcome, detail = "unusable", "hvac could not parse it"
        # Raised outside the except blocks: nothing chained.
        if ours is not None:
            ours.__context__ = ours.__cause__ = None
            raise ours.with_traceback(None)
        if outcome == "missing" and missing_ok:
            return None  # type: ignore[return-value]
        if outcome == "retry":
            raise _Transient(detail)
        self._raise(outcome, operation, path, detail)

    def _raise(self, outcome: str, operation: str, path: str | None, detail: str = "") -> NoReturn:
        if outcome in ("forbidden", "unauthorized"):
            if operation == "login":
                raise VaultAuthError("login refused", operation=operation)
            raise VaultPermissionError(
                "permission denied: the token is invalid or expired, or its policy lacks a capability "
                "on this path (`gradient-keys vault policy --stack NAME` prints the policy the tool needs)",
                operation=operation,
                path=path,
            )
        if outcome == "missing":
            raise VaultError(
                "no such path or mount (is KV v2 enabled at this mount?)", operation=operation, path=path
            )
        if outcome == "untrusted":
            raise VaultUntrustedError(
                f"Vault at {self.connection.addr}: {detail} (not signed by a CA this machine trusts, or "
                "not issued for this host); set VAULT_CACERT to the PEM bundle of the CA that signed "
                "Vault's certificate. Nothing was sent",
                operation=operation,
                path=path,
            )
        if outcome == "uninitialized":
            raise VaultUnavailableError(
                f"Vault at {self.connection.addr} is not initialized (501); initialize and unseal it",
                operation=operation,
                path=path,
            )
        if outcome == "unexpected":
            raise VaultError(
                f"Vault answered with {detail}; the call may or may not have taken effect. Is VAULT_ADDR "
                "a Vault server (not a proxy or load balancer page)?",
                operation=operation,
                path=path,
            )
        if outcome == "unusable":
            raise VaultError(
                f"Vault's answer could not be read ({detail}); the call may or may not have taken effect. "
                "Is VAULT_ADDR a Vault server?",
                operation=operation,
                path=path,
            )
        raise VaultInvalidRequestError(
            "Vault rejected the request as invalid", operation=operation, path=path
        )


class _Transient(Exception):
    """A Vault call that may succeed if tried again; `detail` says why it failed (no answer text)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def _transient_detail(state: RetryCallState) -> str:
    failed = state.outcome.exception() if state.outcome is not None else None
    return failed.detail if isinstance(failed, _Transient) else ""


def _classify(exc: Exception) -> tuple[str, str]:
    """`_OUTCOMES` applied to one exception: (outcome, detail). A certificate that failed
    verification is its own outcome: requests files it under ConnectionError, but no retry mends it."""
    if _certificate_refused(exc):
        return "untrusted", "its TLS certificate failed verification"
    for kind, outcome, detail in _OUTCOMES:
        if isinstance(exc, kind):
            return outcome, detail.format(name=type(exc).__name__)
    raise AssertionError("unreachable: the table ends with the base classes")  # pragma: no cover


def _certificate_refused(exc: BaseException) -> bool:
    """Is an `ssl.SSLCertVerificationError` anywhere in what `exc` wraps (urllib3 keeps it as the
    `reason` of the error requests raises, and as an argument of its own SSLError)?"""
    seen: set[int] = set()
    pending: list[object] = [exc]
    while pending:
        item = pending.pop()
        if id(item) in seen or not isinstance(item, BaseException):
            continue
        seen.add(id(item))
        if isinstance(item, ssl.SSLCertVerificationError):
            return True
        pending += [*item.args, getattr(item, "reason", None), item.__cause__, item.__context__]
    return False


def _raised_by_hvac(exc: BaseException) -> bool:
    """Was `exc` raised by hvac's own code (its innermost frame is in an `hvac.` module)?"""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and str(tb.tb_frame.f_globals.get("__name__", "")).startswith("hvac.")


def _needs(
    *, delete_mode: str | None, audit: bool, write: bool, read_secrets: bool
) -> dict[str, tuple[str, ...]]:
    """The capabilities an operation needs, by KV v2 path kind (data, metadata, delete, ...)."""
    needs: dict[str, tuple[str, ...]] = dict(WRITE_NEEDS) if write else {}
    extra: list[Mapping[str, tuple[str, ...]]] = [AUDIT_NEEDS] if audit else []
    if read_secrets:
        extra.append(VERIFY_NEEDS)
    if delete_mode is not None:
        if delete_mode not in DELETE_MODES:
            raise ConfigurationError(f"on_delete {delete_mode!r} is not one of {', '.join(DELETE_MODES)}")
        extra.append(DELETE_NEEDS[delete_mode])
    for more in extra:
        for kind, caps in more.items():
            needs[kind] = (*needs.get(kind, ()), *caps)
    return needs


def _conflict(operation: str, path: str) -> VaultConflictError:
    return VaultConflictError(
        "check-and-set lost: another writer stored a newer version first; re-read and decide again",
        operation=operation,
        path=path,
    )


def _malformed(operation: str, path: str | None, problem: str) -> VaultError:
    """An answer that is not the documented shape; the message names the field, never a value."""
    return VaultError(
        f"Vault's answer is not the documented shape ({problem}); is VAULT_ADDR a Vault server "
        "(not a proxy or load balancer page)?",
        operation=operation,
        path=path,
    )


def _object(value: Any, operation: str, path: str | None, what: str = "the answer") -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _malformed(operation, path, f"{what} is not a JSON object")
    return value


def _count(value: Any, operation: str, path: str, field: str, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _malformed(operation, path, f"{field} is not a whole number of at least {minimum}")
    return value


def _versions(metadata: dict[str, Any], operation: str, path: str) -> dict[str, dict[str, Any]]:
    """KV v2 metadata's `versions`: version number (a string) -> that version's facts."""
    versions = metadata.get("versions")
    if versions is None:
        return {}
    if not isinstance(versions, dict) or not all(
        isinstance(k, str) and _VERSION.fullmatch(k) and isinstance(v, dict) for k, v in versions.items()
    ):
        raise _malformed(operation, path, "versions is not a map of version numbers to objects")
    return versions


def _version_list(metadata: dict[str, Any], path: str) -> tuple[VersionInfo, ...]:
    """Every version the metadata lists, newest first, its fields checked (never quoted back)."""
    found = []
    for number, info in _versions(metadata, "read ledger", path).items():
        created, deletion, destroyed = (
            info.get("created_time", ""),
            info.get("deletion_time") or "",
            info.get("destroyed", False),
        )
        if not isinstance(created, str) or not isinstance(deletion, str) or not isinstance(destroyed, bool):
            raise _malformed("read ledger", path, f"version {int(number)}'s times or state are malformed")
        found.append(VersionInfo(int(number), created, deletion, destroyed))
    return tuple(sorted(found, key=lambda v: v.version, reverse=True))


def _version_deleted(metadata: dict[str, Any], version: int, path: str) -> bool:
    info = _versions(metadata, "read ledger", path).get(str(version)) or {}
    return _gone(info, datetime.datetime.now(datetime.UTC))


def _gone(info: dict[str, Any], now: datetime.datetime) -> bool:
    """Is this version deleted or destroyed? With `delete_version_after`, Vault gives every
    version its deletion time when it is written: a time still to come is not a deletion."""
    if info.get("destroyed"):
        return True
    deletion = info.get("deletion_time")
    if not deletion:
        return False
    moment = vault_time(str(deletion))
    return moment is None or moment <= now


def vault_time(text: str) -> datetime.datetime | None:
    """A Vault time (RFC 3339, nanoseconds) as a UTC datetime, to the second; None if unreadable."""
    match = _VAULT_TIME.fullmatch(text)
    if match is None:
        return None
    zone = "+00:00" if match.group(2) == "Z" else match.group(2)
    try:
        return datetime.datetime.fromisoformat(match.group(1) + zone).astimezone(datetime.UTC)
    except ValueError:
        return None
