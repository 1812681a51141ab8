"""The sandbox's keys: model access keys, and agents with their API keys; an in-memory table,
optionally persisted (`sandbox.keydb`). A key's `agent_uuid` says which it is ("" for a model key):
listings, changes and the endpoints that accept a secret each see only their own kind.

Secrets are never stored, only their SHA-256, the way a real service keeps bearer keys: the state
file can be read by anyone without revealing a key, and a secret shown once is gone for good.
Reads are served from memory; each change writes its one row to the table before it is acknowledged.
"""

from __future__ import annotations

import builtins
import hashlib
import os
import secrets
import threading
import time
import uuid as uuidlib
from collections.abc import Iterable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from sandbox.keydb import KeyTable, SqliteKeyTable, StoredAgent, StoredKey

__all__ = ["MODEL_KEYS", "KeyStore", "StoredAgent", "StoredKey", "new_secret", "secret_digest"]

MODEL_KEYS = ""  # the `agent_uuid` of model access keys: they belong to no agent

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


class KeyStore:
    """Thread-safe key table. Every mutation is persisted before it is acknowledged.

    `state_file` is an SQLite file (`sandbox.keydb`; an old JSON one is migrated on first open);
    `table` puts another `KeyTable` behind the store instead (the benchmark's naive baseline).
    """

    def __init__(
        self, state_file: Path | None = None, created_by: str = "1000001", table: KeyTable | None = None
    ) -> None:
        self._lock = threading.RLock()
        self._keys: dict[str, StoredKey] = {}
        self._by_digest: dict[str, str] = {}
        self._agents: dict[str, StoredAgent] = {}
        if table is None and state_file is not None:
            table = SqliteKeyTable(state_file)
        self._table = table
        self.created_by = created_by
        for key in table.load() if table is not None else ():
            self._keys[key.uuid] = key
            self._by_digest[key.secret_sha256] = key.uuid
        for agent in table.load_agents() if table is not None else ():
            self._agents[agent.uuid] = agent

    # -- queries ------------------------------------------------------------------------------
    def list(self, agent_uuid: str = MODEL_KEYS) -> list[StoredKey]:
        """The model access keys, or the API keys of the agent `agent_uuid`."""
        with self._lock:
            return [key for key in self._keys.values() if key.agent_uuid == agent_uuid]

    def get(self, key_uuid: str, agent_uuid: str = MODEL_KEYS) -> StoredKey | None:
        """The key, if it is of that kind: a model key's uuid under an agent's path is not found."""
        with self._lock:
            key = self._keys.get(key_uuid)
            return key if key is not None and key.agent_uuid == agent_uuid else None

    def agents(self) -> builtins.list[StoredAgent]:
        with self._lock:
            return list(self._agents.values())

    def agent(self, agent_uuid: str) -> StoredAgent | None:
        with self._lock:
            return self._agents.get(agent_uuid)

    def find_by_secret(self, secret: str) -> StoredKey | None:
        """The live key this secret currently belongs to, if any."""
        with self._lock:
            key_uuid = self._by_digest.get(secret_digest(secret))
            return self._keys.get(key_uuid) if key_uuid else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._keys)

    # -- mutations ----------------------------------------------------------------------------
    def create_agent(self, name: str) -> StoredAgent:
        agent = StoredAgent(uuid=_time_ordered_uuid(), name=name, created_at=_now_iso())
        with self._lock:
            if self._table is not None:
                self._table.insert_agent(agent)
            self._agents[agent.uuid] = agent
        return agent

    def create(self, name: str, agent_uuid: str = MODEL_KEYS) -> tuple[StoredKey, str]:
        return self.create_many([name], agent_uuid)[0]

    def create_many(
        self, names: Iterable[str], agent_uuid: str = MODEL_KEYS
    ) -> builtins.list[tuple[StoredKey, str]]:
        """Make a key per name in one write (benchmarks seed thousands this way)."""
        made: builtins.list[tuple[StoredKey, str]] = []
        for name in names:
            secret = new_secret()
            key = StoredKey(
                uuid=_time_ordered_uuid(),
                name=name,
                created_at=_now_iso(),
                created_by=self.created_by,
                secret_sha256=secret_digest(secret),
                agent_uuid=agent_uuid,
            )
            made.append((key, secret))
        with self._lock:
            if self._table is not None:
                self._table.insert([key for key, _ in made])
            for key, _ in made:
                self._keys[key.uuid] = key
                self._by_digest[key.secret_sha256] = key.uuid
        return made

    def rename(self, key_uuid: str, name: str, agent_uuid: str = MODEL_KEYS) -> StoredKey | None:
        with self._lock:
            key = self.get(key_uuid, agent_uuid)
            if key is None:
                return None
            if self._table is not None:
                self._table.update(replace(key, name=name))
            key.name = name
            return key

    def regenerate(self, key_uuid: str, agent_uuid: str = MODEL_KEYS) -> tuple[StoredKey, str] | None:
        """New secret; the previous one stops working in the same instant."""
        secret = new_secret()
        digest = secret_digest(secret)
        with self._lock:
            key = self.get(key_uuid, agent_uuid)
            if key is None:
                return None
            if self._table is not None:
                self._table.update(replace(key, secret_sha256=digest, regenerations=key.regenerations + 1))
            self._by_digest.pop(key.secret_sha256, None)
            key.secret_sha256 = digest
            key.regenerations += 1
            self._by_digest[digest] = key.uuid
            return key, secret

    def delete(self, key_uuid: str, agent_uuid: str = MODEL_KEYS) -> tuple[StoredKey, str] | None:
        """Remove the key; returns it with its deletion time. Its secret stops working at once."""
        with self._lock:
            key = self.get(key_uuid, agent_uuid)
            if key is None:
                return None
            if self._table is not None:
                self._table.delete(key_uuid)
            del self._keys[key_uuid]
            self._by_digest.pop(key.secret_sha256, None)
            return key, _now_iso()

    def reset(self) -> None:
        with self._lock:
            if self._table is not None:
                self._table.clear()
            self._keys.clear()
            self._by_digest.clear()
            self._agents.clear()

    def close(self) -> None:
        """Close the state file (reads still answer from memory; a change after this raises)."""
        with self._lock:
            if self._table is not None:
                self._table.close()
