"""One generate run with batch models: their jobs first (found again, collected, new ones submitted), then every
online request (the other models, and cells fewer than a job's minimum), then, with --wait, the jobs polled to
the end, their retryable failures sent into new jobs or online (`--batch-retry`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..catalog import ModelSpec
from ..cost import Charger
from ..lease import RENEW_EVERY_S, RunLease
from ..store import BatchJob, Record, RunInfo, Store
from .keeper import LeaseKeeper
from .options import BatchOptions
from .runner import BatchRunner

Online = Callable[[Mapping[str, Iterable[Record]]], None]


def run_batch(
    store: Store,
    run: RunInfo,
    specs: Mapping[str, ModelSpec],
    options: BatchOptions,
    charger: Charger,
    lease: RunLease,
    *,
    online: Online,
    unfinished: Callable[[str], Iterable[Record]],
    todo: Mapping[str, int],
    params: Mapping[str, Any] | None = None,
    max_attempts: int = 6,
    wait: bool = False,
    poll_s: float = 30.0,
    on_stored: Callable[[Record], None] | None = None,
    on_poll: Callable[[list[BatchJob]], None] | None = None,
) -> tuple[list[str], int]:
    """Run it all; (notes for the user, batch jobs still at the provider)."""
    runner = BatchRunner(
        store, run, specs, options, charger, params=params, max_attempts=max_attempts, on_stored=on_stored
    )
    try:
        with LeaseKeeper(lease.renew, RENEW_EVERY_S, lease.lost) as keeper:
            runner.check = keeper.check
            runner.reconcile()
            left = runner.submit()
            keeper.check()
            aliases = [a for a in run.models if todo.get(a) and a not in runner.specs] + list(left)
            if aliases:
                online({alias: unfinished(alias) for alias in aliases})
            for _ in range(max(1, max_attempts)) if wait else ():
                runner.wait(poll_s, on_poll)
                if charger.stopped or not runner.retryable():
                    break
                if options.retry == "batch":
                    left = runner.submit(retry=True)
                    if left:
                        online({alias: runner.retry_cells(alias) for alias in left})
                    continue
                online({alias: runner.retry_cells(alias) for alias in runner.specs})
                break
            return runner.notes, len(runner.live())
    finally:
        runner.close()
