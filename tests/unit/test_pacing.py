"""Pacing and backoff from rate-limit headers, on a fake clock (no servers, no real waiting)."""

from __future__ import annotations

import pytest

from components.pacing import BURST_HEADROOM, Backoff, RateLimitPacer, RateLimitState, parse_rate_headers


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


def sent_times(pacer: RateLimitPacer, clock: FakeClock, count: int, work: float = 0.0) -> list[float]:
    """When each of `count` requests goes out, each after `work` seconds of the caller's own."""
    times = []
    for _ in range(count):
        pacer.wait_turn()
        times.append(clock.now)
        clock.now += work
    return times


def busiest(times: list[float], window: float) -> int:
    return max(sum(1 for u in times if t <= u < t + window) for t in times)


@pytest.mark.parametrize(
    ("per_window", "window"), [(250, 60.0), (60, 1.0), (50, 2.0)], ids=["do", "1s", "2s"]
)
def test_burst_pacing_stays_under_the_limit_at_its_headroom(per_window: int, window: float) -> None:
    """Told the burst limit (no header shows it), requests go evenly at BURST_HEADROOM of it:
    never more than the limit in any window, and the sustained rate is the headroom's."""
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep, burst_per_minute=per_window * 60 / window)
    times = sent_times(pacer, clock, 3 * per_window)
    assert busiest(times, window) < per_window  # a request to spare for jitter
    rate = (len(times) - 1) / (times[-1] - times[0])
    assert rate == pytest.approx(BURST_HEADROOM * per_window / window, rel=0.01)


def test_a_late_request_is_caught_up_on_by_half_an_interval_at_most() -> None:
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep, burst_per_minute=60 / BURST_HEADROOM)  # 1 s apart
    pacer.wait_turn()
    clock.now += 5  # the caller was busy: five slots passed unused
    assert [pacer.delay() for _ in range(3)] == [0.0, pytest.approx(0.5), pytest.approx(1.5)]


def test_no_burst_limit_means_no_burst_pacing() -> None:
    clock = FakeClock()
    for burst in (None, 0):
        pacer = RateLimitPacer(clock=clock, sleep=clock.sleep, burst_per_minute=burst)
        sent_times(pacer, clock, 500)
    assert clock.slept == []
    with pytest.raises(ValueError, match="burst_per_minute"):
        RateLimitPacer(burst_per_minute=-1)


def test_hourly_quota_from_the_headers_slows_burst_pacing_further() -> None:
    """The documented headers: 10 left of the hour, its oldest request expiring in 100 s. Burst
    pacing alone would send them within seconds; the quota spreads them until the reset."""
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep, burst_per_minute=250)
    reset = clock.now + 100
    pacer.observe(state(remaining=10, reset=reset))
    times = sent_times(pacer, clock, 10)
    assert times[-1] < reset
    assert times[1] - times[0] >= 100 / 11 - 1e-9  # the quota's spacing, not the burst's 0.25 s


def test_a_later_run_starts_from_what_the_headers_say_is_left() -> None:
    """Across runs: a new pacer knows nothing until the first answer, then paces on its quota."""
    clock = FakeClock()
    pacer = RateLimitPacer(clock=clock, sleep=clock.sleep, burst_per_minute=250)
    assert pacer.delay() == 0.0
    pacer.observe(state(remaining=0, reset=clock.now + 30))  # the hour used up by earlier runs
    assert pacer.delay() == pytest.approx(30.0)
