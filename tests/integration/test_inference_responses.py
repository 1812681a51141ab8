"""`POST /v1/responses` through the official clients (strict validation where the SDK's types allow
it) and raw HTTP: the doc's example, reasoning, max_output_tokens, prompt caching, store, streaming."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradient
import openai
import pytest
import requests
from openai.types.responses import Response, ResponseInputParam, ResponseOutputMessage, ResponseReasoningItem

from sandbox.server import DEFAULT_TOKEN, Emulator

QUESTION = "What is the capital of France?"
CONVERSATION: ResponseInputParam = [
    {"role": "user", "content": "Hello there"},
    {"role": "assistant", "content": "Hi."},
    {"role": "user", "content": [{"type": "input_text", "text": QUESTION}]},
]


@pytest.fixture
def key(emulator: Emulator) -> str:
    return emulator.console_create("responses-consumer")["secret_key"]


@pytest.fixture
def client(emulator: Emulator, key: str) -> Iterator[openai.OpenAI]:
    with openai.OpenAI(
        base_url=f"{emulator.base_url}/v1/", api_key=key, max_retries=0, _strict_response_validation=True
    ) as made:
        yield made


def _extra(resp: Response, field: str) -> Any:
    # `store` is in the answer but not among the fields of openai's Response type.
    return resp.to_dict()[field]


def _post(emulator: Emulator, key: str, body: Any) -> requests.Response:
    return requests.post(
        f"{emulator.base_url}/v1/responses", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=10
    )


def test_the_docs_openai_example_prints_the_answer(client: openai.OpenAI) -> None:
    resp = client.responses.create(
        model="openai-gpt-oss-20b", input=QUESTION, max_output_tokens=50, temperature=0.7
    )
    reasoning, message = resp.output
    assert isinstance(reasoning, ResponseReasoningItem) and reasoning.content is not None
    assert reasoning.content[0].type == "reasoning_text" and reasoning.content[0].text
    assert isinstance(message, ResponseOutputMessage) and message.content[0].type == "output_text"
    assert message.content[0].text.startswith("Sandbox reply ")  # the doc's output[1].content[0].text
    assert resp.output_text == message.content[0].text
    assert (resp.status, resp.model, resp.max_output_tokens, resp.temperature) == (
        "completed",
        "openai-gpt-oss-20b",
        50,
        0.7,
    )
    usage = resp.usage
    assert usage is not None and usage.input_tokens == len(QUESTION.split())
    assert usage.input_tokens_details.cached_tokens == 0
    assert 0 < usage.output_tokens_details.reasoning_tokens < usage.output_tokens <= 50
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert resp.id.startswith("resp_")


def test_the_docs_gradient_example_as_gradient_3_12_2_reads_it(emulator: Emulator, key: str) -> None:
    # gradient 3.12.2's output union has no `message` item: it reads the documented message item
    # loosely, its content parts staying dicts (so `.content[0].text` fails; `["text"]` works), and
    # its strict validation refuses the documented shape outright.
    lenient = gradient.Gradient(model_access_key=key, inference_endpoint=emulator.base_url, max_retries=0)
    resp = lenient.responses.create(
        model="openai-gpt-oss-20b", input=QUESTION, max_output_tokens=50, temperature=0.7
    )
    assert resp.output is not None and resp.output[1].content[0]["text"].startswith("Sandbox reply ")  # type: ignore[union-attr,index]
    assert resp.output[0].content[0].text  # type: ignore[union-attr]
    assert resp.usage.output_tokens_details.reasoning_tokens > 0
    strict = gradient.Gradient(
        model_access_key=key,
        inference_endpoint=emulator.base_url,
        max_retries=0,
        _strict_response_validation=True,
    )
    with pytest.raises(gradient.APIResponseValidationError):
        strict.responses.create(model="openai-gpt-oss-20b", input=QUESTION)


def test_a_chat_model_answers_with_a_message_only(client: openai.OpenAI) -> None:
    resp = client.responses.create(
        model="llama3.3-70b-instruct", input=QUESTION, reasoning={"effort": "high"}
    )
    assert [item.type for item in resp.output] == ["message"]
    assert resp.usage is not None and resp.usage.output_tokens_details.reasoning_tokens == 0


def test_reasoning_effort_none_turns_reasoning_off_and_more_effort_reasons_more(
    client: openai.OpenAI,
) -> None:
    def reasoning_tokens(**asked: Any) -> int:
        resp = client.responses.create(model="anthropic-claude-opus-4.5", input=QUESTION, **asked)
        assert resp.usage is not None
        return int(resp.usage.output_tokens_details.reasoning_tokens)

    assert reasoning_tokens(reasoning={"effort": "none"}) == 0
    assert reasoning_tokens(extra_body={"reasoning_effort": "none"}) == 0
    assert 0 < reasoning_tokens(reasoning={"effort": "low"}) < reasoning_tokens(reasoning={"effort": "high"})


def test_max_output_tokens_caps_the_answer_and_says_incomplete(client: openai.OpenAI) -> None:
    resp = client.responses.create(model="openai-gpt-oss-20b", input=QUESTION, max_output_tokens=16)
    assert resp.status == "incomplete"
    assert resp.incomplete_details is not None and resp.incomplete_details.reason == "max_output_tokens"
    assert resp.usage is not None and resp.usage.output_tokens == 16
    assert isinstance(resp.output[-1], ResponseOutputMessage) and resp.output[-1].status == "incomplete"


def test_list_input_and_instructions_count_and_are_echoed(client: openai.OpenAI) -> None:
    resp = client.responses.create(
        model="llama3-8b-instruct",
        instructions="Answer briefly.",
        input=CONVERSATION,
    )
    assert resp.instructions == "Answer briefly."
    assert resp.usage is not None and resp.usage.input_tokens == 2 + 2 + 1 + 6
    again = client.responses.create(
        model="llama3-8b-instruct",
        instructions="Answer briefly.",
        input=CONVERSATION,
    )
    assert again.output_text == resp.output_text, "deterministic"
    assert again.id != resp.id


def test_prompt_cache_retention_reads_the_cache_the_second_time(client: openai.OpenAI) -> None:
    def cached() -> int:
        resp = client.responses.create(
            model="openai-gpt-oss-20b", input=QUESTION, prompt_cache_retention="24h"
        )
        assert resp.usage is not None
        return resp.usage.input_tokens_details.cached_tokens

    assert cached() == 0
    assert cached() == len(QUESTION.split())


def test_store_lets_a_later_request_name_the_response(client: openai.OpenAI) -> None:
    stored = client.responses.create(model="llama3-8b-instruct", input=QUESTION)
    assert _extra(stored, "store") is True
    follow = client.responses.create(
        model="llama3-8b-instruct", input="And Spain?", previous_response_id=stored.id
    )
    assert follow.previous_response_id == stored.id
    unstored = client.responses.create(model="llama3-8b-instruct", input=QUESTION, store=False)
    assert _extra(unstored, "store") is False
    with pytest.raises(openai.BadRequestError, match="previous_response_id"):
        client.responses.create(
            model="llama3-8b-instruct", input="And Spain?", previous_response_id=unstored.id
        )


def test_streaming_sends_openai_response_events(client: openai.OpenAI) -> None:
    events = list(client.responses.create(model="openai-gpt-oss-20b", input=QUESTION, stream=True))
    kinds = [event.type for event in events]
    assert kinds[:2] == ["response.created", "response.in_progress"] and kinds[-1] == "response.completed"
    assert [event.sequence_number for event in events] == list(range(len(events)))
    final = events[-1].response  # type: ignore[union-attr]
    text = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    thought = "".join(event.delta for event in events if event.type == "response.reasoning_text.delta")
    reasoning = final.output[0]
    assert isinstance(reasoning, ResponseReasoningItem) and reasoning.content is not None
    assert text == final.output_text and thought == reasoning.content[0].text
    with client.responses.stream(model="llama3-8b-instruct", input=QUESTION) as stream:
        assert stream.get_final_response().output_text.startswith("Sandbox reply ")


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": None}, 400, "missing_model"),
        ({"model": "no-such-model"}, 404, "model_not_found"),
        ({"model": "openai-gpt-image-1"}, 400, "model_not_supported"),
        ({"model": "fal-ai/flux/schnell"}, 400, "model_not_supported"),
        ({"input": None}, 400, "invalid_input"),
        ({"input": ""}, 400, "invalid_input"),
        ({"input": []}, 400, "invalid_input"),
        ({"input": [{"role": "robot", "content": "x"}]}, 400, "invalid_input"),
        ({"input": [{"role": "user", "content": [{"type": "input_text"}]}]}, 400, "invalid_input"),
        ({"max_output_tokens": 0}, 400, "invalid_value"),
        ({"max_output_tokens": True}, 400, "invalid_value"),
        ({"temperature": 3}, 400, "invalid_value"),
        ({"reasoning": {"effort": "extreme"}}, 400, "invalid_value"),
        ({"reasoning": "high"}, 400, "invalid_value"),
        ({"prompt_cache_retention": "forever"}, 400, "invalid_value"),
        ({"stream": "yes"}, 400, "invalid_value"),
        ({"instructions": 7}, 400, "invalid_value"),
        ({"previous_response_id": "resp_unknown"}, 400, "previous_response_not_found"),
    ],
    ids=str,
)
def test_bad_requests_answer_the_documented_error_shape(
    emulator: Emulator, key: str, body: dict[str, Any], status: int, code: str
) -> None:
    answer = _post(emulator, key, {"model": "openai-gpt-oss-20b", "input": QUESTION, **body})
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error" and error["message"]


def test_malformed_json_is_400(emulator: Emulator, key: str) -> None:
    answer = requests.post(
        f"{emulator.base_url}/v1/responses",
        data=b"{not json",
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )
    assert answer.status_code == 400 and answer.json()["error"]["code"] == "invalid_json"


def test_a_deleted_key_gets_401(emulator: Emulator) -> None:
    made = emulator.console_create("soon-deleted")
    deleted = requests.delete(
        f"{emulator.base_url}/v2/gen-ai/models/api_keys/{made['uuid']}",
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
        timeout=10,
    )
    assert deleted.status_code == 200
    client = openai.OpenAI(base_url=f"{emulator.base_url}/v1/", api_key=made["secret_key"], max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.responses.create(model="openai-gpt-oss-20b", input=QUESTION)
    sdk = gradient.Gradient(
        model_access_key=made["secret_key"], inference_endpoint=emulator.base_url, max_retries=0
    )
    with pytest.raises(gradient.AuthenticationError):
        sdk.responses.create(model="openai-gpt-oss-20b", input=QUESTION)
