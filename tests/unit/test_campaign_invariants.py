"""The fault campaign's judge (tests/campaign/invariants.py) on fabricated rounds: a clean round
passes, and planted violations come back with their exact messages, in the order `check` reports
them. DigitalOcean and the inference endpoint are the in-process emulator; Vault is a stand-in
answering the two KV v2 reads `check` makes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any, cast

import pytest

from components.ledger import LEDGER_DATA_FIELD
from components.secret import Secret
from sandbox.server import Emulator
from tests.campaign.invariants import KeyRecord, Round, Violation, check
from tests.campaign.lab import Lab, Run

PATH = "gradient-keys/app"


class StubKv:
    """KV v2 with one version (1) per path, as `check` reads it with the root token."""

    def __init__(self, data: dict[str, dict[str, Any]]) -> None:
        self.data = data

    def read_secret_metadata(self, path: str, mount_point: str) -> dict[str, Any]:
        return {"data": {"current_version": 1, "custom_metadata": {}}}

    def read_secret_version(
        self, path: str, version: int, mount_point: str, raise_on_deleted_version: bool
    ) -> dict[str, Any]:
        return {"data": {"data": self.data[path]}}


class StubLab:
    """The two things `check` takes from a Lab: the emulator and a root Vault client."""

    def __init__(self, emulator: Emulator, kv: StubKv) -> None:
        self.emulator = emulator
        self.vault = SimpleNamespace(secrets=SimpleNamespace(kv=SimpleNamespace(v2=kv)))

    def root(self) -> Any:
        return self.vault


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with Emulator() as running:
        yield running


def stored(secret: str, slot: str) -> dict[str, Any]:
    """A version as the tool writes it: the secret and a ledger naming it and its slot."""
    ledger = {"fingerprint": Secret(secret).fingerprint, "slot_a": slot, "run_id": "r1"}
    return {"api_key": secret, LEDGER_DATA_FIELD: json.dumps(ledger)}


def in_place_round(slot: str, secret: str) -> Round:
    record = KeyRecord(
        name="app",
        vault_path=PATH,
        strategy="in-place",
        slots=(slot,),
        pre_secret=Secret(secret),
        pre_secrets=(Secret(secret),),
        pre_version=1,
        pre_regenerations={slot: 0},
        min_rotations=0,
    )
    return Round(scenario="unit", seed=0, keys={"app": record})


def test_a_clean_round_has_no_violation(emulator: Emulator) -> None:
    made = emulator.console_create("app")
    round_ = in_place_round(made["uuid"], made["secret_key"])
    lab = StubLab(emulator, StubKv({PATH: stored(made["secret_key"], made["uuid"])}))
    assert check(cast(Lab, lab), round_) == []


def test_a_dead_secret_and_a_stray_key_are_reported_in_order(emulator: Emulator) -> None:
    made = emulator.console_create("app")
    stray = emulator.console_create("stray")
    round_ = in_place_round(made["uuid"], made["secret_key"])
    # Vault keeps the secret a regeneration outside the tool has just killed (a); a key no ledger
    # records sits at DigitalOcean (c); the audit, asked because (a) found a dead secret, misses it (A).
    lab = StubLab(emulator, StubKv({PATH: stored(made["secret_key"], made["uuid"])}))
    assert emulator.store.regenerate(made["uuid"]) is not None
    audit = Run("audit --verify-secrets", ("--verify-secrets",), exit_code=0, stdout='{"findings": []}')
    round_.audit = lambda: audit

    found = check(cast(Lab, lab), round_)

    assert found == [
        Violation("a", "app [in-place]", "Vault version 1 holds a secret the inference endpoint refuses"),
        Violation("c", "", f"DigitalOcean key {stray['uuid']} ('stray') belongs to no declared key's ledger"),
        Violation(
            "A",
            "app [in-place]",
            "audit --verify-secrets exited 0 and named no key while Vault holds a dead secret",
        ),
    ]
    assert [v.line() for v in found][:2] == [
        "(a) app [in-place]: Vault version 1 holds a secret the inference endpoint refuses",
        f"(c) DigitalOcean key {stray['uuid']} ('stray') belongs to no declared key's ledger",
    ]
    assert round_.runs == [audit], "the audit run joins the round's runs"
