"""Adoption reads the listing the process shares (issue 16): one listing for every create of a
`pulumi up`, kept current by the process's own changes, and the guards that used to come from a
listing per create still hold: a key deleted or made after the listing, an ambiguous name, a
lost answer looked up in the shared listing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from components.clients import ClientFactory
from components.config import DigitalOceanConfig, KeySpec, VaultConfig
from components.errors import AmbiguousKeyError, CreateRetiredError, KeyNotFoundError
from components.keys import KeyContext, KeyOperations
from sandbox.openbao import OpenBaoServer
from sandbox.server import Emulator
from tests.inference_probe import works
from tests.integration.rotation_env import environment


@pytest.fixture
def ops(emulator: Emulator, openbao: OpenBaoServer, tmp_path: Path) -> KeyOperations:
    context = KeyContext("adopt", VaultConfig(path_prefix=f"adopt/{tmp_path.name}"), DigitalOceanConfig())
    return KeyOperations(context, ClientFactory(environment(emulator, openbao, tmp_path, "adopt")))


def spec(name: str, **extra: object) -> KeySpec:
    return KeySpec(name=name, vault_path=f"apps/{name}", **extra)  # type: ignore[arg-type]


def lists(emulator: Emulator) -> int:
    return sum(emulator.stats.view()["requests"].get("list", {}).values())


def test_creates_share_one_listing_kept_current_by_their_own_changes(
    ops: KeyOperations, emulator: Emulator
) -> None:
    emulator.config.create_mode = "legacy"
    for i in range(3):
        emulator.console_create(f"panel-{i}-slot-a")
        emulator.console_create(f"panel-{i}-slot-b")
    emulator.stats.reset()
    for i in range(3):
        ops.create_or_adopt(spec(f"panel-{i}"))
    assert lists(emulator) == 1
    made = ops.create_or_adopt(spec("made-here"))  # missing: looked for once more, then created
    assert lists(emulator) == 2
    ops.create_or_adopt(spec("made-here"))  # what this process created is in its listing: no relist
    assert lists(emulator) == 2
    listed = ops.io.listing().current()
    assert listed[made.slot_a_uuid].name == "made-here-slot-a"
    # The regenerates' answers updated the listing in place: it agrees with a listing made now.
    assert listed == {k.uuid: k for k in ops.do.list_all()}


def test_a_key_deleted_after_the_listing_fails_clearly_then_is_known_missing(
    ops: KeyOperations, emulator: Emulator
) -> None:
    emulator.console_create("gone-slot-a")
    b = emulator.console_create("gone-slot-b")
    assert "adopt gone-slot-a" in ops.plan_create(spec("gone"))  # the process lists once
    emulator.store.delete(
        next(k.uuid for k in emulator.store.list() if k.name == "gone-slot-a")
    )  # slot a deleted in the control panel
    with pytest.raises(KeyNotFoundError, match="deleted at DigitalOcean after gradient-keys listed"):
        ops.create_or_adopt(spec("gone"))
    with pytest.raises(CreateRetiredError, match="create 'gone-slot-a'"):
        ops.create_or_adopt(spec("gone"))  # the listing dropped it: the error names what to make
    assert works(emulator, b["secret_key"])  # nothing was regenerated


def test_keys_made_after_the_listing_are_found_by_a_listing_begun_after_the_create_started(
    ops: KeyOperations, emulator: Emulator
) -> None:
    ops.io.listing().current()
    emulator.console_create("late-slot-a")
    emulator.console_create("late-slot-b")
    emulator.stats.reset()
    state = ops.create_or_adopt(spec("late"))
    assert state.slot_a_name == "late-slot-a" and lists(emulator) == 1
    assert ops.create_or_adopt(spec("late")).slot_a_uuid == state.slot_a_uuid  # known now: no relist
    assert lists(emulator) == 1


def test_concurrent_creates_missing_keys_share_relists(ops: KeyOperations, emulator: Emulator) -> None:
    ops.io.listing().current()
    emulator.stats.reset()
    emulator.inject(operation="list", kind="delay", delay_seconds=1)  # the first relist is under way...

    def create(index: int) -> None:
        with pytest.raises(CreateRetiredError, match=f"create 'missing-{index}-slot-a'"):
            ops.create_or_adopt(spec(f"missing-{index}"))

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(8)))
    assert lists(emulator) <= 2  # ...while the others ask: they share the next one, not one each


def test_a_preview_of_missing_keys_does_not_relist_per_key(ops: KeyOperations, emulator: Emulator) -> None:
    emulator.stats.reset()
    for i in range(5):
        assert ops.plan_create(spec(f"planned-{i}")).startswith("create 'planned-")
    assert lists(emulator) == 1


def test_an_ambiguous_name_in_the_shared_listing_is_refused(ops: KeyOperations, emulator: Emulator) -> None:
    for name in ("twice-slot-a", "twice-slot-a", "twice-slot-b"):
        emulator.console_create(name)
    with pytest.raises(AmbiguousKeyError, match="adopt by uuid"):
        ops.create_or_adopt(spec("twice"))
    assert all(k.regenerations == 0 for k in emulator.store.list())


def test_a_lost_regenerate_is_looked_up_in_the_shared_listing(ops: KeyOperations, emulator: Emulator) -> None:
    for name in ("lost-slot-a", "lost-slot-b"):
        emulator.console_create(name)
    ops.io.listing().current()
    emulator.stats.reset()
    emulator.inject(operation="regenerate", kind="drop_after_commit")
    ops.create_or_adopt(spec("lost"))
    # The lookup after the lost answer is a listing begun after it, and it became the shared one.
    assert lists(emulator) == 1
    assert emulator.stats.view()["requests"]["regenerate"] == {"dropped": 1, "200": 2}
    secret, _entry = ops.vault.read_secret("apps/lost")
    assert works(emulator, secret.reveal())
