"""The control plane's model listing, `GET /v2/gen-ai/models` (the gradient SDK's
`client.models.list()`): the sandbox's model catalogue as `apiModel` objects (gen-ai
definitions.yml), filtered by `usecases` and `public_only` as the API documents them.

The server pages the result and checks the API token; this module says which models match the
query and how each one reads.
"""

from __future__ import annotations

import uuid as uuidlib
from datetime import UTC, datetime
from typing import Any

from sandbox.inference.catalogue import CATALOGUE, Model

__all__ = ["MODELS_PATH", "USECASES", "FilterError", "api_model", "select_models"]

MODELS_PATH = "/v2/gen-ai/models"

# apiModelUsecase, in the spec's order.
USECASES = (
    "MODEL_USECASE_UNKNOWN",
    "MODEL_USECASE_AGENT",
    "MODEL_USECASE_FINETUNED",
    "MODEL_USECASE_KNOWLEDGEBASE",
    "MODEL_USECASE_GUARDRAIL",
    "MODEL_USECASE_REASONING",
    "MODEL_USECASE_SERVERLESS",
    "MODEL_USECASE_EVALUATION_JUDGE",
    "MODEL_USECASE_CODING",
    "MODEL_USECASE_AUDIO",
    "MODEL_USECASE_RERANKING",
    "MODEL_USECASE_TEXT",
)
_TEXT = ("MODEL_USECASE_AGENT", "MODEL_USECASE_SERVERLESS", "MODEL_USECASE_TEXT")
_NAMESPACE = uuidlib.UUID("6f1c1a52-3c1d-4d6e-9a39-5b0f2b1d7e10")  # the sandbox's model uuids


class FilterError(ValueError):
    """A query parameter of the listing has a value the API does not take."""


def _usecases(model: Model) -> tuple[str, ...]:
    if model.kind == "chat":
        return _TEXT
    if model.kind == "reasoning":
        return (*_TEXT, "MODEL_USECASE_REASONING")
    if model.fal_output in ("audio", "speech"):
        return ("MODEL_USECASE_SERVERLESS", "MODEL_USECASE_AUDIO")
    return ("MODEL_USECASE_SERVERLESS",)


def _type(model: Model) -> str:
    if model.kind == "fal":
        return "image" if model.fal_output == "image" else "audio"
    return model.kind


def _capabilities(model: Model) -> list[str]:
    if model.kind in ("chat", "reasoning"):
        return ["streaming", "tool_calling"] + (["reasoning"] if model.kind == "reasoning" else [])
    return ["image_generation"] if _type(model) == "image" else ["audio_generation"]


def api_model(model: Model) -> dict[str, Any]:
    created = datetime.fromtimestamp(model.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "id": model.id,
        "uuid": str(uuidlib.uuid5(_NAMESPACE, model.id)),
        "name": model.name,
        "inference_name": model.id,
        "type": _type(model),
        "provider": model.provider,
        "usecases": list(_usecases(model)),
        "capabilities": _capabilities(model),
        "reasoning_efforts": list(model.reasoning_efforts),
        "is_foundational": True,
        "upload_complete": True,
        "lifecycle_status": "active",
        "version": {"major": 1, "minor": 0, "patch": 0},
        "created_at": created,
        "updated_at": created,
    }


def _flag(values: list[str], name: str) -> bool:
    raw = values[-1].lower() if values else "false"
    if raw not in ("true", "false", "1", "0"):
        raise FilterError(f"{name} must be true or false, got {values[-1][:20]!r}")
    return raw in ("true", "1")


def select_models(query: dict[str, list[str]]) -> list[Model]:
    """The catalogue's models that match `usecases` (any of them; comma-separated or repeated, as
    the gradient SDK sends them) and `public_only` (every sandbox model is public)."""
    _flag(query.get("public_only", []), "public_only")
    wanted = {usecase for value in query.get("usecases", []) for usecase in value.split(",") if usecase}
    unknown = wanted - set(USECASES)
    if unknown:
        raise FilterError(f"usecases must be among {', '.join(USECASES)}; got {sorted(unknown)[0][:40]!r}")
    return [model for model in CATALOGUE if not wanted or wanted & set(_usecases(model))]
