"""The sandbox's model access keys: an in-memory table, optionally persisted to a JSON file.

Secrets are never stored, only their SHA-256, the way a real service keeps bearer keys: the state
file can be read by anyone without revealing a key, and a secret shown once is gone for good.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import tempfile
import threading
import time
import uuid as uuidlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["KeyStore", "StoredKey", "new_secret", "secret_digest"]

SECRET_PREFIX = "sk-do-"  # noqa: S105 - a prefix, not a secret


def new_secret() -> str:
    """A fresh model access key: 256 bits from the OS CSPRNG, URL-safe."""
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_uuid_lock = threading.Lock()
_uuid_last = 0


def _time_ordered_uuid() -> str:
    """A uuid whose leading hex sorts by creation time, like DigitalOcean's (`11efb7d6-cdb5-6388-...`).

    The layout is RFC 9562 version 6 (time-ordered Gregorian time), which is what those ids are.
    """
    global _uuid_last  # noqa: PLW0603 - one process-wide monotonic counter
    with _uuid_lock:
        # 100 ns ticks since 1582-10-15, kept strictly increasing so ids never collide or reorder.
        ticks = time.time_ns() // 100 + 0x01B21DD213814000
        ticks = max(ticks, _uuid_last + 1)
        _uuid_last = ticks
    time_high = (ticks >> 12) & 0xFFFFFFFFFFFF
    time_low = ticks & 0x0FFF
    rand = int.from_bytes(os.urandom(8), "big")
    clock_seq = (rand >> 48) & 0x3FFF | 0x8000
    node = rand & 0xFFFFFFFFFFFF
    value = (time_high << 80) | (0x6 << 76) | (time_low << 64) | (clock_seq << 48) | node
    return str(uuidlib.UUID(int=value))


@dataclass
class StoredKey:
    uuid: str
    name: str
    created_at: str
    created_by: str
    secret_sha256: str
    regenerations: int = 0  # sandbox bookkeeping (never in API answers): lets tests count per key

    def info(self) -> dict[str, str]:
        """The public `apiModelAPIKeyInfo` view (never a secret: the store has none)."""
        return {
            "uuid": self.uuid,
            "name": self.name,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


class KeyStore:
    """Thread-safe key table. Every mutation is persisted before it is acknowledged."""

    def __init__(self, state_file: Path | None = None, created_by: str = "1000001") -> None:
        self._lock = threading.RLock()
        self._keys: dict[str, StoredKey] = {}
        self._by_digest: dict[str, str] = {}
        self._state_file = state_file
        self.created_by = created_by
        if state_file is not None and state_file.exists():
            self._load(state_file)

    # -- queries ------------------------------------------------------------------------------
    def list(self) -> list[StoredKey]:
        with self._lock:
            return list(self._keys.values())

    def get(self, key_uuid: str) -> StoredKey | None:
        with self._lock:
            return self._keys.get(key_uuid)

    def find_by_secret(self, secret: str) -> StoredKey | None:
        """The live key this secret currently belongs to, if any."""
        with self._lock:
            key_uuid = self._by_digest.get(secret_digest(secret))
            return self._keys.get(key_uuid) if key_uuid else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)

    # -- mutations ----------------------------------------------------------------------------
    def create(self, name: str) -> tuple[StoredKey, str]:
        secret = new_secret()
        key = StoredKey(
            uuid=_time_ordered_uuid(),
            name=name,
            created_at=_now_iso(),
            created_by=self.created_by,
            secret_sha256=secret_digest(secret),
        )
        with self._lock:
            self._keys[key.uuid] = key
            self._by_digest[key.secret_sha256] = key.uuid
            self._save()
        return key, secret

    def rename(self, key_uuid: str, name: str) -> StoredKey | None:
        with self._lock:
            key = self._keys.get(key_uuid)
            if key is None:
                return None
            key.name = name
            self._save()
            return key

    def regenerate(self, key_uuid: str) -> tuple[StoredKey, str] | None:
        """New secret; the previous one stops working in the same instant."""
        secret = new_secret()
        with self._lock:
            key = self._keys.get(key_uuid)
            if key is None:
                return None
            self._by_digest.pop(key.secret_sha256, None)
            key.secret_sha256 = secret_digest(secret)
            key.regenerations += 1
            self._by_digest[key.secret_sha256] = key.uuid
            self._save()
            return key, secret

    def delete(self, key_uuid: str) -> tuple[StoredKey, str] | None:
        """Remove the key; returns it with its deletion time. Its secret stops working at once."""
        with self._lock:
            key = self._keys.pop(key_uuid, None)
            if key is None:
                return None
            self._by_digest.pop(key.secret_sha256, None)
            self._save()
            return key, _now_iso()

    def reset(self) -> None:
        with self._lock:
            self._keys.clear()
            self._by_digest.clear()
            self._save()

    # -- persistence --------------------------------------------------------------------------
    def _load(self, path: Path) -> None:
        try:
            document = json.loads(path.read_text())
            keys = [StoredKey(**k) for k in document["keys"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"sandbox state file {path} is unreadable ({type(exc).__name__}); move it away to start empty"
            ) from None
        for key in keys:
            self._keys[key.uuid] = key
            self._by_digest[key.secret_sha256] = key.uuid

    def _save(self) -> None:
        if self._state_file is None:
            return
        document = {"version": 1, "keys": [asdict(k) for k in self._keys.values()]}
        directory = self._state_file.parent
        directory.mkdir(parents=True, exist_ok=True)
        # Write-then-rename so a crash never leaves a half-written state file behind.
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".sandbox-state-")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle)
            os.replace(tmp, self._state_file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
