"""examples/consumer_file.py against the sandbox's inference endpoint, with the official openai
client: it follows a key file rewritten as an agent rewrites it (a new file renamed over the old)
without a failed call, recovers through its one retry when a change could not be seen, says what
is wrong when the file holds no working key, and never shows the key."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from examples.consumer_file import (
    InferenceClient,
    KeyFile,
    KeyFileError,
    KeyRefusedError,
    fingerprint,
    inference_url,
    main,
)
from sandbox.server import Emulator


def render(path: Path, key: str) -> None:
    """Write as bao agent does: a new file, renamed over the old one."""
    staged = path.with_name(path.name + ".tmp")
    staged.write_text(key)
    staged.chmod(0o600)
    os.replace(staged, path)


@pytest.fixture
def slots(emulator: Emulator) -> dict[str, tuple[str, str]]:
    """Two keys, as a dual-slot key owns them: slot -> (uuid, secret)."""
    made = {slot: emulator.console_create(f"chatbot-prod-slot-{slot}") for slot in "ab"}
    return {slot: (key["uuid"], key["secret_key"]) for slot, key in made.items()}


def regenerate(emulator: Emulator, uuid: str) -> str:
    regenerated = emulator.store.regenerate(uuid)
    assert regenerated is not None
    return regenerated[1]


def test_follows_dual_slot_rotations_without_a_failed_call(
    emulator: Emulator, slots: dict[str, tuple[str, str]], tmp_path: Path
) -> None:
    key_file = tmp_path / "chatbot.key"
    render(key_file, slots["a"][1])
    client = InferenceClient(KeyFile(key_file), emulator.base_url)
    assert client.chat("hello")
    active, keys = "a", dict(slots)
    expected = [fingerprint(slots["a"][1])]
    for _ in range(4):  # each rotation regenerates the inactive slot, then Vault (the file) gets it
        inactive = "b" if active == "a" else "a"
        keys[inactive] = (keys[inactive][0], regenerate(emulator, keys[inactive][0]))
        assert client.chat("before the file changes")  # the old key still works: dual-slot
        render(key_file, keys[inactive][1])
        assert client.chat("after")
        expected.append(fingerprint(keys[inactive][1]))
        active = inactive
    assert client.retried_after_401 == 0
    assert [s["fingerprint"] for s in client.keys_used] == expected


def test_a_change_the_file_check_cannot_see_costs_one_retry_not_a_failure(
    emulator: Emulator, slots: dict[str, tuple[str, str]], tmp_path: Path
) -> None:
    """Same inode, same size, same mtime (a coarse-grained file system, an in-place writer): the
    check sees nothing, the old key is refused, the 401 path re-reads and retries once."""
    key_file = tmp_path / "chatbot.key"
    render(key_file, slots["a"][1])
    client = InferenceClient(KeyFile(key_file), emulator.base_url)
    assert client.chat("hello")
    before = key_file.stat()
    assert len(slots["b"][1]) == len(slots["a"][1])
    key_file.write_text(slots["b"][1])
    os.utime(key_file, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert key_file.stat().st_ino == before.st_ino
    regenerate(emulator, slots["a"][0])  # the key the client holds dies (in-place, emergency)
    assert client.chat("after")
    assert client.retried_after_401 == 1
    assert client.keys_used[-1]["fingerprint"] == fingerprint(slots["b"][1])


def test_a_refused_key_with_nothing_newer_fails_naming_the_file_not_the_key(
    emulator: Emulator,
    slots: dict[str, tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key_file = tmp_path / "chatbot.key"
    render(key_file, slots["a"][1])
    regenerate(emulator, slots["a"][0])
    client = InferenceClient(KeyFile(key_file), emulator.base_url)
    with pytest.raises(KeyRefusedError, match="is the agent running") as refused:
        client.chat("hello")
    assert str(key_file) in str(refused.value) and slots["a"][1] not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__suppress_context__
    monkeypatch.setenv("GRADIENT_KEY_FILE", str(key_file))
    monkeypatch.setenv("DIGITALOCEAN_INFERENCE_URL", emulator.base_url)
    assert main(["hello"]) == 1
    out, err = capsys.readouterr()
    assert "was refused (401)" in err and slots["a"][1] not in out + err


def test_repeated_calls_print_counts_and_the_keys_used(
    emulator: Emulator,
    slots: dict[str, tuple[str, str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    key_file = tmp_path / "chatbot.key"
    render(key_file, slots["a"][1])
    monkeypatch.setenv("GRADIENT_KEY_FILE", str(key_file))
    monkeypatch.setenv("DIGITALOCEAN_INFERENCE_URL", emulator.base_url)
    assert main(["--every", "0.01", "--duration", "0.3"]) == 0
    out, err = capsys.readouterr()
    summary = json.loads(out)
    assert summary["calls"] > 3 and summary["failed"] == 0 and summary["retried_after_401"] == 0
    assert [s["fingerprint"] for s in summary["keys_used"]] == [fingerprint(slots["a"][1])]
    assert slots["a"][1] not in out + err


@pytest.mark.parametrize(
    ("content", "message"),
    [(None, "cannot read the key file"), ("", "is empty"), ("\n", "is empty")],
    ids=["missing", "empty", "blank line"],
)
def test_no_key_in_the_file_is_said_before_any_call(
    tmp_path: Path, content: str | None, message: str
) -> None:
    key_file = tmp_path / "chatbot.key"
    if content is not None:
        key_file.write_text(content)
    with pytest.raises(KeyFileError, match=message):
        KeyFile(key_file).current()


@pytest.mark.parametrize(
    ("url", "accepted"),
    [
        (None, True),  # https://inference.do-ai.run
        ("https://inference.do-ai.run/", True),
        ("http://127.0.0.1:8087", True),
        ("http://localhost:8087", True),
        ("http://[::1]:8087", True),
        ("http://inference.example.com", False),
        ("http://10.0.0.5:8087", False),
        ("https://user:pw@inference.do-ai.run", False),
        ("ftp://inference.do-ai.run", False),
    ],
    ids=str,
)
def test_the_key_goes_only_over_https_or_to_loopback(url: str | None, accepted: bool) -> None:
    environ = {} if url is None else {"DIGITALOCEAN_INFERENCE_URL": url}
    if accepted:
        assert inference_url(environ).startswith(("https://", "http://"))
    else:
        with pytest.raises(ValueError, match="DIGITALOCEAN_INFERENCE_URL must") as refused:
            inference_url(environ)
        assert "pw" not in str(refused.value)
