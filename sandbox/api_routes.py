"""Which DigitalOcean API operation a request names: model access keys, agents, and agent API keys.

Model keys and agent keys are one API shape on two collections (`apiModelAPIKeyInfo` and
`apiAgentAPIKeyInfo` have the same fields), so one route table serves both: an agent key's
operation is the model key's, named with an `agent_` prefix (faults and statistics tell them apart)
and carrying the agent's uuid. Creating an agent key is live; creating a model key was retired.

    GET    /v2/gen-ai/models                                           list_models
    GET    /v2/gen-ai/models/api_keys                                  list
    POST   /v2/gen-ai/models/api_keys                                  create
    PUT    /v2/gen-ai/models/api_keys/{uuid}                           rename
    PUT    /v2/gen-ai/models/api_keys/{uuid}/regenerate                regenerate
    DELETE /v2/gen-ai/models/api_keys/{uuid}                           delete
    GET    /v2/gen-ai/agents                                           list_agents
    GET    /v2/gen-ai/agents/{agent}/api_keys                          agent_list
    POST   /v2/gen-ai/agents/{agent}/api_keys                          agent_create
    PUT    /v2/gen-ai/agents/{agent}/api_keys/{uuid}                   agent_rename
    PUT    /v2/gen-ai/agents/{agent}/api_keys/{uuid}/regenerate        agent_regenerate
    DELETE /v2/gen-ai/agents/{agent}/api_keys/{uuid}                   agent_delete
"""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.gen_ai_models import MODELS_PATH
from sandbox.store import MODEL_KEYS

__all__ = [
    "AGENTS_PATH",
    "API_PREFIX",
    "WRITE_ACTIONS",
    "ApiTarget",
    "RouteError",
    "is_api",
    "route_api",
    "scope_of",
]

API_PREFIX = "/v2/gen-ai/models/api_keys"
AGENTS_PATH = "/v2/gen-ai/agents"
AGENT_PREFIX = "agent_"
WRITE_ACTIONS = frozenset({"create", "rename", "regenerate", "delete"})
_KEY_ROUTES = {
    0: {"GET": "list", "POST": "create"},  # the collection
    1: {"PUT": "rename", "DELETE": "delete"},  # one key
}


class RouteError(Exception):
    """No operation: 404 (no such path) or 405 (the path, not with this method)."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class ApiTarget:
    operation: str  # as faults and statistics name it
    collection: str = ""  # the key collection's path (its listing's links), "" when not about keys
    agent_uuid: str = MODEL_KEYS  # the agent whose keys these are; MODEL_KEYS for model access keys
    key_uuid: str | None = None

    @property
    def action(self) -> str:
        """What is done, whichever collection: list, create, rename, regenerate, delete, ..."""
        return self.operation.removeprefix(AGENT_PREFIX)

    @property
    def writes(self) -> bool:
        return self.action in WRITE_ACTIONS


def is_api(path: str) -> bool:
    return path in (API_PREFIX, MODELS_PATH, AGENTS_PATH) or path.startswith(
        (API_PREFIX + "/", AGENTS_PATH + "/")
    )


def route_api(method: str, path: str) -> ApiTarget:
    """The operation `method path` names (`path` without a trailing slash); RouteError if none."""
    if path in (MODELS_PATH, AGENTS_PATH):
        if method != "GET":
            raise RouteError(405)
        return ApiTarget("list_models" if path == MODELS_PATH else "list_agents")
    if path == API_PREFIX or path.startswith(API_PREFIX + "/"):
        return _key_route(method, API_PREFIX, path[len(API_PREFIX) :], MODEL_KEYS, "")
    # /v2/gen-ai/agents/{agent}/api_keys[/...]
    agent_uuid, _, rest = path[len(AGENTS_PATH) + 1 :].partition("/")
    collection = f"{AGENTS_PATH}/{agent_uuid}/api_keys"
    if not agent_uuid or not (rest == "api_keys" or rest.startswith("api_keys/")):
        raise RouteError(404)
    return _key_route(method, collection, rest[len("api_keys") :], agent_uuid, AGENT_PREFIX)


def _key_route(method: str, collection: str, rest: str, agent_uuid: str, prefix: str) -> ApiTarget:
    inner = rest.strip("/")
    segments = inner.split("/") if inner else []
    if len(segments) == 2 and segments[1] == "regenerate":
        routes = {"PUT": "regenerate"}
    elif len(segments) in _KEY_ROUTES:
        routes = _KEY_ROUTES[len(segments)]
    else:
        raise RouteError(404)
    if method not in routes:
        raise RouteError(405)
    return ApiTarget(prefix + routes[method], collection, agent_uuid, segments[0] if segments else None)


def scope_of(action: str) -> str:
    """The token scope a write needs (`genai:create`, `genai:delete`, `genai:update`)."""
    return {"create": "create", "delete": "delete"}.get(action, "update")
