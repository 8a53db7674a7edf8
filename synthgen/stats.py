"""What a run made: answers per model and label, failures by kind, latency, tokens and cost, and three plots.

    >>> from synthgen.api import plot_stats, run_stats
    >>> stats = run_stats("last", store="sqlite:///synthgen.db")
    >>> paths = plot_stats(stats, "plots/")

The figures are read from the store (the source of truth) in one pass over the run's records; latency, failures and
tokens come from the same `summarize()` that closes a `generate` run, so the two never disagree. Labels are the
run's task's, in its order, as the run stored them (`RunInfo.task_info`). The plots are drawn on matplotlib
`Figure`s
with the Agg canvas directly, not through pyplot, so they never change the backend of the caller (a notebook keeps
its inline backend).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import load_catalog
from .errors import UserError
from .labels import LABEL_NAME, TaskInfo
from .paths import check_writable
from .store import RunInfo, Store, reading
from .summary import ModelSummary, summarize

if TYPE_CHECKING:
    from matplotlib.figure import Figure

COLOURS = {"negative": "#d95f5f", "positive": "#4c9f70", "neutral": "#8c8c8c"}
# every other label, by its place in the task (matplotlib's tab10 without its red, green and grey)
PALETTE = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf")
PLOTS = {
    "label_split": "{task}_split.png",
    "answers_per_model": "answers_per_model.png",
    "latency_per_model": "latency_per_model.png",
    "diversity": "diversity.png",
}


def plot_file(name: str, task: str) -> str:
    """The file a plot is written to: `sentiment_split.png` for the sentiment task's split, `emotion_split.png`..."""
    return PLOTS[name].format(task=task if LABEL_NAME.match(task) else "label")


def label_colours(names: list[str]) -> dict[str, str]:
    others = iter(PALETTE * (1 + len(names) // len(PALETTE)))
    return {name: COLOURS.get(name) or next(others) for name in names}


@dataclass
class RunStats:
    run: RunInfo
    models: dict[str, ModelSummary]
    diversity: Any = None  # check.DiversityReport of the ok answers (cleaned text where cleaned): stats_checks.py
    verification: Any = None  # verify.Agreement where the run was judged, else None

    @property
    def ok(self) -> int:
        return sum(m.ok for m in self.models.values())

    @property
    def task(self) -> TaskInfo:
        return self.run.task_info()

    @property
    def labels(self) -> dict[str, int]:
        """Ok answers per label, every label of the task in its order (then any other label a record carries)."""
        out: dict[str, int] = dict.fromkeys(self.task.names, 0)
        for m in self.models.values():
            for label, n in m.labels.items():
                out[label] = out.get(label, 0) + n
        return out

    @property
    def sentiments(self) -> dict[str, int]:
        """Deprecated: `labels` (its name before tasks)."""
        return self.labels

    @property
    def failures(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for m in self.models.values():
            for kind, n in m.failures.items():
                out[kind] = out.get(kind, 0) + n
        return dict(sorted(out.items()))

    @property
    def cost_usd(self) -> float | None:
        """Total over the models that have prices; None when none has (see `models_without_prices`)."""
        costs = [m.cost_usd for m in self.models.values() if m.cost_usd is not None]
        return sum(costs) if costs else None

    @property
    def models_without_prices(self) -> list[str]:
        """Models with ok answers whose table gives no prices: `cost_usd` leaves them out, so it is a lower bound."""
        return [m.model for m in self.models.values() if m.cost_usd is None and m.ok]

    def to_dict(self) -> dict[str, Any]:
        models = {}
        for alias, m in self.models.items():
            data = asdict(m)
            data.pop("latencies")
            data["not_run"] = data.pop("planned")
            data["failed"] = m.failed
            data["cost_usd"] = m.cost_usd
            data["sentiments"] = data["labels"]  # deprecated: the name before tasks
            models[alias] = data
        return {
            "run_id": self.run.run_id,
            "status": self.run.status,
            "rounds": self.run.rounds,
            "seed": self.run.seed,
            "ok": self.ok,
            "task": self.task.to_dict(),
            "labels": self.labels,
            "sentiments": self.labels,  # deprecated: the name before tasks
            "failures": self.failures,
            "cost_usd": self.cost_usd,
            "cost_partial": self.cost_usd is not None and bool(self.models_without_prices),
            "models_without_prices": self.models_without_prices,
            "models": models,
            "diversity": self.diversity.to_dict() if self.diversity is not None else None,
            "verification": self.verification.to_dict() if self.verification is not None else None,
        }


def run_stats(
    run: str | None = "last", *, store: str | Store | None = None, catalog_dir: str | None = None
) -> RunStats:
    """Per-model figures of a run (`last` or None: the latest run), read from the store in one pass."""
    with reading(store) as handle:
        info = handle.resolve_run(run)
        records = list(handle.records(info.run_id))  # one pass, shared by the summary and the checks
        models = summarize(info, records)
        diversity, verification = run_checks(handle, info, records)
    try:
        catalog = load_catalog(catalog_dir)
    except UserError:
        catalog = None  # figures without prices beat no figures
    for alias, stats in models.items():
        spec = catalog.get(alias) if catalog is not None else None
        if spec is not None:
            stats.model_id = stats.model_id or spec.model_id
            stats.price_input_per_1m, stats.price_output_per_1m = spec.price_input_per_1m, spec.price_output_per_1m
    return RunStats(run=info, models=models, diversity=diversity, verification=verification)


def run_checks(handle: Store, info: RunInfo, records: list[Any]) -> tuple[Any, Any]:
    """The diversity of a run's ok answers (cleaned text where cleaned) and, where it was judged, its agreement."""
    from .check import diversity_report
    from .verify import agreement, read_checks

    checks = read_checks(handle, info.run_id, [r for r in records if r.status == "ok"])
    judged = agreement(checks, info.task_info().names) if any(c.panels for c in checks.values()) else None
    cells = [c for c in checks.values() if c.text() is not None]
    if not cells:
        return None, judged
    topics = {r.id: [t.get("topic", "") for t in r.topics or ()] for r in records}
    report = diversity_report(
        [c.text() for c in cells],
        [c.model for c in cells],
        [c.label for c in cells],
        [topics[c.record_id] for c in cells],
        label_order=info.task_info().names,
    )
    return report, judged


# --- plots ---------------------------------------------------------------------------------------------------------


def _figure(width: float, height: float) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _empty(ax, message: str) -> None:
    ax.text(0.5, 0.5, message, ha="center", va="center", transform=ax.transAxes, color="grey")
    ax.set_axis_off()


def label_split_figure(stats: RunStats) -> Figure:
    """Pie of the ok answers' labels (the article's first plot, its sentiment split), titled with the task."""
    fig = _figure(5, 4.6)
    ax = fig.add_subplot()
    task = stats.task
    counts = {k: v for k, v in stats.labels.items() if v}
    colours = label_colours(list(stats.labels))
    if not counts:
        _empty(ax, "no ok answers")
    else:
        total = sum(counts.values())
        ax.pie(
            list(counts.values()),
            labels=[f"{k}\n{v}" for k, v in counts.items()],
            colors=[colours[k] for k in counts],
            autopct=lambda p: f"{p:.1f}%",
            startangle=90,
            counterclock=False,
            wedgeprops={"edgecolor": "white"},
        )
        ax.set_aspect("equal")
        ax.set_title(f"{task.name.capitalize()} split: {total} answers")
        described = [label for label in task.labels if label.description and label.name in counts]
        if described:
            from matplotlib.patches import Patch

            handles = [Patch(color=colours[lab.name], label=f"{lab.name}: {lab.description}") for lab in described]
            fig.legend(handles=handles, loc="outside lower center", fontsize=6, frameon=False)
    fig.suptitle(f"run {stats.run.run_id}", fontsize=8, color="grey")
    return fig


def sentiment_split_figure(stats: RunStats) -> Figure:
    """Deprecated: `label_split_figure`."""
    return label_split_figure(stats)


def answers_per_model_figure(stats: RunStats) -> Figure:
    """Grouped bars: ok answers per model, one bar per label of the task."""
    models = list(stats.models)
    labels = list(dict.fromkeys([*stats.task.names, *(k for m in stats.models.values() for k in m.labels)]))
    fig = _figure(max(5.0, 0.25 * len(labels) * len(models) + 2, 1.1 * len(models) + 2), 4.2)
    ax = fig.add_subplot()
    if not models:
        _empty(ax, "no models")
        return fig
    colours = label_colours(labels)
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        xs = [j + (i - (len(labels) - 1) / 2) * width for j in range(len(models))]
        heights = [stats.models[m].labels.get(label, 0) for m in models]
        bars = ax.bar(xs, heights, width, label=label, color=colours[label])
        ax.bar_label(bars, fontsize=8 if len(labels) <= 3 else 6, padding=1)
    ax.set_xticks(range(len(models)))
    ax.set_xticklabels(models, rotation=30 if len(models) > 4 else 0, ha="right" if len(models) > 4 else "center")
    ax.set_ylabel("ok answers")
    ax.set_title("Answers per model and label")
    ax.margins(y=0.12)  # room for the bar labels
    ax.yaxis.get_major_locator().set_params(integer=True)
    fig.legend(loc="outside lower center", ncols=len(labels) if len(labels) <= 4 else 3, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(f"run {stats.run.run_id} ({stats.task.name})", fontsize=8, color="grey")
    return fig


def latency_figure(stats: RunStats) -> Figure:
    """Latency distribution per model (box, with each answer as a dot) and the median marked and written."""
    import numpy as np

    models = [m for m in stats.models if stats.models[m].latencies]
    fig = _figure(max(5.0, 1.1 * len(models) + 2), 4.5)
    ax = fig.add_subplot()
    if not models:
        _empty(ax, "no latencies recorded")
        return fig
    data = [stats.models[m].latencies for m in models]
    positions = list(range(1, len(models) + 1))
    ax.boxplot(
        data,
        positions=positions,
        widths=0.55,
        showfliers=False,
        patch_artist=True,
        boxprops={"facecolor": "#dde6f0", "edgecolor": "#4a6785"},
        medianprops={"color": "#4a6785"},
        whiskerprops={"color": "#4a6785"},
        capprops={"color": "#4a6785"},
    )
    rng = np.random.default_rng(0)  # fixed jitter: the same run draws the same picture
    for pos, values in zip(positions, data, strict=True):
        shown = values if len(values) <= 2000 else list(rng.choice(values, 2000, replace=False))
        ax.scatter(
            pos + rng.uniform(-0.18, 0.18, len(shown)), shown, s=6, alpha=0.35, color="#333333", linewidths=0, zorder=2
        )
    medians = [float(np.median(v)) for v in data]
    ax.scatter(positions, medians, marker="D", s=36, color="#c0392b", zorder=3, label="median")
    for pos, median in zip(positions, medians, strict=True):
        ax.annotate(
            f"{median:.2f}s",
            (pos, median),
            xytext=(10, 0),
            textcoords="offset points",
            va="center",
            fontsize=8,
            color="#c0392b",
            zorder=4,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "none", "alpha": 0.85},
        )
    ax.set_xticks(positions)
    ax.set_xticklabels(models, rotation=30 if len(models) > 4 else 0, ha="right" if len(models) > 4 else "center")
    ax.set_ylabel("latency of an ok answer (s)")
    ax.set_title("Latency per model (median marked)")
    fig.legend(loc="outside lower center", frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.suptitle(f"run {stats.run.run_id}", fontsize=8, color="grey")
    return fig


def figures(stats: RunStats) -> dict[str, Figure]:
    """The plots as matplotlib figures, by name (the keys of PLOTS; diversity when the run has ok answers)."""
    from .check import diversity_figure

    title = f"run {stats.run.run_id} ({stats.task.name})"
    return {
        "label_split": label_split_figure(stats),
        "answers_per_model": answers_per_model_figure(stats),
        "latency_per_model": latency_figure(stats),
        **({"diversity": diversity_figure(stats.diversity, title)} if stats.diversity is not None else {}),
    }


def plot_stats(stats: RunStats, out_dir: str | os.PathLike[str]) -> list[Path]:
    """Write the PNGs (the label split, `TASK_split.png`; answers per model and label; latency per model;
    `diversity.png`: distinct-2, topic mention and mean similarity per model and label) to `out_dir`."""
    out = check_writable(out_dir, "--plots", folder=True)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, fig in figures(stats).items():
            path = out / plot_file(name, stats.task.name)
            fig.savefig(path, format="png")
            paths.append(path)
    except OSError as exc:
        raise UserError(f"--plots {out}: cannot write ({exc.strerror or exc})") from None
    return paths
