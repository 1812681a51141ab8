"""The sandbox's building blocks without HTTP: rate windows, fault specs, the key table."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

from sandbox.faults import Fault, FaultBook, FaultSpecError
from sandbox.ratelimit import RateLimiter
from sandbox.store import KeyStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_documented_headers_report_the_hour_and_the_burst_only_as_429() -> None:
    """description.yml, "Rate Limit": limit and remaining are the hourly quota, reset the epoch
    second its oldest request expires; a burst refusal says remaining 0 and adds retry-after."""
    clock = Clock()
    limiter = RateLimiter(per_minute=3, per_hour=100, clock=clock)
    decisions = [limiter.hit("t") for _ in range(3)]
    assert [d.headers()["ratelimit-remaining"] for d in decisions] == ["99", "98", "97"]
    assert decisions[0].headers()["ratelimit-limit"] == "100"
    assert decisions[0].headers()["ratelimit-reset"] == str(int(clock.now) + 3600)
    refused = limiter.hit("t").headers()
    assert refused["ratelimit-remaining"] == "0" and refused["retry-after"] == "60"
    clock.now += 60.5
    assert limiter.hit("t").headers()["ratelimit-remaining"] == "96"  # refusals are not counted


def test_test_windows_give_retry_after_in_milliseconds() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=2, per_hour=40, minute_seconds=0.5, hour_seconds=30, clock=clock)
    limiter.hit("t")
    clock.now += 0.2
    limiter.hit("t")
    refused = limiter.hit("t").headers()
    assert refused["retry-after"] == "0.300"
    assert refused["ratelimit-reset"] == str(int(clock.now - 0.2) + 30)  # integers, as pydo parses them


def test_minute_budget_refuses_with_retry_after_then_recovers() -> None:
    """The earlier `minute` headers: remaining is the tighter budget, here the minute's."""
    clock = Clock()
    limiter = RateLimiter(per_minute=3, per_hour=100, clock=clock, headers="minute")
    decisions = [limiter.hit("t") for _ in range(3)]
    assert [d.remaining for d in decisions] == [2, 1, 0]
    refused = limiter.hit("t")
    assert not refused.allowed and refused.retry_after == 60 and refused.remaining == 0
    assert refused.reset == int(clock.now) + 60
    clock.now += 60.5
    assert limiter.hit("t").allowed


def test_hour_budget_refuses_without_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=0, per_hour=2, clock=clock)
    limiter.hit("t")
    limiter.hit("t")
    refused = limiter.hit("t")
    assert not refused.allowed and refused.retry_after is None
    assert refused.headers()["ratelimit-limit"] == "2"


def test_budgets_are_per_token_and_refusals_do_not_count() -> None:
    clock = Clock()
    limiter = RateLimiter(per_minute=1, per_hour=10, clock=clock, headers="minute")
    assert limiter.hit("a").allowed
    for _ in range(5):
        assert not limiter.hit("a").allowed
    assert limiter.hit("b").allowed
    clock.now += 61
    assert limiter.hit("a").remaining == 0  # one counted request in the minute, not six


def test_sliding_window_is_thread_safe() -> None:
    limiter = RateLimiter(per_minute=100, per_hour=1000)
    allowed: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(50):
            ok = limiter.hit("t").allowed
            with lock:
                allowed.append(ok)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert allowed.count(True) == 100


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"operation": "nope", "kind": "error"}, "operation"),
        ({"operation": "list", "kind": "explode"}, "kind"),
        ({"operation": "list", "kind": "error", "times": 0}, "times"),
        ({"operation": "list", "kind": "error", "status": 200}, "status"),
        ({"operation": "list", "kind": "delay", "delay_seconds": "1"}, "delay_seconds"),
        ({"operation": "list", "kind": "error", "colour": 1}, "unknown field"),
        ({"operation": "list", "kind": "error", "after": -1}, "after"),
        ([], "JSON object"),
    ],
    ids=["operation", "kind", "times", "status", "delay", "unknown", "after", "not-object"],
)
def test_fault_specs_name_the_bad_field(body: object, field: str) -> None:
    with pytest.raises(FaultSpecError, match=field):
        Fault.from_request(body)


def test_faults_fire_the_requested_number_of_times() -> None:
    book = FaultBook()
    book.add(Fault.from_request({"operation": "regenerate", "kind": "error", "times": 2}))
    assert book.take("list") is None
    assert book.take("regenerate") is not None
    assert book.take("regenerate") is not None
    assert book.take("regenerate") is None


def test_a_fault_lets_its_first_requests_through() -> None:
    book = FaultBook()
    book.add(Fault.from_request({"operation": "regenerate", "kind": "error", "after": 1}))
    assert book.take("regenerate") is None  # the first regenerate goes through
    assert book.take("regenerate") is not None  # the second fails
    assert book.take("regenerate") is None


def test_uuids_are_time_ordered_and_unique() -> None:
    store = KeyStore()
    uuids = [store.create(f"k{i}")[0].uuid for i in range(500)]
    assert uuids == sorted(uuids)
    assert len(set(uuids)) == 500


def test_corrupt_state_file_is_a_clear_error(tmp_path: Path) -> None:
    state = tmp_path / "keys.json"  # an old-format file is migrated, so its faults are still caught
    state.write_text(json.dumps({"keys": [{"bogus": 1}]}))
    with pytest.raises(ValueError, match="move it away"):
        KeyStore(state)
