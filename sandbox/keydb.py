"""The sandbox's key table on disk: SQLite (standard library), one row per key, and the agents
agent keys belong to.

Each change is one small transaction that writes only the row it touches, so a regenerate costs the
same at 10 keys as at 10,000 (the JSON document of version 1 was rewritten whole on every change).
The file holds what `StoredKey` holds, secrets only as their SHA-256; it is created 0600 before
SQLite opens it, and SQLite gives its `-wal` and `-shm` companions the same mode.

Journal: WAL with `synchronous=NORMAL`. A change is in the file (the WAL) before it is acknowledged,
so it survives the process being killed; a power cut may lose the last changes, which the version-1
file (written and renamed, never fsynced) could too.

Format version 1 (JSON, `{"version": 1, "keys": [...]}`) is imported once, by `migrate_json`;
version 2 (model keys only) gains the `agent_uuid` column and the `agents` table when opened.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "MIGRATED_SUFFIX",
    "KeyTable",
    "SqliteKeyTable",
    "StoredAgent",
    "StoredKey",
    "is_sqlite",
    "migrate_json",
    "read_json_state",
]

SCHEMA_VERSION = 3  # PRAGMA user_version; version 1 was the JSON document, 2 had no agents
_BEFORE_AGENTS = 2  # the format version 3 migrates from in place
MIGRATED_SUFFIX = ".migrated"  # what a version-1 JSON file is kept as once imported
_MAGIC = b"SQLite format 3\x00"
_COLUMNS = ("uuid", "name", "created_at", "created_by", "secret_sha256", "regenerations", "agent_uuid")
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM keys ORDER BY seq"  # noqa: S608 - constant column names
_INSERT = f"INSERT INTO keys ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"  # noqa: S608
_AGENT_COLUMNS = ("uuid", "name", "created_at")  # StoredAgent's
_AGENTS_SCHEMA = """
CREATE TABLE agents (
    seq INTEGER PRIMARY KEY,
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL
)
"""
_SCHEMA = """
CREATE TABLE keys (
    seq INTEGER PRIMARY KEY,  -- insertion order: listings keep the order keys were made in
    uuid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    created_by TEXT NOT NULL,
    secret_sha256 TEXT NOT NULL,
    regenerations INTEGER NOT NULL DEFAULT 0,
    agent_uuid TEXT NOT NULL DEFAULT ''  -- '' for a model key, else the agent the key belongs to
)
"""


@dataclass
class StoredKey:
    uuid: str
    name: str
    created_at: str
    created_by: str
    secret_sha256: str
    regenerations: int = 0  # sandbox bookkeeping (never in API answers): lets tests count per key
    agent_uuid: str = ""  # "" for a model access key; an agent API key names its agent

    def info(self) -> dict[str, str]:
        """The public `apiModelAPIKeyInfo` / `apiAgentAPIKeyInfo` view (the same fields; never a
        secret: the store has none)."""
        return {
            "uuid": self.uuid,
            "name": self.name,
            "created_at": self.created_at,
            "created_by": self.created_by,
        }


@dataclass(frozen=True)
class StoredAgent:
    """An agent, as far as its keys need one: they are listed, made and called under its uuid."""

    uuid: str
    name: str
    created_at: str


class KeyTable(Protocol):
    """Where `KeyStore` persists its keys. Calls are serialized by the store's lock."""

    def load(self) -> list[StoredKey]:
        """Every key, in the order they were inserted."""
        ...

    def insert(self, keys: Sequence[StoredKey]) -> None:
        """Add new keys, all or none."""
        ...

    def update(self, key: StoredKey) -> None:
        """Write a key's name, digest and regeneration count."""
        ...

    def delete(self, key_uuid: str) -> None: ...

    def load_agents(self) -> list[StoredAgent]: ...

    def insert_agent(self, agent: StoredAgent) -> None: ...

    def clear(self) -> None: ...

    def close(self) -> None: ...


def unreadable(path: Path, exc: BaseException) -> ValueError:
    return ValueError(
        f"sandbox state file {path} is unreadable ({type(exc).__name__}); move it away to start empty"
    )


def is_sqlite(path: Path) -> bool:
    """Does `path` start as an SQLite database does? (A missing or empty file is a new database.)"""
    try:
        with path.open("rb") as handle:
            head = handle.read(len(_MAGIC))
    except FileNotFoundError:
        return True
    except OSError as exc:
        raise unreadable(path, exc) from None
    return head in (b"", _MAGIC)


def _create_private(path: Path) -> None:
    """Create `path` empty and 0600 unless it exists; SQLite then keeps that mode for its companions.

    The mode goes to open(2) itself (the umask can only take bits away) and is set again after, so a
    file never exists with more than 0600. An existing file is made 0600, as the JSON file always was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        os.close(descriptor)
    path.chmod(0o600)


class SqliteKeyTable:
    """The key table in an SQLite file; a version-1 JSON file at `path` is migrated in place first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        if not is_sqlite(path):
            migrate_json(path, path)
        _create_private(path)
        # One connection for the process, shared by the server's threads: the store's lock
        # serializes every call. isolation_level=None: each statement commits on its own.
        try:
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise unreadable(path, exc) from None
        try:
            self._prepare()
        except sqlite3.Error as exc:
            self._db.close()
            raise unreadable(path, exc) from None

    def _prepare(self) -> None:
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            with self._transaction():
                self._db.execute(_SCHEMA)
                self._db.execute(_AGENTS_SCHEMA)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        elif version == _BEFORE_AGENTS:
            with self._transaction():
                self._db.execute("ALTER TABLE keys ADD COLUMN agent_uuid TEXT NOT NULL DEFAULT ''")
                self._db.execute(_AGENTS_SCHEMA)
                self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        elif version != SCHEMA_VERSION:
            raise sqlite3.DatabaseError(f"format version {version}, this sandbox reads {SCHEMA_VERSION}")

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def load(self) -> list[StoredKey]:
        try:
            rows = self._db.execute(_SELECT).fetchall()
        except sqlite3.Error as exc:
            raise unreadable(self.path, exc) from None
        return [StoredKey(*row) for row in rows]

    def insert(self, keys: Sequence[StoredKey]) -> None:
        rows = [tuple(getattr(key, column) for column in _COLUMNS) for key in keys]
        with self._transaction():
            self._db.executemany(_INSERT, rows)

    def update(self, key: StoredKey) -> None:
        self._db.execute(
            "UPDATE keys SET name = ?, secret_sha256 = ?, regenerations = ? WHERE uuid = ?",
            (key.name, key.secret_sha256, key.regenerations, key.uuid),
        )

    def delete(self, key_uuid: str) -> None:
        self._db.execute("DELETE FROM keys WHERE uuid = ?", (key_uuid,))

    def load_agents(self) -> list[StoredAgent]:
        try:
            rows = self._db.execute("SELECT uuid, name, created_at FROM agents ORDER BY seq").fetchall()
        except sqlite3.Error as exc:
            raise unreadable(self.path, exc) from None
        return [StoredAgent(*row) for row in rows]

    def insert_agent(self, agent: StoredAgent) -> None:
        self._db.execute(
            "INSERT INTO agents (uuid, name, created_at) VALUES (?, ?, ?)",
            tuple(getattr(agent, column) for column in _AGENT_COLUMNS),
        )

    def clear(self) -> None:
        with self._transaction():
            self._db.execute("DELETE FROM keys")
            self._db.execute("DELETE FROM agents")

    def close(self) -> None:
        """Close the file; the last connection to close folds the WAL back and removes it."""
        self._db.close()


def read_json_state(path: Path) -> list[StoredKey]:
    """The keys of a version-1 JSON state file (`{"version": 1, "keys": [...]}`)."""
    try:
        document = json.loads(path.read_text())
        return [StoredKey(**k) for k in document["keys"]]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise unreadable(path, exc) from None


def migrate_json(source: Path, target: Path) -> int:
    """Import a version-1 JSON state file into a new SQLite file at `target`; return how many keys.

    The JSON file is kept, 0600, as `<source>.migrated` (rename it back to use an older sandbox).
    `target` may be `source` itself (`--state FILE` naming an old file). Each step leaves either
    the JSON file or the complete database at `target`, so a crash midway loses nothing.
    """
    keys = read_json_state(source)
    building = target.with_name(f".{target.name}.migrating")
    _remove_database(building)  # what a crash midway left
    table = SqliteKeyTable(building)
    try:
        table.insert(keys)
    except sqlite3.Error as exc:  # two keys with one uuid, say
        table.close()
        _remove_database(building)
        raise unreadable(source, exc) from None
    table.close()
    kept = source.with_name(source.name + MIGRATED_SUFFIX)
    if source == target:
        _create_private(kept)
        kept.write_bytes(source.read_bytes())
        os.replace(building, target)
    else:
        os.replace(building, target)
        os.replace(source, kept)
        kept.chmod(0o600)
    return len(keys)


def _remove_database(path: Path) -> None:
    for name in (path, *(Path(f"{path}{suffix}") for suffix in ("-wal", "-shm", "-journal"))):
        name.unlink(missing_ok=True)
