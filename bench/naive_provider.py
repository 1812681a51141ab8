"""The naive dynamic provider the first-up benchmark compares against (bench/first_up.py): what a
dynamic provider written the obvious way does. Each create builds its own clients (a Vault login
per call), lists every key to find its slots by name (the API has no GET for one key), regenerates
both slots and writes the active slot's secret to Vault. Not for use: benchmarks only.

Imported by reference in the provider process (`python -m pulumi.dynamic`), so it lives in a
module of its own rather than in the benchmark script run as `__main__`.
"""

from __future__ import annotations

import os
from typing import Any

from pulumi.dynamic import CreateResult, ResourceProvider

from components.do_keys import ClientSettings, ModelKeys
from components.ledger import Ledger
from components.vault_sink import VaultSink

__all__ = ["NaiveKeyProvider"]


class NaiveKeyProvider(ResourceProvider):
    def create(self, props: dict[str, Any]) -> CreateResult:
        name, path = str(props["name"]), str(props["vault_path"])
        vault = VaultSink(path_prefix=str(props["vault_prefix"]), environ=os.environ)  # a login per call
        with ModelKeys(ClientSettings.from_env(os.environ)) as do:
            by_name = {k.name: k for k in do.list_all()}  # a listing per call
            slots = [by_name[f"{name}-slot-{slot}"] for slot in "ab"]
            active = do.regenerate(slots[0].uuid).secret
            do.regenerate(slots[1].uuid)
        ledger = Ledger(
            active.fingerprint, "2026-11-01T00:00:00Z", slot_a=slots[0].uuid, slot_b=slots[1].uuid
        )
        vault.write(path, active, ledger, 0)
        return CreateResult(slots[0].uuid, {**props, "fingerprint": active.fingerprint})
