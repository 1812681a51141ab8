"""The shared DigitalOcean listing: fetched once for threads that need it together, and the lock
other operations share is never held across the network call (issue 11)."""

from __future__ import annotations

import threading
from collections.abc import Callable

from components import keys
from components.do_keys import ModelKeys
from sandbox.server import Emulator


def test_a_slow_listing_does_not_block_the_shared_lock(
    emulator: Emulator, make_client: Callable[..., ModelKeys]
) -> None:
    client = make_client()
    emulator.console_create("slow-listing")
    emulator.inject(operation="list", kind="delay", delay_seconds=3)
    lister = threading.Thread(target=keys.cached_listing, args=(client,), kwargs={"max_age": 0})
    lister.start()
    while emulator.faults.pending():  # until the delayed list request has reached the emulator
        threading.Event().wait(0.01)
    other = threading.Thread(target=keys.shared_pacer, args=(client.settings,))
    other.start()
    other.join(timeout=1.5)
    blocked = other.is_alive()
    lister.join()
    other.join()
    assert not blocked, "shared_pacer waited for another thread's network call"


def test_threads_needing_the_listing_together_share_one_fetch(
    emulator: Emulator, make_client: Callable[..., ModelKeys]
) -> None:
    client = make_client()
    for index in range(3):
        emulator.console_create(f"shared-{index}")
    emulator.inject(operation="list", kind="delay", delay_seconds=1)
    results: list[int] = []
    threads = [
        threading.Thread(target=lambda: results.append(len(keys.cached_listing(client, max_age=0))))
        for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 6 and len(set(results)) == 1
    assert client.requests_made == 1  # one page, fetched once for all six
