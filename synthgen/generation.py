"""The main job: plan a run, journal its cells, run them through the engine, summarise from the store.

>>> import synthgen
>>> summary = synthgen.generate(rounds=20, models=["gpt-4o-mini"], store="sqlite:///synthgen.db", seed=1)

Planning (which models, every cell) is `planning.py`; this module opens the store, takes the run's lease, feeds
each model's unfinished cells to the engine as they are read, and reads the summary back.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .catalog import check_model_concurrency, concurrency_limit, limits_line, load_catalog
from .cost import Charger, Meter, Prices, check_budget
from .engine import Engine, EngineConfig, Event, Heartbeat
from .lease import RENEW_EVERY_S, RunLease
from .planning import (
    check_credentials,
    check_settings,
    new_run,
    new_run_id,
    plan_cells,
    plan_models,
    task_models,
)
from .store import DEFAULT_STORE, OK, Record, RunInfo, Store, StoreUnavailable, open_store
from .summary import ModelSummary
from .summary import summarize as summarize_records
from .workers.shares import PARENT_CHECK_S, WorkerJob, check_spread, check_workers, make_jobs, plan_shares

__all__ = ["generate", "RunSummary", "summarize", "plan_cells", "plan_models"]


@dataclass
class RunSummary:
    run: RunInfo
    models: dict[str, ModelSummary]
    wall_s: float | None = None
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)
    closing: list[str] = field(default_factory=list)  # printed after the summary: batch jobs, the budget
    batch_live: int = 0  # batch jobs still at the provider when generate returned

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def total(self) -> int:
        return sum(m.ok + m.failed + m.planned for m in self.models.values())

    @property
    def ok(self) -> int:
        return sum(m.ok for m in self.models.values())


def summarize(store: Store, run: RunInfo) -> RunSummary:
    """The run's summary, read back from the store."""
    return RunSummary(run=run, models=summarize_records(run, store.records(run.run_id), run.task_info().names))


def generate(
    rounds: int | None = None,
    models: Sequence[str] | None = None,
    *,
    store: str | Store | None = None,
    seed: int | None = None,
    task: str | None = None,
    template: str | None = None,
    topics: str | None = None,
    concurrency: int = 64,
    max_attempts: int = 6,
    timeout: float = 120.0,
    backoff_base: float = 0.25,
    params: dict[str, dict[str, Any]] | None = None,
    resume: str | None = None,
    catalog_dir: str | None = None,
    tasks_dir: str | None = None,
    model_path: str | None = None,
    model_concurrency: Mapping[str, int] | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_start: Callable[..., None] | None = None,
    batch: bool = False,
    batch_only: bool = False,
    batch_s3: str | None = None,
    batch_role: str | None = None,
    batch_retry: str = "online",
    wait: bool = False,
    poll_s: float = 30.0,
    budget: float | None = None,
    on_batch: Callable[[list[Any]], None] | None = None,
    workers: int = 1,
) -> RunSummary:
    """Plan (or resume) a run and generate every cell; returns the per-model summary read back from the store.

    Everything the user gave is checked before the store is opened: bad input writes nothing at all.
    `task` names the kind of dataset (a task name, looked up in `tasks_dir` or SYNTHGEN_TASKS and then the shipped
    tasks, or a task file; default `sentiment`); `template` and `topics` override the task's own.
    `model_path` points the `local-gguf` entry at this GGUF file for this call (a new run that names local-gguf,
    or the resume of one), without touching the environment.
    `batch` sends the cells of every model that takes batch jobs as provider batch jobs (synthgen.batch; `wait`
    polls them to the end), `budget` caps what the run spends, in USD (synthgen.cost). `workers` > 1 splits the
    cells over that many processes (synthgen.workers), which open the store by its URL."""
    check_settings(concurrency, max_attempts, timeout)
    check_workers(workers, concurrency)
    catalog = load_catalog(catalog_dir)
    if model_path is not None:
        from .adapters.gguf import MODEL_PATH_ALIAS, with_model_path

        catalog = catalog.with_entry(with_model_path(catalog.get_model(MODEL_PATH_ALIAS), model_path))
    owns_store = not isinstance(store, Store)
    note = None
    if resume is None:
        new = new_run(catalog, rounds, models, task, tasks_dir, template, topics)
        specs, note = new.specs, new.note
        check_spread(workers, {s.alias: s.protocol for s in specs}, batch)
        check_credentials(specs)
        batch_opts = None
        if batch or batch_only or batch_s3 or batch_role:  # the batch package is imported only for batch runs
            from .batch import check_batch

            batch_opts = check_batch(
                specs, batch=batch, only=batch_only, s3=batch_s3, role=batch_role, retry=batch_retry
            )
        check_budget(budget, specs, params or {}, set(batch_opts.models) if batch_opts else set())
        if batch_opts is not None:
            from .batch.preflight import preflight

            preflight(specs, batch_opts)
        run = new.run_info(new_run_id(), seed, params, batch=batch_opts.to_dict() if batch_opts else {})
        handle = open_store(store, create=True) if owns_store else store
    else:
        handle = open_store(store, create=False) if owns_store else store
    lease = None
    try:
        if resume is None:
            run.store_url = handle.url
            planned = new.cells(run)
            handle.create_run(run, planned)
            lease = RunLease(handle, run.run_id)
            lease.claim()
        else:
            run = handle.resolve_run(resume, flag="--resume")
            specs = task_models(catalog.select(run.models), run.task_info(), None, run)
            check_spread(workers, {s.alias: s.protocol for s in specs}, bool(run.batch))
            check_credentials(specs)
            batch_opts = _batch_options(run)
            check_budget(budget, specs, run.params or params or {}, set(batch_opts.models) if batch_opts else set())
            lease = RunLease(handle, run.run_id)
            lease.claim()  # before anything is read or changed: a second process on this run stops here
            params = run.params or params
            handle.set_run_status(run.run_id, "running")
        counts = handle.counts(run.run_id)
        todo = {alias: sum(n for status, n in counts.get(alias, {}).items() if status != OK) for alias in run.models}
        check_model_concurrency(model_concurrency or {}, specs)
        limits = {s.alias: concurrency_limit(s, concurrency, (model_concurrency or {}).get(s.alias))[0] for s in specs}
        shares = plan_shares(workers, concurrency, limits, todo) if workers > 1 and any(todo.values()) else []
        if on_start:  # (run, cells still to do per model, a note or None, the in-flight limits line)
            spread = f"; over {len(shares)} worker processes" if len(shares) > 1 else ""
            on_start(run, todo, note, limits_line(specs, concurrency, model_concurrency) + spread)
        config = EngineConfig(
            concurrency=concurrency,
            max_attempts=max_attempts,
            timeout=timeout,
            backoff_base=backoff_base,
            model_concurrency=model_concurrency,
        )
        by_alias = {s.alias: s for s in specs}
        meter = Meter(budget, spent=handle.run_cost(run.run_id)[0] or 0.0) if budget is not None else None
        charger = _charger(run, by_alias, params, meter)
        engines: list[Engine] = []
        pools: list[Any] = []  # workers.pool.PoolResult

        def online(cells: Mapping[str, Any]) -> None:
            engines.append(Engine(handle, by_alias, config, on_event=on_event, params=params, charger=charger))
            asyncio.run(engines[-1].run(cells, heartbeat=heartbeat))

        engine = Engine(handle, by_alias, config, on_event=on_event, params=params, charger=charger)
        engines.append(engine)
        cells = {alias: _unfinished(handle, run.run_id, alias) for alias in run.models if todo[alias]}
        heartbeat = Heartbeat(lease.renew, RENEW_EVERY_S, lease.lost)
        closing: list[str] = []
        live = 0
        started = time.perf_counter()
        interrupted = False
        try:
            try:
                with sigterm_as_interrupt():
                    if shares:
                        pools.append(_spread(handle, run, shares, by_alias, config, params, meter, lease, on_event))
                        interrupted = pools[-1].outcome(lease, handle, run)
                        if meter is not None and pools[-1].budget_stopped:
                            meter.spent, meter.stopped = handle.run_cost(run.run_id)[0] or 0.0, True
                    elif batch_opts is None:
                        asyncio.run(engine.run(cells, heartbeat=heartbeat))
                    else:
                        from .batch.flow import run_batch

                        closing, live = run_batch(
                            handle,
                            run,
                            by_alias,
                            batch_opts,
                            _charger(run, by_alias, params, meter, batch=True),
                            lease,
                            online=online,
                            unfinished=lambda alias: _unfinished(handle, run.run_id, alias),
                            todo=todo,
                            params=params,
                            max_attempts=max_attempts,
                            wait=wait,
                            poll_s=poll_s,
                            on_stored=(lambda r: on_event(Event("stored", r.model, record=r))) if on_event else None,
                            on_poll=on_batch,
                        )
            except KeyboardInterrupt:
                interrupted = True
            stopped = meter is not None and meter.stopped
            status = "interrupted" if interrupted or stopped else "submitted" if live else "done"
            handle.set_run_status(run.run_id, status)
            run.status = status
            summary = summarize(handle, run)
        except StoreUnavailable as exc:
            # cells already ok before this run plus the ok outcomes it stored
            stored_ok = sum(e.stored_ok for e in engines) + sum(p.stored_ok for p in pools)
            done = run.rounds * len(run.models) - sum(todo.values()) + stored_ok
            lease.forget()  # the store is gone: nothing to release; the lease expires
            lease = None
            raise _stopped(handle, run, exc, done=done) from None
        summary.wall_s = time.perf_counter() - started
        summary.interrupted = interrupted
        summary.batch_live = live
        summary.closing = list(closing)
        store_flag = "" if handle.url == DEFAULT_STORE else f" --store {handle.url}"
        if live:
            summary.closing.append(
                f"{live} batch job{'s' if live > 1 else ''} at the provider; collect with: synthgen batch collect "
                f"{run.run_id}{store_flag} (or wait with: synthgen generate --resume {run.run_id}{store_flag} --wait)"
            )
        if meter is not None and meter.stopped:
            summary.closing.append(meter.line(run.run_id, store_flag))
        if note:
            summary.notes.append(note)
        return summary
    finally:
        try:
            if lease is not None:
                lease.release()
        except StoreUnavailable:
            pass  # it expires on its own
        finally:
            if owns_store:
                handle.close()


def _batch_options(run: RunInfo) -> Any:
    if not run.batch:
        return None
    from .batch import BatchOptions

    return BatchOptions.from_dict(run.batch)


def _charger(
    run: RunInfo, by_alias: Mapping[str, Any], params: Any, meter: Meter | None, batch: bool = False
) -> Charger:
    """Each outcome's cost at the prices the run was planned with, and the budget's check (`meter`)."""
    prices = {a: Prices.of_plan((run.model_plans.get(a) or {}).get("prices"), s) for a, s in by_alias.items()}
    return Charger(by_alias, prices, params, meter, batch=batch)


def _spread(
    handle: Store,
    run: RunInfo,
    shares: Sequence[Any],
    by_alias: Mapping[str, Any],
    config: EngineConfig,
    params: Any,
    meter: Meter | None,
    lease: RunLease,
    on_event: Callable[[Event], None] | None,
) -> Any:
    """The run's cells split over worker processes (synthgen.workers), each running `_work_share`; returns
    their workers.pool.PoolResult."""
    from .workers.pool import run_workers

    options = {"max_attempts": config.max_attempts, "timeout": config.timeout, "backoff_base": config.backoff_base}
    left = None if meter is None else meter.budget - meter.spent
    jobs = make_jobs(handle.url, run.run_id, shares, by_alias, options, params, left, on_event is not None)
    relay = (lambda events: [on_event(e) for e in events]) if on_event else None
    return run_workers(_work_share, jobs, on_events=relay, renew=lease.renew, renew_every_s=RENEW_EVERY_S)


def _work_share(conn: Any, job: WorkerJob) -> None:
    """A worker process of `generate --workers`: the engine on its share of a run's unfinished cells."""
    from .workers.side import worker_side

    with worker_side(conn, job) as side:
        handle = open_store(job.store_url, create=False)
        try:
            run = handle.get_run(job.run_id)
            assert run is not None, job.run_id
            share = job.share
            config = EngineConfig(concurrency=share.concurrency, model_concurrency=share.limits, **job.options)
            meter = Meter(job.budget) if job.budget is not None else None
            charger = _charger(run, job.specs, job.params, meter)
            engine = Engine(handle, job.specs, config, on_event=side.on_event, params=job.params, charger=charger)
            cells = {
                alias: (r for r in _unfinished(handle, run.run_id, alias) if share.takes(alias, r.round))
                for alias in share.parts
            }
            heartbeat = Heartbeat(side.parent_alive, PARENT_CHECK_S, side.orphaned)
            try:
                side.run(lambda: engine.run(cells, heartbeat=heartbeat))
            finally:
                side.report.stored, side.report.stored_ok = engine.stored, engine.stored_ok
            side.report.budget_stopped = meter is not None and meter.stopped
        finally:
            handle.close()


def _unfinished(store: Store, run_id: str, alias: str) -> Iterator[Record]:
    """A model's cells without an ok record, read as the engine takes them."""
    return (r for r in store.records(run_id, model=alias) if r.status != OK)


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a `kill`, a container stopping) ends a run the way Ctrl-C does: it raises SIGINT, so asyncio's
    own handler cancels the run, stored outcomes stay, and the run is marked `interrupted`. Only the main thread
    can set signal handlers; elsewhere (a notebook's worker thread) SIGTERM keeps its default."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: signal.raise_signal(signal.SIGINT))
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _stopped(handle: Store, run: RunInfo, exc: StoreUnavailable, done: int) -> StoreUnavailable:
    """The one line for a store that went away mid-run; the run is marked interrupted if the store still can be.

    `done` counts the cells with an ok record: what a resume will not send again."""
    try:
        handle.set_run_status(run.run_id, "interrupted")
    except StoreUnavailable:
        pass  # it stays `running`; --resume finishes it all the same
    store_flag = "" if handle.url == DEFAULT_STORE else f" --store {handle.url}"
    total = run.rounds * len(run.models)
    return StoreUnavailable(
        f"{exc}: {done} of {total} cells stored ok; resume with synthgen generate --resume {run.run_id}{store_flag}"
    )
