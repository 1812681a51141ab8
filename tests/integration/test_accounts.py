"""Several DigitalOcean accounts in one stack, against the emulator (one key table and rate budget
per account token) and a real OpenBao, with a Vault token holding only the generated policy: keys
and an agent in a second account, its token from the environment or from Vault; `gradient-keys
rotate` runs the accounts at once; the audit lists and reports every account; a token never
reaches another account's API."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.bulk_rotation import RotationRunner, Status
from components.clients import ClientFactory
from components.config import load_stack_file
from components.keys import KeyContext, KeyOperations
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator, EmulatorConfig
from tests.conftest import vault_client
from tests.inference_probe import agent_status, works
from tests.integration.rotation_env import Managed, environment

TOKEN_B = "dop_v1_account_b_token_5c81e2"


@pytest.fixture
def accounts() -> Iterator[Emulator]:
    """One emulator serving two accounts: the default (its usual token) and team-b."""
    with Emulator(EmulatorConfig(accounts=(("team-b", TOKEN_B),))) as emulator:
        yield emulator


def deploy(
    emulator: Emulator,
    openbao: OpenBaoServer,
    directory: Path,
    token_from: dict[str, Any],
    second: Emulator | None = None,
) -> tuple[Managed, str]:
    """A stack with a model key in each account and an agent key in team-b, deployed by the core;
    team-b in `emulator`'s second account, or on an API of its own (`second`)."""
    store_b = emulator.stores["team-b"] if second is None else second.store
    api_url = None if second is None else second.base_url
    agent = store_b.create_agent("support-bot").uuid
    prefix = f"gradient-keys/accounts-{directory.name[-8:]}"
    team_b: dict[str, Any] = {"name": "team-b", "token_from": token_from}
    if api_url is not None:
        team_b.update(api_url=api_url, inference_url=api_url)
    config = {
        "gradient-keys:vault": {"path_prefix": prefix},
        "gradient-keys:accounts": [team_b],
        "gradient-keys:keys": [
            {"name": "chatbot", "vault_path": "apps/chatbot"},
            {"name": "search", "vault_path": "apps/search", "account": "team-b"},
        ],
        "gradient-keys:agents": [
            {
                "uuid": agent,
                "account": "team-b",
                "endpoint": f"{api_url or emulator.base_url}/agents/{agent}",
                "keys": [{"name": "support-web", "vault_path": "agents/support/web"}],
            }
        ],
    }
    stack_file = directory / "Pulumi.rot.yaml"
    stack_file.write_text(yaml.safe_dump({"config": config}))
    settings = load_stack_file(stack_file)
    env = {**environment(emulator, openbao, directory, prefix), "DIGITALOCEAN_TOKEN_B": TOKEN_B}
    if "vault" in token_from:
        vault_client(openbao).secrets.kv.v2.create_or_update_secret(
            f"{prefix}/{token_from['vault']['path']}", secret={"token": TOKEN_B}, mount_point="secret"
        )
    emulator.console_create("chatbot-slot-a")
    emulator.console_create("chatbot-slot-b")
    store_b.create("search-slot-a")
    store_b.create("search-slot-b")
    ops = KeyOperations(KeyContext.of(settings), ClientFactory(env))
    states = {spec.name: ops.create_or_adopt(spec) for spec in settings.keys}
    return Managed(directory, stack_file, env, {s.name: s for s in settings.keys}, states, prefix), agent


@pytest.mark.parametrize(
    "token_from",
    [{"env": "DIGITALOCEAN_TOKEN_B"}, {"vault": {"path": "accounts/team-b", "field": "token"}}],
    ids=["token-from-env", "token-from-vault"],
)
def test_keys_live_in_their_accounts_and_rotate_and_audit_there(
    accounts: Emulator, openbao: OpenBaoServer, tmp_path: Path, token_from: dict[str, Any]
) -> None:
    managed, agent = deploy(accounts, openbao, tmp_path, token_from)
    default, team_b = accounts.store, accounts.stores["team-b"]
    assert sorted(k.name for k in default.list()) == ["chatbot-slot-a", "chatbot-slot-b"]
    assert sorted(k.name for k in team_b.list()) == ["search-slot-a", "search-slot-b"]
    assert [k.name for k in team_b.list(agent)] == ["support-web-slot-a", "support-web-slot-b"]
    assert {k.regenerations for k in team_b.list()} == {1}  # adopted: the shown secrets retired

    code, document, err = managed.rotate("--all")
    assert code == 0, err
    assert {k["key"]: k["status"] for k in document["keys"]} == {
        "chatbot": "rotated",
        "search": "rotated",
        "support-web": "rotated",
    }
    sink = managed.sink()
    assert works(accounts, sink.read_secret("apps/search")[0])
    assert agent_status(accounts, agent, sink.read_secret("agents/support/web")[0].reveal()) == 200

    stray = team_b.create("forgotten")[0]
    code, document, err = managed.audit("--verify-secrets")
    assert code == 0, err
    summary = document["summary"]
    assert summary["accounts"] == {
        "default": {"digitalocean_keys": 2, "keys_declared": 1},
        "team-b": {"digitalocean_keys": 5, "keys_declared": 2},
    }
    (finding,) = document["findings"]
    assert finding["id"] == "unmanaged-key" and finding["digitalocean_uuid"] == stray.uuid
    assert finding["message"].startswith("DigitalOcean key in account team-b 'forgotten' (")
    assert {row["key"]: row["account"] for row in document["keys"]} == {
        "chatbot": "default",
        "search": "team-b",
        "support-web": "team-b",
    }


def test_a_missing_account_token_is_a_usage_error_naming_it(
    accounts: Emulator, openbao: OpenBaoServer, tmp_path: Path
) -> None:
    managed, _agent = deploy(accounts, openbao, tmp_path, {"env": "DIGITALOCEAN_TOKEN_B"})
    managed.env.pop("DIGITALOCEAN_TOKEN_B")
    code, _document, err = managed.rotate("--all")
    assert code == 2 and "account team-b: DIGITALOCEAN_TOKEN_B is not set" in err
    assert TOKEN_B not in err


def test_the_accounts_rotate_at_once(
    accounts: Emulator, openbao: OpenBaoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each account's keys in their planned order on a thread of its own: two accounts, two
    threads, so one account's rate limit never holds the other back."""
    managed, _agent = deploy(accounts, openbao, tmp_path, {"env": "DIGITALOCEAN_TOKEN_B"})
    ops = managed.operations()
    seen: dict[str, set[str]] = {}
    rotate = ops.rotate

    def recording(spec: Any, state: Any, **options: Any) -> Any:
        seen.setdefault(spec.account, set()).add(threading.current_thread().name)
        return rotate(spec, state, **options)

    monkeypatch.setattr(ops, "rotate", recording)
    runner = RotationRunner(managed.settings(), ops, min_interval_seconds=0)
    outcomes = runner.plan(runner.select(every=True))
    summary = runner.run(outcomes)
    assert summary.rotated == 3 and [o.status for o in outcomes] == [Status.ROTATED] * 3
    assert seen.keys() == {"default", "team-b"}
    threads = [next(iter(names)) for names in seen.values()]
    assert all(len(names) == 1 for names in seen.values()) and len(set(threads)) == 2


def test_a_token_never_reaches_another_accounts_api(openbao: OpenBaoServer, tmp_path: Path) -> None:
    """team-b on an API of its own: each API sees only its own account's token (another's would
    be refused, 401, and counted as unauthenticated), through adoption, rotation and the audit."""
    with Emulator() as first, Emulator(EmulatorConfig(tokens=(TOKEN_B,))) as second:
        managed, _agent = deploy(first, openbao, tmp_path, {"env": "DIGITALOCEAN_TOKEN_B"}, second)
        code, _document, err = managed.rotate("--all")
        assert code == 0, err
        code, document, err = managed.audit("--verify-secrets")
        assert code == 0 and document["findings"] == [], err
        for emulator in (first, second):
            counts = emulator.stats.view()
            assert "unauthenticated" not in counts, counts
        assert sorted(k.name for k in second.store.list()) == ["search-slot-a", "search-slot-b"]
        assert sorted(k.name for k in first.store.list()) == ["chatbot-slot-a", "chatbot-slot-b"]
