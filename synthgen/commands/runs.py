from __future__ import annotations

import json

import click

from ..store import open_store
from .options import store_option


@click.command("runs")
@store_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per run.")
def cmd(store_url: str | None, as_json: bool) -> None:
    """List runs with their counts."""
    with open_store(store_url, create=False) as store:
        rows = []
        for run in store.list_runs():
            counts = store.counts(run.run_id)
            by_status: dict[str, int] = {}
            for per_model in counts.values():
                for status, n in per_model.items():
                    by_status[status] = by_status.get(status, 0) + n
            rows.append((run, by_status, store.run_cost(run.run_id)))
    if as_json:
        for run, by_status, (cost, unpriced) in rows:
            click.echo(
                json.dumps(
                    {
                        "run_id": run.run_id,
                        "created_at": run.created_at,
                        "status": run.status,
                        "task": run.task_info().name,
                        "rounds": run.rounds,
                        "models": run.models,
                        "seed": run.seed,
                        "counts": by_status,
                        "cost_usd": cost,  # the stored costs of its outcomes; None: none carries one
                        "ok_without_cost": unpriced,
                    }
                )
            )
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"runs in {store.url}", title_justify="left")
    columns = ("run", "created", "status", "task", "rounds", "models", "ok", "failed", "skipped", "not run", "cost")
    for column in columns:
        table.add_column(column)
    for run, c, (cost, unpriced) in rows:
        table.add_row(
            run.run_id,
            run.created_at[:19].replace("T", " "),
            run.status,
            run.task_info().name,
            str(run.rounds),
            ",".join(run.models),
            str(c.get("ok", 0)),
            str(c.get("failed", 0)),
            str(c.get("skipped", 0)),
            str(c.get("planned", 0) + c.get("submitted", 0)),
            "-" if cost is None else f"{'≥ ' if unpriced else ''}${cost:.4f}",
        )
    Console(width=max(Console().width, 120)).print(table)
