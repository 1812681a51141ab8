"""Gradient agents whose API keys a stack manages (`gradient-keys:agents`), validated: each agent's
uuid, endpoint and account, and its keys, which have the fields and defaults of gradient-keys:keys
(docs/agents.md). The kind of key is a parameter of the core (components/key_collection.py); here
it is where a key is declared.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from components.account_config import DEFAULT_ACCOUNT
from components.config_fields import Errors, Where, given, mapping, text_field

if TYPE_CHECKING:
    from components.config import KeySpec

__all__ = ["AGENT_FIELDS", "parse_agents"]

AGENT_FIELDS = {"uuid", "endpoint", "account", "keys"}
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


def parse_agents(
    raw: Any, errors: Errors, key: Callable[[Any, Where], KeySpec | None]
) -> list[tuple[Where, KeySpec]]:
    """`gradient-keys:agents`: each agent's uuid, endpoint, account and API keys (the keys' fields
    and defaults are gradient-keys:keys': `key` validates one, as config.py does)."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.add(("agents",), raw, "must be a list of agents, each {uuid, endpoint, keys}")
        return []
    found: list[tuple[Where, KeySpec]] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        where: Where = ("agents", index)
        values = given(mapping(item, where, AGENT_FIELDS, errors))
        placement = _agent_placement(values, where, errors, seen)
        keys = values.get("keys")
        if not isinstance(keys, list) or not keys:
            errors.at(
                (*where, "keys"), "is required: a list of the agent's keys, each with name and vault_path"
            )
            continue
        for number, key_raw in enumerate(keys):
            # An agent belongs to one account: its keys are in it (a key may not say otherwise).
            if isinstance(key_raw, dict) and "account" in key_raw:
                errors.at((*where, "keys", number, "account"), "is the agent's: write account: on the agent")
                continue
            spec = key(key_raw, (*where, "keys", number))
            if spec is not None and placement is not None:
                agent, endpoint, account = placement
                placed = replace(spec, agent_uuid=agent, agent_endpoint=endpoint, account=account)
                found.append(((*where, "keys", number), placed))
    return found


def _agent_placement(
    values: dict[str, Any], where: Where, errors: Errors, seen: dict[str, int]
) -> tuple[str, str, str] | None:
    """What an agent gives its keys (its uuid, endpoint and account); None on a problem."""
    agent = _agent_uuid(values.get("uuid"), (*where, "uuid"), errors)
    if agent is not None and agent in seen:
        errors.add(
            (*where, "uuid"), agent, f"is already declared by agents[{seen[agent]}]; list its keys there"
        )
    elif agent is not None:
        seen[agent] = int(where[1])
    endpoint = _agent_endpoint(values.get("endpoint"), (*where, "endpoint"), errors)
    if "endpoint" not in values:
        errors.at(
            (*where, "endpoint"),
            "is required: the agent's endpoint, where its new keys are checked (the agent's overview "
            "in the control panel shows it, e.g. https://abcd1234.agents.do-ai.run)",
        )
    account = text_field(values.get("account", DEFAULT_ACCOUNT), (*where, "account"), errors)
    if agent is None or endpoint is None or account is None:
        return None
    return agent, endpoint, account


_ENDPOINT = re.compile(r"https?://[^\s/?#]+(/[^\s?#]*)?")


def _agent_endpoint(value: Any, where: Where, errors: Errors) -> str | None:
    """An agent's endpoint: DigitalOcean's are bare hosts, the sandbox's a path on its address."""
    text = text_field(value, where, errors)
    if text is not None and not _ENDPOINT.fullmatch(text):
        errors.add(where, text, "is not an endpoint URL; use e.g. https://abcd1234.agents.do-ai.run")
        return None
    return text.rstrip("/") if text else None


def _agent_uuid(value: Any, where: Where, errors: Errors) -> str | None:
    if value is None:
        errors.at(
            where,
            "is required: the agent's uuid (`gradient-keys sandbox console agents`, or the control panel)",
        )
        return None
    text = text_field(value, where, errors)
    if text is not None and not _UUID.fullmatch(text):
        errors.add(where, text, "is not an agent uuid (like 11efb7d6-cdb5-6388-bf8f-4e013e2ddde4)")
        return None
    return text
