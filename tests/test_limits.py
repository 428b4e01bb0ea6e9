"""The per-endpoint limiter's rules (agent/limits.py), driven directly: no network, no timing."""

from __future__ import annotations

from agent.limits import EndpointLimiter, Limits


def test_a_429_drops_the_cap_below_what_was_in_flight_once_per_burst() -> None:
    limiter = EndpointLimiter("e", Limits(concurrency=8))
    slots = [limiter.acquire() for _ in range(8)]
    assert limiter.try_acquire()[0] is None  # the cap holds
    slots[5].report_429(None)  # sent as the 6th in flight: the endpoint could not take 6
    assert limiter.limit == 5
    slots[7].report_429(None)  # same burst (sent before the cap dropped): no second cut
    assert limiter.limit == 5
    for slot in slots[:5]:
        slot.report_success()
    fresh = limiter.acquire()
    assert fresh.in_flight_at_send <= 5
    state = limiter.state()
    assert state.rate_limited == 2 and state.peak_in_flight == 8


def test_successes_probe_the_cap_back_up_to_the_configured_maximum() -> None:
    limiter = EndpointLimiter("e", Limits(concurrency=4))
    limiter.acquire().report_429(None)  # in flight 1 → the cap cannot go below 1
    assert limiter.limit == 1
    for _ in range(20):
        limiter.acquire().report_success()
    assert limiter.limit == 4  # one more per `limit` successes, never past the maximum


def test_retry_after_pauses_everyone_when_the_lowered_cap_is_refused_too() -> None:
    limiter = EndpointLimiter("e", Limits(concurrency=4))
    first, second = limiter.acquire(), limiter.acquire()
    second.report_429(30.0)  # first refusal: the cap drops, only this request waits
    assert limiter.state().paused_seconds == 0
    first.report_success()
    again = limiter.acquire()  # sent under the lowered cap
    again.report_429(30.0)
    assert limiter.state().paused_seconds > 20
    slot, wait = limiter.try_acquire()
    assert slot is None and wait > 0


def test_requests_and_tokens_per_minute() -> None:
    by_requests = EndpointLimiter("e", Limits(concurrency=10, requests_per_minute=3))
    for _ in range(3):
        by_requests.acquire().report_success()
    assert by_requests.try_acquire()[0] is None
    by_tokens = EndpointLimiter("e", Limits(concurrency=10, tokens_per_minute=1000))
    by_tokens.acquire(tokens=600).report_success()
    assert by_tokens.try_acquire(tokens=600)[0] is None
    assert by_tokens.try_acquire(tokens=300)[0] is not None


def test_a_failed_request_gives_its_slot_back_without_a_verdict() -> None:
    limiter = EndpointLimiter("e", Limits(concurrency=2))
    slot = limiter.acquire()
    slot.release()
    slot.report_429(None)  # a second report is ignored
    assert limiter.limit == 2 and limiter.in_flight == 0 and limiter.rate_limited == 0
