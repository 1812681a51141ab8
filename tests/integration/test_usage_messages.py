"""Usage errors read as the command's own words: no Python names (enum reprs, argparse `dest`s)."""

from __future__ import annotations

import pytest

from tests.integration.test_cli import gk


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("keys",), "the following arguments are required: SUBCOMMAND"),
        (("vault",), "the following arguments are required: SUBCOMMAND"),
        (("sandbox", "console"), "the following arguments are required: SUBCOMMAND"),
        ((), "the following arguments are required: COMMAND"),
        (
            ("audit", "--stack", "dev", "--fail-on", "severe"),
            "invalid choice: 'severe' (choose from 'info', 'low', 'medium', 'high', 'critical')",
        ),
        (("rotate", "--stack", "dev", "--all", "--wait", "-3"), "'-3' is not a number of seconds"),
        (("rotate", "--stack", "dev", "--all", "--wait", "nan"), "'nan' is not a number of seconds"),
    ],
)
def test_usage_errors_speak_the_commands_words(args: tuple[str, ...], says: str) -> None:
    result = gk(*args)
    assert result.returncode == 2 and says in result.stderr, result.stderr
    for python in ("<Severity", "_command", "dest", "Traceback"):
        assert python not in result.stderr
