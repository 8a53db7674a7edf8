from __future__ import annotations

import json
import sys

import click

from .options import catalog_option, store_option

judges_option = click.option(
    "--judges",
    default=None,
    metavar="A,B,...",
    help="Judge model aliases. Default: the bundled local-gemma (with the local extra), else the run's models.",
)
self_judge_option = click.option(
    "--self-judge", is_flag=True, help="Let a model judge its own texts even when other judges exist."
)
aggregate_option = click.option(
    "--aggregate",
    type=click.Choice(["vote", "mean"]),
    default="vote",
    show_default=True,
    help="How several judges combine: majority vote, or the highest mean probability.",
)
min_confidence_option = click.option(
    "--min-confidence",
    type=float,
    default=0.0,
    show_default=True,
    help="Reject an answer whose panel confidence is below this, even when the label agrees (0 to 1).",
)


class Progress:
    """One line on stderr every so many verdicts or answers stored (judging runs on one worker, so slowly)."""

    def __init__(self, every: int = 50, quiet: bool = False):
        self.every, self.quiet, self.count = every, quiet, 0

    def __call__(self, event) -> None:
        if event.kind != "stored" or self.quiet:
            return
        self.count += 1
        if self.count % self.every == 0:
            click.echo(f"  verification: {self.count} stored", err=True)


def _pct(pair: tuple[int, int]) -> str:
    agree, judged = pair
    return f"{agree}/{judged} ({100 * agree / judged:.1f}%)" if judged else "-"


def print_verification(result) -> None:
    """The figures: agreement of the first answers per model, label and judge; what was kept and asked again."""
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    figures = result.agreement()
    console.print(
        f"verified run [bold]{result.run_id}[/bold] with {', '.join(result.judges)} "
        f"({figures.settings or result.settings.method()}): {result.verdicts_stored} verdicts stored, "
        f"{result.regenerated} new answers for rejected cells, {result.wall_s:.1f} s"
    )
    table = Table(title="Judged label = asked label (first answers)", title_justify="left")
    table.add_column("by")
    table.add_column("agreement", justify="right")
    for model, pair in figures.per_model.items():
        table.add_row(f"model {model}", _pct(pair))
    for label, pair in figures.per_label.items():
        table.add_row(f"label {label}", _pct(pair))
    for judge, pair in figures.per_judge.items():
        table.add_row(f"judge {judge}", _pct(pair))
    console.print(table)
    cells = figures.cells
    line = f"cells: {cells['accepted']} accepted, {cells['rejected']} rejected, {cells['unverified']} unverified"
    if figures.regenerated_cells:
        per = figures.answers_per_kept
        line += f"; {figures.regenerated_cells} cells asked again, {figures.answers} answers for {figures.kept} kept"
        line += f" ({per:.2f} per kept answer)" if per else ""
    console.print(line)
    if result.interrupted:
        console.print("[yellow]interrupted: what was stored stays; run it again to finish[/yellow]")


@click.command("verify")
@click.option("--run", "run_id", default="last", show_default=True, metavar="ID|last", help="The run to verify.")
@judges_option
@self_judge_option
@aggregate_option
@min_confidence_option
@click.option(
    "--max-regenerations",
    type=int,
    default=0,
    show_default=True,
    help="Also ask a rejected cell's model again, up to N times (as generate --verify does).",
)
@click.option("--concurrency", type=int, default=64, show_default=True, help="Verdict requests in flight at once.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds a judge request may take.")
@store_option
@catalog_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object with the figures instead of tables.")
def cmd(
    run_id,
    judges,
    self_judge,
    aggregate,
    min_confidence,
    max_regenerations,
    concurrency,
    timeout,
    store_url,
    catalog_dir,
    as_json,
) -> None:
    """Judge every kept text of a run into its task's labels; verdicts are journaled, the answers never changed."""
    from ..verify import parse_judges, verify_run

    result = verify_run(
        run_id,
        store=store_url,
        judges=parse_judges(judges),
        aggregate=aggregate,
        min_confidence=min_confidence,
        self_judge=self_judge,
        max_regenerations=max_regenerations,
        catalog_dir=catalog_dir,
        concurrency=concurrency,
        timeout=timeout,
        on_event=Progress(quiet=as_json),
    )
    if as_json:
        data = {"run_id": result.run_id, "judges": list(result.judges), **result.agreement().to_dict()}
        data.update(verdicts_stored=result.verdicts_stored, regenerated=result.regenerated, wall_s=result.wall_s)
        click.echo(json.dumps(data, ensure_ascii=False))
    else:
        print_verification(result)
    if result.interrupted:
        sys.exit(130)
