"""The main job: plan a run, journal its cells, run them through the engine, summarise from the store.

>>> import synthgen
>>> summary = synthgen.generate(rounds=20, models=["gpt-4o-mini"], store="sqlite:///synthgen.db", seed=1)
"""

from __future__ import annotations

import asyncio
import math
import secrets as _random_token
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .adapters import check_config, credentials_status
from .catalog import Catalog, ModelSpec, load_catalog
from .engine import Engine, EngineConfig, Event
from .errors import UserError
from .prompt import SENTIMENTS, Template, iter_plans, load_template, load_topics
from .store import DEFAULT_STORE, OK, ModelPlan, Record, RunInfo, Store, StoreUnavailable, open_store, utc_now
from .summary import ModelSummary
from .summary import summarize as summarize_records

LOCAL_DEFAULT = "local-gemma"
# The largest run one command plans: past these a typo (an extra zero or ten) would fill the disk with planned
# cells before the first request. Several runs of this size can share a store.
MAX_ROUNDS = 1_000_000
MAX_CELLS = 10_000_000


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + _random_token.token_hex(2)


def default_models(catalog: Catalog) -> tuple[list[str], str | None]:
    """Every model whose credentials are present; else the bundled local model; else a clear error.

    Returns the aliases and a one-line note for the user (or None)."""
    present = [
        alias
        for alias, spec in catalog.items()
        if alias != LOCAL_DEFAULT and spec.protocol != "llama-cpp" and credentials_status(spec)[0]
    ]
    if present:
        return present, f"models with credentials present: {', '.join(present)} (choose with --models)"
    if LOCAL_DEFAULT in catalog:
        ok, hint = credentials_status(catalog[LOCAL_DEFAULT])
        if ok:
            return [LOCAL_DEFAULT], (
                f"no cloud credentials found: using the bundled local model {LOCAL_DEFAULT}; "
                "set OPENAI_API_KEY, GEMINI_API_KEY or AWS credentials for cloud models"
            )
        raise UserError(
            f"no model has credentials and the bundled local model is not installed ({hint}); "
            "or set OPENAI_API_KEY, GEMINI_API_KEY or AWS credentials (see `synthgen models`)"
        )
    raise UserError(
        "no model has credentials: set OPENAI_API_KEY, GEMINI_API_KEY or AWS credentials, "
        "or SYNTHGEN_LOCAL_BASE_URL for a local server (see `synthgen models`)"
    )


def check_credentials(specs: Sequence[ModelSpec]) -> None:
    """Every model's credentials present and its endpoint usable, before anything is planned or stored."""
    for spec in specs:
        present, hint = credentials_status(spec)
        if not present:
            raise UserError(f"--models {spec.alias}: credentials missing; {hint}")
    for spec in specs:
        check_config(spec)


def check_rounds(rounds: int | None) -> None:
    if rounds is None or rounds < 1:
        raise UserError(f"--rounds {rounds}: must be at least 1")
    if rounds > MAX_ROUNDS:
        raise UserError(f"--rounds {rounds}: a run plans at most {MAX_ROUNDS:,} rounds; split it into several runs")


def check_settings(concurrency: int, max_attempts: int, timeout: float) -> None:
    if concurrency < 1:
        raise UserError(f"--concurrency {concurrency}: must be at least 1")
    if max_attempts < 1:
        raise UserError(f"--max-attempts {max_attempts}: must be at least 1 (1 = no retries)")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise UserError(f"--timeout {timeout:g}: must be a positive number of seconds")


def select_models(catalog: Catalog, models: Sequence[str] | None) -> tuple[list[ModelSpec], str | None]:
    """The named models (or the default set) and a note for the user; at least one, none twice."""
    if models:
        specs = catalog.select(models)
        if not specs:
            raise UserError(
                f"--models {','.join(models)}: names no model; give aliases such as gpt-4o-mini,llama2 "
                "(see `synthgen models`)"
            )
        note = None
    else:
        aliases, note = default_models(catalog)
        specs = catalog.select(aliases)
    twice = sorted({s.alias for s in specs if sum(t.alias == s.alias for t in specs) > 1})
    if twice:
        raise UserError(f"--models names {', '.join(twice)} twice; name each model once")
    return specs, note


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


def summarize(store: Store, run: RunInfo) -> RunSummary:
    """The run's summary, read back from the store."""
    return RunSummary(run=run, models=summarize_records(run, store.records(run.run_id), SENTIMENTS))


def plan_models(
    specs: Sequence[ModelSpec], template: Template, params: dict[str, dict[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """What each model will be sent, stored with the run: resolved parameters and the template it receives."""
    from .adapters import received_template

    plans = {}
    for spec in specs:
        few = received_template(spec)  # its adapter decides: a base model's few-shot template, or the run's
        used = few or template
        plans[spec.alias] = ModelPlan(
            model_id=spec.model_id,
            protocol=spec.protocol,
            params=spec.merged_params((params or {}).get(spec.alias)),
            template=used.name,
            template_text=used.text,
            prompt_format="{prompt}" if few else spec.prompt_format,
            few_shot=few is not None,
        ).to_dict()
    return plans


def plan_cells(
    run: RunInfo, specs: Sequence[ModelSpec], template: Template | str, topics: dict[str, tuple[str, ...]] | str
) -> Iterator[Record]:
    """Every cell of a run, as `planned` records, one round at a time (pure: nothing is read but the named
    template and topics)."""
    template = load_template(template) if isinstance(template, str) else template
    categories = load_topics(topics) if isinstance(topics, str) else topics
    now = utc_now()
    for plan in iter_plans(run.rounds, run.seed, template, categories):
        for spec in specs:
            yield Record(
                run_id=run.run_id,
                round=plan.index,
                model=spec.alias,
                model_id=spec.model_id,
                sentiment=plan.sentiment,
                topics=plan.topics_json(),
                prompt=plan.prompt,
                created_at=now,
            )


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
    model_path: str | None = None,
    on_event: Callable[[Event], None] | None = None,
    on_start: Callable[[RunInfo, list[Record], str | None], None] | None = None,
) -> RunSummary:
    """Plan (or resume) a run and generate every cell; returns the per-model summary read back from the store.

    Everything the user gave is checked before the store is opened: bad input writes nothing at all.
    `model_path` points the `local-gguf` entry at this GGUF file for this call (a new run that names local-gguf,
    or the resume of one), without touching the environment."""
    check_settings(concurrency, max_attempts, timeout)
    catalog = load_catalog(catalog_dir)
    if model_path is not None:
        from .adapters.gguf import MODEL_PATH_ALIAS, with_model_path

        catalog = catalog.with_entry(with_model_path(catalog.get_model(MODEL_PATH_ALIAS), model_path))
    owns_store = not isinstance(store, Store)
    note = None
    if resume is None:
        check_rounds(rounds)
        specs, note = select_models(catalog, models)
        if rounds * len(specs) > MAX_CELLS:
            raise UserError(
                f"--rounds {rounds} x {len(specs)} models is {rounds * len(specs):,} cells; a run holds "
                f"at most {MAX_CELLS:,}: plan fewer rounds or models per run"
            )
        template_obj = load_template(template)
        categories = load_topics(topics)
        check_credentials(specs)
        seed = seed if seed is not None else int.from_bytes(_random_token.token_bytes(4), "big")
        run = RunInfo(
            run_id=new_run_id(),
            created_at=utc_now(),
            seed=seed,
            rounds=rounds,
            models=[s.alias for s in specs],
            template=template_obj.name,
            template_text=template_obj.text,
            topics_source=topics,
            params=params or {},
            model_plans=plan_models(specs, template_obj, params),
        )
        cells = list(plan_cells(run, specs, template_obj, categories))
        handle = open_store(store, create=True) if owns_store else store
    else:
        handle = open_store(store, create=False) if owns_store else store
    try:
        if resume is None:
            run.store_url = handle.url
            handle.create_run(run, cells)
        else:
            run = handle.resolve_run(resume, flag="--resume")
            specs = catalog.select(run.models)
            check_credentials(specs)
            cells = [r for r in handle.records(run.run_id) if r.status != OK]
            params = run.params or params
            handle.set_run_status(run.run_id, "running")
        if on_start:
            on_start(run, cells, note)
        config = EngineConfig(
            concurrency=concurrency, max_attempts=max_attempts, timeout=timeout, backoff_base=backoff_base
        )
        engine = Engine(handle, {s.alias: s for s in specs}, config, on_event=on_event, params=params)
        started = time.perf_counter()
        interrupted = False
        try:
            try:
                with sigterm_as_interrupt():
                    asyncio.run(engine.run(cells))
            except KeyboardInterrupt:
                interrupted = True
            status = "interrupted" if interrupted else "done"
            handle.set_run_status(run.run_id, status)
            run.status = status
            summary = summarize(handle, run)
        except StoreUnavailable as exc:
            # cells already ok before this run (`cells` are the rest) plus the ok outcomes it stored
            done = run.rounds * len(run.models) - len(cells) + engine.stored_ok
            raise _stopped(handle, run, exc, done=done) from None
        summary.wall_s = time.perf_counter() - started
        summary.interrupted = interrupted
        if note:
            summary.notes.append(note)
        return summary
    finally:
        if owns_store:
            handle.close()


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
