"""An error that gains context keeps its class, status and request id, and says its prefix once."""

from __future__ import annotations

from components.errors import (
    AmbiguousKeyError,
    ConfigurationError,
    ExitCode,
    UnavailableError,
    VaultConflictError,
    VaultUnavailableError,
    exit_code,
)


def test_context_keeps_the_error_whole() -> None:
    error = UnavailableError(
        "did not answer",
        operation="regenerate",
        key="k1",
        status=503,
        request_id="6f1c2d3e-0000-4000-8000-000000000001",
    )
    same = error.add_context("Vault holds the active slot's secret")
    assert same is error and same.status == 503 and same.request_id
    text = str(same)
    assert text.count("DigitalOcean regenerate") == 1
    assert text.endswith(
        "[HTTP 503, request_id=6f1c2d3e-0000-4000-8000-000000000001]; Vault holds the active slot's secret"
    )
    assert exit_code(same) == ExitCode.UNREACHABLE


def test_vault_unavailable_stays_unavailable_after_context() -> None:
    error = VaultUnavailableError("sealed", operation="write", path="apps/x").add_context(
        "keys deleted again"
    )
    assert exit_code(error) == ExitCode.UNREACHABLE
    assert str(error) == "Vault write apps/x: sealed; keys deleted again"


def test_exit_codes_by_class() -> None:
    assert exit_code(VaultConflictError("lost", operation="write")) == ExitCode.FAILED
    assert exit_code(ValueError("a bug")) == ExitCode.FAILED


def test_messages_show_control_characters_escaped_wherever_they_go() -> None:
    error = AmbiguousKeyError("2 keys are named 'evil\x1b[2J\u202ename'", operation="adopt", key="k")
    text = str(error.add_context("adopt by uuid instead"))
    assert "\x1b" not in text and "\u202e" not in text
    assert "evil\\x1b[2J\\u202ename" in text
    assert str(ConfigurationError("two problems:\n  - a\n  - b")) == "two problems:\n  - a\n  - b"
