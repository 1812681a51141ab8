"""`--format json` prints one JSON document on stdout on every run, failures included: a run that
fails before it has its own document prints `{"error": {"kind", "message", "exit_code"}}` (issue 14).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components import cli
from components.commands import audit as audit_command
from components.errors import ExitCode
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.integration.rotation_env import Managed, manage
from tests.integration.test_exit_codes import run

KEYS = [{"name": "chatbot", "vault_path": "apps/chatbot", "rotate_every": "7d"}]
COMMANDS = [("rotate", "--all"), ("audit",), ("keys", "list")]


@pytest.fixture
def managed(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> Managed:
    return manage(emulator, openbao, tmp_path, KEYS, prefix=f"gradient-keys/json-{tmp_path.name[-8:]}")


def run_json(
    managed: Managed, command: tuple[str, ...], env: dict[str, str], *extra: str
) -> tuple[int, dict[str, Any], str]:
    """The command in JSON mode; stdout must parse as exactly one JSON document."""
    result = run(managed, command, env, "--format", "json", *extra)
    document = json.loads(result.stdout)  # one document, nothing else: raises otherwise
    assert isinstance(document, dict)
    assert "Traceback" not in result.stderr
    return result.returncode, document, result.stderr


def assert_error(document: dict[str, Any], code: int, kind: str) -> None:
    assert document["error"]["exit_code"] == code
    assert document["error"]["kind"] == kind
    assert isinstance(document["error"]["message"], str) and document["error"]["message"]


@pytest.mark.parametrize("command", COMMANDS[:2], ids=" ".join)
def test_unreachable_vault_prints_an_error_document(managed: Managed, command: tuple[str, ...]) -> None:
    code, document, _err = run_json(managed, command, {"VAULT_ADDR": "http://127.0.0.1:9"})
    assert code == ExitCode.UNREACHABLE
    assert_error(document, ExitCode.UNREACHABLE, "VaultUnavailableError")
    assert document["stack"] == "rot"
    assert managed.env["VAULT_TOKEN"] not in json.dumps(document)


def test_unreachable_digitalocean_prints_an_error_document(managed: Managed) -> None:
    code, document, _err = run_json(managed, ("keys", "list"), {"DIGITALOCEAN_API_URL": "http://127.0.0.1:9"})
    assert code == ExitCode.UNREACHABLE
    assert_error(document, ExitCode.UNREACHABLE, "UnavailableError")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_missing_token_prints_an_error_document(managed: Managed, command: tuple[str, ...]) -> None:
    code, document, _err = run_json(managed, command, {"DIGITALOCEAN_TOKEN": ""})
    assert code == ExitCode.USAGE
    assert_error(document, ExitCode.USAGE, "ConfigurationError")


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_refused_token_prints_an_error_document(managed: Managed, command: tuple[str, ...]) -> None:
    code, document, _err = run_json(managed, command, {"DIGITALOCEAN_TOKEN": "dop_v1_refused"})
    assert code == ExitCode.REFUSED
    if "error" in document:  # rotate reports per key, in its own document
        assert document["error"]["exit_code"] == ExitCode.REFUSED
    assert "dop_v1_refused" not in json.dumps(document)


@pytest.mark.parametrize(
    "extra",
    [("--no-such-option",), ("--due",), ("--min-interval", "soon")],
    ids=["unknown option", "--due with --all", "bad duration"],
)
def test_bad_usage_prints_an_error_document(managed: Managed, extra: tuple[str, ...]) -> None:
    code, document, err = run_json(managed, ("rotate", "--all"), {}, *extra)
    assert code == ExitCode.USAGE
    assert document["error"]["exit_code"] == ExitCode.USAGE
    assert document["error"]["kind"] in {"usage", "ConfigurationError"}
    assert document["error"]["message"] in err  # the same words as on stderr


def test_a_missing_stack_file_prints_an_error_document(managed: Managed, tmp_path: Path) -> None:
    code, document, _err = run_json(managed, ("audit",), {}, "--config", str(tmp_path / "nope.yaml"))
    assert code == ExitCode.USAGE
    assert_error(document, ExitCode.USAGE, "ConfigurationError")


def _a_bug(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError("planted sk-do-internal-0123456789 in a bug's message")


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_a_bug_is_one_line_and_one_document_and_its_text_is_not_shown(
    managed: Managed,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    fmt: str,
) -> None:
    """Not a gradient-keys error: no raw traceback, the exit code of failed work, and the
    exception's own text (our state, which may hold anything) never printed."""
    monkeypatch.setattr(audit_command, "run_audit", _a_bug)
    for key, value in managed.env.items():
        monkeypatch.setenv(key, value)
    code = cli.main(["audit", "--config", str(managed.stack_file), "--format", fmt])
    out, err = capsys.readouterr()
    assert code == ExitCode.FAILED
    assert "internal error (RuntimeError): a bug in gradient-keys" in err
    assert "Traceback" not in err and "sk-do-internal" not in out + err
    if fmt == "json":
        document = json.loads(out)
        assert document["error"]["kind"] == "internal" and document["stack"] == "rot"
        assert document["error"]["exit_code"] == ExitCode.FAILED
    else:
        assert out == ""
