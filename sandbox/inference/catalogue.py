"""The models the sandbox serves: every model id DigitalOcean's serverless-inference doc uses, each
with its kind, which says which endpoints take it and what they answer.

- `chat`: `/v1/chat/completions` and `/v1/responses`;
- `reasoning`: the same, and they think out loud (`reasoning_content`, `reasoning_text`) when asked;
- `image`: `/v1/images/generations`;
- `fal`: `/v1/async-invoke` (`model_id`), producing an image, audio or speech (`output`).

`GET /v1/models` lists them in OpenAI's shape (`models_listing`); the control plane's
`GET /v2/gen-ai/models` lists them in DigitalOcean's (`sandbox.gen_ai_models`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sandbox.inference.errors import InferenceError

__all__ = [
    "CATALOGUE",
    "ENDPOINT_KINDS",
    "Model",
    "ModelKind",
    "find_model",
    "models_listing",
    "require_model",
]

ModelKind = Literal["chat", "reasoning", "image", "fal"]
FalOutput = Literal["image", "audio", "speech"]

# Which kinds of model each endpoint takes.
ENDPOINT_KINDS: dict[str, frozenset[ModelKind]] = {
    "/v1/chat/completions": frozenset({"chat", "reasoning"}),
    "/v1/responses": frozenset({"chat", "reasoning"}),
    "/v1/images/generations": frozenset({"image"}),
    "/v1/async-invoke": frozenset({"fal"}),
}

# The efforts DigitalOcean documents for `reasoning_effort` and `reasoning.effort`.
REASONING_EFFORTS = ("none", "low", "medium", "high", "max")


@dataclass(frozen=True)
class Model:
    id: str
    kind: ModelKind
    name: str  # the display name the control plane shows
    owned_by: str  # `owned_by` in /v1/models
    created: int  # epoch seconds, `created` in /v1/models
    fal_output: FalOutput | None = None  # what a fal model's job produces

    @property
    def provider(self) -> str:
        """The control plane's `apiModelProvider`."""
        return {
            "anthropic": "MODEL_PROVIDER_ANTHROPIC",
            "openai": "MODEL_PROVIDER_OPENAI",
        }.get(self.owned_by, "MODEL_PROVIDER_DIGITALOCEAN")

    @property
    def reasoning_efforts(self) -> tuple[str, ...]:
        return REASONING_EFFORTS if self.kind == "reasoning" else ()


def _chat(model_id: str, name: str, owned_by: str, created: int) -> Model:
    return Model(model_id, "chat", name, owned_by, created)


def _reasoning(model_id: str, name: str, owned_by: str, created: int) -> Model:
    return Model(model_id, "reasoning", name, owned_by, created)


def _fal(model_id: str, name: str, output: FalOutput) -> Model:
    return Model(model_id, "fal", name, "fal", 1768780800, output)


# The `created` values of alibaba-qwen3-32b and anthropic-claude-3.5-haiku are the doc's; the
# others are the sandbox's choice (stable, so listings are deterministic).
CATALOGUE: tuple[Model, ...] = (
    _chat("alibaba-qwen3-32b", "Qwen3 32B", "digitalocean", 1752255238),
    _chat("anthropic-claude-3.5-haiku", "Claude 3.5 Haiku", "anthropic", 1737056613),
    _reasoning("anthropic-claude-opus-4.5", "Claude Opus 4.5", "anthropic", 1764028800),
    _reasoning("anthropic-claude-4.6-sonnet", "Claude Sonnet 4.6", "anthropic", 1771286400),
    _chat("gpt-4o-mini", "GPT-4o mini", "openai", 1721260800),
    _chat("llama3-8b-instruct", "Llama 3 8B Instruct", "digitalocean", 1735689600),
    _chat("llama3.3-70b-instruct", "Llama 3.3 70B Instruct", "digitalocean", 1735689600),
    _chat("mistral-nemo-instruct-2407", "Mistral NeMo Instruct", "digitalocean", 1735689600),
    _reasoning("openai-gpt-oss-20b", "gpt-oss-20b", "openai", 1754438400),
    Model("openai-gpt-image-1", "image", "GPT Image 1", "openai", 1745884800),
    _fal("fal-ai/elevenlabs/tts/multilingual-v2", "ElevenLabs Multilingual TTS v2", "speech"),
    _fal("fal-ai/fast-sdxl", "Fast SDXL", "image"),
    _fal("fal-ai/flux/schnell", "FLUX.1 [schnell]", "image"),
    _fal("fal-ai/stable-audio-25/text-to-audio", "Stable Audio 2.5", "audio"),
)

_BY_ID = {model.id: model for model in CATALOGUE}


def find_model(model_id: str) -> Model | None:
    return _BY_ID.get(model_id)


def require_model(model_id: Any, endpoint: str, field: str = "model") -> Model:
    """The model a request names, checked against the endpoint: 400 when `field` is missing or not
    a string, 404 `model_not_found` when no such model exists, 400 `model_not_supported` when the
    model is of a kind the endpoint does not serve (an image model sent to chat completions)."""
    if not isinstance(model_id, str) or not model_id:
        raise InferenceError(
            400, f"{field} is required and must be a string", "invalid_request_error", f"missing_{field}"
        )
    model = _BY_ID.get(model_id)
    if model is None:
        raise InferenceError(
            404,
            f"The model `{model_id}` does not exist or you do not have access to it.",
            "invalid_request_error",
            "model_not_found",
        )
    if model.kind not in ENDPOINT_KINDS[endpoint]:
        raise InferenceError(
            400,
            f"The model `{model_id}` is a {model.kind} model and is not supported by {endpoint}.",
            "invalid_request_error",
            "model_not_supported",
        )
    return model


def models_listing() -> dict[str, Any]:
    """`GET /v1/models`: OpenAI's list shape, as the doc shows it."""
    return {
        "object": "list",
        "data": [
            {"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by} for m in CATALOGUE
        ],
    }
