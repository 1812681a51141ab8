"""`sandbox up` keeps its keys in `keys.db` (SQLite): an older `keys.json` is imported once, kept
aside as `keys.json.migrated`, and no secret ever reaches a file of the state directory, the
database's -wal and -shm companions included."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
import requests

from sandbox import launcher
from sandbox.api_routes import API_PREFIX
from sandbox.store import StoredKey, secret_digest
from tests.integration.test_cli import gk

OLD_SECRET = "sk-do-planted-secret-from-an-older-sandbox"


@pytest.fixture
def directory(tmp_path: Path) -> Iterator[Path]:
    made = tmp_path / "sandbox"
    made.mkdir(mode=0o700)
    yield made
    launcher.down(made)


def call(info: dict[str, str], method: str, path: str = "", secret: str | None = None) -> requests.Response:
    if secret is not None:  # the inference surface, with a model key
        return requests.get(
            f"{info['api_url']}/v1/models", headers={"Authorization": f"Bearer {secret}"}, timeout=10
        )
    return requests.request(
        method,
        f"{info['api_url']}{API_PREFIX}{path}",
        headers={"Authorization": f"Bearer {info['token']}"},
        json={},
        timeout=10,
    )


def up(directory: Path) -> dict[str, str]:
    started = gk("sandbox", "up", "--dir", str(directory), "--no-vault")
    assert started.returncode == 0, started.stderr
    info: dict[str, str] = json.loads((directory / "sandbox.json").read_text())
    return info


def every_file(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in directory.iterdir() if path.is_file()}


def test_an_old_keys_json_is_imported_once_and_no_secret_reaches_a_file(directory: Path) -> None:
    old = StoredKey(
        "11efb7d6-cdb5-6388-bf8f-4e013e2ddde4",
        "chatbot",
        "2026-01-01T00:00:00Z",
        "7",
        secret_digest(OLD_SECRET),
    )
    document = json.dumps({"version": 1, "keys": [asdict(old)]})
    (directory / "keys.json").write_text(document)

    info = up(directory)
    assert [k["uuid"] for k in call(info, "GET").json()["api_key_infos"]] == [old.uuid]
    assert call(info, "GET", secret=OLD_SECRET).status_code == 200
    assert not (directory / "keys.json").exists()
    assert (directory / "keys.json.migrated").read_text() == document
    new_secret = call(info, "PUT", f"/{old.uuid}/regenerate").json()["api_key_info"]["secret_key"]
    running = every_file(directory)
    assert {"keys.db", "keys.db-wal", "keys.db-shm"} <= running.keys()
    assert {name: mode for name, mode in launcher_modes(directory).items() if mode != 0o600} == {}
    assert gk("sandbox", "down", "--dir", str(directory)).returncode == 0

    info = up(directory)  # keys.db is there now: the kept JSON is not imported again
    assert call(info, "GET", secret=OLD_SECRET).status_code == 401
    assert call(info, "GET", secret=new_secret).status_code == 200
    assert [k["uuid"] for k in call(info, "GET").json()["api_key_infos"]] == [old.uuid]
    assert gk("sandbox", "down", "--dir", str(directory)).returncode == 0

    stopped = every_file(directory)
    assert "keys.db-wal" not in stopped
    for name, data in {**running, **{f"{n} (after down)": d for n, d in stopped.items()}}.items():
        assert new_secret.encode() not in data, f"the regenerated secret is in {name}"
    assert secret_digest(new_secret).encode() in stopped["keys.db"]


def launcher_modes(directory: Path) -> dict[str, int]:
    return {path.name: path.stat().st_mode & 0o777 for path in directory.iterdir()}


def test_a_broken_keys_json_stops_up_with_the_fix(directory: Path) -> None:
    (directory / "keys.json").write_text("{not json")
    started = gk("sandbox", "up", "--dir", str(directory), "--no-vault")
    assert started.returncode != 0
    assert "keys.json is unreadable" in started.stderr and "move it away" in started.stderr
    assert not (directory / "keys.db").exists()
