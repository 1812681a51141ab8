"""The naive dynamic provider the benchmarks compare against (bench/first_up.py, bench/engine.py):
what a dynamic provider written the obvious way does. Every call builds its own clients (a Vault
login per call) and every call that needs DigitalOcean lists every key to find its slots by name
(the API has no GET for one key): a check of a key in state reads its ledger and lists, a create
lists, regenerates both slots and writes the active slot's secret to Vault, a read lists and reads
the ledger. Diff compares inputs only, as ours does. Not for use: benchmarks only.

Imported by reference in the provider process (`python -m pulumi.dynamic`), so it lives in a
module of its own rather than in the benchmark script run as `__main__`.
"""

from __future__ import annotations

import os
from typing import Any

from pulumi.dynamic import CheckResult, CreateResult, DiffResult, ReadResult, ResourceProvider

from components.do_keys import ClientSettings, ModelKey, ModelKeys
from components.ledger import Ledger
from components.vault_sink import VaultSink

__all__ = ["NaiveKeyProvider"]

SLOTS = ("a", "b")


def _vault(props: dict[str, Any]) -> VaultSink:
    return VaultSink(path_prefix=str(props["vault_prefix"]), environ=os.environ)  # a login per call


def _slots(name: str) -> list[ModelKey]:
    with ModelKeys(ClientSettings.from_env(os.environ)) as do:
        by_name = {k.name: k for k in do.list_all()}  # a listing per call
    return [by_name[f"{name}-slot-{slot}"] for slot in SLOTS]


class NaiveKeyProvider(ResourceProvider):
    def check(self, olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        if olds:  # a key in state: is a rotation due, do both slots still exist?
            _vault(news).read_ledger(str(news["vault_path"]), repair=False)
            _slots(str(news["name"]))
        return CheckResult(news, [])

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        changed = [k for k in news if not k.startswith("__") and olds.get(k) != news[k]]
        return DiffResult(changes=bool(changed), replaces=changed, delete_before_replace=True)

    def create(self, props: dict[str, Any]) -> CreateResult:
        name, path = str(props["name"]), str(props["vault_path"])
        vault = _vault(props)
        slots = _slots(name)
        with ModelKeys(ClientSettings.from_env(os.environ)) as do:
            active = do.regenerate(slots[0].uuid).secret
            do.regenerate(slots[1].uuid)
        ledger = Ledger(
            active.fingerprint, "2026-11-01T00:00:00Z", slot_a=slots[0].uuid, slot_b=slots[1].uuid
        )
        vault.write(path, active, ledger, 0)
        return CreateResult(slots[0].uuid, {**props, "fingerprint": active.fingerprint})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        _vault(props).read_ledger(str(props["vault_path"]), repair=False)
        _slots(str(props["name"]))
        return ReadResult(id_, props)
