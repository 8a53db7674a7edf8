"""Verifying a run: judge every kept text, decide each attempt, and (generate --verify) ask again until the
label holds.

    >>> from synthgen.verify import verify_run
    >>> result = verify_run("last", store="sqlite:///synthgen.db")          # judges: the bundled model
    >>> result.agreement().overall                                          # share of first answers judged right

One pass (a wave): every text without a current verdict of each of its judges is judged (the engine runs the
verdicts as cells: see `sinks.py`); each attempt whose judges have all answered gets the panel's decision
(`decide.py`); with regeneration, every cell whose latest attempt was rejected and that has regenerations left is
asked again with a new seed (the engine again, into the attempts layer). Waves repeat until no cell has work
left. Everything is read back from the store at each step, so an interrupted verification resumes where it
stopped, and nothing is ever asked twice: a verdict or attempt already stored ok is never sent again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..adapters import Adapters
from ..catalog import ModelSpec, load_catalog
from ..engine import Engine, EngineConfig, Event, Heartbeat
from ..generation import RunSummary, sigterm_as_interrupt
from ..lease import RENEW_EVERY_S, RunLease
from ..planning import check_settings, task_models
from ..store import OK, Record, RunInfo, Store, reading
from ..store.verdicts import PANEL, text_sha
from .decide import decide, panel_verdict
from .judges import JudgeAdapters, cell_payload
from .report import Agreement, agreement
from .settings import VerifySettings, default_judges, judges_for, resolve_judges
from .sinks import AttemptSink, VerdictSink
from .state import REJECTED, CellCheck, read_checks


@dataclass
class VerifyResult:
    run: RunInfo
    settings: VerifySettings
    judges: tuple[str, ...]
    checks: dict[str, CellCheck]
    verdicts_stored: int = 0  # judges' verdicts stored by this call
    regenerated: int = 0  # new answers asked for by this call
    waves: int = 0
    wall_s: float = 0.0
    interrupted: bool = False
    generation: RunSummary | None = None  # generate --verify: the generation's own summary
    notes: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    def agreement(self) -> Agreement:
        return agreement(self.checks, self.run.task_info().names)


@dataclass
class _Options:
    concurrency: int = 64
    max_attempts: int = 6
    timeout: float = 120.0
    catalog_dir: str | None = None
    on_event: Callable[[Event], None] | None = None

    def config(self) -> EngineConfig:
        return EngineConfig(concurrency=self.concurrency, max_attempts=self.max_attempts, timeout=self.timeout)


def _run_engine(engine: Engine, cells: dict[str, Iterable[Record]], lease: RunLease) -> None:
    heartbeat = Heartbeat(lease.renew, RENEW_EVERY_S, lease.lost)
    with sigterm_as_interrupt():
        asyncio.run(engine.run(cells, heartbeat=heartbeat))


def _judge_cells(
    handle: Store, run: RunInfo, checks: dict[str, CellCheck], judges: tuple[str, ...], settings: VerifySettings
) -> dict[str, list[Record]]:
    """Per judge, the texts it has no current ok verdict on (a stale one is replaced, a failed one retried)."""
    stored = {(v.record_id, v.attempt, v.judge): v for v in handle.verdicts(run.run_id) if v.judge != PANEL}
    cells: dict[str, list[Record]] = {}
    for check in checks.values():
        for attempt, text in sorted(check.texts.items()):
            for judge in judges_for(check.model, judges, settings.self_judge):
                old = stored.get((check.record_id, attempt, judge))
                current = old is not None and old.text_sha == text_sha(text)
                if current and old.status == OK:
                    continue
                stale_ok = old is not None and old.status == OK and not current
                cells.setdefault(judge, []).append(
                    Record(
                        run_id=check.run_id,
                        round=check.round,
                        model=check.model,
                        model_id=judge,
                        label=check.label,
                        topics=[],
                        prompt=cell_payload(text, attempt, replace=stale_ok),
                        attempts=old.tries if old is not None and current else 0,
                    )
                )
    return cells


def _judge(
    handle: Store, run: RunInfo, specs: list[ModelSpec], settings: VerifySettings, opts: _Options, lease: RunLease
) -> int:
    checks = read_checks(handle, run.run_id)
    cells = _judge_cells(handle, run, checks, tuple(s.alias for s in specs), settings)
    if not cells:
        return 0
    sink = VerdictSink(handle, {s.alias: s.model_id for s in specs})
    config = opts.config()
    adapters = JudgeAdapters(run.task_info(), Adapters(max_connections=config.concurrency, timeout=config.timeout))
    engine = Engine(sink, {s.alias: s for s in specs}, config, adapters=adapters, on_event=opts.on_event)  # type: ignore[arg-type]
    _run_engine(engine, cells, lease)
    return engine.stored


def _decide(handle: Store, run: RunInfo, judges: tuple[str, ...], settings: VerifySettings) -> None:
    """The panel's decision on every attempt whose judges have all answered (ok or finally failed)."""
    labels = run.task_info().names
    panels = []
    for check in read_checks(handle, run.run_id).values():
        for attempt, text in sorted(check.texts.items()):
            wanted = judges_for(check.model, judges, settings.self_judge)
            given = [v for v in check.verdicts.get(attempt, []) if v.judge in wanted]
            if {v.judge for v in given} != set(wanted):
                continue  # a judge has not answered yet
            decision = decide(given, check.label, labels, settings)
            if decision is None:
                continue
            old = check.panels.get(attempt)
            new = panel_verdict(given[0], decision, settings, text_sha(text))
            if old is not None and (old.label, old.accepted, old.confidence, old.method) == (
                new.label,
                new.accepted,
                new.confidence,
                new.method,
            ):
                continue
            panels.append(new)
    if panels:
        handle.put_verdicts(panels, replace=True)


def _to_regenerate(checks: dict[str, CellCheck], settings: VerifySettings) -> list[tuple[CellCheck, int]]:
    """(cell, next attempt number) for every cell whose latest attempt was rejected (or
    brought no answer) and that has regenerations left."""
    todo = []
    for check in checks.values():
        if check.status != REJECTED or 0 not in check.texts:
            continue
        last = max([0, *check.attempts])
        if last >= settings.max_regenerations:
            continue
        attempt = check.attempts.get(last)
        done = attempt is not None and attempt.status != OK  # a regeneration that brought no answer
        panel = check.panels.get(last)
        if done or (panel is not None and panel.accepted is False):
            todo.append((check, last + 1))
    return todo


def _regenerate(handle: Store, run: RunInfo, todo: list[tuple[CellCheck, int]], opts: _Options, lease: RunLease) -> int:
    records = {r.id: r for r in handle.records(run.run_id, status=OK)}
    catalog = load_catalog(opts.catalog_dir)
    models = sorted({check.model for check, _ in todo})
    specs = {s.alias: s for s in task_models(catalog.select(models), run.task_info(), None, run)}
    numbers: dict[str, tuple[int, int]] = {}
    cells: dict[str, list[Record]] = {}
    for check, number in todo:
        record = records[check.record_id]
        # every try so far, the regenerations' included: the new attempt's seed is one no try has drawn
        first_try = record.attempts + sum(a.tries for a in check.attempts.values())
        numbers[record.id] = (number, first_try)
        cells.setdefault(record.model, []).append(dataclasses.replace(record, attempts=first_try))
    engine = Engine(AttemptSink(handle, numbers), specs, opts.config(), on_event=opts.on_event, params=run.params)  # type: ignore[arg-type]
    _run_engine(engine, cells, lease)
    return engine.stored


def verify_stored_run(
    handle: Store,
    run: RunInfo,
    settings: VerifySettings,
    *,
    regenerate: bool = False,
    catalog_dir: str | None = None,
    options: dict[str, Any] | None = None,
) -> VerifyResult:
    """Judge (and with `regenerate`, ask again) until nothing is left to do; the run's lease held throughout."""
    settings.check()
    opts = _Options(**{**(options or {}), "catalog_dir": catalog_dir})
    check_settings(opts.concurrency, opts.max_attempts, opts.timeout)
    catalog = load_catalog(catalog_dir)
    judges = settings.judges or default_judges(catalog, run.models)
    specs = resolve_judges(catalog, judges)
    settings = dataclasses.replace(settings, judges=tuple(judges))  # the panel records the judges it had
    result = VerifyResult(run, settings, tuple(judges), {})
    started = time.perf_counter()
    lease = RunLease(handle, run.run_id)
    lease.claim()
    try:
        while True:
            result.waves += 1
            result.verdicts_stored += _judge(handle, run, specs, settings, opts, lease)
            _decide(handle, run, result.judges, settings)
            todo = _to_regenerate(read_checks(handle, run.run_id), settings) if regenerate else []
            if not todo:
                break
            result.regenerated += _regenerate(handle, run, todo, opts, lease)
    except KeyboardInterrupt:
        result.interrupted = True
    finally:
        lease.release()
    result.checks = read_checks(handle, run.run_id)
    result.wall_s = time.perf_counter() - started
    return result


def verify_run(
    run: str | None = "last",
    *,
    store: str | Store | None = None,
    judges: Iterable[str] | None = None,
    aggregate: str = "vote",
    min_confidence: float = 0.0,
    self_judge: bool = False,
    max_regenerations: int = 0,
    catalog_dir: str | None = None,
    concurrency: int = 64,
    max_attempts: int = 6,
    timeout: float = 120.0,
    on_event: Callable[[Event], None] | None = None,
) -> VerifyResult:
    """`synthgen verify`: every kept text of a run judged by each of its judges, verdicts journaled, each answer
    decided by the panel. With `max_regenerations` > 0, rejected cells are also asked again (as `generate
    --verify` does). Returns the verification read back from the store."""
    settings = VerifySettings(tuple(judges or ()), aggregate, min_confidence, max_regenerations, self_judge)
    settings.check()
    options = {"concurrency": concurrency, "max_attempts": max_attempts, "timeout": timeout, "on_event": on_event}
    with reading(store) as handle:
        info = handle.resolve_run(run)
        return verify_stored_run(
            handle, info, settings, regenerate=max_regenerations > 0, catalog_dir=catalog_dir, options=options
        )
