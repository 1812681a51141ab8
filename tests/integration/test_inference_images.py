"""`POST /v1/images/generations` through the official clients (strict validation) and raw HTTP."""

from __future__ import annotations

import base64
from typing import Any

import gradient
import openai
import pytest
import requests

from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.png_check import png_size

PROMPT = "A cute baby sea otter floating on its back in calm blue water"


@pytest.fixture
def key(emulator: Emulator) -> str:
    return emulator.console_create("image-consumer")["secret_key"]


def _post(emulator: Emulator, key: str, body: Any) -> requests.Response:
    return requests.post(
        f"{emulator.base_url}/v1/images/generations",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        timeout=10,
    )


def test_the_docs_curl_example_answers_the_documented_fields(emulator: Emulator, key: str) -> None:
    body = {"model": "openai-gpt-image-1", "prompt": PROMPT, "n": 1, "size": "1024x1024"}
    answer = _post(emulator, key, body)
    assert answer.status_code == 200
    doc = answer.json()
    assert set(doc) == {"background", "created", "data", "output_format", "quality", "size", "usage"}
    assert (doc["background"], doc["output_format"], doc["quality"], doc["size"]) == (
        "opaque",
        "png",
        "medium",
        "1024x1024",
    )
    assert doc["data"][0]["b64_json"].startswith("iVBORw0KGgo")  # the doc's example begins so
    assert png_size(base64.b64decode(doc["data"][0]["b64_json"])) == (1024, 1024)
    usage = doc["usage"]
    assert usage["input_tokens_details"]["text_tokens"] == usage["input_tokens"] == len(PROMPT.split())
    assert usage["output_tokens"] == 1056
    assert usage["total_tokens"] == usage["input_tokens"] + usage["output_tokens"]
    assert _post(emulator, key, body).json()["data"] == doc["data"], "the same request, the same image"


@pytest.mark.parametrize("size", ["256x256", "512x512", "1024x1024"])
def test_openai_client_gets_real_pngs_of_each_size(emulator: Emulator, key: str, size: str) -> None:
    client = openai.OpenAI(base_url=f"{emulator.base_url}/v1/", api_key=key, _strict_response_validation=True)
    result = client.images.generate(model="openai-gpt-image-1", prompt=PROMPT, size=size, n=3)
    assert result.data is not None and len(result.data) == 3
    side = int(size.split("x", maxsplit=1)[0])
    images = [base64.b64decode(image.b64_json or "") for image in result.data]
    assert all(png_size(image) == (side, side) for image in images)
    assert len(set(images)) == 3, "each image of a request differs"
    assert result.usage is not None and result.usage.output_tokens == 3 * 1056 * side * side // 1024**2


def test_gradient_client_as_the_doc_calls_it(emulator: Emulator, key: str) -> None:
    # The doc writes `client.images.generations.create`; gradient 3.12.2 names it `images.generate`.
    client = gradient.Gradient(
        model_access_key=key, inference_endpoint=emulator.base_url, _strict_response_validation=True
    )
    result = client.images.generate(model="openai-gpt-image-1", prompt=PROMPT, size="512x512", n=10)
    assert len(result.data) == 10
    assert png_size(base64.b64decode(result.data[9].b64_json)) == (512, 512)
    assert result.usage is not None and result.usage.input_tokens_details is not None


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"n": 0}, 400, "invalid_value"),
        ({"n": 11}, 400, "invalid_value"),
        ({"n": "2"}, 400, "invalid_value"),
        ({"size": "1024x1536"}, 400, "invalid_value"),
        ({"size": "auto"}, 400, "invalid_value"),
        ({"prompt": ""}, 400, "invalid_prompt"),
        ({"prompt": None}, 400, "invalid_prompt"),
        ({"model": None}, 400, "missing_model"),
        ({"model": "no-such-model"}, 404, "model_not_found"),
        ({"model": "llama3.3-70b-instruct"}, 400, "model_not_supported"),
        ({"model": "fal-ai/fast-sdxl"}, 400, "model_not_supported"),
        ({"response_format": "url"}, 400, "unsupported_value"),
        ({"stream": True}, 400, "unsupported_value"),
    ],
    ids=str,
)
def test_bad_requests_answer_the_documented_error_shape(
    emulator: Emulator, key: str, body: dict[str, Any], status: int, code: str
) -> None:
    request = {"model": "openai-gpt-image-1", "prompt": PROMPT, "n": 1, "size": "256x256", **body}
    answer = _post(emulator, key, request)
    assert answer.status_code == status
    error = answer.json()["error"]
    assert error["code"] == code and error["type"] == "invalid_request_error" and error["message"]


def test_malformed_json_and_a_non_object_body_are_400(emulator: Emulator, key: str) -> None:
    url = f"{emulator.base_url}/v1/images/generations"
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    assert (
        requests.post(url, data="{nope", headers=headers, timeout=10).json()["error"]["code"]
        == "invalid_json"
    )
    assert _post(emulator, key, [1, 2]).json()["error"]["code"] == "invalid_body"


def test_a_regenerated_key_gets_401_from_both_clients(emulator: Emulator) -> None:
    made = emulator.console_create("soon-revoked")
    regenerated = requests.put(
        f"{emulator.base_url}/v2/gen-ai/models/api_keys/{made['uuid']}/regenerate",
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
        timeout=10,
    )
    assert regenerated.status_code == 200
    client = openai.OpenAI(base_url=f"{emulator.base_url}/v1/", api_key=made["secret_key"], max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        client.images.generate(model="openai-gpt-image-1", prompt=PROMPT, size="256x256", n=1)
    sdk = gradient.Gradient(
        model_access_key=made["secret_key"], inference_endpoint=emulator.base_url, max_retries=0
    )
    with pytest.raises(gradient.AuthenticationError):
        sdk.images.generate(model="openai-gpt-image-1", prompt=PROMPT, size="256x256", n=1)
