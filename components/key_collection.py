"""Which DigitalOcean keys a client manages: the account's model access keys, or one agent's API
keys. The two are one API shape (`apiModelAPIKeyInfo` and `apiAgentAPIKeyInfo` have the same fields;
spec/do-openapi): list, rename, delete and regenerate differ only in their path and in pydo's
method names, so the core takes the collection as a parameter instead of a second code path.
Creating a model key was retired in June 2026; an agent's keys are still created through the API.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["MODEL_KEYS", "GenAIKeys", "KeyCollection"]

MODEL_KEYS_PATH = "/v2/gen-ai/models/api_keys"
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class GenAIKeys(Protocol):
    """The part of pydo's `client.genai` the client calls, typed: pydo's generated code carries no
    type information, so the boundary is checked here (mypy --strict) rather than trusted. Every
    call also passes azure-core options (`cls=`, `retry_total=`, ...) through `**options`."""

    def list_model_api_keys(self, *, page: int, per_page: int, **options: Any) -> Any: ...

    def update_model_api_key(self, api_key_uuid: str, body: dict[str, str], **options: Any) -> Any: ...

    def delete_model_api_key(self, api_key_uuid: str, **options: Any) -> Any: ...

    def regenerate_model_api_key(self, api_key_uuid: str, **options: Any) -> Any: ...

    def list_agent_api_keys(self, agent_uuid: str, *, page: int, per_page: int, **options: Any) -> Any: ...

    def update_agent_api_key(
        self, agent_uuid: str, api_key_uuid: str, body: dict[str, str], **options: Any
    ) -> Any: ...

    def delete_agent_api_key(self, agent_uuid: str, api_key_uuid: str, **options: Any) -> Any: ...

    def regenerate_agent_api_key(self, agent_uuid: str, api_key_uuid: str, **options: Any) -> Any: ...


@dataclass(frozen=True)
class KeyCollection:
    """The model access keys (`agent_uuid` None), or the API keys of the agent `agent_uuid`."""

    agent_uuid: str | None = None

    def __post_init__(self) -> None:
        # It is a path segment of every request: only a uuid-shaped one (the stack config and the
        # command check it first, with their own messages) ever reaches a URL.
        if self.agent_uuid is not None and not _UUID.fullmatch(self.agent_uuid):
            raise ValueError("an agent uuid is 8-4-4-4-12 hexadecimal digits")

    @property
    def path(self) -> str:
        if self.agent_uuid is None:
            return MODEL_KEYS_PATH
        return f"/v2/gen-ai/agents/{self.agent_uuid}/api_keys"

    def create_body(self, name: str) -> dict[str, str]:
        if self.agent_uuid is None:
            return {"name": name}
        return {"agent_uuid": self.agent_uuid, "name": name}

    # -- pydo's methods for this collection -------------------------------------------------------
    def list(self, api: GenAIKeys, page: int, per_page: int, **options: Any) -> Any:
        if self.agent_uuid is None:
            return api.list_model_api_keys(page=page, per_page=per_page, **options)
        return api.list_agent_api_keys(self.agent_uuid, page=page, per_page=per_page, **options)

    def rename(self, api: GenAIKeys, key_uuid: str, name: str, **options: Any) -> Any:
        body = {"api_key_uuid": key_uuid, "name": name}
        if self.agent_uuid is None:
            return api.update_model_api_key(key_uuid, body, **options)
        return api.update_agent_api_key(
            self.agent_uuid, key_uuid, {**body, "agent_uuid": self.agent_uuid}, **options
        )

    def delete(self, api: GenAIKeys, key_uuid: str, **options: Any) -> Any:
        if self.agent_uuid is None:
            return api.delete_model_api_key(key_uuid, **options)
        return api.delete_agent_api_key(self.agent_uuid, key_uuid, **options)

    def regenerate(self, api: GenAIKeys, key_uuid: str, **options: Any) -> Any:
        if self.agent_uuid is None:
            return api.regenerate_model_api_key(key_uuid, **options)
        return api.regenerate_agent_api_key(self.agent_uuid, key_uuid, **options)


MODEL_KEYS = KeyCollection()
