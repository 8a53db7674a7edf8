import asyncio
import random

from synthgen.ratecontrol import AIMDLimiter, Backoff, CircuitBreaker, RetryPolicy
from synthgen.results import Failure, FailureKind


def test_throttling_halves_the_limit_once_per_burst_and_success_grows_it_back():
    async def scenario():
        limiter = AIMDLimiter(16)
        sent = [await limiter.acquire() for _ in range(16)]
        for _ in range(16):
            await limiter.release()
        for t in sent:  # sixteen 429s from requests that were all in flight together: one cut
            limiter.on_throttled(t)
        assert limiter.limit == 8 and limiter.cuts == 1
        later = await limiter.acquire()
        await limiter.release()
        limiter.on_throttled(later)  # a request sent after the cut: a second signal
        assert limiter.limit == 4 and limiter.cuts == 2
        for _ in range(20):
            limiter.on_success()
        assert limiter.limit == 16

    asyncio.run(scenario())


def test_limit_never_drops_below_one_and_blocks_beyond_the_limit():
    async def scenario():
        limiter = AIMDLimiter(4)
        for _ in range(10):
            limiter.on_throttled(await limiter.acquire())
            await limiter.release()
        assert limiter.limit == 1
        await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0.01)
        assert not waiter.done()
        await limiter.release()
        await asyncio.wait_for(waiter, 1)

    asyncio.run(scenario())


def test_backoff_grows_with_jitter_and_honours_retry_after():
    backoff = Backoff(base=0.5, cap=8, rng=random.Random(1))
    delays = [backoff.delay(a) for a in range(1, 8)]
    assert 0 <= delays[0] <= 0.5
    assert all(d <= 8 for d in delays) and max(delays[4:]) >= 1
    assert backoff.delay(1, Failure(FailureKind.THROTTLED, "slow down", 429, retry_after=3.0)) >= 3.0


def test_breaker_opens_after_consecutive_failures_and_says_why():
    breaker = CircuitBreaker(threshold=3)
    denied = Failure(FailureKind.ACCESS_DENIED, "AccessDeniedException: no access to model", 403)
    breaker.record(denied)
    breaker.record(None)  # a success resets the count
    breaker.record(denied)
    breaker.record(denied)
    assert not breaker.is_open
    breaker.record(denied)
    assert breaker.is_open
    assert "3 failed cells in a row" in breaker.open_reason and "access_denied" in breaker.open_reason
    assert "no access to model" in breaker.open_reason


def test_gate_lets_retries_go_first_and_survives_cancelled_waiters():
    from synthgen.ratecontrol import Gate

    async def scenario():
        gate = Gate(1)
        await gate.acquire()
        order = []

        async def waiter(name, urgent):
            await gate.acquire(urgent)
            order.append(name)
            gate.release()

        normal = asyncio.create_task(waiter("new cell", False))
        doomed = asyncio.create_task(waiter("cancelled", True))
        retry = asyncio.create_task(waiter("retry", True))
        await asyncio.sleep(0)
        doomed.cancel()
        await asyncio.sleep(0)
        gate.release()
        await asyncio.gather(normal, retry)
        assert order == ["retry", "new cell"]
        assert gate.free == 1

    asyncio.run(scenario())


def test_retry_policy_retries_transient_failures_to_the_limit_failed_answers_once_and_the_rest_never():
    policy = RetryPolicy(max_attempts=4, answer_missing_attempts=2)
    throttled = Failure(FailureKind.THROTTLED, "slow down", 429)
    assert [policy.should_retry(throttled, a) for a in range(1, 5)] == [True, True, True, False]
    assert [policy.should_retry(Failure(FailureKind.TRANSIENT, "503", 503), a) for a in (1, 3, 4)] == [
        True,
        True,
        False,
    ]
    missing = Failure(FailureKind.ANSWER_MISSING, "echoed a few-shot example")
    assert [policy.should_retry(missing, a) for a in (1, 2)] == [True, False]
    for kind in (FailureKind.INVALID_REQUEST, FailureKind.ACCESS_DENIED, FailureKind.ERROR):
        assert not policy.should_retry(Failure(kind, "no"), 1)
    assert not RetryPolicy(max_attempts=3, answer_missing_attempts=1).should_retry(missing, 1)
    assert policy.delay(1, Failure(FailureKind.THROTTLED, "x", 429, retry_after=2.0)) >= 2.0


def test_the_topic_asker_follows_the_engines_retry_policy(provider_server):
    """Throttling is retried (and the answer used); a failed answer is not asked again; access denied never."""
    from synthgen.catalog import load_catalog
    from synthgen.topicmodel.asker import ModelAsker, Reply

    provider_server.script("gpt-4", [429, 429])
    asker = ModelAsker(load_catalog()["gpt-4"], attempts=3)
    [reply] = asker.ask_many(["Name this topic: bread, oven, flour"])
    assert isinstance(reply, Reply) and reply.text and len(provider_server.requests) == 3

    provider_server.reset()
    provider_server.script("gpt-4", ["malformed", 403])
    missing, denied = ModelAsker(load_catalog()["gpt-4"], attempts=3, concurrency=1).ask_many(["a", "b"])
    assert missing.text is None and missing.error.startswith("answer_missing")
    assert denied.text is None and denied.error.startswith("access_denied (HTTP 403)")
    assert len(provider_server.requests) == 2
