"""`synthgen batch status|collect|cancel`: a run's provider batch jobs."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from .options import catalog_option, store_option


def _age(iso: str | None) -> str:
    if not iso:
        return "-"
    try:
        seconds = (datetime.now(UTC) - datetime.fromisoformat(iso)).total_seconds()
    except ValueError:
        return "-"
    return (
        f"{seconds / 3600:.1f}h" if seconds >= 3600 else f"{seconds / 60:.0f}m" if seconds >= 60 else f"{seconds:.0f}s"
    )


def _runner(store, run_id: str, catalog_dir: str | None):
    """The run's batch side, opened with the prices and options it was planned with."""
    from ..batch import BatchOptions, BatchRunner
    from ..catalog import load_catalog
    from ..cost import Charger, Prices
    from ..errors import UserError

    run = store.resolve_run(run_id)
    if not run.batch:
        raise UserError(f"run {run.run_id} sends no batch jobs (it was planned without --batch)")
    options = BatchOptions.from_dict(run.batch)
    catalog = load_catalog(catalog_dir)
    specs = {alias: catalog.get_model(alias) for alias in options.models}
    prices = {a: Prices.of_plan((run.model_plans.get(a) or {}).get("prices"), s) for a, s in specs.items()}
    return run, BatchRunner(store, run, specs, options, Charger(specs, prices, run.params, batch=True))


def _show(jobs, as_json: bool) -> None:
    if as_json:
        for job in jobs:
            click.echo(json.dumps(job.to_dict()))
        return
    if not jobs:
        click.echo("no batch jobs")
    for job in jobs:
        click.echo(
            f"{job.key}  {job.status:<10} {job.provider_state or '-':<22} {job.done}/{job.cells} done  "
            f"ok {job.ok} failed {job.failed}  age {_age(job.submitted_at or job.created_at)}  "
            f"{job.provider_id or ''}"
        )


@click.group("batch")
def cmd() -> None:
    """A run's provider batch jobs: their state, collecting finished ones, cancelling them."""


@cmd.command("status")
@click.argument("run_id", default="last")
@store_option
@click.option("--refresh/--no-refresh", default=True, show_default=True, help="Ask the providers for each state.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job.")
@catalog_option
def status(run_id: str, store_url: str | None, refresh: bool, as_json: bool, catalog_dir: str | None) -> None:
    """Each job of a run: its state, counts and age (RUN: an id, or `last`)."""
    from ..store import open_store

    with open_store(store_url, create=False) as store:
        run, runner = _runner(store, run_id, catalog_dir)
        try:
            if refresh:
                for job in runner.live():
                    if job.provider_id:
                        runner.backend(job.model).refresh(job)
                        store.put_job(job)
            _show(runner.jobs(), as_json)
        finally:
            runner.close()


def _leased(store, run, fn):
    from ..lease import RunLease

    lease = RunLease(store, run.run_id)
    lease.claim()
    try:
        return fn()
    finally:
        lease.release()


@cmd.command("collect")
@click.argument("run_id")
@store_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per job.")
@catalog_option
def collect(run_id: str, store_url: str | None, as_json: bool, catalog_dir: str | None) -> None:
    """Download the run's finished jobs and store an outcome for each of their cells."""
    from ..store import open_store

    with open_store(store_url, create=False) as store:
        run, runner = _runner(store, run_id, catalog_dir)
        try:
            jobs = _leased(store, run, runner.poll)
            if not runner.live() and run.status == "submitted":
                store.set_run_status(run.run_id, "interrupted")  # every job is in: the rest is for --resume
            _show(jobs, as_json)
        finally:
            runner.close()
    if not as_json:
        click.echo(f"finish the run (cells without an ok record) with: synthgen generate --resume {run.run_id}")


@cmd.command("cancel")
@click.argument("run_id")
@store_option
@catalog_option
def cancel(run_id: str, store_url: str | None, catalog_dir: str | None) -> None:
    """Cancel the run's jobs at the providers and mark their unanswered cells `cancelled`."""
    import time

    from ..store import open_store

    with open_store(store_url, create=False) as store:
        run, runner = _runner(store, run_id, catalog_dir)
        try:

            def work():
                cancelled = runner.cancel()
                deadline = time.monotonic() + 60
                while runner.live() and time.monotonic() < deadline:
                    runner.poll()
                    time.sleep(0.5)
                return cancelled

            cancelled = _leased(store, run, work)
            store.set_run_status(run.run_id, "interrupted")
            _show(runner.jobs(), False)
        finally:
            runner.close()
    click.echo(f"cancelled {len(cancelled)} job(s); resume the run with: synthgen generate --resume {run.run_id}")
