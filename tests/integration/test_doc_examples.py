"""Every code example of DigitalOcean's serverless inference doc, run as written against the sandbox.

The examples come from `spec/do-docs/serverless-inference.txt` (tests/docexamples.py). Only two
things change before an example runs:

- the host: `https://inference.do-ai.run` and `https://api.digitalocean.com` become the sandbox's
  URL; the Gradient SDK examples name no host, so they get the SDK's own variables:
  `GRADIENT_INFERENCE_ENDPOINT` (inference calls) and, for the one control-plane call
  (`client.models.list`, `GET /v2/gen-ai/models`), `GRADIENT_BASE_URL`, with the sandbox's API
  token as `DIGITALOCEAN_ACCESS_TOKEN`: DigitalOcean's API does not take a model access key;
- the credentials: `$MODEL_ACCESS_KEY` and `$DIGITALOCEAN_TOKEN` are variables in the example's
  environment, holding a sandbox key's secret and a sandbox API token. A cURL example's
  `-H "Authorization: Bearer $VAR"` becomes `-H @<(printf ...)`, so the secret reaches curl
  through a pipe, never on a command line (`ps` shows none); what a failure prints is the
  example's text, never a secret.

cURL examples run through the real `curl` under bash, Python ones in a subprocess with this repo's
interpreter (where `openai`, `gradient` and `python-dotenv` are installed), each in its own
directory. A cURL example's answer must have the shape of the sample the doc shows after it (its
key paths, and the enumerated values: `object`, `finish_reason`, `type`, `status`, ...); a
Python example must run without error and print what its `print` calls say it prints.
"""

from __future__ import annotations

import base64
import json
import os
import re
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from sandbox.server import DEFAULT_TOKEN, Emulator
from tests import docexamples
from tests.docexamples import Example

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = {example.id: example for example in docexamples.examples()}
TIMEOUT = 60.0

# What the doc holds: 17 cURL examples, 4 OpenAI Python and 4 Gradient SDK ones. A change to the
# doc that adds, drops or renames one shows here first.
DOCUMENTED = {
    "curl GET /v1/models",
    "openai models.list",
    "gradient models.list",
    "curl POST /v1/chat/completions llama3.3-70b-instruct",
    "openai chat.completions.create",
    "gradient chat.completions.create",
    "curl POST /v1/chat/completions anthropic-claude-opus-4.5",
    "curl POST /v1/chat/completions anthropic-claude-4.6-sonnet",
    "curl POST /v1/responses openai-gpt-oss-20b",
    "openai responses.create",
    "gradient responses.create",
    "curl POST /v1/images/generations openai-gpt-image-1",
    "curl POST /v1/images/generations openai-gpt-image-1 piped",
    "openai images.generate",
    "gradient images.generations.create",
    "curl POST /v1/async-invoke fal-ai/flux/schnell",
    "curl POST /v1/async-invoke fal-ai/fast-sdxl",
    "curl POST /v1/async-invoke fal-ai/stable-audio-25/text-to-audio",
    "curl POST /v1/async-invoke fal-ai/elevenlabs/tts/multilingual-v2",
    "curl GET /v1/async-invoke/<request_id>/status",
    "curl GET /v1/async-invoke/<request_id>",
    "curl POST /v2/gen-ai/models/api_keys",
    "curl PUT /v2/gen-ai/models/api_keys/11efb7d6-cdb5-6388-bf8f-4e013e2ddde4",
    "curl PUT /v2/gen-ai/models/api_keys/11efcf7e-824d-2808-bf8f-4e013e2ddde4/regenerate",
    "curl DELETE /v2/gen-ai/models/api_keys/11efb7d6-cdb5-6388-bf8f-4e013e2ddde4",
}

# Examples whose endpoint the sandbox does not serve yet (strict: when it lands, the xfail fails
# and the entry must go).
PENDING: dict[str, str] = {}

# Values a sample shows that the answer must show too (by key name); `id` only for the model list,
# whose sample names real model ids (a completion's sample id is "").
COMPARED = frozenset(
    {"object", "finish_reason", "type", "output_format", "size", "background", "quality", "status"}
)
ASYNC_SUBMIT = "curl POST /v1/async-invoke "
KEY_API = "curl {method} /v2/gen-ai/models/api_keys"


def _param(example_id: str) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=PENDING[example_id])] if example_id in PENDING else []
    return pytest.param(example_id, id=example_id, marks=marks)


# -- running an example ---------------------------------------------------------------------------
@dataclass
class Sandbox:
    emulator: Emulator
    secret: str  # a model access key's secret (the examples' $MODEL_ACCESS_KEY)
    directory: Path

    @property
    def url(self) -> str:
        return self.emulator.base_url

    def env(self, **extra: str) -> dict[str, str]:
        """Only what an example needs: no caller's OPENAI_*, GRADIENT_* or DIGITALOCEAN_* leaks in."""
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.directory)}
        env.update(MODEL_ACCESS_KEY=self.secret, DIGITALOCEAN_TOKEN=DEFAULT_TOKEN, **extra)
        return env


_BEARER = re.compile(r'-H\s+"Authorization: Bearer \$(MODEL_ACCESS_KEY|DIGITALOCEAN_TOKEN)"')


def curl_script(example: Example, base_url: str, substitutions: dict[str, str] | None = None) -> str:
    """The example as it runs here: the sandbox's host, credentials through a pipe, placeholders
    (`<request_id>`, a documented key uuid) replaced by what exists in the sandbox."""
    script = example.code.replace(docexamples.DOC_INFERENCE_HOST, base_url)
    script = script.replace(docexamples.DOC_API_HOST, base_url)
    script = _BEARER.sub(lambda m: f"-H @<(printf 'Authorization: Bearer %s\\n' \"${m.group(1)}\")", script)
    for old, new in (substitutions or {}).items():
        script = script.replace(old, new)
    assert "$MODEL_ACCESS_KEY" not in script.replace('"$MODEL_ACCESS_KEY")', "")
    return script


def run_curl(
    sandbox: Sandbox, example: Example, substitutions: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    script = curl_script(example, sandbox.url, substitutions)
    return subprocess.run(
        ["bash", "-c", "set -o pipefail\n" + script],
        cwd=sandbox.directory,
        env=sandbox.env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def curl_json(sandbox: Sandbox, example: Example, substitutions: dict[str, str] | None = None) -> Any:
    result = run_curl(sandbox, example, substitutions)
    assert result.returncode == 0, f"{example.id}: curl exited {result.returncode}: {result.stderr[-2000:]}"
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"{example.id}: not JSON: {result.stdout[:2000]!r}") from None


def python_script(example: Example, base_url: str, code: str | None = None) -> str:
    return (code or example.code).replace(docexamples.DOC_INFERENCE_HOST, base_url)


def run_python(
    sandbox: Sandbox, example: Example, code: str | None = None
) -> subprocess.CompletedProcess[str]:
    script = sandbox.directory / "example.py"
    script.write_text(python_script(example, sandbox.url, code), encoding="utf-8")
    extra: dict[str, str] = {}
    if example.kind == "gradient":
        extra["GRADIENT_INFERENCE_ENDPOINT"] = sandbox.url
        if example.call.startswith("models."):  # the control plane's GET /v2/gen-ai/models
            # The DigitalOcean API answers an API token, not a model access key (the only credential
            # the example names): the SDK sends DIGITALOCEAN_ACCESS_TOKEN instead when it is set.
            extra.update(GRADIENT_BASE_URL=sandbox.url, DIGITALOCEAN_ACCESS_TOKEN=DEFAULT_TOKEN)
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=sandbox.directory,
        env=sandbox.env(**extra),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def assert_shape(example: Example, answer: Any, sample: str, compare: frozenset[str] = COMPARED) -> None:
    overrides = {"model": example.model, "model_id": example.model} if example.model else {}
    problems = docexamples.shape_problems(
        docexamples.shape_of(sample), answer, compare | {"model", "model_id"}, overrides
    )
    assert not problems, f"{example.id}: the answer differs from the doc's sample:\n  " + "\n  ".join(
        problems
    )


def assert_png(data: bytes, where: str) -> tuple[int, int]:
    """A real PNG: signature, an IHDR first, an IEND last. Its width and height."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{where}: not a PNG"
    assert data[12:16] == b"IHDR", f"{where}: no IHDR chunk first"
    assert data[-8:-4] == b"IEND", f"{where}: does not end with IEND"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


@pytest.fixture
def sandbox(emulator: Emulator, tmp_path: Path) -> Sandbox:
    key = emulator.console_create("doc-examples")
    return Sandbox(emulator, key["secret_key"], tmp_path)


# -- the doc -----------------------------------------------------------------------------------------
def test_the_doc_holds_the_examples_this_suite_runs() -> None:
    assert set(EXAMPLES) == DOCUMENTED
    assert {e.kind for e in EXAMPLES.values()} == {"curl", "openai", "gradient"}
    assert set(PENDING) <= DOCUMENTED


def test_credentials_never_reach_a_command_line(sandbox: Sandbox) -> None:
    for example in EXAMPLES.values():
        if example.kind == "curl":
            script = curl_script(example, sandbox.url)
            assert sandbox.secret not in script and DEFAULT_TOKEN not in script
            assert "Bearer $" not in script.replace("Bearer %s", ""), example.id


# -- cURL: inference -----------------------------------------------------------------------------
INFERENCE_WITH_SAMPLE = [
    "curl GET /v1/models",
    "curl POST /v1/chat/completions llama3.3-70b-instruct",
    "curl POST /v1/chat/completions anthropic-claude-opus-4.5",
    "curl POST /v1/chat/completions anthropic-claude-4.6-sonnet",
    "curl POST /v1/responses openai-gpt-oss-20b",
    "curl POST /v1/images/generations openai-gpt-image-1",
]


@pytest.mark.parametrize("example_id", [_param(i) for i in INFERENCE_WITH_SAMPLE])
def test_curl_answers_with_the_documented_shape(sandbox: Sandbox, example_id: str) -> None:
    example = EXAMPLES[example_id]
    assert example.sample is not None
    answer = curl_json(sandbox, example)
    compare = COMPARED | {"id"} if example.path == "/v1/models" else COMPARED
    assert_shape(example, answer, example.sample, compare)
    if example.path == "/v1/images/generations":
        assert_png(base64.b64decode(answer["data"][0]["b64_json"]), example_id)
    if "reasoning" in (example.body or {}) or "reasoning_effort" in (example.body or {}):
        assert answer["choices"][0]["message"]["reasoning_content"], "reasoning asked, none given"


@pytest.mark.parametrize("example_id", [_param("curl POST /v1/images/generations openai-gpt-image-1 piped")])
def test_curl_image_piped_to_a_file_is_a_png(sandbox: Sandbox, example_id: str) -> None:
    result = run_curl(sandbox, EXAMPLES[example_id])
    assert result.returncode == 0, result.stderr[-2000:]
    saved = sandbox.directory / "sea_otter.png"
    assert saved.is_file(), "no sea_otter.png in the current directory"
    assert_png(saved.read_bytes(), "sea_otter.png")


def _async_sample() -> str:
    """The QUEUED sample the doc shows after its four async-invoke examples (it answers each)."""
    samples = [e.sample for e in EXAMPLES.values() if e.id.startswith(ASYNC_SUBMIT) and e.sample]
    assert len(samples) == 1
    return samples[0]


@pytest.mark.parametrize("example_id", [_param(i) for i in sorted(EXAMPLES) if i.startswith(ASYNC_SUBMIT)])
def test_curl_async_invoke_starts_a_queued_job(sandbox: Sandbox, example_id: str) -> None:
    example = EXAMPLES[example_id]
    answer = curl_json(sandbox, example)
    assert_shape(example, answer, _async_sample())


STATUS = "curl GET /v1/async-invoke/<request_id>/status"
RESULT = "curl GET /v1/async-invoke/<request_id>"


@pytest.mark.parametrize("example_id", [_param(STATUS)])
def test_curl_async_status_reaches_completed(sandbox: Sandbox, example_id: str) -> None:
    job = curl_json(sandbox, EXAMPLES[ASYNC_SUBMIT + "fal-ai/flux/schnell"])
    _wait_completed(sandbox, job["request_id"])


def _wait_completed(sandbox: Sandbox, request_id: str, timeout: float = 30.0) -> list[str]:
    """Run the doc's status example until it says COMPLETED; the statuses seen, in order."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        status = curl_json(sandbox, EXAMPLES[STATUS], {"<request_id>": request_id})
        assert status["request_id"] == request_id
        if not seen or seen[-1] != status["status"]:
            seen.append(status["status"])
        if status["status"] == "COMPLETED":
            return seen
        assert status["status"] in ("QUEUED", "IN_PROGRESS"), seen
        assert time.monotonic() < deadline, f"not COMPLETED within {timeout} s: {seen}"
        time.sleep(0.1)


@pytest.mark.parametrize("example_id", [_param(RESULT)])
def test_curl_async_result_has_the_documented_shape(sandbox: Sandbox, example_id: str) -> None:
    example = EXAMPLES[example_id]
    assert example.sample is not None
    job = curl_json(sandbox, EXAMPLES[ASYNC_SUBMIT + "fal-ai/flux/schnell"])
    _wait_completed(sandbox, job["request_id"])
    answer = curl_json(sandbox, example, {"<request_id>": job["request_id"]})
    assert_shape(example, answer, example.sample)
    assert answer["request_id"] == job["request_id"]


# -- cURL: the model-key API ------------------------------------------------------------------------
def _key_api(method: str, suffix: str = "") -> Example:
    prefix = KEY_API.format(method=method)
    (found,) = [e for e in EXAMPLES.values() if e.id.startswith(prefix) and e.id.endswith(suffix)]
    return found


def test_curl_create_key_is_retired_with_410(sandbox: Sandbox) -> None:
    example = _key_api("POST")
    # The status, without touching the example: curl reads ~/.curlrc (HOME is this test's directory).
    (sandbox.directory / ".curlrc").write_text('write-out = "\\n%{http_code}"\n')
    result = run_curl(sandbox, example)
    body, status = result.stdout.rsplit("\n", 1)
    # DigitalOcean retired create in June 2026 (spec/do-openapi, docs/sandbox.md): 410 `gone`.
    assert status == "410"
    assert json.loads(body)["id"] == "gone"
    assert [k.name for k in sandbox.emulator.store.list()] == ["doc-examples"]


def test_curl_rename_key(sandbox: Sandbox) -> None:
    example = _key_api("PUT", "-4e013e2ddde4")
    key = sandbox.emulator.console_create("test-key")
    documented = "11efb7d6-cdb5-6388-bf8f-4e013e2ddde4"
    info = curl_json(sandbox, example, {documented: key["uuid"]})["api_key_info"]
    assert (info["uuid"], info["name"]) == (key["uuid"], "test-key2")
    assert "secret_key" not in info


def test_curl_regenerate_key(sandbox: Sandbox) -> None:
    example = _key_api("PUT", "/regenerate")
    key = sandbox.emulator.console_create("test-key")
    info = curl_json(sandbox, example, {"11efcf7e-824d-2808-bf8f-4e013e2ddde4": key["uuid"]})["api_key_info"]
    assert info["uuid"] == key["uuid"]
    fresh = info["secret_key"]
    assert fresh != key["secret_key"], "regenerate answered the old secret"
    store = sandbox.emulator.store
    assert store.find_by_secret(key["secret_key"]) is None and store.find_by_secret(fresh) is not None


def test_curl_delete_key(sandbox: Sandbox) -> None:
    example = _key_api("DELETE")
    key = sandbox.emulator.console_create("test-key")
    info = curl_json(sandbox, example, {"11efb7d6-cdb5-6388-bf8f-4e013e2ddde4": key["uuid"]})["api_key_info"]
    assert info["uuid"] == key["uuid"] and info["deleted_at"]
    assert sandbox.emulator.store.get(key["uuid"]) is None


# -- Python: the OpenAI and Gradient SDKs -----------------------------------------------------------
@dataclass(frozen=True)
class DocFix:
    """An example that cannot work as written with the pinned SDK, whatever the server answers:
    it runs as written (the failure is asserted, so a fixed SDK or doc shows) and corrected."""

    old: str
    new: str
    why: str


DOC_FIXES = {
    "gradient models.list": DocFix(
        "models.data",
        "models.models",
        "gradient 3.12.2's ModelListResponse (GET /v2/gen-ai/models) has `models`, not `data`",
    ),
    "gradient responses.create": DocFix(
        "content[0].text",
        'content[0]["text"]',
        "gradient 3.12.2 models no `message` output item: output[1] parses as its function-call "
        "item, whose `content` stays a list of plain dicts",
    ),
    "gradient images.generations.create": DocFix(
        "client.images.generations.create(",
        "client.images.generate(",
        "gradient 3.12.2's images resource has `generate`, no `generations`",
    ),
}


def _listed_ids(lines: list[str], prefix: str) -> list[str]:
    assert lines and all(line.startswith(prefix) and line[len(prefix) :].strip() for line in lines), lines
    return [line[len(prefix) :] for line in lines]


def _documented_model_ids() -> set[str]:
    shape = docexamples.shape_of(EXAMPLES["curl GET /v1/models"].sample or "")
    return {value for path, value in shape.values if path == "id"}


def check_printed(example: Example, stdout: str, directory: Path) -> None:
    """What the example's `print` calls say it prints."""
    lines = stdout.splitlines()
    if example.call == "models.list" and example.kind == "openai":  # print("-", m.id)
        assert _documented_model_ids() <= set(_listed_ids(lines, "- ")), lines
    elif example.call == "models.list":  # print("Available models:"), then f"  - {model.id}"
        assert lines[:1] == ["Available models:"], lines
        _listed_ids(lines[1:], "  - ")
    elif example.call.startswith("images."):
        assert stdout == "Saved sea_otter.png\n"
        assert_png((directory / "sea_otter.png").read_bytes(), "sea_otter.png")
    else:  # the model's text
        assert stdout.strip(), "printed nothing"
        assert stdout.strip() != "None", "printed None: no text where the example reads it"


PYTHON = sorted(i for i, e in EXAMPLES.items() if e.kind != "curl")


@pytest.mark.parametrize("example_id", [_param(i) for i in PYTHON])
def test_python_example_prints_what_it_says(sandbox: Sandbox, example_id: str) -> None:
    example = EXAMPLES[example_id]
    code = example.code
    fix = DOC_FIXES.get(example_id)
    if fix is not None:
        as_written = run_python(sandbox, example)
        assert as_written.returncode != 0 and "AttributeError" in as_written.stderr, (
            f"the doc's example now runs as written ({fix.why} no longer holds): drop its DocFix",
            as_written.stdout[-1000:],
            as_written.stderr[-2000:],
        )
        assert fix.old in code
        code = code.replace(fix.old, fix.new)
    result = run_python(sandbox, example, code)
    assert result.returncode == 0, result.stderr[-3000:]
    check_printed(example, result.stdout, sandbox.directory)


# -- the request-body samples of prompt caching -------------------------------------------------------
def _json_objects(sample: str) -> Iterator[Any]:
    """The complete JSON objects in a sample (its `...` lines are elisions between them)."""
    decoder = json.JSONDecoder()
    position = 0
    while (start := sample.find("{", position)) != -1:
        value, position = decoder.raw_decode(sample, start)
        yield value


def _caching_samples() -> dict[str, Any]:
    """The prompt-caching section's samples: Anthropic's three message fragments, OpenAI's request
    body, and the usage each answer shows the first time and the second."""
    found: dict[str, Any] = {"anthropic_messages": [], "usage_first": [], "usage_again": []}
    for block in docexamples.samples():
        text = block.text
        if "cache_control" in text:
            found["anthropic_messages"] = list(_json_objects(text))
        elif "prompt_cache_retention" in text:
            (found["openai_body"],) = _json_objects(text)
        elif "cache_read_input_tokens" in text:
            shape = docexamples.shape_of(text)
            read = [v for p, v in shape.values if p.endswith("cache_read_input_tokens")]
            found["usage_again" if read and read[0] else "usage_first"].append(text)
    assert len(found["anthropic_messages"]) == 3 and "openai_body" in found
    assert len(found["usage_first"]) == 2 and len(found["usage_again"]) == 2
    return found


CACHING = _caching_samples()
ANTHROPIC_CACHING_MODEL = "anthropic-claude-4.6-sonnet"  # a documented Anthropic model id


def _post_chat(sandbox: Sandbox, body: Any) -> Any:
    reply = requests.post(
        f"{sandbox.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {sandbox.secret}"},
        json=body,
        timeout=TIMEOUT,
    )
    assert reply.status_code == 200, (reply.status_code, reply.text[:2000])
    return reply.json()


def _usage_problems(sample: str, answer: Any) -> list[str]:
    return docexamples.shape_problems(docexamples.shape_of(sample), answer)


def _anthropic_request(message: dict[str, Any]) -> dict[str, Any]:
    messages = [message]
    if message["role"] == "tool":  # a tool answer follows the assistant's call it answers
        function = {"name": "f", "arguments": "{}"}
        call = {"id": message["tool_call_id"], "type": "function", "function": function}
        messages = [{"role": "assistant", "content": None, "tool_calls": [call]}, message]
    return {"model": ANTHROPIC_CACHING_MODEL, "messages": messages, "max_completion_tokens": 100}


@pytest.mark.parametrize(
    "message",
    [pytest.param(m, id=f"{m['role']}-message") for m in CACHING["anthropic_messages"]],
)
def test_anthropic_cache_control_creates_then_reads_the_cache(sandbox: Sandbox, message: Any) -> None:
    body = _anthropic_request(message)
    first = _post_chat(sandbox, body)
    assert not _usage_problems(CACHING["usage_first"][0], first), first["usage"]
    again = _post_chat(sandbox, body)
    assert not _usage_problems(CACHING["usage_again"][0], again), again["usage"]
    created = first["usage"]["cache_created_input_tokens"]
    assert created > 0 and first["usage"]["cache_read_input_tokens"] == 0, first["usage"]
    ttls = {part["cache_control"]["ttl"] for part in _parts(message) if "cache_control" in part}
    (ttl,) = ttls
    assert first["usage"]["cache_creation"][f"ephemeral_{ttl}_input_tokens"] == created
    assert (again["usage"]["cache_created_input_tokens"], again["usage"]["cache_read_input_tokens"]) == (
        0,
        created,
    )


def _parts(message: dict[str, Any]) -> list[dict[str, Any]]:
    content = message["content"]
    return content if isinstance(content, list) else [content]


def test_openai_prompt_cache_retention_creates_then_reads_the_cache(sandbox: Sandbox) -> None:
    body = CACHING["openai_body"]
    first = _post_chat(sandbox, body)
    full = next(b.text for b in docexamples.samples() if '"chatcmpl-xyz789"' in b.text)
    problems = docexamples.shape_problems(
        docexamples.shape_of(full), first, COMPARED | {"model"}, {"model": body["model"]}
    )
    assert not problems, problems
    again = _post_chat(sandbox, body)
    assert not _usage_problems(CACHING["usage_again"][1], again), again["usage"]
    created = first["usage"]["cache_created_input_tokens"]
    assert first["usage"]["cache_read_input_tokens"] == 0
    assert (again["usage"]["cache_created_input_tokens"], again["usage"]["cache_read_input_tokens"]) == (
        0,
        created,
    )
