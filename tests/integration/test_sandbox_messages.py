"""What `sandbox up|serve|console` say when something is off: a taken port, the default port,
a key made without its secret shown."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_cli import gk, sandbox_dir

__all__ = ["sandbox_dir"]  # the fixture, shared with test_cli


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_serve_on_a_taken_port_says_so(taken_port: int) -> None:
    served = gk("sandbox", "serve", "--port", str(taken_port))
    assert served.returncode == 2
    assert f"port {taken_port} is taken" in served.stderr and "--port 0" in served.stderr


def test_up_on_a_taken_port_says_so_and_leaves_nothing_running(sandbox_dir: Path, taken_port: int) -> None:
    up = gk("sandbox", "up", "--no-vault", "--dir", str(sandbox_dir), "--port", str(taken_port))
    assert up.returncode == 1
    assert f"the sandbox did not start: port {taken_port} is taken" in up.stderr
    assert "exited at start" not in up.stderr and up.stdout == ""
    assert gk("sandbox", "status", "--dir", str(sandbox_dir)).returncode == 1


def test_help_and_docs_agree_on_the_default_port() -> None:
    serve, up = gk("sandbox", "serve", "--help").stdout, gk("sandbox", "up", "--help").stdout
    assert "(default 8087)" in " ".join(serve.split())
    up_text = " ".join(up.split())
    assert "8087" not in up_text and "the port it had last time when free, else any free one" in up_text
    docs = (Path(__file__).resolve().parents[2] / "docs" / "sandbox.md").read_text()
    assert (
        "| `--port` | `8087` (`0` picks a free one; `sandbox up`: the port it had last time when free, "
        "else any free one) |" in docs
    )


def test_console_create_without_show_secret_does_not_claim_it_was_shown(sandbox_dir: Path) -> None:
    assert gk("sandbox", "up", "--no-vault", "--dir", str(sandbox_dir)).returncode == 0
    made = gk("sandbox", "console", "create", "quiet", "--dir", str(sandbox_dir))
    assert made.returncode == 0, made.stderr
    assert "secret not shown" in made.stderr and "shown once" not in made.stderr
    assert "sk-do-" not in made.stdout + made.stderr


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--port", "99999"), "argument --port: '99999' is not a port"),
        (("--port", "-1"), "argument --port: '-1' is not a port"),
        (("--rate-limit-per-minute", "-5"), "argument --rate-limit-per-minute: '-5' is not a limit"),
    ],
)
def test_bad_sandbox_options_are_usage_errors(sandbox_dir: Path, args: tuple[str, ...], says: str) -> None:
    up = gk("sandbox", "up", "--no-vault", "--dir", str(sandbox_dir), *args)
    assert up.returncode == 2 and says in up.stderr, up.stderr
    assert "Error:" not in up.stderr and "Traceback" not in up.stderr


def test_a_token_with_whitespace_names_its_option(sandbox_dir: Path) -> None:
    up = gk("sandbox", "up", "--no-vault", "--dir", str(sandbox_dir), "--token", "a b")
    assert up.returncode == 1 and "--token: a sandbox token must be non-empty" in up.stderr, up.stderr


def test_messages_name_the_sandbox_directory(sandbox_dir: Path) -> None:
    status = gk("sandbox", "status", "--dir", str(sandbox_dir))
    assert status.returncode == 1 and f"no sandbox is running in {sandbox_dir}" in status.stderr
    listed = gk("sandbox", "console", "list", "--dir", str(sandbox_dir))
    assert f"no sandbox is running in {sandbox_dir.resolve()}" in listed.stderr
    up = gk("sandbox", "up", "--no-vault", "--dir", str(sandbox_dir))
    assert f"stop it with `gradient-keys sandbox down --dir {sandbox_dir}`" in up.stderr
