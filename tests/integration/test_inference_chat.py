"""`POST /v1/chat/completions` through both official clients (openai, gradient) with strict
response validation, and over raw HTTP where the exact JSON matters: every field DigitalOcean's
doc shows, reasoning, prompt caching, token limits, streaming, logprobs and the errors."""

from __future__ import annotations

from typing import Any

import gradient
import openai
import pytest
import requests

from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.inference_clients import SDKS, inference_client, round_trips

QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
ARITHMETIC = [{"role": "user", "content": "What is 27 * 453? Think step by step."}]
REFUSED = (openai.APIStatusError, gradient.APIStatusError)


@pytest.fixture
def secret(emulator: Emulator) -> str:
    return emulator.console_create("consumer")["secret_key"]


@pytest.fixture(params=SDKS)
def client(request: pytest.FixtureRequest, emulator: Emulator, secret: str) -> Any:
    return inference_client(request.param, emulator, secret)


def field(parsed: Any, *path: str) -> Any:
    """A field of a parsed answer, whether the SDK models it (an attribute) or keeps it as an extra
    (a dict): openai has no model for the cache fields, gradient none for the token details."""
    for name in path:
        parsed = parsed[name] if isinstance(parsed, dict) else getattr(parsed, name)
    return parsed


def error_of(raised: Any) -> Any:
    """The `error` object of a refusal: openai's exception holds it, gradient's the whole body."""
    body = raised.body
    return body.get("error", body)


def post(emulator: Emulator, secret: str, body: Any = None, data: str | None = None) -> requests.Response:
    return requests.post(
        f"{emulator.base_url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {secret}", "Content-Type": "application/json"},
        json=body if data is None else None,
        data=data,
        timeout=10,
    )


def test_the_doc_example_answers_every_documented_field(client: Any) -> None:
    reply = client.chat.completions.create(
        model="llama3.3-70b-instruct", messages=QUESTION, temperature=0.7, max_completion_tokens=256
    )
    assert round_trips(reply)
    choice = reply.choices[0]
    assert (choice.finish_reason, choice.index, choice.logprobs) == ("stop", 0, None)
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.message.refusal is None and choice.message.audio is None
    assert reply.object == "chat.completion" and reply.model == "llama3.3-70b-instruct"
    assert reply.service_tier is None and reply.system_fingerprint.startswith("fp_")
    usage = reply.usage
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.cache_read_input_tokens == usage.cache_created_input_tokens == 0
    assert field(usage, "prompt_tokens_details", "cached_tokens") == 0
    assert field(usage, "completion_tokens_details", "reasoning_tokens") == 0


def test_the_json_has_the_documented_keys(emulator: Emulator, secret: str) -> None:
    body = post(emulator, secret, {"model": "llama3.3-70b-instruct", "messages": QUESTION}).json()
    assert set(body) == {
        "id",
        "object",
        "created",
        "model",
        "choices",
        "service_tier",
        "system_fingerprint",
        "usage",
    }
    assert set(body["choices"][0]) == {"finish_reason", "index", "logprobs", "message"}
    assert body["choices"][0]["message"].keys() == {"role", "content", "refusal", "audio"}
    usage = body["usage"]
    assert usage["prompt_tokens_details"]["cached_tokens"] == 0
    assert usage["completion_tokens_details"]["reasoning_tokens"] == 0
    assert usage["cache_creation"] == {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 0}


def test_the_same_request_gets_the_same_reply(emulator: Emulator, secret: str) -> None:
    body = {"model": "llama3-8b-instruct", "messages": QUESTION}
    first, second = post(emulator, secret, body).json(), post(emulator, secret, body).json()
    assert first["id"] == second["id"] and first["choices"] == second["choices"]
    other = post(emulator, secret, {**body, "messages": ARITHMETIC}).json()
    assert other["choices"][0]["message"]["content"] != first["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("anthropic-claude-opus-4.5", {"extra_body": {"reasoning": {"effort": "high", "max_tokens": 1024}}}),
        ("anthropic-claude-4.6-sonnet", {"reasoning_effort": "high"}),
        ("openai-gpt-oss-20b", {"reasoning_effort": "low"}),
    ],
    ids=["anthropic-form", "openai-form", "gpt-oss"],
)
def test_a_reasoning_model_asked_to_reason_shows_its_reasoning(client: Any, model: str, extra: Any) -> None:
    reply = client.chat.completions.create(
        model=model, messages=ARITHMETIC, max_completion_tokens=1192, **extra
    )
    assert round_trips(reply)
    message = reply.choices[0].message
    assert message.reasoning_content and message.content and message.refusal is None
    reasoning_tokens = field(reply.usage, "completion_tokens_details", "reasoning_tokens")
    assert reasoning_tokens == len(message.reasoning_content.split()) > 0
    assert reply.usage.completion_tokens == reasoning_tokens + len(message.content.split())


@pytest.mark.parametrize(
    ("model", "body"),
    [
        ("llama3.3-70b-instruct", {"reasoning_effort": "high"}),  # not a reasoning model
        ("anthropic-claude-opus-4.5", {}),  # not asked
        ("anthropic-claude-opus-4.5", {"reasoning": {"effort": "none"}}),
    ],
    ids=["chat-model", "not-asked", "effort-none"],
)
def test_no_reasoning_unless_a_reasoning_model_is_asked(
    emulator: Emulator, secret: str, model: str, body: dict[str, Any]
) -> None:
    answer = post(emulator, secret, {"model": model, "messages": ARITHMETIC, **body}).json()
    assert "reasoning_content" not in answer["choices"][0]["message"]
    assert answer["usage"]["completion_tokens_details"]["reasoning_tokens"] == 0


@pytest.mark.parametrize(("effort", "share"), [("low", 0.2), ("medium", 0.5), ("max", 0.95)])
def test_the_reasoning_budget_is_the_documented_share(
    emulator: Emulator, secret: str, effort: str, share: float
) -> None:
    body = {"model": "anthropic-claude-opus-4.5", "messages": ARITHMETIC, "max_completion_tokens": 20}
    answer = post(emulator, secret, {**body, "reasoning": {"effort": effort}}).json()
    usage = answer["usage"]
    assert 0 < usage["completion_tokens_details"]["reasoning_tokens"] <= int(share * 20)
    assert usage["completion_tokens"] <= 20


def test_anthropic_prompt_caching_writes_then_reads(client: Any) -> None:
    cached = "You are a careful assistant. " * 50
    messages = [
        {
            "role": "system",
            "content": {"type": "text", "text": cached, "cache_control": {"type": "ephemeral", "ttl": "1h"}},
        },
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Hello", "cache_control": {"type": "ephemeral"}},
                {"type": "text", "text": "not cached"},
            ],
        },
    ]
    first = client.chat.completions.create(model="anthropic-claude-3.5-haiku", messages=messages)
    second = client.chat.completions.create(model="anthropic-claude-3.5-haiku", messages=messages)
    assert round_trips(first) and round_trips(second)
    one_hour, five_minutes = len(cached.split()), 1
    assert first.usage.cache_created_input_tokens == one_hour + five_minutes
    assert field(first.usage, "cache_creation", "ephemeral_1h_input_tokens") == one_hour
    assert field(first.usage, "cache_creation", "ephemeral_5m_input_tokens") == five_minutes
    assert first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == one_hour + five_minutes
    assert second.usage.cache_created_input_tokens == 0
    assert field(second.usage, "prompt_tokens_details", "cached_tokens") == one_hour + five_minutes
    assert second.usage.prompt_tokens == first.usage.prompt_tokens


@pytest.mark.parametrize(
    ("retention", "bucket"),
    [("24h", "ephemeral_1h_input_tokens"), ("in_memory", "ephemeral_5m_input_tokens")],
)
def test_openai_prompt_caching_reads_on_the_second_request(
    emulator: Emulator, secret: str, retention: str, bucket: str
) -> None:
    body = {"model": "gpt-4o-mini", "prompt_cache_retention": retention, "messages": QUESTION}
    first, second = post(emulator, secret, body).json()["usage"], post(emulator, secret, body).json()["usage"]
    prompt = first["prompt_tokens"]
    assert first["cache_created_input_tokens"] == first["cache_creation"][bucket] == prompt
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert second["cache_read_input_tokens"] == second["prompt_tokens_details"]["cached_tokens"] == prompt
    assert second["cache_created_input_tokens"] == 0
    emulator.reset()  # the cache is the emulator's: a reset forgets it
    fresh = emulator.console_create("again")["secret_key"]
    assert post(emulator, fresh, body).json()["usage"]["cache_read_input_tokens"] == 0


@pytest.mark.parametrize("field", ["max_completion_tokens", "max_tokens"])
def test_the_token_limit_truncates_the_reply(client: Any, field: str) -> None:
    whole = client.chat.completions.create(model="llama3.3-70b-instruct", messages=QUESTION)
    cut = client.chat.completions.create(model="llama3.3-70b-instruct", messages=QUESTION, **{field: 3})
    assert round_trips(cut)
    assert cut.choices[0].finish_reason == "length" and cut.usage.completion_tokens == 3
    assert cut.choices[0].message.content == " ".join(whole.choices[0].message.content.split()[:3])
    assert whole.choices[0].finish_reason == "stop"


def test_streaming_sends_the_same_reply_in_chunks(client: Any) -> None:
    whole = client.chat.completions.create(
        model="openai-gpt-oss-20b", messages=ARITHMETIC, reasoning_effort="medium"
    )
    stream = client.chat.completions.create(
        model="openai-gpt-oss-20b",
        messages=ARITHMETIC,
        reasoning_effort="medium",
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert all(round_trips(chunk) and chunk.object == "chat.completion.chunk" for chunk in chunks)
    assert len({chunk.id for chunk in chunks}) == 1
    deltas = [chunk.choices[0] for chunk in chunks if chunk.choices]
    assert deltas[0].delta.role == "assistant"
    assert "".join(d.delta.content or "" for d in deltas) == whole.choices[0].message.content
    thinking = "".join(getattr(d.delta, "reasoning_content", None) or "" for d in deltas)
    assert thinking == whole.choices[0].message.reasoning_content
    assert [d.finish_reason for d in deltas].count("stop") == 1 and deltas[-1].finish_reason == "stop"
    assert all(chunk.usage is None for chunk in chunks[:-1])
    assert not chunks[-1].choices and chunks[-1].usage.total_tokens == whole.usage.total_tokens


def test_streaming_without_usage_has_no_usage_chunk(client: Any) -> None:
    stream = client.chat.completions.create(
        model="llama3.3-70b-instruct", messages=QUESTION, stream=True, max_completion_tokens=2
    )
    chunks = list(stream)
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)
    assert chunks[-1].choices[0].finish_reason == "length"


def test_logprobs_when_asked(client: Any) -> None:
    reply = client.chat.completions.create(
        model="llama3.3-70b-instruct", messages=QUESTION, logprobs=True, top_logprobs=2
    )
    assert round_trips(reply)
    entries = reply.choices[0].logprobs.content
    assert "".join(entry.token for entry in entries) == reply.choices[0].message.content
    assert all(len(entry.top_logprobs) == 2 and entry.logprob <= 0 for entry in entries)
    assert all(entry.top_logprobs[0].token == entry.token for entry in entries)


@pytest.mark.parametrize("sdk", SDKS)
def test_an_unknown_model_is_404_model_not_found(emulator: Emulator, secret: str, sdk: str) -> None:
    client = inference_client(sdk, emulator, secret)
    with pytest.raises(REFUSED) as raised:
        client.chat.completions.create(model="no-such-model", messages=QUESTION)
    assert isinstance(raised.value, REFUSED) and raised.value.status_code == 404
    assert error_of(raised.value)["code"] == "model_not_found"


@pytest.mark.parametrize("model", ["openai-gpt-image-1", "fal-ai/fast-sdxl"])
def test_a_model_of_another_kind_is_refused(emulator: Emulator, secret: str, model: str) -> None:
    reply = post(emulator, secret, {"model": model, "messages": QUESTION})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "model_not_supported"


@pytest.mark.parametrize(
    ("body", "data"),
    [
        (None, "{not json"),
        (["a list"], None),
        ({"messages": QUESTION}, None),
        ({"model": 7, "messages": QUESTION}, None),
        ({"model": "llama3.3-70b-instruct"}, None),
        ({"model": "llama3.3-70b-instruct", "messages": [{"role": "robot", "content": "hi"}]}, None),
        ({"model": "llama3.3-70b-instruct", "messages": [{"role": "user", "content": 5}]}, None),
        ({"model": "llama3.3-70b-instruct", "messages": [{"role": "tool", "content": "x"}]}, None),
        ({"model": "llama3.3-70b-instruct", "messages": QUESTION, "temperature": "hot"}, None),
        ({"model": "llama3.3-70b-instruct", "messages": QUESTION, "temperature": 3}, None),
        ({"model": "llama3.3-70b-instruct", "messages": QUESTION, "max_completion_tokens": 0}, None),
        ({"model": "llama3.3-70b-instruct", "messages": QUESTION, "max_tokens": True}, None),
        ({"model": "llama3.3-70b-instruct", "messages": QUESTION, "stream": "yes"}, None),
        ({"model": "llama3.3-70b-instruct", "messages": QUESTION, "stream_options": {}}, None),
        ({"model": "llama3.3-70b-instruct", "messages": QUESTION, "top_logprobs": 2}, None),
        ({"model": "llama3.3-70b-instruct", "messages": QUESTION, "n": 0}, None),
        ({"model": "llama3.3-70b-instruct", "messages": QUESTION, "stop": [1]}, None),
        ({"model": "anthropic-claude-opus-4.5", "messages": QUESTION, "reasoning_effort": "extreme"}, None),
        ({"model": "anthropic-claude-opus-4.5", "messages": QUESTION, "reasoning": "high"}, None),
        ({"model": "gpt-4o-mini", "messages": QUESTION, "prompt_cache_retention": "1w"}, None),
        (
            {
                "model": "anthropic-claude-3.5-haiku",
                "messages": [
                    {
                        "role": "user",
                        "content": {
                            "type": "text",
                            "text": "x",
                            "cache_control": {"type": "ephemeral", "ttl": "2h"},
                        },
                    }
                ],
            },
            None,
        ),
    ],
    ids=[
        "malformed-json",
        "not-an-object",
        "no-model",
        "model-not-a-string",
        "no-messages",
        "unknown-role",
        "content-not-text",
        "tool-without-id",
        "temperature-type",
        "temperature-range",
        "zero-limit",
        "bool-limit",
        "stream-type",
        "stream-options-without-stream",
        "top-logprobs-alone",
        "zero-choices",
        "stop-type",
        "unknown-effort",
        "reasoning-not-object",
        "unknown-retention",
        "unknown-ttl",
    ],
)
def test_bad_input_is_a_400_in_the_documented_shape(
    emulator: Emulator, secret: str, body: Any, data: str | None
) -> None:
    reply = post(emulator, secret, body, data)
    assert reply.status_code == 400, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    error = reply.json()["error"]
    assert error.keys() == {"message", "type", "code"} and error["type"] == "invalid_request_error"
    assert "Traceback" not in reply.text


@pytest.mark.parametrize("sdk", SDKS)
@pytest.mark.parametrize("how", ["regenerated", "deleted", "api-token"])
def test_a_dead_key_is_refused_with_401(emulator: Emulator, sdk: str, how: str) -> None:
    key = emulator.console_create("rotated")
    api = f"{emulator.base_url}/v2/gen-ai/models/api_keys/{key['uuid']}"
    auth = {"Authorization": f"Bearer {DEFAULT_TOKEN}"}
    new_secret = None
    if how == "regenerated":
        answer = requests.put(f"{api}/regenerate", headers=auth, timeout=10)
        new_secret = answer.json()["api_key_info"]["secret_key"]
    elif how == "deleted":
        assert requests.delete(api, headers=auth, timeout=10).status_code == 200
    dead = DEFAULT_TOKEN if how == "api-token" else key["secret_key"]
    with pytest.raises(REFUSED) as raised:
        inference_client(sdk, emulator, dead).chat.completions.create(
            model="llama3.3-70b-instruct", messages=QUESTION
        )
    assert isinstance(raised.value, REFUSED) and raised.value.status_code == 401
    assert error_of(raised.value) == {
        "message": "invalid or revoked model access key",
        "type": "authentication_error",
        "code": "invalid_api_key",
    }
    if new_secret is not None:
        fresh = inference_client(sdk, emulator, new_secret)
        assert fresh.chat.completions.create(model="llama3.3-70b-instruct", messages=QUESTION).choices
