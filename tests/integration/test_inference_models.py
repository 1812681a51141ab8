"""The model catalogue, as both listings serve it: `GET /v1/models` (inference, a model access key;
the openai client) and the control plane's `GET /v2/gen-ai/models` (an API token; the gradient
client's `models.list`), with strict response validation."""

from __future__ import annotations

import re
from pathlib import Path

import gradient
import pytest
import requests

from sandbox.inference.catalogue import CATALOGUE
from sandbox.server import DEFAULT_TOKEN, Emulator
from tests.conftest import READ_ONLY_TOKEN
from tests.inference_clients import control_plane, inference_client, round_trips

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "spec" / "do-docs" / "serverless-inference.txt"  # the repository's copy of the doc
# Every model id DigitalOcean's serverless-inference doc sends or shows.
DOC_MODEL_IDS = {
    "alibaba-qwen3-32b",
    "anthropic-claude-3.5-haiku",
    "llama3.3-70b-instruct",
    "llama3-8b-instruct",
    "anthropic-claude-opus-4.5",
    "anthropic-claude-4.6-sonnet",
    "openai-gpt-oss-20b",
    "gpt-4o-mini",
    "openai-gpt-image-1",
    "fal-ai/flux/schnell",
    "fal-ai/fast-sdxl",
    "fal-ai/stable-audio-25/text-to-audio",
    "fal-ai/elevenlabs/tts/multilingual-v2",
}
CATALOGUE_IDS = [model.id for model in CATALOGUE]


@pytest.fixture
def secret(emulator: Emulator) -> str:
    return emulator.console_create("consumer")["secret_key"]


def test_the_doc_names_no_model_the_catalogue_lacks() -> None:
    named = set(re.findall(r'"(?:model|model_id|id)":\s*"([^"]+)"|model="([^"]+)"', DOC.read_text()))
    in_doc = {a or b for a, b in named} - {"", "chatcmpl-xyz789"}  # less a response's `id`
    assert in_doc <= set(CATALOGUE_IDS)
    assert in_doc == DOC_MODEL_IDS


def test_v1_models_lists_the_catalogue_through_openai(emulator: Emulator, secret: str) -> None:
    listing = inference_client("openai", emulator, secret).models.list()
    models = list(listing)
    assert [m.id for m in models] == CATALOGUE_IDS
    assert DOC_MODEL_IDS | {"mistral-nemo-instruct-2407"} <= set(CATALOGUE_IDS)
    assert all(round_trips(m) and m.object == "model" for m in models)
    by_id = {m.id: m for m in models}  # the doc's sample entries, as shown
    assert (by_id["alibaba-qwen3-32b"].created, by_id["alibaba-qwen3-32b"].owned_by) == (
        1752255238,
        "digitalocean",
    )
    haiku = by_id["anthropic-claude-3.5-haiku"]
    assert (haiku.created, haiku.owned_by) == (1737056613, "anthropic")


def test_v1_models_json_has_the_documented_shape(emulator: Emulator, secret: str) -> None:
    reply = requests.get(
        f"{emulator.base_url}/v1/models", headers={"Authorization": f"Bearer {secret}"}, timeout=10
    )
    body = reply.json()
    assert reply.status_code == 200 and body["object"] == "list"
    assert all(entry.keys() == {"created", "id", "object", "owned_by"} for entry in body["data"])


def test_the_control_plane_lists_the_catalogue_through_gradient(emulator: Emulator) -> None:
    listing = control_plane(emulator).models.list(per_page=200)
    assert round_trips(listing)
    assert [m.id for m in listing.models or []] == CATALOGUE_IDS
    assert listing.meta is not None and (listing.meta.page, listing.meta.pages) == (1, 1)
    assert listing.meta.total == len(CATALOGUE_IDS)
    opus = next(m for m in listing.models or [] if m.id == "anthropic-claude-opus-4.5")
    assert opus.uuid and opus.name == "Claude Opus 4.5" and opus.created_at is not None
    assert opus.is_foundational and opus.upload_complete and opus.version is not None
    extra = opus.model_extra or {}
    assert extra["provider"] == "MODEL_PROVIDER_ANTHROPIC" and "MODEL_USECASE_REASONING" in extra["usecases"]
    assert extra["reasoning_efforts"] == ["none", "low", "medium", "high", "max"]


def test_the_control_plane_pages_with_links_and_meta(emulator: Emulator) -> None:
    client = control_plane(emulator)
    first = client.models.list(per_page=5)
    assert first.meta is not None and (first.meta.page, first.meta.pages) == (1, 3)
    assert first.links is not None and first.links.pages is not None
    assert first.links.pages.first is None and first.links.pages.previous is None
    seen = [m.id for m in first.models or []]
    next_url = first.links.pages.next
    while next_url:
        page = requests.get(next_url, headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"}, timeout=10).json()
        seen += [m["id"] for m in page["models"]]
        next_url = page["links"]["pages"].get("next")
    assert seen == CATALOGUE_IDS
    last = client.models.list(per_page=5, page=3)
    assert last.links is not None and last.links.pages is not None and last.links.pages.next is None


@pytest.mark.parametrize(
    ("usecases", "expected"),
    [
        (["MODEL_USECASE_REASONING"], [m.id for m in CATALOGUE if m.kind == "reasoning"]),
        (["MODEL_USECASE_AGENT"], [m.id for m in CATALOGUE if m.kind in ("chat", "reasoning")]),
        (["MODEL_USECASE_SERVERLESS"], CATALOGUE_IDS),
        (["MODEL_USECASE_KNOWLEDGEBASE"], []),
    ],
    ids=["reasoning", "agent", "serverless", "knowledgebase"],
)
def test_the_control_plane_filters_by_usecase(
    emulator: Emulator, usecases: list[str], expected: list[str]
) -> None:
    listing = control_plane(emulator).models.list(usecases=usecases, per_page=200)  # type: ignore[arg-type]
    assert [m.id for m in listing.models or []] == expected


@pytest.mark.parametrize(
    "query", ["usecases=MODEL_USECASE_NOPE", "public_only=maybe", "per_page=0", "page=x"], ids=str
)
def test_bad_query_parameters_are_400(emulator: Emulator, query: str) -> None:
    reply = requests.get(
        f"{emulator.base_url}/v2/gen-ai/models?{query}",
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
        timeout=10,
    )
    assert reply.status_code == 400
    assert reply.json().keys() == {"id", "message", "request_id"} and reply.json()["id"] == "bad_request"


def test_the_control_plane_wants_an_api_token(emulator: Emulator, secret: str) -> None:
    with pytest.raises(gradient.AuthenticationError) as raised:
        control_plane(emulator, token=secret).models.list()  # a model access key is not an API token
    assert raised.value.status_code == 401 and raised.value.body["id"] == "unauthorized"  # type: ignore[index]
    assert control_plane(emulator, token=READ_ONLY_TOKEN).models.list().models  # genai:read suffices
    reply = requests.post(
        f"{emulator.base_url}/v2/gen-ai/models",
        headers={"Authorization": f"Bearer {DEFAULT_TOKEN}"},
        timeout=10,
    )
    assert reply.status_code == 405
    assert {"ratelimit-limit", "ratelimit-remaining", "ratelimit-reset"} <= set(reply.headers)


def test_faults_can_target_the_model_listing(emulator: Emulator) -> None:
    emulator.inject(operation="list_models", kind="error", status=503)
    with pytest.raises(gradient.APIStatusError) as raised:
        control_plane(emulator).models.list()
    assert raised.value.status_code == 503
    assert control_plane(emulator).models.list().models
    assert emulator.stats.view()["requests"]["list_models"] == {"503": 1, "200": 1}
