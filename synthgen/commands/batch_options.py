"""The batch and budget flags of `generate` (synthgen.batch, synthgen.cost), and what it prints about them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

_OPTIONS = (
    click.option(
        "--batch", is_flag=True, help="Send the cells of every model that takes batch jobs as provider batch jobs."
    ),
    click.option("--batch-only", is_flag=True, help="With --batch: refuse a model that takes no batch jobs."),
    click.option("--batch-s3", default=None, metavar="s3://BUCKET/PREFIX", help="Where Bedrock batch jobs read/write."),
    click.option("--batch-role", default=None, metavar="ARN", help="The service role Bedrock batch jobs run with."),
    click.option(
        "--batch-retry",
        type=click.Choice(["online", "batch"]),
        default="online",
        show_default=True,
        help="Where requests that failed or expired inside a job go again: online, or into the next job.",
    ),
    click.option("--wait", is_flag=True, help="With batch jobs: poll them until done (else submit and return)."),
    click.option("--poll", "poll_s", type=float, default=30.0, show_default=True, help="Seconds between job polls."),
    click.option(
        "--estimate", is_flag=True, help="Print the projected tokens and cost per model (online and batch), then exit."
    ),
    click.option(
        "--budget", type=float, default=None, metavar="USD", help="A hard cap on what the run spends, online and batch."
    ),
)


def batch_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(_OPTIONS):
        fn = option(fn)
    return fn


def total_cost(summary: Any) -> float | None:
    costs = [m.cost_usd for m in summary.models.values() if m.cost_usd is not None]
    return round(sum(costs), 6) if costs else None


def print_closing(summary: Any) -> None:
    """The run's cost, then what is still at a provider and why a run stopped short (the budget: last)."""
    cost = total_cost(summary)
    if cost is not None:
        per = ", ".join(f"{m.model} ${m.cost_usd:.4f}" for m in summary.models.values() if m.cost_usd is not None)
        click.echo(f"cost: ${cost:.4f} ({per})")
    for line in getattr(summary, "closing", ()):
        click.echo(line)


def quiet_fields(summary: Any) -> dict[str, Any]:
    return {
        "cost_usd": total_cost(summary),
        "batch_jobs_live": getattr(summary, "batch_live", 0),
        "notes": list(getattr(summary, "closing", ())),
    }


class JobProgress:
    """`generate --wait`: one line per job each time its state or count changes (stderr)."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[str, int, str]] = {}

    def __call__(self, jobs: list[Any]) -> None:
        from ..store.jobs import COLLECTED

        for job in jobs:
            now = (job.provider_state, job.done, job.status)
            if self.seen.get(job.key) == now:
                continue
            self.seen[job.key] = now
            tail = f": {job.ok} ok, {job.failed} failed" if job.status == COLLECTED else ""
            click.echo(
                f"batch {job.key} ({job.provider_id or 'not yet submitted'}): {job.provider_state or job.status} "
                f"{job.done}/{job.cells}{tail}",
                err=True,
            )
