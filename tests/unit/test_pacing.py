"""Pacing and backoff from rate-limit headers, on a fake clock (no servers, no real waiting)."""

from __future__ import annotations

import pytest

from components.pacing import Backoff, RateLimitPacer, RateLimitState, parse_rate_headers


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def state(remaining: int | None, reset: float | None, retry_after: float | None = None) -> RateLimitState:
    return RateLimitState(limit=5000, remaining=remaining, reset=reset, retry_after=retry_after)


def test_parse_headers_reads_numbers_and_ignores_garbage() -> None:
    parsed = parse_rate_headers(
        {
            "ratelimit-limit": "5000",
            "ratelimit-remaining": "12",
            "ratelimit-reset": "1700000000",
            "retry-after": "x",
        }
    )
    assert parsed == RateLimitState(limit=5000, remaining=12, reset=1_700_000_000.0, retry_after=None)
    assert parse_rate_headers({}) == RateLimitState(None, None, None, None)
    assert parse_rate_headers({"ratelimit-remaining": "-3"}).remaining is None


def test_no_wait_while_budget_is_plentiful() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(low_water=25, clock=clock, sleep=clock.sleep)
    pacer.observe(state(remaining=200, reset=clock.now + 60))
    for _ in range(100):
        pacer.wait_turn()
    assert clock.slept == []


def test_no_headers_seen_yet_means_no_wait() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    assert pacer.delay() == 0.0


def test_low_budget_is_spread_evenly_until_reset() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(low_water=25, clock=clock, sleep=clock.sleep)
    pacer.observe(state(remaining=9, reset=clock.now + 30))
    assert pacer.delay() == pytest.approx(3.0)  # 30 s over 9 remaining + 1


def test_exhausted_budget_waits_for_the_reset() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep)
    pacer.observe(state(remaining=0, reset=clock.now + 17))
    pacer.wait_turn()
    assert clock.slept == [pytest.approx(17.0)]


def test_pacing_never_exceeds_the_budget_before_reset() -> None:
    """Requests paced from one observation never outrun the budget left before the reset."""
    clock = FakeClock()
    pacer = RateLimitPacer(low_water=25, clock=clock, sleep=clock.sleep)
    reset = clock.now + 60
    pacer.observe(state(remaining=20, reset=reset))
    sent_before_reset = 0
    for _ in range(40):
        pacer.wait_turn()
        if clock.now < reset:
            sent_before_reset += 1
    assert sent_before_reset <= 20


def test_wait_is_capped() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep, max_wait=5)
    pacer.observe(state(remaining=0, reset=clock.now + 3600))
    assert pacer.delay() == 5


def test_backoff_prefers_retry_after_then_reset_then_jitter() -> None:
    clock = FakeClock()
    backoff = Backoff(base=1, cap=8, clock=clock)
    assert backoff.delay(1, state(remaining=0, reset=clock.now + 40, retry_after=29)) == 29
    assert backoff.delay(1, state(remaining=0, reset=clock.now + 40)) == pytest.approx(40)
    for attempt in range(1, 10):
        assert 0 <= backoff.delay(attempt) <= min(8, 2 ** (attempt - 1))
