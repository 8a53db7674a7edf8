"""Runs a journal's planned cells: every cell in flight together under a global limit and per-model AIMD limits.

Each outcome is written to the store (awaited) before anyone is told about it, so a count on screen is always a
record on disk. Throttling and transient failures are retried with backoff; a model that keeps failing is stopped
by its circuit breaker and its remaining cells are stored as skipped, with the reason. A model whose table lists
several endpoints has its requests spread over them (synthgen.endpoints: least outstanding, a breaker each, a
retry sent elsewhere); it stops only once every endpoint has. An exception nobody expected from one call is that
cell's failure (kind `error`, made by Adapter.call), not the run's end. A store that cannot take a write after its
own retries stops the whole run with one StoreUnavailable: what was stored stays, the rest is resumable.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .adapters import Adapter, Adapters
from .catalog import ModelSpec, concurrency_limit
from .cost import Charger
from .endpoints import ENDPOINT_KINDS, Endpoint, Endpoints, EndpointStats
from .lease import LeaseLost
from .outcomes import fresh, outcome, plan_of, skipped
from .ratecontrol import AIMDLimiter, Backoff, CircuitBreaker, Gate, RetryPolicy
from .results import CallResult, Failure, FailureKind
from .store import FAILED, OK, Record, RecordRejected, Store, StoreUnavailable
from .text import shorten


@dataclass
class EngineConfig:
    concurrency: int = 64
    max_attempts: int = 6
    answer_missing_attempts: int = 2
    backoff_base: float = 0.25
    backoff_cap: float = 20.0
    breaker_threshold: int = 5
    timeout: float = 120.0
    seed: int | None = None  # jitter seed; None = system randomness
    # `--model-concurrency ALIAS=N`: a model's limit on requests in flight, over its table's (catalog.concurrency_limit)
    model_concurrency: Mapping[str, int] | None = None


@dataclass
class Heartbeat:
    """A blocking check the engine runs every `every_s` seconds in a thread; False stops the run."""

    check: Callable[[], bool]
    every_s: float
    error: Callable[[], Exception]


@dataclass(frozen=True)
class Event:
    """What the engine tells a display: `start`, `retry` (with failure kind) or `stored` (with the record); for a
    model with several endpoints also `endpoint` (one stopped: `failure` says why) and, as the run ends,
    `endpoints` (what each served). `endpoint` names the one a `start`, `retry` or `endpoint` event was about."""

    kind: str
    model: str
    record: Record | None = None
    failure: Failure | None = None
    endpoint: str | None = None
    endpoints: tuple[EndpointStats, ...] = ()


class ModelLane:
    """Per-model state: its adaptive limit, its breaker and its endpoints (each with a breaker of its own)."""

    def __init__(self, spec: ModelSpec, config: EngineConfig):
        self.spec = spec
        # --model-concurrency, else the table's cap, else --concurrency: what the AIMD limiter starts from and
        # grows back to; a 429 halves it
        override = (config.model_concurrency or {}).get(spec.alias)
        self.limiter = AIMDLimiter(concurrency_limit(spec, config.concurrency, override)[0])
        self.breaker = CircuitBreaker(config.breaker_threshold)
        self.endpoints = Endpoints(spec, config.breaker_threshold)
        self.adapter: Adapter | None = None  # set when the run starts


class Engine:
    group_size = 256  # outcomes stored in one transaction at most (stores that group writes)

    def __init__(
        self,
        store: Store,
        specs: Mapping[str, ModelSpec],
        config: EngineConfig | None = None,
        *,
        adapters: Adapters | None = None,
        on_event: Callable[[Event], None] | None = None,
        params: Mapping[str, Mapping[str, Any]] | None = None,
        charger: Charger | None = None,
    ):
        self.store = store
        # what each outcome cost, and --budget: no request is sent that could pass it (cost.Charger)
        self.charger = charger
        self.config = config or EngineConfig()
        self.specs = dict(specs)
        self.on_event = on_event or (lambda event: None)
        self.params = {k: dict(v) for k, v in (params or {}).items()}
        self.lanes = {alias: ModelLane(spec, self.config) for alias, spec in self.specs.items()}
        # A protocol's pool holds what can be in flight for it, to each endpoint: a model's requests move between
        # its endpoints, and a pool sized to their sum would make one endpoint's requests wait for another's
        # connections to close (the one with more then gets ever more: least outstanding counts the waiting too).
        per_protocol: dict[str, int] = {}
        widest: dict[str, int] = {}
        for lane in self.lanes.values():
            protocol, several = lane.spec.protocol, len(lane.endpoints.all)
            per_protocol[protocol] = per_protocol.get(protocol, 0) + lane.limiter.max_limit * several
            widest[protocol] = max(widest.get(protocol, 1), several)
        per_protocol = {p: min(n, self.config.concurrency * widest[p]) for p, n in per_protocol.items()}
        self.adapters = adapters or Adapters(
            max_connections=self.config.concurrency, timeout=self.config.timeout, per_protocol=per_protocol
        )
        backoff = Backoff(self.config.backoff_base, self.config.backoff_cap)
        if self.config.seed is not None:
            import random

            backoff.rng = random.Random(self.config.seed)
        self.retry = RetryPolicy(self.config.max_attempts, self.config.answer_missing_attempts, backoff)
        self._global: Gate | None = None
        self._writer = ThreadPoolExecutor(max_workers=getattr(store, "max_writers", 1), thread_name_prefix="store")
        self.stored = 0  # outcomes (ok, failed or skipped) written by this engine, counted in the writer threads
        self.stored_ok = 0  # of which ok
        self._stored_lock = threading.Lock()
        # outcomes waiting for the writer (stores that group writes), and whether a flush is under way
        self._pending: list[tuple[Record, asyncio.Future[Record]]] = []
        self._pending_lock = threading.Lock()
        self._flushing = False
        # The run's fail-fast latch: once a write gave up, no other write starts, and the run stops with that one
        # error. (The DynamoDB store keeps its own, for callers outside the engine: see DynamoDBStore._down.)
        self._store_down: StoreUnavailable | None = None

    async def run(
        self, cells: Mapping[str, Iterable[Record]] | Iterable[Record], *, heartbeat: Heartbeat | None = None
    ) -> None:
        """Run these cells to an outcome each (ok, failed or skipped), storing every outcome as it happens.

        `cells`: per model alias, that model's cells (read lazily: a model's iterable is consumed as its lane
        has room, so a large run is never held whole), or one iterable of all cells. `heartbeat`: a blocking
        check, run in a thread every `heartbeat.every_s` seconds (the run's lease); when it returns False the
        run stops with `heartbeat.error()`."""
        self._global = Gate(self.config.concurrency)
        by_model = dict(cells) if isinstance(cells, Mapping) else _group(cells)
        try:
            for alias in by_model:
                # once per model, before any cell: the protocol's extra was checked with the credentials, so this
                # does not fail; if it does (a UserError), the run stops here with that one line
                self.lanes[alias].adapter = self.adapters.for_spec(self.lanes[alias].spec)
            async with asyncio.TaskGroup() as outer:
                beat = outer.create_task(self._beat(heartbeat)) if heartbeat is not None else None

                async def work() -> None:
                    try:
                        async with asyncio.TaskGroup() as group:
                            for alias, model_cells in by_model.items():
                                group.create_task(self._feed(alias, model_cells, group))
                    finally:
                        if beat is not None:
                            beat.cancel()

                outer.create_task(work())
        except BaseExceptionGroup as errors:
            # every writer that met the dead store says so: the run stops with the first, once
            others = errors.split(StoreUnavailable)[1]
            if self._store_down is not None and others is None:
                raise self._store_down from None
            lost = errors.subgroup(LeaseLost)
            if lost is not None:
                raise _first(lost) from None
            raise
        finally:
            await self.adapters.aclose()
            self._writer.shutdown(wait=True, cancel_futures=self._store_down is not None)
            for alias, stats in self.endpoint_stats().items():
                if alias in by_model:
                    self.on_event(Event("endpoints", alias, endpoints=stats))

    async def _beat(self, heartbeat: Heartbeat) -> None:
        while True:
            await asyncio.sleep(heartbeat.every_s)
            if not await asyncio.to_thread(heartbeat.check):
                raise heartbeat.error()

    async def _feed(self, alias: str, cells: Iterable[Record], group: asyncio.TaskGroup) -> None:
        lane = self.lanes[alias]
        for cell in cells:
            if self.charger is not None and self.charger.stopped:
                return  # --budget reached: the rest stay as they are, resumable
            if lane.breaker.is_open:
                await self._store(skipped(cell, lane.breaker.open_reason or ""))
                continue
            sent_slot = await lane.limiter.acquire()
            group.create_task(self._run_cell(lane, cell, sent_slot))

    async def _run_cell(self, lane: ModelLane, cell: Record, _: float) -> None:
        spec = lane.spec
        plan = plan_of(cell)
        # Every try so far, earlier runs' included (the journal's count), so a resumed cell's next try is not a
        # draw it already made: adapters that seed their draws offset the seed by it.
        attempts = cell.attempts
        holding = True  # the lane slot the feeder acquired for us
        avoid: Endpoint | None = None  # where the last try failed for the endpoint's reason: retried elsewhere
        try:
            for attempt in range(1, self.retry.max_attempts + 1):  # this run's tries: the retry budget
                if lane.breaker.is_open:
                    await self._store(skipped(cell, lane.breaker.open_reason or ""))
                    return
                if not holding:
                    await lane.limiter.acquire()
                    holding = True
                assert self._global is not None
                await self._global.acquire(urgent=attempt > 1)
                if lane.breaker.is_open:  # it may have opened while this cell waited for the gate
                    self._global.release()
                    await self._store(skipped(cell, lane.breaker.open_reason or ""))
                    return
                reserved = self.charger.reserve(spec, cell.prompt) if self.charger is not None else 0.0
                if reserved is None:  # --budget: this request's worst case could pass it; the cell stays as it is
                    self._global.release()
                    return
                endpoint = lane.endpoints.pick(avoid)  # not None: the model's breaker opens when the last one stops
                assert endpoint is not None and lane.adapter is not None
                try:
                    sent_at = time.monotonic()
                    self.on_event(Event("start", spec.alias, endpoint=endpoint.name))
                    lane.endpoints.sent(endpoint)
                    try:
                        # never raises: whatever goes wrong in the call is its typed, redacted failure
                        result = await lane.adapter.call(
                            endpoint.spec, cell.prompt, self.params.get(spec.alias), round=plan, attempt=attempts
                        )
                    finally:
                        endpoint.outstanding -= 1
                finally:
                    self._global.release()
                attempts += 1
                self._served(lane, endpoint, result)
                cost = self.charger.settle(spec, reserved, result) if self.charger is not None else None
                failure = result.failure
                if failure is None:
                    lane.limiter.on_success()
                elif failure.kind is FailureKind.THROTTLED:
                    lane.limiter.on_throttled(sent_at)
                if failure is not None and self.retry.should_retry(failure, attempt):
                    await lane.limiter.release()
                    holding = False
                    avoid = endpoint if failure.kind in ENDPOINT_KINDS else None
                    self.on_event(Event("retry", spec.alias, failure=failure, endpoint=endpoint.name))
                    await asyncio.sleep(self.retry.delay(attempt, failure))
                    continue
                lane.breaker.record(failure)
                record = outcome(cell, result, attempts)
                record.cost_usd = cost
                await self._store(record)
                return
        finally:
            if holding:
                await lane.limiter.release()

    def _served(self, lane: ModelLane, endpoint: Endpoint, result: CallResult) -> None:
        """Count what an endpoint served; when that stopped it, say so, and stop the model once none is left."""
        stopped = lane.endpoints.done(endpoint, result)
        if stopped is None or result.failure is None:
            return
        alias = lane.spec.alias
        self.on_event(Event("endpoint", alias, failure=Failure(result.failure.kind, stopped), endpoint=endpoint.name))
        if lane.endpoints.all_stopped:
            lane.breaker.trip(lane.endpoints.stopped_reason(endpoint))

    def endpoint_stats(self) -> dict[str, tuple[EndpointStats, ...]]:
        """What each endpoint of every model with several served in this engine's runs (not stored anywhere)."""
        return {alias: lane.endpoints.stats() for alias, lane in self.lanes.items() if lane.endpoints.several}

    async def _store(self, record: Record) -> None:
        """Write one outcome, and return once it is stored: only then is it counted (the `stored` event)."""
        loop = asyncio.get_running_loop()
        if self.store.groups_writes:
            # group commit: the outcome joins those waiting for the writer, which stores them all in one
            # transaction; each caller still waits for its own commit
            write: asyncio.Future[Record] = loop.create_future()
            with self._pending_lock:
                self._pending.append((record, write))
                idle, self._flushing = not self._flushing, True
            if idle:
                flush = loop.run_in_executor(self._writer, self._flush, loop)
                flush.add_done_callback(lambda done: done.cancelled() or done.exception())
        else:
            write = loop.run_in_executor(self._writer, self._put_all, [record])
            write = asyncio.ensure_future(_only(write))
        # an outcome nobody awaits any more (the run was stopped around it) is not worth a warning
        write.add_done_callback(lambda done: done.cancelled() or done.exception())
        # shield: once a write has started it finishes, even when Ctrl-C cancels the run around it
        stored = await asyncio.shield(write)
        self.on_event(Event("stored", stored.model, record=stored))

    def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        """In the writer thread: store every waiting outcome, a group at a time, until none waits."""
        while True:
            with self._pending_lock:
                batch, self._pending = self._pending[: self.group_size], self._pending[self.group_size :]
                if not batch:
                    self._flushing = False
                    return
            try:
                stored = self._put_all([record for record, _ in batch])
                outcomes: list[tuple[str, Any]] = [("result", r) for r in stored]
            except Exception as exc:  # noqa: BLE001 - the store is down, or a bug: every waiting caller hears it
                outcomes = [("exception", exc)] * len(batch)
            for (_, future), (how, value) in zip(batch, outcomes, strict=True):
                try:
                    loop.call_soon_threadsafe(_settle, future, how, value)
                except RuntimeError:  # the loop is closed (the run was stopped): the outcome is stored all the same
                    pass

    def _put_all(self, records: list[Record]) -> list[Record]:
        """In a writer thread: store these outcomes, and return what was stored for each.

        Once the store has failed, later writes fail at once instead of each waiting. A record the store cannot
        take as it is (RecordRejected: nothing was written) is replaced by a failure record saying why, so the
        cell still ends with one outcome and the other cells go on."""
        if self._store_down is not None:
            raise self._store_down
        try:
            results = self.store.put_records(records)
            rejected = [i for i, result in enumerate(results) if isinstance(result, RecordRejected)]
            if rejected:
                for i in rejected:
                    records[i] = fresh(
                        records[i],
                        status=FAILED,
                        failure_kind=str(FailureKind.ERROR),
                        failure_message=shorten(f"the outcome could not be stored: {results[i]}"),
                        attempts=records[i].attempts,
                        latency_s=records[i].latency_s,
                    )
                again = self.store.put_records([records[i] for i in rejected])
                if any(isinstance(result, RecordRejected) for result in again):
                    raise next(result for result in again if isinstance(result, RecordRejected))
        except StoreUnavailable as exc:
            if self._store_down is None:
                self._store_down = exc
            raise
        with self._stored_lock:
            self.stored += len(records)
            self.stored_ok += sum(record.status == OK for record in records)
        return records


async def _only(write: Awaitable[list[Record]]) -> Record:
    return (await write)[0]


def _settle(future: asyncio.Future[Record], how: str, value: Any) -> None:
    if future.done():
        return
    if how == "result":
        future.set_result(value)
    else:
        future.set_exception(value)


def _first(group: BaseExceptionGroup) -> BaseException:
    found: BaseException = group
    while isinstance(found, BaseExceptionGroup):
        found = found.exceptions[0]
    return found


def _group(cells: Iterable[Record]) -> dict[str, list[Record]]:
    by_model: dict[str, list[Record]] = {}
    for cell in cells:
        by_model.setdefault(cell.model, []).append(cell)
    return by_model
