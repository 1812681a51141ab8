"""The sandbox's inference answers against the documented shapes kept in spec/inference.yaml.

The model-key API is checked against DigitalOcean's OpenAPI fragments (test_spec_conformance.py);
the inference surface has no OpenAPI document upstream, so spec/inference.yaml describes what
DigitalOcean's serverless inference doc shows (JSON Schema 2020-12, formats checked), and every
answer here, successes and errors alike, is validated against the schema its endpoint and status
name in the file's `x-endpoints`. Streams are validated chunk by chunk.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from jsonschema import (  # type: ignore[import-untyped]  # no stubs in the dev requirements
    Draft202012Validator,
    FormatChecker,
)

from sandbox.server import Emulator
from tests import docexamples

SPEC = Path(__file__).resolve().parents[2] / "spec" / "inference.yaml"
DOCUMENT: dict[str, Any] = yaml.safe_load(SPEC.read_text(encoding="utf-8"))
ENDPOINTS: dict[str, dict[str, str]] = DOCUMENT["x-endpoints"]
FORMATS = FormatChecker()
TIMEOUT = 10.0

CHAT, RESPONSES, IMAGES = "/v1/chat/completions", "/v1/responses", "/v1/images/generations"
ASYNC = "/v1/async-invoke"
POSTS = (CHAT, RESPONSES, IMAGES, ASYNC)


def validator(pointer: str) -> Draft202012Validator:
    """A validator for one schema of the file (`#/$defs/...`), its `$ref`s resolved in the file."""
    return Draft202012Validator({**DOCUMENT, "$ref": pointer}, format_checker=FORMATS)


def problems(pointer: str, instance: Any) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in validator(pointer).iter_errors(instance)
    ]


def schema_for(method: str, template: str, status: int, streamed: bool = False) -> str:
    declared = ENDPOINTS.get(f"{method} {template}", {})
    if status >= 400:
        return ENDPOINTS["*"]["4xx"]
    return declared[f"{status} text/event-stream" if streamed else str(status)]


class Inference:
    """Sends requests with a model access key; every answer is validated before a test sees it."""

    def __init__(self, emulator: Emulator, secret: str, session: requests.Session) -> None:
        self.emulator, self.secret, self.session = emulator, secret, session

    def call(
        self,
        method: str,
        template: str,
        body: Any = None,
        *,
        params: dict[str, str] | None = None,
        raw: bytes | None = None,
        secret: str | None = "",
    ) -> tuple[int, Any]:
        token = self.secret if secret == "" else secret
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        path = template.format(**(params or {}))
        if raw is not None:
            headers["Content-Type"] = "application/json"
        reply = self.session.request(
            method,
            self.emulator.base_url + path,
            headers=headers,
            json=body if raw is None and body is not None else None,
            data=raw,
            timeout=TIMEOUT,
        )
        if reply.headers.get("Content-Type", "").startswith("text/event-stream"):
            chunks = [json.loads(e) for e in _events(reply.text)]
            pointer = schema_for(method, template, reply.status_code, streamed=True)
            for index, chunk in enumerate(chunks):
                found = problems(pointer, chunk)
                assert not found, f"{method} {template} chunk {index} ({pointer}):\n  " + "\n  ".join(found)
            return reply.status_code, chunks
        assert reply.headers.get("Content-Type", "").startswith("application/json"), reply.headers
        answer = reply.json()
        pointer = schema_for(method, template, reply.status_code)
        found = problems(pointer, answer)
        assert not found, f"{method} {template} -> {reply.status_code} ({pointer}):\n  " + "\n  ".join(found)
        return reply.status_code, answer


def _events(text: str) -> Iterator[str]:
    lines = [line for line in text.split("\n\n") if line.strip()]
    assert lines and lines[-1] == "data: [DONE]", lines[-1:]
    for line in lines[:-1]:
        assert line.startswith("data: "), line
        yield line.removeprefix("data: ")


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    with requests.Session() as http:
        yield http


@pytest.fixture
def api(emulator: Emulator, session: requests.Session) -> Inference:
    return Inference(emulator, emulator.console_create("conformance")["secret_key"], session)


# -- the spec itself --------------------------------------------------------------------------------
def test_the_spec_is_a_valid_schema_whose_references_all_resolve() -> None:
    Draft202012Validator.check_schema(DOCUMENT)
    for statuses in ENDPOINTS.values():
        for pointer in statuses.values():
            name = pointer.removeprefix("#/$defs/")
            assert name in DOCUMENT["$defs"], pointer
            validator(pointer).is_valid({})  # resolves every $ref it reaches


def test_the_docs_complete_sample_conforms() -> None:
    """The doc's one sample that is a whole answer (the first chat completion) meets the spec."""
    chat = next(e for e in docexamples.examples() if e.id.startswith("curl POST /v1/chat") and e.sample)
    assert chat.sample is not None
    assert problems("#/$defs/chat_completion", json.loads(chat.sample)) == []


@pytest.mark.parametrize(
    ("pointer", "instance"),
    [
        pytest.param("#/$defs/chat_completion", {"object": "chat.completion"}, id="chat-missing-keys"),
        pytest.param(
            "#/$defs/image_generation",
            {"background": "opaque", "created": 1, "data": [], "output_format": "png", "quality": "m"}
            | {"size": "100x100", "usage": {}},
            id="image-bad-size-no-data",
        ),
        pytest.param("#/$defs/async_job", {"status": "COMPLETE"}, id="job-complete-not-a-status"),
        pytest.param("#/$defs/error", {"error": "unauthorized"}, id="error-not-an-object"),
    ],
)
def test_the_spec_refuses_what_the_doc_does_not_show(pointer: str, instance: Any) -> None:
    assert problems(pointer, instance)


# -- successes ----------------------------------------------------------------------------------------
CHAT_BODIES: dict[str, dict[str, Any]] = {
    "plain": {"model": "llama3.3-70b-instruct", "messages": [{"role": "user", "content": "Hi"}]},
    "reasoning-anthropic-format": {
        "model": "anthropic-claude-opus-4.5",
        "messages": [{"role": "user", "content": "What is 27 * 453?"}],
        "max_completion_tokens": 1192,
        "reasoning": {"effort": "high", "max_tokens": 1024},
    },
    "reasoning-openai-format": {
        "model": "anthropic-claude-4.6-sonnet",
        "messages": [{"role": "user", "content": "What is 27 * 453?"}],
        "max_completion_tokens": 8192,
        "reasoning_effort": "high",
    },
    "cache-control": {
        "model": "anthropic-claude-4.6-sonnet",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Cache me.", "cache_control": {"type": "ephemeral", "ttl": "5m"}}
                ],
            }
        ],
    },
    "prompt-cache-retention": {
        "model": "openai-gpt-oss-20b",
        "prompt_cache_retention": "24h",
        "messages": [{"role": "user", "content": "Summarize."}],
    },
    "max-tokens-deprecated": {
        "model": "llama3-8b-instruct",
        "messages": [{"role": "user", "content": "Hi"}],
        "max_tokens": 5,
    },
}


def test_models_list(api: Inference) -> None:
    status, answer = api.call("GET", "/v1/models")
    assert status == 200
    assert {m["id"] for m in answer["data"]} >= {"llama3.3-70b-instruct", "openai-gpt-image-1"}


@pytest.mark.parametrize("name", list(CHAT_BODIES))
def test_chat_completion(api: Inference, name: str) -> None:
    body = CHAT_BODIES[name]
    status, answer = api.call("POST", CHAT, body)
    assert status == 200
    message = answer["choices"][0]["message"]
    assert ("reasoning_content" in message) == name.startswith("reasoning"), message
    caching = name in ("cache-control", "prompt-cache-retention")
    assert ("cache_read_input_tokens" in answer["usage"]) or not caching, answer["usage"]
    if caching:
        _, again = api.call("POST", CHAT, body)
        assert again["usage"]["cache_read_input_tokens"] == answer["usage"]["cache_created_input_tokens"]


@pytest.mark.parametrize("name", ["plain", "reasoning-openai-format"])
def test_chat_completion_stream_chunks(api: Inference, name: str) -> None:
    status, chunks = api.call("POST", CHAT, {**CHAT_BODIES[name], "stream": True})
    assert status == 200 and chunks
    assert (
        chunks[-1]["choices"] == []
        or chunks[-1]["choices"][0]["finish_reason"] is not None
        or any(c["choices"] and c["choices"][0]["finish_reason"] for c in chunks)
    )


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"model": "openai-gpt-oss-20b", "input": "What is the capital of France?"}, id="reasoning"
        ),
        pytest.param(
            {"model": "openai-gpt-oss-20b", "input": "Hi", "max_output_tokens": 50, "temperature": 0.7},
            id="as-documented",
        ),
        pytest.param({"model": "llama3.3-70b-instruct", "input": "Hi"}, id="no-reasoning-model"),
    ],
)
def test_responses(api: Inference, body: dict[str, Any]) -> None:
    status, answer = api.call("POST", RESPONSES, body)
    assert status == 200
    assert answer["output"][-1]["content"][0]["type"] == "output_text"


@pytest.mark.parametrize("size", ["256x256", "512x512", "1024x1024"])
@pytest.mark.parametrize("n", [1, 10])
def test_images(api: Inference, size: str, n: int) -> None:
    body = {"model": "openai-gpt-image-1", "prompt": "An otter", "n": n, "size": size}
    status, answer = api.call("POST", IMAGES, body)
    assert status == 200
    assert (len(answer["data"]), answer["size"]) == (n, size)


FAL: list[dict[str, Any]] = [
    {"model_id": "fal-ai/flux/schnell", "input": {"prompt": "A city"}},
    {"model_id": "fal-ai/fast-sdxl", "input": {"prompt": "A city", "num_images": 1}},
    {"model_id": "fal-ai/stable-audio-25/text-to-audio", "input": {"prompt": "Techno", "seconds_total": 5}},
    {"model_id": "fal-ai/elevenlabs/tts/multilingual-v2", "input": {"text": "Hello."}},
]


@pytest.mark.parametrize("body", [pytest.param(b, id=b["model_id"]) for b in FAL])
def test_async_invoke_job_status_and_result(api: Inference, body: dict[str, Any]) -> None:
    status, job = api.call("POST", ASYNC, body)
    assert status == 200
    params = {"request_id": job["request_id"]}
    deadline = time.monotonic() + 20
    while True:
        status, state = api.call("GET", ASYNC + "/{request_id}/status", params=params)
        assert status == 200
        if state["status"] == "COMPLETED":
            break
        assert time.monotonic() < deadline, state
        time.sleep(0.05)
    status, result = api.call("GET", ASYNC + "/{request_id}", params=params)
    assert status == 200 and result["request_id"] == job["request_id"]


# -- errors, in the documented shape --------------------------------------------------------------------
MINIMAL: dict[str, dict[str, Any]] = {
    CHAT: CHAT_BODIES["plain"],
    RESPONSES: {"model": "openai-gpt-oss-20b", "input": "Hi"},
    IMAGES: {"model": "openai-gpt-image-1", "prompt": "x", "n": 1, "size": "256x256"},
    ASYNC: FAL[0],
}
ROUTES = [("GET", "/v1/models"), *(("POST", p) for p in POSTS)]


@pytest.mark.parametrize("credential", ["none", "api-token", "revoked"])
@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
def test_401_without_a_valid_model_access_key(
    api: Inference, emulator: Emulator, method: str, path: str, credential: str
) -> None:
    secret: str | None
    if credential == "revoked":
        key = emulator.console_create("revoked")
        emulator.store.regenerate(key["uuid"])
        secret = key["secret_key"]
    else:
        secret = None if credential == "none" else "dop_v1_gradient_keys_sandbox"
    status, answer = api.call(method, path, MINIMAL.get(path), secret=secret)
    assert status == 401, answer


@pytest.mark.parametrize("path", POSTS)
def test_malformed_json_is_400(api: Inference, path: str) -> None:
    status, _ = api.call("POST", path, raw=b'{"model": ')
    assert status == 400


@pytest.mark.parametrize("path", POSTS)
def test_unknown_model_is_an_error(api: Inference, path: str) -> None:
    body = dict(MINIMAL[path])
    body["model_id" if path == ASYNC else "model"] = "no-such-model"
    status, _ = api.call("POST", path, body)
    assert status in (400, 404)


@pytest.mark.parametrize(
    "change",
    [{"n": 0}, {"n": 11}, {"n": "2"}, {"size": "100x100"}, {"size": "1024X1024"}],
    ids=["n-0", "n-11", "n-string", "size-100", "size-uppercase-x"],
)
def test_images_bad_n_or_size_is_400(api: Inference, change: dict[str, Any]) -> None:
    status, _ = api.call("POST", IMAGES, {**MINIMAL[IMAGES], **change})
    assert status == 400


def test_unknown_async_job_is_404(api: Inference) -> None:
    for template in (ASYNC + "/{request_id}/status", ASYNC + "/{request_id}"):
        status, _ = api.call("GET", template, params={"request_id": str(uuid.uuid4())})
        assert status == 404
