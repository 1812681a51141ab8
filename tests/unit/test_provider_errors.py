"""What the engine shows when a provider operation fails: an error gradient-keys raises on purpose
passes as it is (its message is the report); anything else is a bug, reported with its traceback."""

from __future__ import annotations

import sys

import pytest

from components.errors import ConfigurationError
from components.provider import ModelKeyProvider, ProviderInternalError, in_engine_provider_process


def test_a_bug_is_reported_with_its_traceback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "tracebacklimit", 0, raising=False)  # as in the engine's provider process
    with pytest.raises(ProviderInternalError, match="diff failed unexpectedly, please report it") as caught:
        ModelKeyProvider().diff("id", None, {})  # type: ignore[arg-type]  # olds is never None: a bug
    report = str(caught.value)
    assert "Traceback" in report and "AttributeError" in report
    assert 'provider.py", line' in report  # the frames, not just the last line


def test_errors_raised_on_purpose_pass_unchanged() -> None:
    with pytest.raises(ConfigurationError):
        ModelKeyProvider().create({"name": "x"})  # no vault_path: the config schema's error


def test_only_the_engines_provider_process_counts() -> None:
    assert not in_engine_provider_process()  # pytest is not `python -m pulumi.dynamic`
