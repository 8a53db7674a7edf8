from __future__ import annotations

import json

import click

from ..text import plural
from .options import catalog_option, store_option


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def _usd(value: float | None) -> str:
    if value is None:
        return "-"
    return f"${value:.4f}" if value < 1 else f"${value:,.2f}"


def total_cost(stats) -> str:
    """The "all" row's cost: a lower bound, and said to be one, when some models with answers have no prices."""
    missing = stats.models_without_prices
    if stats.cost_usd is None or not missing:
        return _usd(stats.cost_usd)
    return f"≥ {_usd(stats.cost_usd)} ({plural(len(missing), 'model')} without prices)"


@click.command("stats")
@click.option("--run", "run_id", default="last", show_default=True, metavar="ID|last", help="The run to describe.")
@click.option(
    "--plots",
    "plots_dir",
    default=None,
    metavar="DIR",
    help="Write TASK_split.png (sentiment_split.png for the sentiment task), answers_per_model.png and "
    "latency_per_model.png here.",
)
@store_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of tables.")
@catalog_option
def cmd(run_id: str, plots_dir: str | None, store_url: str | None, as_json: bool, catalog_dir: str | None) -> None:
    """Tables and plots of what a run made: answers per model and label, failures, latency, tokens, cost."""
    from ..paths import check_writable
    from ..stats import plot_stats, run_stats

    if plots_dir:
        check_writable(plots_dir, "--plots", folder=True)  # before the store is read
    stats = run_stats(run_id, store=store_url, catalog_dir=catalog_dir)
    paths = plot_stats(stats, plots_dir) if plots_dir else []
    if as_json:
        data = stats.to_dict()
        if paths:
            data["plots"] = [str(p) for p in paths]
        click.echo(json.dumps(data, ensure_ascii=False))
        return

    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 100))
    run = stats.run
    console.print(
        f"run [bold]{run.run_id}[/bold] ({run.status}): {plural(run.rounds, 'round')} x "
        f"{plural(len(run.models), 'model')}, seed {run.seed}"
    )
    task = stats.task
    console.print(f"task [bold]{task.name}[/bold]: {task.description}")
    for label in task.labels:
        console.print(f"  {label.name}: {label.description}")

    split = stats.labels
    answers = Table(title="Answers per model and label", title_justify="left")
    for column in ("model", "model id", "ok", *split, "failed", "not run"):
        answers.add_column(column, justify="left" if column in ("model", "model id") else "right")
    for m in stats.models.values():
        answers.add_row(
            m.model,
            m.model_id,
            str(m.ok),
            *(str(m.labels.get(label, 0)) for label in split),
            str(m.failed),
            str(m.not_run),
        )
    answers.add_row(
        "[bold]all[/bold]",
        "",
        str(stats.ok),
        *(str(n) for n in split.values()),
        str(sum(m.failed for m in stats.models.values())),
        str(sum(m.not_run for m in stats.models.values())),
    )
    console.print(answers)
    if stats.ok:
        console.print(
            f"{task.name} split: " + ", ".join(f"{k} {v} ({100 * v / stats.ok:.1f}%)" for k, v in split.items())
        )

    kinds = list(stats.failures)
    if kinds:
        failures = Table(title="Failures by kind", title_justify="left")
        failures.add_column("model")
        for kind in kinds:
            failures.add_column(kind, justify="right")
        for m in stats.models.values():
            if m.failures:
                failures.add_row(m.model, *(str(m.failures.get(kind, 0)) for kind in kinds))
        console.print(failures)
    else:
        console.print("failures: none")

    perf = Table(title="Latency, tokens and cost (ok answers)", title_justify="left")
    for column in ("model", "latency p50", "p95", "tokens in", "tokens out", "cost"):
        perf.add_column(column, justify="left" if column == "model" else "right")
    for m in stats.models.values():
        tokens_in = str(m.input_tokens) if m.ok > m.without_usage else "-"
        tokens_out = str(m.output_tokens) if m.ok > m.without_usage else "-"
        perf.add_row(m.model, _s(m.latency_p50), _s(m.latency_p95), tokens_in, tokens_out, _usd(m.cost_usd))
    perf.add_row(
        "[bold]all[/bold]",
        "",
        "",
        str(sum(m.input_tokens for m in stats.models.values())),
        str(sum(m.output_tokens for m in stats.models.values())),
        total_cost(stats),
    )
    console.print(perf)
    notes = []
    if any(m.cost_usd is None for m in stats.models.values()):
        notes.append("cost '-': the model table gives no prices (price_input_per_1m / price_output_per_1m)")
    partial = [f"{m.model} ({m.without_usage})" for m in stats.models.values() if m.without_usage and m.ok]
    if partial:
        notes.append("answers without token counts from the provider: " + ", ".join(partial))
    print_checks(console, stats)
    for note in notes:
        console.print(f"[dim]{note}[/dim]")
    for path in paths:
        console.print(f"wrote {path}")


def print_checks(console, stats) -> None:
    """Diversity per model and label, and the judges' agreement where the run was verified."""
    from rich.table import Table

    report = stats.diversity
    if report is not None:
        table = Table(title=f"Diversity (similarity: {report.embedder.split(':')[0]})", title_justify="left")
        columns = ("group", "texts", "dist-1", "dist-2", "dist-3", "mean sim", "words p10/50/90", "topics", "vocab")
        for column in columns:
            table.add_column(column, justify="left" if column == "group" else "right")
        groups = [("all", report.overall), *((f"model {k}", v) for k, v in report.per_model.items())]
        for name, g in [*groups, *((f"label {k}", v) for k, v in report.per_label.items())]:
            sim = "-" if g.mean_similarity is None else f"{g.mean_similarity:.3f}"
            topics = "-" if g.topic_mention is None else f"{100 * g.topic_mention:.0f}%"
            lengths = f"{g.length_p10:g}/{g.length_p50:g}/{g.length_p90:g}"
            row = (f"{g.distinct_1:.3f}", f"{g.distinct_2:.3f}", f"{g.distinct_3:.3f}", sim, lengths, topics)
            table.add_row(name, str(g.texts), *row, str(g.vocabulary))
        console.print(table)
    figures = stats.verification
    if figures is None:
        console.print("verification: none (a label is the one asked for; `synthgen verify` judges it)")
        return
    share = "-" if figures.overall is None else f"{100 * figures.overall:.1f}%"
    per_label = ", ".join(f"{k} {a}/{n}" for k, (a, n) in figures.per_label.items() if n)
    console.print(
        f"verification ({', '.join(figures.judges)}): first answers agree {share} ({per_label}); cells {figures.cells}"
    )
