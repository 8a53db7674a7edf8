"""The Python API: the same functions the `synthgen` commands call, for scripts and notebooks.

    import synthgen as sg                             # the same names; `import synthgen.api as sg` works too

    summary = sg.generate(rounds=20, models=["gpt-4o-mini", "gemini-flash"], store="sqlite:///synthgen.db", seed=1)
    sg.clean_run("llama2", summary.run_id, store="sqlite:///synthgen.db")   # the cleaned layer, one per answer
    stats = sg.run_stats(summary.run_id, store="sqlite:///synthgen.db")
    sg.plot_stats(stats, "plots/")                    # three PNGs
    result = sg.export_dataset(summary.run_id, "data/", store="sqlite:///synthgen.db")
    result.dataset                                    # a datasets.DatasetDict: train / test
    report = sg.topics(summary.run_id, store="sqlite:///synthgen.db", plot="map.png")   # named topics and a map

- `generate(rounds, models, *, store, seed, task, ...) -> RunSummary`: plan a run of a task (`task="emotion"`, a
  task file, or the default `sentiment`), ask every model every round, journal each outcome to the store;
  `resume="RUN_ID"` finishes an interrupted run. Everything downstream follows the run's stored task. Also works
  where an event loop is already running (Jupyter): the job then runs in a worker thread.
- `clean_run(model, run="last", *, store, embedder, seed) -> RunCleaning`: keep exactly the target sentence of each
  of a model's ok answers and write the store's cleaned layer (raw answers untouched); `.result` explains every
  answer (`.result.explain(record_id)`), cluster and selection path. `synthgen.clean.clean(answers)` does the
  same for any list of answers, without a store.
- `run_stats(run="last", *, store, catalog_dir) -> RunStats`: per-model answers by label (the run's task's),
  failures by kind, latency p50/p95, tokens and cost (where the model tables give prices).
- `plot_stats(stats, out_dir) -> list[Path]`: the label split, answers per model and label, latency per model.
  `stats_figures(stats)` gives the same plots as matplotlib figures.
- `export_dataset(run="last", out=None, *, store, format, test_size, seed, require_clean, push, private, ...)
  -> ExportResult`: the deduplicated, stratified train/test `DatasetDict`, its card, files and Hub push.
- `topics(run="last" | texts=[...], *, store, k, embedder, labeler, seed, plot, ...) -> TopicReport`: cluster a run's
  answers (cleaned text where there is one) or any list of texts into named topics: sizes, keywords, nearest texts,
  how k was chosen, a per-model and a per-label view, warnings (weak structure) and, with `plot=`, a 2-D map.
- `tasks(tasks_dir=None) -> list[Task]`: the shipped tasks and the user's (`SYNTHGEN_TASKS`).

Every function raises `synthgen.errors.UserError` (one line, says what to do) for input a user can fix.
Heavy libraries (datasets, matplotlib) are imported only when a function needs them.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import generation as _generation
from .aio import call_sync
from .clean import CleanResult, RunCleaning, clean_run
from .errors import UserError
from .export import ExportResult, export_dataset
from .generation import RunSummary
from .stats import RunStats, plot_stats, run_stats
from .stats import figures as stats_figures

if TYPE_CHECKING:  # the topic model pulls in scikit-learn: imported when `topics` runs
    from .embed import Embedder
    from .evaluation import EvaluationReport
    from .task import Task
    from .topicmodel import Asker, TopicReport
    from .verify import VerifyResult


@functools.wraps(_generation.generate)
def generate(*args, **kwargs) -> RunSummary:
    # A notebook kernel already runs an event loop in this thread and asyncio.run() refuses to nest: there the
    # whole job runs in a worker thread, which gets its own loop.
    return call_sync(_generation.generate, *args, **kwargs)


def topics(
    run: str | None = None,
    *,
    texts: Sequence[str] | None = None,
    models: Sequence[str | None] | None = None,
    labels: Sequence[str | None] | None = None,
    file: str | os.PathLike[str] | None = None,
    dataset: str | os.PathLike[str] | None = None,
    text_column: str = "text",
    model_column: str | None = "model",
    store: str | None = None,
    k: int | str = "auto",
    embedder: str | Embedder = "tfidf",
    labeler: str | Asker | None = None,
    label_params: Mapping[str, Any] | None = None,
    seed: int = 0,
    k_max: int = 12,
    n_examples: int = 3,
    pair_budget: int = 40,
    plot: str | os.PathLike[str] | None = None,
    plot_size: tuple[float, float] = (10, 7.5),
    catalog_dir: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> TopicReport:
    """Named topics, as `synthgen topics` finds them, of one source of texts: a run's ok answers (`run`: an id or
    "last", the default; cleaned text where there is one), `texts` (with `models`, the alias that wrote each, for
    the per-model view, and `labels`, the label of each, for the per-label view), a `file` (.jsonl, .json, .csv
    or .parquet) or a saved `dataset` directory (every split); `text_column` and `model_column` name the columns
    of the last two.

    `embedder` and `labeler` are names (`"tfidf"`, `"minilm"`; a catalog alias) or objects (an Embedder, an
    Asker). With `plot`, the 2-D map is written there (any image type matplotlib writes: `.png`, `.svg`,
    `.pdf`...; checked before the fit). `progress`, when given, is called with one line before the embedding
    starts (what is about to be embedded)."""
    from .paths import check_plot_path
    from .topicmodel import Document, ModelAsker, TopicModel, read_dataset, read_file, read_run

    given = [
        name
        for name, value in (("run=", run), ("texts=", texts), ("file=", file), ("dataset=", dataset))
        if value is not None
    ]
    if len(given) > 1:
        raise UserError(f"topics: give one source of texts, not both {' and '.join(given)}")
    if models is not None and (texts is None or len(models) != len(texts)):
        raise UserError("topics: models= names the model of each of texts=, so give as many as texts")
    if labels is not None and (texts is None or len(labels) != len(texts)):
        raise UserError("topics: labels= names the label of each of texts=, so give as many as texts")
    if k_max < 2:
        raise UserError(f"topics: k_max={k_max}; give at least 2")
    if n_examples < 1:
        raise UserError(f"topics: n_examples={n_examples}; give at least 1")
    if plot is not None:
        plot = check_plot_path(plot)
    if isinstance(labeler, str):
        from .catalog import load_catalog

        labeler = ModelAsker(load_catalog(catalog_dir).get_model(labeler), label_params, seed=seed)
    elif label_params:
        raise UserError("topics: label_params needs labeler= naming a catalog model")
    embedder_name = embedder if isinstance(embedder, str) else embedder.name
    if isinstance(embedder, str):
        from .embed import get_embedder

        embedder = get_embedder(embedder, seed=seed)
    if texts is not None:
        owners = list(models) if models is not None else [None] * len(texts)
        named = list(labels) if labels is not None else [None] * len(texts)
        documents = [
            Document(str(i), t.strip(), m, lab)
            for i, (t, m, lab) in enumerate(zip(texts, owners, named, strict=True))
            if isinstance(t, str) and t.strip()
        ]
        source, notes, order = f"{len(documents)} texts", [], []
    else:
        if file is not None:
            loaded = read_file(file, text_column, model_column)
        elif dataset is not None:
            loaded = read_dataset(dataset, text_column, model_column)
        else:
            loaded = read_run(store, run or "last")
        documents, source, notes, order = loaded.documents, loaded.source, loaded.notes, loaded.labels
    model = TopicModel(
        embedder, k=k, seed=seed, labeler=labeler, k_max=k_max, pair_budget=pair_budget, n_examples=n_examples
    )
    model.validate([d.text for d in documents])
    if progress is not None:
        progress(f"{len(documents)} texts from {source}; embedding with {embedder_name}…")
    report = model.fit(documents, source=source, label_order=order)
    report.notes.extend(notes)
    if plot is not None:
        model.plot(plot, figsize=plot_size)
        report.notes.append(f"map written to {plot}")
    return report


def verify_run(*args, **kwargs) -> VerifyResult:
    """`synthgen verify`: judge every kept text of a run (see `synthgen.verify.verify_run`)."""
    from .verify import verify_run as _verify_run

    return call_sync(_verify_run, *args, **kwargs)


def generate_verified(*args, **kwargs) -> VerifyResult:
    """`synthgen generate --verify`: generate, judge, and ask again where rejected (`synthgen.verify`)."""
    from .verify import generate_verified as _generate_verified

    return call_sync(_generate_verified, *args, **kwargs)


def evaluate(
    run: str | None = None,
    *,
    data: str | os.PathLike[str] | None = None,
    real: str | os.PathLike[str],
    text_column: str = "text",
    label_column: str = "label",
    classifier: str = "tfidf",
    store: str | None = None,
    seed: int = 0,
    plot: str | os.PathLike[str] | None = None,
) -> EvaluationReport:
    """`synthgen evaluate`: train a quick classifier on a run's export (`run`, exported in memory as `synthgen
    export` would) or an export folder (`data`), score it on its test split and on the `real` labelled file,
    beside the majority baseline and the in-domain ceiling (synthgen.evaluation)."""
    from .evaluation import LabelledTexts, confusion_figure, evaluate_splits, read_export, read_real
    from .paths import check_plot_path
    from .store import reading

    if run is not None and data is not None:
        raise UserError("evaluate: give --run or --data, not both")
    if plot is not None:
        plot = check_plot_path(plot)
    if data is not None:
        labels, splits = read_export(data)
        real_data = read_real(real, labels, text_column, label_column)
        source = f"export {data}"
    else:
        with reading(store) as handle:
            info = handle.resolve_run(run or "last")
        labels = list(info.task_info().names)
        real_data = read_real(real, labels, text_column, label_column)
        result = export_dataset(info.run_id, None, store=store)
        splits = {
            name: LabelledTexts([r.text for r in rows], [labels[r.label] for r in rows])
            for name, rows in result.splits.items()
        }
        source = f"run {info.run_id}"
    report = evaluate_splits(
        splits["train"],
        splits.get("test"),
        real_data,
        labels,
        classifier=classifier,
        seed=seed,
        source=source,
        real_file=os.path.basename(str(real)),
    )
    if plot is not None:
        confusion_figure(report).savefig(plot)
        report.notes.append(f"confusion matrix written to {plot}")
    return report


def tasks(tasks_dir: str | os.PathLike[str] | None = None) -> list[Task]:
    """Every task `generate(task=...)` can name: the user's (`tasks_dir`, else SYNTHGEN_TASKS) and the shipped
    ones, each checked (a broken file is a UserError naming it and the field)."""
    from .task import list_tasks

    return list_tasks(tasks_dir)


__all__ = [
    "generate",
    "tasks",
    "RunSummary",
    "clean_run",
    "RunCleaning",
    "CleanResult",
    "run_stats",
    "RunStats",
    "plot_stats",
    "stats_figures",
    "export_dataset",
    "ExportResult",
    "topics",
    "verify_run",
    "generate_verified",
    "evaluate",
    "UserError",
]
