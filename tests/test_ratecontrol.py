import asyncio
import random

from synthgen.ratecontrol import AIMDLimiter, Backoff, CircuitBreaker
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
