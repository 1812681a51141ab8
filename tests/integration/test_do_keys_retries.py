"""Who retries what in the key client: azure-core's RetryPolicy (list, rename, delete), with pacing
and counting as per-attempt pipeline policies, and `_mint` (regenerate, create), which never
repeats blindly. Real pydo against the sandbox; every wait goes through a recording `sleep`."""

from __future__ import annotations

import traceback
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.rest import HttpRequest

from components.do_keys import ClientSettings, ModelKeys
from components.errors import (
    DigitalOceanError,
    KeyNotFoundError,
    RateLimitedError,
    UnavailableError,
    UnknownOutcomeError,
)
from components.pacing import Backoff, RateLimitPacer, RateLimitState
from components.secret import Secret
from sandbox.server import DEFAULT_TOKEN, Emulator
from sandbox.store import new_secret
from tests.inference_probe import works

KEYS_PATH = "/v2/gen-ai/models/api_keys"


class RecordingPacer(RateLimitPacer):
    """A pacer that never waits and records each turn taken and each answer observed."""

    def __init__(self) -> None:
        super().__init__(sleep=lambda _s: None)
        self.turns = 0
        self.observed: list[RateLimitState] = []

    def wait_turn(self) -> None:
        self.turns += 1

    def observe(self, state: RateLimitState) -> None:
        self.observed.append(state)


class Harness:
    def __init__(self, emulator: Emulator, max_attempts: int, backoff: Backoff) -> None:
        self.waits: list[float] = []
        self.pacer = RecordingPacer()
        settings = ClientSettings(emulator.base_url, Secret(DEFAULT_TOKEN), max_attempts=max_attempts)
        self.client = ModelKeys(settings, pacer=self.pacer, backoff=backoff, sleep=self.waits.append)


@pytest.fixture
def harness(emulator: Emulator) -> Iterator[Callable[..., Harness]]:
    made: list[Harness] = []

    def make(max_attempts: int = 4, backoff: Backoff | None = None) -> Harness:
        made.append(Harness(emulator, max_attempts, backoff or Backoff(base=0.5, cap=30.0)))
        return made[-1]

    yield make
    for h in made:
        h.client.close()


def requests_for(emulator: Emulator, operation: str) -> dict[str, int]:
    counts: dict[str, int] = emulator.stats.view()["requests"].get(operation, {})
    return counts


def failure_of(call: Callable[[], object]) -> BaseException:
    """The exception `call` raises, caught in this frame (whose only local is `call`), so the
    traceback does not start in the test's frame with its planted secret."""
    try:
        call()
    except BaseException as exc:
        return exc
    raise AssertionError("expected a failure, the call succeeded")


def chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


# == idempotent calls: azure-core's RetryPolicy ===================================================
def test_retry_after_is_honoured_by_the_pipeline(emulator: Emulator, harness: Callable[..., Harness]) -> None:
    emulator.console_create("k")
    emulator.inject(operation="list", kind="rate_limit", retry_after=7, times=2)
    h = harness()
    assert len(h.client.list_all()) == 1
    assert h.waits == [7.0, 7.0]
    assert requests_for(emulator, "list") == {"429": 2, "200": 1}


def test_ratelimit_reset_is_waited_when_the_budget_is_spent(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    now = 1_900_000_000.0
    emulator.inject(
        operation="list",
        kind="answer",
        status=429,
        body={"id": "too_many_requests", "message": "slow down"},
        headers={"ratelimit-remaining": "0", "ratelimit-reset": str(int(now) + 30)},
    )
    h = harness(backoff=Backoff(clock=lambda: now))
    assert h.client.list_all() == []
    assert h.waits == [30.0]


def test_each_attempt_is_paced_counted_and_observed(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    key = emulator.console_create("k")
    emulator.inject(operation="rename", kind="error", status=503, times=2)
    h = harness(backoff=Backoff(base=1.0, cap=8.0))
    assert h.client.rename(key["uuid"], "renamed").name == "renamed"
    assert requests_for(emulator, "rename") == {"503": 2, "200": 1}
    assert h.client.requests_made == 3
    assert h.pacer.turns == 3 and len(h.pacer.observed) == 3
    assert all(state.limit is not None for state in h.pacer.observed)  # each answer's headers
    # `pacing.Backoff`'s bounds: full jitter under min(cap, base * 2 ** (attempt - 1)).
    assert len(h.waits) == 2 and 0 <= h.waits[0] <= 1.0 and 0 <= h.waits[1] <= 2.0


def test_attempts_and_counts_follow_max_attempts(emulator: Emulator, harness: Callable[..., Harness]) -> None:
    emulator.inject(operation="list", kind="error", status=500, times=10)
    h = harness(max_attempts=3)
    with pytest.raises(UnavailableError) as caught:
        h.client.list_all()
    assert caught.value.status == 500
    assert requests_for(emulator, "list") == {"500": 3}
    assert h.client.requests_made == 3 and h.pacer.turns == 3 and len(h.waits) == 2


@pytest.mark.parametrize(("status", "retried"), [(501, True), (505, True), (408, False), (409, False)])
def test_every_5xx_and_only_5xx_and_429_are_retried(
    emulator: Emulator, harness: Callable[..., Harness], status: int, retried: bool
) -> None:
    """azure-core's default would skip 501 and 505 and retry 408: ours keeps DigitalOcean's rule."""
    emulator.inject(operation="list", kind="error", status=status)
    h = harness()
    if retried:
        assert h.client.list_all() == []
        assert requests_for(emulator, "list") == {str(status): 1, "200": 1}
    else:
        with pytest.raises(DigitalOceanError) as caught:
            h.client.list_all()
        assert caught.value.status == status
        assert requests_for(emulator, "list") == {str(status): 1}


def test_a_retry_after_on_a_404_is_not_a_reason_to_retry(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    """azure-core's default retries any error answer carrying Retry-After."""
    emulator.inject(
        operation="rename",
        kind="answer",
        status=404,
        body={"id": "not_found", "message": "no"},
        headers={"Retry-After": "1"},
    )
    h = harness()
    with pytest.raises(KeyNotFoundError):
        h.client.rename("11111111-2222-3333-4444-555555555555", "x")
    assert requests_for(emulator, "rename") == {"answer 404": 1}
    assert h.waits == []


def test_a_wait_beyond_max_wait_is_refused_not_slept(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    emulator.inject(operation="list", kind="rate_limit", retry_after=3600)
    h = harness()
    with pytest.raises(RateLimitedError) as caught:
        h.client.list_all()
    assert "asks to wait 3600s, more than the 120s gradient-keys waits" in str(caught.value)
    assert caught.value.status == 429 and caught.value.operation == "list"
    assert h.waits == []
    assert not any(isinstance(e, AzureError) for e in chain(caught.value))


@pytest.mark.parametrize(
    ("answer", "headers"),
    [
        ("<html>proxy</html>", {"Content-Type": "text/html"}),  # pydo's response.json() fails
        ('{"api_key_infos": [', {"Content-Type": "application/json"}),  # azure-core's decode fails
        ('{"api_key_infos": []}', {"Content-Type": "application/json", "ratelimit-remaining": "many"}),
    ],
    ids=["html-page", "cut-off-json", "garbled-rate-header"],
)
def test_unreadable_answers_are_retried_like_lost_ones(
    emulator: Emulator, harness: Callable[..., Harness], answer: str, headers: dict[str, str]
) -> None:
    emulator.console_create("k")
    emulator.inject(operation="list", kind="answer", raw=answer, headers=headers, times=2)
    h = harness()
    assert len(h.client.list_all()) == 1
    assert requests_for(emulator, "list") == {"answer 200": 2, "200": 1}
    assert len(h.waits) == 2


def test_an_error_page_keeps_its_status(emulator: Emulator, harness: Callable[..., Harness]) -> None:
    """A 403 from a proxy (HTML, not JSON) is still a 403, not an unreadable answer."""
    emulator.inject(
        operation="delete",
        kind="answer",
        status=403,
        raw="<html>denied</html>",
        headers={"Content-Type": "text/html"},
    )
    h = harness()
    with pytest.raises(DigitalOceanError) as caught:
        h.client.delete("11111111-2222-3333-4444-555555555555")
    assert caught.value.status == 403
    assert requests_for(emulator, "delete") == {"answer 403": 1}


FAULTS: dict[str, Callable[[str], dict[str, Any]]] = {
    "lost": lambda planted: {"kind": "drop"},
    "unreadable": lambda planted: {
        "kind": "answer",
        "raw": '{"secret_key": "' + planted,
        "headers": {"Content-Type": "application/json"},
    },
    "5xx": lambda planted: {
        "kind": "answer",
        "status": 503,
        "body": {"id": "server_error", "message": planted, "request_id": planted},
    },
}


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("operation", ["list", "rename", "delete"])
def test_no_azure_exception_reaches_our_errors(
    emulator: Emulator, harness: Callable[..., Harness], operation: str, fault: str
) -> None:
    key = emulator.console_create("k")
    planted = new_secret()
    emulator.inject(operation=operation, times=10, **FAULTS[fault](planted))
    h = harness(max_attempts=2)
    calls = {
        "list": h.client.list_all,
        "rename": lambda: h.client.rename(key["uuid"], "x"),
        "delete": lambda: h.client.delete(key["uuid"]),
    }
    error = failure_of(calls[operation])
    assert isinstance(error, UnavailableError), repr(error)
    assert not any(isinstance(e, AzureError) for e in chain(error))
    assert not any(type(e).__module__.startswith("azure") for e in chain(error))
    report = "".join(traceback.TracebackException.from_exception(error, capture_locals=True).format())
    assert planted not in report and planted not in str(error)
    assert "HttpResponseError" not in str(error) and "DecodeError" not in str(error)
    assert requests_for(emulator, operation) != {}  # it was tried
    assert h.client.requests_made == 2


# == secret-minting calls: never repeated by the pipeline =========================================
def test_the_pipeline_never_repeats_a_regenerate_even_when_asked(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    """The guard in `_Retry` itself: pydo's regenerate sent without `retry_total=0`."""
    key = emulator.console_create("k")
    emulator.inject(operation="regenerate", kind="error", status=503, times=3)
    h = harness()
    with pytest.raises(HttpResponseError):
        h.client._client.genai.regenerate_model_api_key(key["uuid"])
    assert requests_for(emulator, "regenerate") == {"503": 1}
    assert h.waits == []


def test_the_pipeline_never_repeats_a_create_even_when_asked(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    emulator.config.create_mode = "legacy"
    emulator.inject(operation="create", kind="error", status=503, times=3)
    h = harness()
    response = h.client._client.send_request(HttpRequest("POST", KEYS_PATH, json={"name": "x"}))
    assert response.status_code == 503
    assert requests_for(emulator, "create") == {"503": 1}


def test_a_regenerate_refused_with_retry_after_waits_what_it_is_told(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    key = emulator.console_create("k")
    emulator.inject(operation="regenerate", kind="rate_limit", retry_after=5)
    h = harness()
    issued = h.client.regenerate(key["uuid"])
    assert issued.settled  # a 429 changed nothing
    assert h.waits == [5.0]
    assert requests_for(emulator, "regenerate") == {"429": 1, "200": 1}
    assert h.client.requests_made == 2 and h.pacer.turns == 2


def test_a_regenerate_whose_wait_is_too_long_is_refused(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    key = emulator.console_create("k")
    emulator.inject(operation="regenerate", kind="rate_limit", retry_after=3600)
    h = harness()
    with pytest.raises(RateLimitedError, match="asks to wait 3600s") as caught:
        h.client.regenerate(key["uuid"])
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    assert h.waits == []
    assert works(emulator, key["secret_key"])  # nothing changed


def test_a_lost_regenerate_marks_the_next_secret_unsettled(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    key = emulator.console_create("k")
    emulator.inject(operation="regenerate", kind="drop_after_commit")
    h = harness()
    issued = h.client.regenerate(key["uuid"])
    assert not issued.settled
    assert works(emulator, issued.secret.reveal())
    assert requests_for(emulator, "regenerate") == {"dropped": 1, "200": 1}
    assert requests_for(emulator, "list") == {"200": 1}
    assert len(h.waits) == 1  # one backoff between the lookup and the next regenerate


def test_a_lost_regenerate_without_retry_unknown_is_sent_once(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    key = emulator.console_create("k")
    emulator.inject(operation="regenerate", kind="error", status=500)
    h = harness()
    with pytest.raises(UnknownOutcomeError, match="may still commit later"):
        h.client.regenerate(key["uuid"], retry_unknown=False)
    assert requests_for(emulator, "regenerate") == {"500": 1}
    assert requests_for(emulator, "list") == {}
    assert h.waits == []


def test_regenerates_that_never_reach_digitalocean_change_nothing(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    settings = ClientSettings("http://127.0.0.1:9", Secret("t"), max_attempts=3)
    waits: list[float] = []
    with ModelKeys(settings, sleep=waits.append) as client:
        with pytest.raises(UnavailableError, match="no attempt of 3 got through; nothing was changed"):
            client.regenerate("11111111-2222-3333-4444-555555555555")
        assert client.requests_made == 3
    assert len(waits) == 2  # none after the last attempt


def test_a_create_refused_on_every_attempt_changed_nothing(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    emulator.config.create_mode = "legacy"
    emulator.inject(operation="create", kind="rate_limit", retry_after=0, times=10)
    h = harness(max_attempts=3)
    with pytest.raises(RateLimitedError, match="no attempt of 3 got through; nothing was changed"):
        h.client.create("made")
    assert requests_for(emulator, "create") == {"429": 3}
    assert requests_for(emulator, "list") == {}  # nothing to look for
    assert len(emulator.store) == 0


def test_a_create_whose_5xx_made_nothing_is_looked_up_then_sent_again(
    emulator: Emulator, harness: Callable[..., Harness]
) -> None:
    emulator.config.create_mode = "legacy"
    emulator.inject(operation="create", kind="error", status=500)
    h = harness()
    issued = h.client.create("made")
    assert issued.key.name == "made" and works(emulator, issued.secret.reveal())
    assert requests_for(emulator, "create") == {"500": 1, "200": 1}
    assert requests_for(emulator, "list") == {"200": 1}
    assert [k.name for k in emulator.store.list()] == ["made"]


def test_a_create_where_retired_is_not_retried(emulator: Emulator, harness: Callable[..., Harness]) -> None:
    h = harness()
    with pytest.raises(DigitalOceanError, match="control panel") as caught:
        h.client.create("made")
    assert (caught.value.status, caught.value.error_id) == (410, "gone")
    assert requests_for(emulator, "create") == {"410": 1}
