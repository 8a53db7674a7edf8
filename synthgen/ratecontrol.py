"""Rate control above the transport: per-model adaptive concurrency (AIMD), jittered backoff, a circuit breaker,
and the one retry policy every caller of `Adapter.call` follows (the engine, the topic labeler's asker).

SDK-level retries are switched off in every adapter; these pieces decide when and how often a call is retried.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import deque
from dataclasses import dataclass, field

from .results import Failure, FailureKind


class AIMDLimiter:
    """An asyncio concurrency limit that halves on throttling and grows by one slot per success.

    Only a 429 for a request sent after the last cut lowers the limit again, so one burst of throttled requests
    that were all in flight together counts as one congestion signal, not twenty.
    """

    def __init__(self, max_limit: int, *, min_limit: int = 1, decrease: float = 0.5):
        self.max_limit = max(1, max_limit)
        self.min_limit = max(1, min(min_limit, self.max_limit))
        self.decrease = decrease
        self.limit = float(self.max_limit)
        self.in_flight = 0
        self.last_cut = 0.0
        self.cuts = 0
        self._cond = asyncio.Condition()

    async def acquire(self) -> float:
        """Wait for a slot; returns the send time to hand back to `on_throttled`."""
        async with self._cond:
            await self._cond.wait_for(lambda: self.in_flight < int(self.limit))
            self.in_flight += 1
        return time.monotonic()

    async def release(self) -> None:
        async with self._cond:
            self.in_flight -= 1
            self._cond.notify_all()

    def on_success(self) -> None:
        self.limit = min(float(self.max_limit), self.limit + 1.0)

    def on_throttled(self, sent_at: float) -> None:
        if sent_at < self.last_cut:
            return  # sent before the last cut: already accounted for
        self.limit = max(float(self.min_limit), self.limit * self.decrease)
        self.last_cut = time.monotonic()
        self.cuts += 1


class Gate:
    """The run-wide concurrency limit: a FIFO semaphore where a retry goes ahead of cells not yet started, so
    a cell that was throttled or failed once is not also sent to the back of the run."""

    def __init__(self, limit: int):
        self.free = limit
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._normal: deque[asyncio.Future[None]] = deque()

    async def acquire(self, urgent: bool = False) -> None:
        if self.free > 0 and not self._urgent and not self._normal:
            self.free -= 1
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._normal
        queue.append(future)
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                self.release()  # the slot was handed to us as we were cancelled: pass it on
            elif future in queue:  # release() may already have dropped it
                queue.remove(future)
            raise

    def release(self) -> None:
        for queue in (self._urgent, self._normal):
            while queue:
                future = queue.popleft()
                if not future.done():
                    future.set_result(None)
                    return
        self.free += 1


@dataclass
class Backoff:
    """Exponential backoff with full jitter (AWS's recommendation: fewest collisions, shortest tails), honouring a
    provider's Retry-After when it gives one."""

    base: float = 0.25
    cap: float = 20.0
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, failure: Failure | None = None) -> float:
        ceiling = min(self.cap, self.base * (2 ** max(0, attempt - 1)))
        wait = self.rng.uniform(0, ceiling)
        if failure is not None and failure.retry_after is not None:
            wait = max(wait, min(failure.retry_after, self.cap))
        return wait


@dataclass
class RetryPolicy:
    """Which failed calls are tried again, and after how long: throttling and transient failures (5xx, timeouts)
    up to `max_attempts` tries; a failed answer (answer_missing: no text, or a copied few-shot example) up to
    `answer_missing_attempts`, since it is rarely better the next time; invalid requests, access denied and
    errors on synthgen's side never."""

    max_attempts: int = 6
    answer_missing_attempts: int = 2
    backoff: Backoff = field(default_factory=Backoff)

    def should_retry(self, failure: Failure, attempt: int) -> bool:
        """`attempt` is the 1-based try that just failed."""
        if attempt >= self.max_attempts:
            return False
        if failure.kind is FailureKind.ANSWER_MISSING:
            return attempt < self.answer_missing_attempts
        return failure.kind.retryable

    def delay(self, attempt: int, failure: Failure | None = None) -> float:
        return self.backoff.delay(attempt, failure)


@dataclass
class CircuitBreaker:
    """Opens after `threshold` cells of one model end in a failure in a row; then its remaining cells are skipped.
    (An endpoint's breaker counts its requests instead: `unit`, see synthgen.endpoints.)"""

    threshold: int = 5
    consecutive: int = 0
    open_reason: str | None = None
    last_kinds: list[str] = field(default_factory=list)
    unit: str = "cells"

    @property
    def is_open(self) -> bool:
        return self.open_reason is not None

    def record(self, failure: Failure | None) -> None:
        if failure is None:
            self.consecutive = 0
            self.last_kinds.clear()
            return
        self.consecutive += 1
        self.last_kinds.append(str(failure.kind))
        if self.consecutive >= self.threshold and not self.is_open:
            kinds = sorted(set(self.last_kinds[-self.threshold :]))
            self.open_reason = (
                f"stopped after {self.consecutive} failed {self.unit} in a row ({', '.join(kinds)}); "
                f"last: {failure.message}"
            )

    def trip(self, reason: str) -> None:
        """Open now, for a reason found elsewhere (every endpoint of the model stopped)."""
        if not self.is_open:
            self.open_reason = reason


def is_permanent(kind: FailureKind) -> bool:
    return kind in (FailureKind.ACCESS_DENIED, FailureKind.INVALID_REQUEST)
