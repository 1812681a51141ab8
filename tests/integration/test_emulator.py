"""The sandbox's behaviour over real HTTP: auth, scopes, control panel, inference, limits, state."""

from __future__ import annotations

import concurrent.futures
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.api_routes import API_PREFIX
from sandbox.server import DEFAULT_ADMIN_TOKEN, DEFAULT_TOKEN, Emulator, EmulatorConfig
from tests.conftest import READ_ONLY_TOKEN

REPO = Path(__file__).resolve().parents[2]


def api(
    emulator: Emulator, method: str, path: str = "", token: str = DEFAULT_TOKEN, **kw: Any
) -> requests.Response:
    return requests.request(
        method,
        f"{emulator.base_url}{API_PREFIX}{path}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        **kw,
    )


def admin(
    emulator: Emulator, method: str, path: str, token: str = DEFAULT_ADMIN_TOKEN, **kw: Any
) -> requests.Response:
    return requests.request(
        method,
        f"{emulator.base_url}/_sandbox{path}",
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
        **kw,
    )


def chat(emulator: Emulator, secret: str) -> requests.Response:
    return requests.post(
        f"{emulator.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {secret}"},
        json={"model": "llama3.3-70b-instruct", "messages": [{"role": "user", "content": "hello there"}]},
        timeout=10,
    )


@pytest.mark.parametrize(
    "token", ["", "dop_v1_wrong", DEFAULT_ADMIN_TOKEN], ids=["none", "wrong", "admin-token"]
)
def test_api_refuses_anything_but_an_api_token(emulator: Emulator, token: str) -> None:
    reply = api(emulator, "GET", token=token)
    assert reply.status_code == 401
    assert reply.json()["id"] == "unauthorized"
    assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(reply.headers)


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [("PUT", "", {"name": "x"}), ("PUT", "/regenerate", None), ("DELETE", "", None)],
    ids=["rename", "regenerate", "delete"],
)
def test_read_only_token_reads_but_cannot_write(
    emulator: Emulator, method: str, suffix: str, body: Any
) -> None:
    key = emulator.console_create("k")
    assert api(emulator, "GET", token=READ_ONLY_TOKEN).status_code == 200
    reply = api(emulator, method, f"/{key['uuid']}{suffix}", token=READ_ONLY_TOKEN, json=body)
    assert reply.status_code == 403
    assert reply.json()["id"] == "forbidden"
    assert chat(emulator, key["secret_key"]).status_code == 200  # nothing changed


@pytest.mark.parametrize(
    "token", [DEFAULT_TOKEN, READ_ONLY_TOKEN, "", "junk"], ids=["api", "read-only", "none", "junk"]
)
def test_control_panel_needs_the_admin_token(emulator: Emulator, token: str) -> None:
    reply = admin(emulator, "POST", "/console/keys", token=token, json={"name": "x"})
    assert reply.status_code in (401, 403)
    assert len(emulator.store) == 0


def test_console_key_is_usable_and_its_secret_shown_once(emulator: Emulator) -> None:
    made = admin(emulator, "POST", "/console/keys", json={"name": "chatbot"})
    assert made.status_code == 201
    info = made.json()["api_key_info"]
    assert info["secret_key"].startswith("sk-do-") and len(info["secret_key"]) >= 40
    assert chat(emulator, info["secret_key"]).status_code == 200
    listed = api(emulator, "GET").json()["api_key_infos"]
    assert listed == [{k: v for k, v in info.items() if k != "secret_key"}]


def test_regenerate_invalidates_the_old_secret_at_once(emulator: Emulator) -> None:
    key = emulator.console_create("k")
    reply = api(emulator, "PUT", f"/{key['uuid']}/regenerate")
    assert reply.status_code == 200
    new = reply.json()["api_key_info"]["secret_key"]
    assert new != key["secret_key"]
    assert chat(emulator, key["secret_key"]).status_code == 401
    assert chat(emulator, new).status_code == 200


def test_delete_answers_200_with_the_key_and_kills_its_secret(emulator: Emulator) -> None:
    key = emulator.console_create("k")
    reply = api(emulator, "DELETE", f"/{key['uuid']}")
    assert reply.status_code == 200
    info = reply.json()["api_key_info"]
    assert info["uuid"] == key["uuid"] and info["deleted_at"] and "secret_key" not in info
    assert chat(emulator, key["secret_key"]).status_code == 401
    assert api(emulator, "DELETE", f"/{key['uuid']}").status_code == 404


def test_rename_checks_the_body(emulator: Emulator) -> None:
    key = emulator.console_create("k")
    ok = api(emulator, "PUT", f"/{key['uuid']}", json={"api_key_uuid": key["uuid"], "name": "renamed"})
    assert ok.status_code == 200 and ok.json()["api_key_info"]["name"] == "renamed"
    mismatch = api(emulator, "PUT", f"/{key['uuid']}", json={"api_key_uuid": "other", "name": "x"})
    assert mismatch.status_code == 400 and "api_key_uuid" in mismatch.json()["message"]
    empty = api(emulator, "PUT", f"/{key['uuid']}", json={"name": ""})
    assert empty.status_code == 400 and "name" in empty.json()["message"]
    broken = api(emulator, "PUT", f"/{key['uuid']}", data=b"{not json")
    assert broken.status_code == 400 and broken.json()["id"] == "bad_request"
    deep = api(emulator, "PUT", f"/{key['uuid']}", data=b"[" * 100_000)  # past the parser's recursion
    assert deep.status_code == 400 and "nested too deeply" in deep.json()["message"]


def test_create_modes(emulator: Emulator) -> None:
    retired = api(emulator, "POST", json={"name": "x"})
    assert retired.status_code == 410
    assert retired.json()["id"] == "gone" and "control panel" in retired.json()["message"]
    assert admin(emulator, "PUT", "/settings", json={"create_mode": "legacy"}).status_code == 200
    made = api(emulator, "POST", json={"name": "x"})
    assert made.status_code == 200
    assert chat(emulator, made.json()["api_key_info"]["secret_key"]).status_code == 200


def test_paging_shape_and_limits(emulator: Emulator) -> None:
    for i in range(45):
        emulator.console_create(f"k{i:02d}")
    first = api(emulator, "GET").json()
    assert len(first["api_key_infos"]) == 20  # default per_page
    assert first["meta"] == {"page": 1, "pages": 3, "total": 45}
    assert set(first["links"]["pages"]) == {"next", "last"}
    middle = api(emulator, "GET", params={"page": 2, "per_page": 20}).json()
    assert set(middle["links"]["pages"]) == {"first", "previous", "next", "last"}
    assert middle["links"]["pages"]["next"].startswith(emulator.base_url)
    followed = requests.get(
        middle["links"]["pages"]["next"], headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=10
    ).json()
    assert followed["meta"]["page"] == 3 and len(followed["api_key_infos"]) == 5
    assert set(followed["links"]["pages"]) == {"first", "previous"}
    clamped = api(emulator, "GET", params={"per_page": 1000}).json()
    assert len(clamped["api_key_infos"]) == 45 and clamped["meta"]["pages"] == 1
    beyond = api(emulator, "GET", params={"page": 9}).json()
    assert beyond["api_key_infos"] == [] and beyond["meta"]["total"] == 45
    for bad in ({"page": "abc"}, {"per_page": "0"}, {"page": "-1"}, {"per_page": "1.5"}):
        reply = api(emulator, "GET", params=bad)
        assert reply.status_code == 400, bad
        assert next(iter(bad)) in reply.json()["message"]


def test_documented_rate_limit_headers_report_the_hour(emulator: Emulator) -> None:
    emulator.limiter.per_minute = 3
    emulator.limiter.per_hour = 5000
    replies = [api(emulator, "GET") for _ in range(4)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert [r.headers["ratelimit-limit"] for r in replies] == ["5000"] * 4
    assert [int(r.headers["ratelimit-remaining"]) for r in replies] == [4999, 4998, 4997, 0]
    assert "retry-after" not in replies[0].headers
    refused = replies[-1]
    assert refused.json()["id"] == "too_many_requests"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert int(time.time()) + 3590 <= int(refused.headers["ratelimit-reset"]) <= int(time.time()) + 3601


def test_minute_rate_limit_headers_and_429(emulator: Emulator) -> None:
    emulator.limiter.headers = "minute"
    emulator.limiter.per_minute = 3
    emulator.limiter.per_hour = 5000
    replies = [api(emulator, "GET") for _ in range(4)]
    assert [r.status_code for r in replies] == [200, 200, 200, 429]
    assert [int(r.headers["ratelimit-remaining"]) for r in replies] == [2, 1, 0, 0]
    refused = replies[-1]
    assert refused.json()["id"] == "too_many_requests"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert int(refused.headers["ratelimit-reset"]) >= int(time.time())


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ({"kind": "error"}, 500),
        ({"kind": "error", "status": 503}, 503),
        ({"kind": "rate_limit", "retry_after": 7}, 429),
    ],
    ids=["500", "503", "429"],
)
def test_injected_error_faults(emulator: Emulator, fault: dict[str, Any], status: int) -> None:
    assert admin(emulator, "POST", "/faults", json={"operation": "list", **fault}).status_code == 201
    reply = api(emulator, "GET")
    assert reply.status_code == status
    if status == 429:
        assert reply.headers["retry-after"] == "7"
    assert api(emulator, "GET").status_code == 200  # a fault fires once unless told otherwise


def test_drop_after_commit_changes_then_hangs_up(emulator: Emulator) -> None:
    key = emulator.console_create("k")
    emulator.inject(operation="regenerate", kind="drop_after_commit")
    with pytest.raises(requests.ConnectionError):
        api(emulator, "PUT", f"/{key['uuid']}/regenerate")
    assert chat(emulator, key["secret_key"]).status_code == 401  # the change was made
    assert emulator.stats.view()["requests"]["regenerate"] == {"dropped": 1}


def test_delay_fault(emulator: Emulator) -> None:
    emulator.inject(operation="list", kind="delay", delay_seconds=0.3)
    started = time.monotonic()
    assert api(emulator, "GET").status_code == 200
    assert time.monotonic() - started >= 0.3


def test_reset_forgets_everything(emulator: Emulator) -> None:
    emulator.console_create("k")
    emulator.inject(operation="list", kind="error")
    assert admin(emulator, "POST", "/reset").status_code == 200
    assert api(emulator, "GET").json()["meta"]["total"] == 0
    assert admin(emulator, "GET", "/faults").json() == {"faults": []}


def test_inference_surface(emulator: Emulator) -> None:
    key = emulator.console_create("k")
    models = requests.get(
        f"{emulator.base_url}/v1/models", headers={"Authorization": f"Bearer {key['secret_key']}"}, timeout=10
    )
    assert models.status_code == 200 and models.json()["data"]
    first, second = chat(emulator, key["secret_key"]).json(), chat(emulator, key["secret_key"]).json()
    assert first["choices"] == second["choices"]  # deterministic
    usage = first["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0
    assert chat(emulator, DEFAULT_TOKEN).status_code == 401  # an API token is not a model key
    assert requests.get(f"{emulator.base_url}/v1/models", timeout=10).status_code == 401


def test_concurrent_regenerates_leave_exactly_one_valid_secret(emulator: Emulator) -> None:
    key = emulator.console_create("k")

    def regenerate(_: int) -> str:
        return str(api(emulator, "PUT", f"/{key['uuid']}/regenerate").json()["api_key_info"]["secret_key"])

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        secrets = list(pool.map(regenerate, range(40)))
    assert len(set(secrets)) == 40
    valid = [s for s in secrets if emulator.store.find_by_secret(s) is not None]
    assert len(valid) == 1


def test_state_file_survives_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "keys.db"
    with Emulator(EmulatorConfig(state_file=state)) as first:
        key = first.console_create("persisted")
    with Emulator(EmulatorConfig(state_file=state)) as second:
        listed = api(second, "GET").json()["api_key_infos"]
        assert [k["uuid"] for k in listed] == [key["uuid"]]
        assert chat(second, key["secret_key"]).status_code == 200
    assert key["secret_key"].encode() not in state.read_bytes()


def test_command_line_prints_its_url_first_and_honours_options(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sandbox.emulator",
            "--port",
            "0",
            "--token",
            "dop_v1_custom",
            "--create-mode",
            "legacy",
            "--rate-limit-per-minute",
            "2",
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        headers = {"Authorization": "Bearer dop_v1_custom"}
        made = requests.post(f"{url}{API_PREFIX}", headers=headers, json={"name": "x"}, timeout=10)
        assert made.status_code == 200
        assert requests.get(f"{url}{API_PREFIX}", headers=headers, timeout=10).status_code == 200
        assert requests.get(f"{url}{API_PREFIX}", headers=headers, timeout=10).status_code == 429
        default = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
        assert requests.get(f"{url}{API_PREFIX}", headers=default, timeout=10).status_code == 401
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
