"""The Pulumi program of the naive baseline (bench/engine.py copies it in as a project's
`__main__.py`): the same stack config and the same inputs as gradient-keys' program, one resource
per key, but driven by bench/naive_provider.py. Benchmarks only."""

import json

import pulumi
from pulumi.dynamic import Resource

from bench.naive_provider import NaiveKeyProvider
from components.config import parse_settings, stack_values
from components.keys import KeyContext
from components.provider import inputs_for


class NaiveModelKey(Resource, module="bench", name="NaiveModelKey"):
    fingerprint: pulumi.Output[str]


def _decoded(raw: object) -> object:
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw


entries = {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
values = {name: _decoded(raw) for name, raw in stack_values(entries, "stack config").items()}
settings = parse_settings(values, pulumi.get_stack())
context = KeyContext(settings.stack, settings.vault, settings.digitalocean)
for spec in settings.keys:
    NaiveModelKey(NaiveKeyProvider(), spec.vault_path, {**inputs_for(spec, context), "fingerprint": None})
