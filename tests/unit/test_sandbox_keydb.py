"""The sandbox's key table on disk (`sandbox.keydb`): SQLite, one row per key, hashes only.

Every change lands in the file before it is acknowledged (a second store opened on the file sees
it), the file and its WAL companions are 0600 whatever the umask, and a version-1 JSON file is
imported once and kept aside.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from sandbox.keydb import MIGRATED_SUFFIX, SqliteKeyTable, StoredKey, migrate_json
from sandbox.store import KeyStore, secret_digest


@pytest.fixture(params=[0o022, 0o000], ids=["umask-022", "umask-000"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def state_files(path: Path) -> dict[str, bytes]:
    """The database and whichever of its -wal/-shm companions exist, by name."""
    return {p.name: p.read_bytes() for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()}


def modes(directory: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mode & 0o777 for p in directory.iterdir()}


def snapshot(store: KeyStore) -> list[tuple[str, str, str, int]]:
    return [(k.uuid, k.name, k.secret_sha256, k.regenerations) for k in store.list()]


def legacy_document(*keys: StoredKey) -> str:
    return json.dumps({"version": 1, "keys": [asdict(k) for k in keys]})


def test_only_hashes_reach_the_file_or_its_wal_and_keys_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "keys.db"
    store = KeyStore(state)
    key, first = store.create("planted")
    regenerated = store.regenerate(key.uuid)
    assert regenerated is not None
    second = regenerated[1]
    assert store.find_by_secret(first) is None  # the old secret died with the regenerate
    live = state_files(state)
    assert {"keys.db", "keys.db-wal", "keys.db-shm"} <= live.keys()  # WAL mode, still open
    assert secret_digest(second).encode() in b"".join(live.values())  # the right files were read
    store.close()
    closed = state_files(state)
    assert closed.keys() == {"keys.db"}  # closing folds the WAL back in
    assert secret_digest(second).encode() in closed["keys.db"]
    for name, data in {**live, **{f"{n} (closed)": d for n, d in closed.items()}}.items():
        for secret in (first, second):
            assert secret.encode() not in data, f"a secret is in {name}"
    reopened = KeyStore(state)
    assert [k.uuid for k in reopened.list()] == [key.uuid]
    found = reopened.find_by_secret(second)
    assert found is not None and found.uuid == key.uuid


def test_files_are_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    store = KeyStore(tmp_path / "state" / "keys.db")
    store.create("a")
    assert modes(tmp_path / "state") == dict.fromkeys(("keys.db", "keys.db-wal", "keys.db-shm"), 0o600)
    store.close()


def test_an_existing_file_is_made_private(tmp_path: Path) -> None:
    state = tmp_path / "keys.db"
    KeyStore(state).close()
    state.chmod(0o644)
    KeyStore(state).close()
    assert state.stat().st_mode & 0o777 == 0o600


def test_every_change_is_in_the_file_before_it_returns(tmp_path: Path) -> None:
    state = tmp_path / "keys.db"
    store = KeyStore(state)
    made = [key for key, _ in store.create_many(f"k{i}" for i in range(6))]
    store.rename(made[1].uuid, "renamed")
    store.regenerate(made[2].uuid)
    store.delete(made[3].uuid)
    store.delete(made[5].uuid)
    later, _ = store.create("after the deletes")  # a freed place does not reorder the listing
    # A second reader while the first store is open: what it sees was committed.
    reader = KeyStore(state)
    assert snapshot(reader) == snapshot(store)
    assert [k.name for k in reader.list()] == ["k0", "renamed", "k2", "k4", "after the deletes"]
    assert reader.list()[-1].uuid == later.uuid
    assert [k.regenerations for k in reader.list()] == [0, 0, 1, 0, 0]
    assert {k.created_by for k in reader.list()} == {"1000001"}
    store.reset()
    assert KeyStore(state).list() == []
    reader.close()
    store.close()


def test_created_by_is_kept(tmp_path: Path) -> None:
    state = tmp_path / "keys.db"
    KeyStore(state, created_by="4242").create("mine")
    assert [k.created_by for k in KeyStore(state).list()] == ["4242"]


def test_concurrent_changes_all_reach_the_file(tmp_path: Path) -> None:
    state = tmp_path / "keys.db"
    store = KeyStore(state)
    uuids = [key.uuid for key, _ in store.create_many(f"k{i}" for i in range(20))]

    def work(i: int) -> None:
        key_uuid = uuids[i % len(uuids)]
        if i % 7 == 0:
            store.rename(key_uuid, f"renamed-{i}")
        else:
            store.regenerate(key_uuid)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(400)))
    store.close()
    assert snapshot(KeyStore(state)) == snapshot(store)
    assert sum(k.regenerations for k in store.list()) == 400 - len(range(0, 400, 7))


def test_a_json_file_named_by_state_is_migrated_in_place(tmp_path: Path) -> None:
    state = tmp_path / "keys.json"
    secret = "sk-do-an-old-secret"
    old = StoredKey(
        "11efb7d6-0000-6000-8000-000000000001", "old", "2026-01-01T00:00:00Z", "7", secret_digest(secret), 3
    )
    other = StoredKey("11efb7d6-0000-6000-8000-000000000000", "older uuid, listed second", "t", "7", "ab", 0)
    document = legacy_document(old, other)
    state.write_text(document)
    store = KeyStore(state)
    assert snapshot(store) == [
        (old.uuid, "old", old.secret_sha256, 3),
        (other.uuid, other.name, "ab", 0),
    ]  # the file's order, not the uuids'
    assert store.find_by_secret(secret) is not None
    store.close()
    assert state.read_bytes().startswith(b"SQLite format 3\x00")
    kept = tmp_path / f"keys.json{MIGRATED_SUFFIX}"
    assert kept.read_text() == document
    assert modes(tmp_path) == {"keys.json": 0o600, "keys.json.migrated": 0o600}
    assert [k.info() for k in KeyStore(state).list()] == [old.info(), other.info()]  # once only


def test_migrating_to_a_new_file_keeps_the_old_one_aside(tmp_path: Path) -> None:
    source, target = tmp_path / "keys.json", tmp_path / "keys.db"
    source.write_text(
        legacy_document(StoredKey("u1", "a", "t", "7", "d1"), StoredKey("u2", "b", "t", "7", "d2", 1))
    )
    assert migrate_json(source, target) == 2
    assert not source.exists() and (tmp_path / "keys.json.migrated").exists()
    assert snapshot(KeyStore(target)) == [("u1", "a", "d1", 0), ("u2", "b", "d2", 1)]


@pytest.mark.parametrize(
    "content",
    [
        pytest.param('{"keys": [{"bogus": 1}]}', id="not-a-key"),
        pytest.param("not json", id="not-json"),
        pytest.param(legacy_document(*[StoredKey("same", "a", "t", "7", "d")] * 2), id="one-uuid-twice"),
    ],
)
def test_a_bad_json_file_is_a_clear_error_and_left_alone(tmp_path: Path, content: str) -> None:
    state = tmp_path / "keys.json"
    state.write_text(content)
    with pytest.raises(ValueError, match="move it away"):
        KeyStore(state)
    assert state.read_text() == content
    assert [p.name for p in tmp_path.iterdir()] == ["keys.json"]


def test_a_database_of_another_format_version_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "keys.db"
    KeyStore(state).close()
    with sqlite3.connect(state) as db:
        db.execute("PRAGMA user_version=9")
    db.close()
    with pytest.raises(ValueError, match="move it away"):
        SqliteKeyTable(state)


def test_a_damaged_database_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "keys.db"
    state.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)
    with pytest.raises(ValueError, match="move it away"):
        KeyStore(state)


def test_a_directory_as_state_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="move it away"):
        KeyStore(tmp_path)
