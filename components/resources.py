"""The dynamic resource users declare: one `ModelAccessKey` per key in the stack config."""

from __future__ import annotations

from typing import Any

import pulumi
from pulumi.dynamic import Resource

from components.config import KeySpec
from components.keys import KeyContext, KeyState
from components.provider import ModelKeyProvider, inputs_for

__all__ = ["ModelAccessKey"]

# Outputs the provider computes; declared so the program can reference them.
COMPUTED = (*KeyState.__dataclass_fields__, "plan", "pending_rotation")


class ModelAccessKey(Resource, module="gradient-keys", name="ModelAccessKey"):
    """A DigitalOcean model access key (two, for dual-slot) whose secret lives in Vault only."""

    name: pulumi.Output[str]
    vault_path: pulumi.Output[str]
    active_slot: pulumi.Output[str]
    slot_a_uuid: pulumi.Output[str]
    slot_b_uuid: pulumi.Output[str]
    rotated_at: pulumi.Output[str]
    fingerprint: pulumi.Output[str]
    vault_version: pulumi.Output[float]

    def __init__(
        self,
        resource_name: str,
        spec: KeySpec,
        context: KeyContext,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        props: dict[str, Any] = {**inputs_for(spec, context), **{field: None for field in COMPUTED}}
        super().__init__(ModelKeyProvider(), resource_name, props, opts)
