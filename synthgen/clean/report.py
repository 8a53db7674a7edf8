"""The cleaning report (rich tables) and the 2-D PCA map of candidates coloured by cluster."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from ..text import shorten
from .result import CleanResult

PATH_MEANING = {
    "only": "the answer is one sentence",
    "single": "one target-like sentence among chatter",
    "revision": "the model replaced its sentence with a new version; the new one is kept",
    "duplicate": "the same sentence twice; the first copy",
    "best-score": "several target-like sentences; the best (earliest of near-equals)",
    "tie": "several sentences scored alike; the earliest",
    "fallback": "no sentence scored as a target (or only chatter did); the best line of the target cluster "
    "that is not chatter",
    "seed-A": "seed step A: alone in the target cluster",
    "seed-B": "seed step B: the rest matched 'this response|this sentence'",
    "seed-C": "seed step C: nearest the target cluster's centre",
    "empty": "no text: the answer was empty",
    "no-sentence": "no text: only a lead-in or a sentence cut off by the token limit",
    "no-target": "no text: no line looks like a target sentence (a lone follow-up, a refusal in other words)",
    "refusal": "no text: the model declined the task",
    "lost": "no text: no line in the target cluster (seed steps)",
}
SMALL_RUN = 20  # below this many answers the per-run classifier has little to learn from (see the benchmark)


def print_report(result: CleanResult, title: str, console=None, n_examples: int = 3) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console(width=max(Console().width, 120))
    n = len(result.answers)
    console.print(
        f"[bold]{title}[/bold]: {result.kept} of {n} answers kept one sentence, "
        f"{n - result.kept} without text, {result.dropped_count()} lines dropped "
        f"({result.seconds.get('total', 0):.1f} s)"
    )
    console.print(f"method: {result.method}")
    console.print(f"target cluster: {result.target.reason}")
    if n < SMALL_RUN:
        console.print(
            f"[yellow]note: only {n} answers; the cleaner learns from the whole run and is most reliable "
            f"with {SMALL_RUN} or more (clean a whole run at once)[/yellow]"
        )

    clusters = Table(title="clusters", title_justify="left")
    for col in ("cluster", "lines", "answers", "kept", "keywords (c-TF-IDF)", "examples"):
        clusters.add_column(col, overflow="fold")
    for c in result.clusters:
        name = f"{c.id} [bold green]target[/bold green]" if c.target else str(c.id)
        clusters.add_row(
            name,
            str(c.size),
            str(c.answers),
            str(c.kept),
            ", ".join(c.keywords),
            "\n".join(shorten(e, 90) for e in c.examples),
        )
    console.print(clusters)

    paths = Table(title="selection paths", title_justify="left")
    for col in ("path", "answers", "meaning"):
        paths.add_column(col)
    for path, count in result.path_counts().items():
        paths.add_row(path, str(count), PATH_MEANING.get(path, ""))
    console.print(paths)

    words = result.dropped_keywords(8)
    if words["dropped"]:
        console.print(
            f"kept sentences are about: {', '.join(words['kept'])}\n"
            f"dropped lines are about: {', '.join(words['dropped'])}",
            highlight=False,
        )
    dropped = Counter()
    for a in result.answers:
        for d in a.dropped:
            dropped[shorten(d, 70)] += 1
    if dropped:
        common = Table(title=f"most often dropped ({result.dropped_count()} lines in all)", title_justify="left")
        common.add_column("times", justify="right")
        common.add_column("line")
        for line, count in dropped.most_common(8):
            common.add_row(str(count), line)
        console.print(common)
    shown = [a for a in result.answers if a.text is None][:n_examples]
    shown += [a for a in result.answers if a.text is not None and a.path not in ("only", "single")][:n_examples]
    for a in shown:
        console.print(f"[dim]{a.id}[/dim] {a.reason}\n  kept: {a.text!r}", highlight=False)


def plot_clusters(result: CleanResult, path: str | Path, title: str = "") -> Path:
    """2-D PCA map of every candidate, coloured by cluster; kept sentences ringed, target cluster marked.

    Drawn on its own Figure and Agg canvas, never through pyplot, so the caller's matplotlib backend (a notebook's)
    is left as it was."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    xy = np.asarray(result.coords)
    labels = np.asarray(result.labels)
    fig = Figure(figsize=(8, 6), dpi=120)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    cmap = colormaps["tab10"]
    for c in result.clusters:
        m = labels == c.id
        if not m.any():
            continue
        name = f"cluster {c.id}" + (" (target)" if c.target else "") + f": {', '.join(c.keywords[:3])}"
        ax.scatter(xy[m, 0], xy[m, 1], s=14, alpha=0.6, color=cmap(c.id % 10), label=name, linewidths=0)
        if c.target:
            cx, cy = xy[m, 0].mean(), xy[m, 1].mean()
            ax.scatter(
                [cx], [cy], marker="*", s=400, color=cmap(c.id % 10), edgecolors="black", linewidths=1.2, zorder=5
            )
            ax.annotate("target", (cx, cy), xytext=(10, 10), textcoords="offset points", fontweight="bold")
    kept = np.asarray(result.kept_mask, dtype=bool)
    if kept.any():
        ax.scatter(
            xy[kept, 0], xy[kept, 1], s=30, facecolors="none", edgecolors="black", linewidths=0.6, label="kept sentence"
        )
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(
        title or f"{len(result.answers)} answers, {len(labels)} candidate lines ({result.embedder})", fontsize=10
    )
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    fig.savefig(path)
    return path
