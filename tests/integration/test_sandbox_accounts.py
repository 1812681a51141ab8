"""The sandbox's other accounts (`--account NAME=TOKEN`, or GRADIENT_KEYS_SANDBOX_ACCOUNTS): each
token reaches a key table of its own; a malformed one is refused naming the account, never the
token."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest
import requests

from sandbox.emulator import config_from_args
from sandbox.options import ACCOUNTS_ENV, add_arguments
from sandbox.server import DEFAULT_TOKEN, Emulator

TOKEN_B = "dop_v1_sandbox_team_b_41c2"


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(["--port", "0", *argv])


def names(emulator: Emulator, token: str) -> list[str]:
    reply = requests.get(
        f"{emulator.base_url}/v2/gen-ai/models/api_keys",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.status_code
    return [k["name"] for k in reply.json()["api_key_infos"]]


@pytest.mark.parametrize(
    ("argv", "environ"),
    [((f"--account=team-b={TOKEN_B}",), {}), ((), {ACCOUNTS_ENV: f"team-b={TOKEN_B}"})],
    ids=["flag", "environment"],
)
def test_each_account_token_reaches_its_own_keys(argv: tuple[str, ...], environ: dict[str, str]) -> None:
    with Emulator(config_from_args(parsed(*argv), environ)) as emulator:
        emulator.console_create("default-key")
        emulator.stores["team-b"].create("team-b-key")
        assert names(emulator, DEFAULT_TOKEN) == ["default-key"]
        assert names(emulator, TOKEN_B) == ["team-b-key"]


@pytest.mark.parametrize("value", ["team-b", f"Team B={TOKEN_B}", "team-b="])
def test_a_malformed_account_is_refused_without_quoting_the_token(value: str) -> None:
    with pytest.raises(ValueError, match="write NAME=TOKEN") as refused:
        config_from_args(parsed("--account", value), {})
    assert TOKEN_B not in str(refused.value)


def test_the_command_says_what_is_wrong_without_a_traceback() -> None:
    served = subprocess.run(
        [
            sys.executable,
            "-m",
            "components.cli",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--account",
            f"Team B={TOKEN_B}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert served.returncode == 2 and "write NAME=TOKEN" in served.stderr
    assert "Traceback" not in served.stderr and TOKEN_B not in served.stderr
