"""The clients one process shares (components/clients.py): the DigitalOcean listing is fetched once
for threads that need it together, the factory's own lock is never held across a network call
(issue 11), and one account gets one client (one pacer) however many operations ask (issue 13)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from components.clients import ClientFactory, KeyListing
from components.config import DigitalOceanConfig
from components.do_keys import ModelKey, ModelKeys
from sandbox.server import DEFAULT_TOKEN, Emulator


def sandbox_environ(emulator: Emulator, token: str = DEFAULT_TOKEN) -> dict[str, str]:
    return {
        "DIGITALOCEAN_API_URL": emulator.base_url,
        "DIGITALOCEAN_TOKEN": token,
        "GRADIENT_KEYS_DO_BURST_PER_MINUTE": "0",  # the test emulator has no burst limit
    }


def test_a_slow_listing_blocks_neither_the_factory_nor_updates_to_the_listing(
    emulator: Emulator, make_client: Callable[..., ModelKeys]
) -> None:
    factory = ClientFactory(sandbox_environ(emulator))
    client = make_client()
    emulator.console_create("slow-listing")
    listing = factory.listing(client)
    listing.get()  # fetched once, so that updates apply
    emulator.inject(operation="list", kind="delay", delay_seconds=3)
    lister = threading.Thread(target=lambda: listing.get(max_age=0))
    lister.start()
    while emulator.faults.pending():  # until the delayed list request has reached the emulator
        threading.Event().wait(0.01)
    others = [
        threading.Thread(target=factory.digitalocean, args=(DigitalOceanConfig(),)),
        threading.Thread(target=lambda: listing.changed(ModelKey("0" * 8, "renamed"))),
    ]
    for other in others:
        other.start()
    for other in others:
        other.join(timeout=1.5)
    blocked = [other.is_alive() for other in others]
    lister.join()
    assert blocked == [False, False], "waited for another thread's network call"


def test_threads_needing_the_listing_together_share_one_fetch(
    emulator: Emulator, make_client: Callable[..., ModelKeys]
) -> None:
    client = make_client()
    listing = KeyListing(client)
    for index in range(3):
        emulator.console_create(f"shared-{index}")
    emulator.inject(operation="list", kind="delay", delay_seconds=1)
    results: list[int] = []
    threads = [threading.Thread(target=lambda: results.append(len(listing.get(max_age=0)))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and len(set(results)) == 1
    assert client.requests_made == 1  # one page, fetched once for all six


def test_one_account_gets_one_client_and_one_listing(emulator: Emulator) -> None:
    factory = ClientFactory(sandbox_environ(emulator))
    clients = []
    threads = [
        threading.Thread(target=lambda: clients.append(factory.digitalocean(DigitalOceanConfig())))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(c) for c in clients}) == 1  # one pacer: DigitalOcean's budget is per token
    assert factory.listing(clients[0]) is factory.listing(clients[0])
    other_account = ClientFactory(sandbox_environ(emulator, token="dop_v1_another_account"))
    assert other_account.digitalocean(DigitalOceanConfig()) is not clients[0]


def test_a_listing_handed_out_is_not_changed_by_later_updates(
    emulator: Emulator, make_client: Callable[..., ModelKeys]
) -> None:
    """Provider operations run on several threads: a listing one is iterating must stay as it was."""
    first = emulator.console_create("first-key")
    listing = KeyListing(make_client())
    handed_out = listing.get()
    before = dict(handed_out)
    made = emulator.console_create("late-key")
    listing.changed(ModelKey(made["uuid"], "late-key"))
    listing.changed(removed=first["uuid"])
    assert handed_out == before
    assert made["uuid"] in listing.get() and first["uuid"] not in listing.get()  # the cache did change
