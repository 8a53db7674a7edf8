"""The Python API: the same functions the `synthgen` commands call, for scripts and notebooks.

    import synthgen.api as sg

    summary = sg.generate(rounds=20, models=["gpt-4o-mini", "gemini-flash"], store="sqlite:///synthgen.db", seed=1)
    sg.clean_run("llama2", summary.run_id, store="sqlite:///synthgen.db")   # the cleaned layer, one per answer
    stats = sg.run_stats(summary.run_id, store="sqlite:///synthgen.db")
    sg.plot_stats(stats, "plots/")                    # three PNGs
    result = sg.export_dataset(summary.run_id, "data/", store="sqlite:///synthgen.db")
    result.dataset                                    # a datasets.DatasetDict: train / test

- `generate(rounds, models, *, store, seed, ...) -> RunSummary`: plan a run, ask every model every round, journal
  each outcome to the store; `resume="RUN_ID"` finishes an interrupted run. Also works where an event loop is
  already running (Jupyter): the job then runs in a worker thread.
- `clean_run(model, run="last", *, store, embedder, seed) -> RunCleaning`: keep exactly the target sentence of each
  of a model's ok answers and write the store's cleaned layer (raw answers untouched); `.result` explains every
  answer (`.result.explain(record_id)`), cluster and selection path. `synthgen.clean.clean(answers)` does the
  same for any list of answers, without a store.
- `run_stats(run="last", *, store, catalog_dir) -> RunStats`: per-model answers by sentiment, failures by kind,
  latency p50/p95, tokens and cost (where the model tables give prices).
- `plot_stats(stats, out_dir) -> list[Path]`: sentiment split, answers per model and sentiment, latency per model.
  `stats_figures(stats)` gives the same plots as matplotlib figures.
- `export_dataset(run="last", out=None, *, store, format, test_size, seed, require_clean, push, private, ...)
  -> ExportResult`: the deduplicated, stratified train/test `DatasetDict`, its card, files and Hub push.

Every function raises `synthgen.errors.UserError` (one line, says what to do) for input a user can fix.
Heavy libraries (datasets, matplotlib) are imported only when a function needs them.
"""

from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor

from . import generate as _generate_module
from .clean import CleanResult, RunCleaning, clean_run
from .errors import UserError
from .export import ExportResult, export_dataset
from .generate import RunSummary
from .stats import RunStats, plot_stats, run_stats
from .stats import figures as stats_figures


@functools.wraps(_generate_module.generate)
def generate(*args, **kwargs) -> RunSummary:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _generate_module.generate(*args, **kwargs)
    # A notebook kernel already runs an event loop in this thread and asyncio.run() refuses to nest:
    # run the whole job in a worker thread, which gets its own loop.
    with ThreadPoolExecutor(1, thread_name_prefix="synthgen-generate") as pool:
        return pool.submit(_generate_module.generate, *args, **kwargs).result()


__all__ = ["generate", "RunSummary", "clean_run", "RunCleaning", "CleanResult", "run_stats", "RunStats",
           "plot_stats", "stats_figures", "export_dataset", "ExportResult", "UserError"]
