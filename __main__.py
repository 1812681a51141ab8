"""The gradient-keys Pulumi program: load and validate the stack config, declare one resource
per key, export what consumers and audits need (never a secret: those are in Vault only)."""

import json
import os

import pulumi

from components.config import parse_settings, stack_values
from components.endpoints import resolve as resolve_endpoints
from components.keys import KeyContext
from components.policy import declaration_violations
from components.policy_config import Mode
from components.resources import ModelAccessKey


def _decoded(raw: object) -> object:
    """The engine hands config values over as text: objects and lists as JSON, strings as is."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


# Every key of the stack's config, in any namespace, so a typo (`gradient-key:keys`) is an error
# instead of a stack that silently declares nothing.
entries = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
values = {name: _decoded(raw) for name, raw in stack_values(entries, "stack config").items()}
settings = parse_settings(values, pulumi.get_stack())
context = KeyContext.of(settings)
# Checked here, before any resource: a stack file cannot send credentials to a host nobody trusted.
pulumi.log.info(
    resolve_endpoints(
        settings.digitalocean.api_url,
        settings.digitalocean.inference_url,
        settings.vault.addr,
        os.environ,
        [spec.agent_endpoint for spec in settings.keys if spec.agent_endpoint],
    ).describe()
)

# Rules in `fail` mode that a declaration breaks stop the program before any key is declared, so
# nothing changes (a check failure would stop only that key's step while the others go ahead).
broken = [v for spec in settings.keys for v in declaration_violations(spec, settings.policies)]
if failing := [v for v in broken if v.mode is Mode.FAIL]:
    for violation in failing:
        pulumi.log.error(str(violation))
    raise pulumi.RunError(
        f"{len(failing)} policy rule(s) in fail mode broken; nothing was changed (docs/policies.md)"
    )

for spec in settings.keys:
    # Named by Vault path, which identifies a key for its whole life: a new `name` is then an
    # update (rename at DigitalOcean), a new `vault_path` a different key (a replacement).
    key = ModelAccessKey(spec.vault_path, spec, context)
    # Rules in `warn` mode, on the key's resource; `fail` ones are the provider's check failures.
    for violation in declaration_violations(spec, settings.policies):
        if violation.mode is Mode.WARN:
            pulumi.log.warn(str(violation), resource=key)
    pulumi.export(
        spec.name,
        {
            "vault_mount": settings.vault.mount,
            "vault_path": f"{settings.vault.path_prefix}/{spec.vault_path}",
            "vault_field": "api_key",
            "strategy": spec.strategy,
            "active_slot": key.active_slot,
            "slot_a_uuid": key.slot_a_uuid,
            "slot_b_uuid": key.slot_b_uuid,
            "rotated_at": key.rotated_at,
            "rotate_every": spec.rotate_every,
            "fingerprint": key.fingerprint,
        },
    )
