"""The main job: plan a run, journal its cells, run them through the engine, summarise from the store.

    >>> import synthgen
    >>> summary = synthgen.generate(rounds=20, models=["gpt-4o-mini"], store="sqlite:///synthgen.db", seed=1)
"""

from __future__ import annotations

import asyncio
import secrets as _random_token
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .adapters import credentials_status
from .catalog import Catalog, ModelSpec, load_catalog
from .engine import Engine, EngineConfig, Event
from .errors import UserError
from .prompt import load_template, load_topics, plan_run
from .store import OK, PLANNED, Record, RunInfo, Store, open_store, utc_now

LOCAL_DEFAULT = "local-gemma"


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + _random_token.token_hex(2)


def default_models(catalog: Catalog) -> tuple[list[str], str | None]:
    """Every model whose credentials are present; else the bundled local model; else a clear error.

    Returns the aliases and a one-line note for the user (or None)."""
    present = [alias for alias, spec in catalog.items()
               if alias != LOCAL_DEFAULT and spec.protocol != "llama-cpp" and credentials_status(spec)[0]]
    if present:
        return present, f"models with credentials present: {', '.join(present)} (choose with --models)"
    if LOCAL_DEFAULT in catalog:
        ok, hint = credentials_status(catalog[LOCAL_DEFAULT])
        if ok:
            return [LOCAL_DEFAULT], (f"no cloud credentials found: using the bundled local model {LOCAL_DEFAULT}; "
                                     "set OPENAI_API_KEY, GEMINI_API_KEY or AWS credentials for cloud models")
        raise UserError(f"no model has credentials and the bundled local model is not installed ({hint}); "
                        "or set OPENAI_API_KEY, GEMINI_API_KEY or AWS credentials (see `synthgen models`)")
    raise UserError("no model has credentials: set OPENAI_API_KEY, GEMINI_API_KEY or AWS credentials, "
                    "or SYNTHGEN_LOCAL_BASE_URL for a local server (see `synthgen models`)")


def check_credentials(specs: Sequence[ModelSpec]) -> None:
    for spec in specs:
        present, hint = credentials_status(spec)
        if not present:
            raise UserError(f"--models {spec.alias}: credentials missing; {hint}")


@dataclass
class ModelSummary:
    model: str
    ok: int = 0
    failures: dict[str, int] = field(default_factory=dict)
    planned: int = 0
    latency_p50: float | None = None
    latency_p95: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    tokens_per_s: float | None = None  # output tokens per second of answer latency

    @property
    def failed(self) -> int:
        return sum(self.failures.values())


@dataclass
class RunSummary:
    run: RunInfo
    models: dict[str, ModelSummary]
    wall_s: float | None = None
    interrupted: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def total(self) -> int:
        return sum(m.ok + m.failed + m.planned for m in self.models.values())

    @property
    def ok(self) -> int:
        return sum(m.ok for m in self.models.values())


def _quantile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def summarize(store: Store, run: RunInfo) -> RunSummary:
    """Per-model figures, computed from the stored records (the source of truth), not from what was counted."""
    models = {alias: ModelSummary(alias) for alias in run.models}
    latencies: dict[str, list[float]] = {alias: [] for alias in run.models}
    for rec in store.records(run.run_id):
        summary = models.setdefault(rec.model, ModelSummary(rec.model))
        if rec.status == OK:
            summary.ok += 1
            if rec.latency_s is not None:
                latencies.setdefault(rec.model, []).append(rec.latency_s)
            summary.input_tokens += rec.input_tokens or 0
            summary.output_tokens += rec.output_tokens or 0
        elif rec.status == PLANNED:
            summary.planned += 1
        else:
            kind = rec.failure_kind or rec.status
            summary.failures[kind] = summary.failures.get(kind, 0) + 1
    for alias, summary in models.items():
        values = sorted(latencies.get(alias, []))
        summary.latency_p50 = _quantile(values, 0.50)
        summary.latency_p95 = _quantile(values, 0.95)
        if values and summary.output_tokens:
            summary.tokens_per_s = summary.output_tokens / sum(values)
    return RunSummary(run=run, models=models)


def plan_cells(run: RunInfo, specs: Sequence[ModelSpec], template_name: str, topics_name: str) -> list[Record]:
    template = load_template(template_name)
    categories = load_topics(topics_name)
    plans = plan_run(run.rounds, run.seed, template, categories)
    now = utc_now()
    return [Record(run_id=run.run_id, round=plan.index, model=spec.alias, model_id=spec.model_id,
                   sentiment=plan.sentiment, topics=plan.topics_json(), prompt=plan.prompt, created_at=now)
            for plan in plans for spec in specs]


def generate(
    rounds: int | None = None,
    models: Sequence[str] | None = None,
    *,
    store: str | Store | None = None,
    seed: int | None = None,
    template: str = "sentiment",
    topics: str = "sentiment",
    concurrency: int = 64,
    max_attempts: int = 6,
    timeout: float = 120.0,
    backoff_base: float = 0.25,
    params: dict[str, dict[str, Any]] | None = None,
    resume: str | None = None,
    catalog_dir: str | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_start: Callable[[RunInfo, list[Record], str | None], None] | None = None,
) -> RunSummary:
    """Plan (or resume) a run and generate every cell; returns the per-model summary read back from the store."""
    if concurrency < 1:
        raise UserError(f"--concurrency {concurrency}: must be at least 1")
    catalog = load_catalog(catalog_dir)
    owns_store = not isinstance(store, Store)
    handle = open_store(store, create=resume is None) if owns_store else store
    try:
        note = None
        if resume is not None:
            run = handle.resolve_run(resume)
            specs = catalog.select(run.models)
            cells = [r for r in handle.records(run.run_id) if r.status != OK]
            params = run.params or params
        else:
            if rounds is None or rounds < 1:
                raise UserError(f"--rounds {rounds}: must be at least 1")
            if models:
                specs = catalog.select(models)
            else:
                aliases, note = default_models(catalog)
                specs = catalog.select(aliases)
            if len({s.alias for s in specs}) != len(specs):
                raise UserError("--models names a model twice")
            load_template(template)  # fail on a bad template before anything is written
            seed = seed if seed is not None else int.from_bytes(_random_token.token_bytes(4), "big")
            run = RunInfo(run_id=new_run_id(), created_at=utc_now(), seed=seed, rounds=rounds,
                          models=[s.alias for s in specs], template=load_template(template).name,
                          template_text=load_template(template).text, topics_source=topics,
                          params=params or {}, store_url=handle.url)
            cells = plan_cells(run, specs, template, topics)
        check_credentials(specs)
        if resume is None:
            handle.create_run(run, cells)
        else:
            handle.set_run_status(run.run_id, "running")
        if on_start:
            on_start(run, cells, note)
        config = EngineConfig(concurrency=concurrency, max_attempts=max_attempts, timeout=timeout,
                              backoff_base=backoff_base)
        engine = Engine(handle, {s.alias: s for s in specs}, config, on_event=on_event, params=params)
        import time

        started = time.perf_counter()
        interrupted = False
        try:
            asyncio.run(engine.run(cells))
        except KeyboardInterrupt:
            interrupted = True
        status = "interrupted" if interrupted else "done"
        handle.set_run_status(run.run_id, status)
        run.status = status
        summary = summarize(handle, run)
        summary.wall_s = time.perf_counter() - started
        summary.interrupted = interrupted
        if note:
            summary.notes.append(note)
        return summary
    finally:
        if owns_store:
            handle.close()
