"""Live progress and the closing summary of a run, with rich. Counts come from `stored` events only."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from .endpoints import EndpointStats, merge
from .engine import Event
from .generation import RunSummary
from .store import OK, RunInfo


class LiveProgress:
    """One bar for the run and one per model, with done / failed / retrying counts."""

    def __init__(self, console: Console | None = None):
        self.console = console or Console(stderr=True)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[detail]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=False,
            refresh_per_second=8,
        )
        self.tasks: dict[str, int] = {}
        self.total_task: int | None = None
        self.ok: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self.retrying: Counter[str] = Counter()
        # what each endpoint of a model with several served (the engines' `endpoints` events, added up)
        self.endpoints: dict[str, list[EndpointStats]] = {}

    def start(self, run: RunInfo, todo: dict[str, int], note: str | None, limits: str | None = None) -> None:
        """The run's first line (and how many requests each model may have in flight) and a bar per model;
        `todo`: each model's cells still to do."""
        if note:
            self.console.print(f"[cyan]{note}[/cyan]")
        total = sum(todo.values())
        self.console.print(
            f"run [bold]{run.run_id}[/bold]: {total} cells to do "
            f"({run.rounds} rounds x {len(run.models)} models, seed {run.seed}) -> {run.store_url}"
        )
        if limits:
            self.console.print(limits)
        self.progress.start()
        self.total_task = self.progress.add_task("[bold]all", total=total, detail="")
        width = max((len(m) for m in run.models), default=5)
        for model in run.models:
            self.tasks[model] = self.progress.add_task(model.ljust(width), total=todo.get(model, 0), detail="")

    def __call__(self, event: Event) -> None:
        if event.kind == "endpoint" and event.failure is not None:  # one of a model's endpoints stopped
            self.console.print(f"[yellow]{event.model}: {event.failure.message}[/yellow]")
            return
        if event.kind == "endpoints":
            self.endpoints[event.model] = merge([*self.endpoints.get(event.model, []), *event.endpoints])
            return
        if event.kind == "retry":
            self.retrying[event.model] += 1
        elif event.kind == "stored" and event.record is not None:
            if event.record.status == OK:
                self.ok[event.model] += 1
            else:
                self.failed[event.model] += 1
            self.progress.advance(self.tasks[event.model])
            if self.total_task is not None:
                self.progress.advance(self.total_task)
        else:
            return
        model = event.model
        self.progress.update(
            self.tasks[model],
            detail=f"ok {self.ok[model]}  failed {self.failed[model]}  retries {self.retrying[model]}",
        )

    def stop(self) -> None:
        if self.total_task is not None:  # started: stopping an unstarted display would print a stray line
            self.progress.stop()
        if self.endpoints:
            print_endpoints(self.endpoints, self.console)


def _fmt(value: float | None, unit: str = "s") -> str:
    return "-" if value is None else f"{value:.2f}{unit}"


def print_endpoints(endpoints: dict[str, list[EndpointStats]], console: Console | None = None) -> None:
    """Per endpoint of each model with several: requests sent (retries too), ok answers, failed requests, the ok
    answers' mean latency, and whether its breaker stopped it. Counted by the engine as the run went (a record
    does not say which endpoint served it), so these are this run's, not a resumed run's earlier ones."""
    console = console or Console(width=max(Console().width, 120))
    table = Table(title="endpoints", title_justify="left")
    for column in ("model", "endpoint", "requests", "ok", "failed", "mean latency", "state"):
        table.add_column(column, justify="right" if column in ("requests", "ok", "failed", "mean latency") else "left")
    for model, stats in endpoints.items():
        for each in stats:
            state = each.stopped or "serving"
            table.add_row(
                model, each.name, str(each.requests), str(each.ok), str(each.failed), _fmt(each.mean_latency_s), state
            )
    console.print(table)


def print_summary(summary: RunSummary, console: Console | None = None) -> None:
    console = console or Console(width=max(Console().width, 120))
    table = Table(title=f"run {summary.run_id} ({summary.run.status})", title_justify="left")
    for column in (
        "model",
        "ok",
        "failed",
        "failures by kind",
        "not run",
        "latency p50",
        "p95",
        "tokens in/out",
        "out tok/s",
    ):
        table.add_column(column, justify="left" if column in ("model", "failures by kind") else "right")
    for model in summary.models.values():
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(model.failures.items())) or "-"
        table.add_row(
            model.model,
            str(model.ok),
            str(model.failed),
            kinds,
            str(model.planned),
            _fmt(model.latency_p50),
            _fmt(model.latency_p95),
            f"{model.input_tokens}/{model.output_tokens}",
            "-" if model.tokens_per_s is None else f"{model.tokens_per_s:.1f}",
        )
    console.print(table)
    wall = f" in {summary.wall_s:.1f}s" if summary.wall_s is not None else ""
    console.print(f"{summary.ok} of {summary.total} cells ok{wall}; records in {summary.run.store_url}")
    if summary.interrupted or any(m.planned or m.failed for m in summary.models.values()):
        console.print(
            f"resume with: synthgen generate --resume {summary.run_id}"
            + (f" --store {summary.run.store_url}" if summary.run.store_url else "")
        )
