"""Which cells each worker sends and how many at once (pure), the checks of `--workers`, and what a worker is
sent and sends back."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import UserError

MAX_WORKERS = 64
PARENT_CHECK_S = 2.0  # how often a worker checks that the process that started it is still there


@dataclass(frozen=True)
class Share:
    """One worker's part of a run: the models it sends, which of their cells, and its limits."""

    index: int
    concurrency: int
    limits: dict[str, int]  # alias -> requests in flight at most: this worker's part of the model's limit
    parts: dict[str, tuple[int, int]]  # alias -> (j, k): the model's cells whose round % k == j

    def takes(self, model: str, round_index: int) -> bool:
        j, k = self.parts[model]
        return round_index % k == j


def _divide(total: int, k: int) -> list[int]:
    return [total // k + (i < total % k) for i in range(k)]


def plan_shares(workers: int, concurrency: int, limits: Mapping[str, int], todo: Mapping[str, int]) -> list[Share]:
    """The shares of `workers` processes: `limits` is each model's limit in one process, `todo` its cells still
    to do. Fewer shares than `workers` where the limits or the cells cannot keep that many busy."""
    spread = {alias: max(1, min(workers, limits[alias], todo[alias])) for alias in limits if todo.get(alias)}
    n = max(spread.values(), default=1)
    gates = _divide(max(concurrency, n), n)
    shares = []
    for i in range(n):
        mine = {alias: k for alias, k in spread.items() if i < k}
        shares.append(
            Share(
                index=i,
                concurrency=gates[i],
                limits={alias: _divide(limits[alias], k)[i] for alias, k in mine.items()},
                parts={alias: (i, k) for alias, k in mine.items()},
            )
        )
    return shares


def check_workers(workers: Any, concurrency: int) -> None:
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise UserError(f"--workers {workers}: must be a whole number, at least 1 (1: this process only)")
    if workers > 1 and os.name == "nt":
        raise UserError(f"--workers {workers}: worker processes need a POSIX system (Linux, macOS); drop --workers")
    if workers > MAX_WORKERS:
        raise UserError(f"--workers {workers}: at most {MAX_WORKERS} (this machine has {os.cpu_count()} cores)")
    if workers > concurrency:
        raise UserError(
            f"--workers {workers} with --concurrency {concurrency}: each worker needs a request in flight; "
            "give fewer workers or more concurrency"
        )


def check_spread(workers: int, protocols: Mapping[str, str], batch: bool) -> None:
    """What cannot be split over processes: a model that runs inside this one, a run of batch jobs."""
    if workers == 1:
        return
    local = sorted(alias for alias, protocol in protocols.items() if protocol == "llama-cpp")
    if local:
        raise UserError(
            f"--workers {workers}: {', '.join(local)} runs inside the process (llama-cpp) on every core already, "
            "one copy of the model per worker would not fit; drop --workers, or leave it out of --models"
        )
    if batch:
        raise UserError(f"--workers {workers}: a run of batch jobs (--batch) is sent by one process; drop --workers")


@dataclass
class WorkerJob:
    """What a worker is sent (pickled): where the run is, its share, and how the engine runs it."""

    store_url: str
    run_id: str
    share: Share
    specs: dict[str, Any]  # alias -> ModelSpec as the run sends it
    options: dict[str, Any]  # EngineConfig fields other than the limits
    params: dict[str, Any]
    budget: float | None  # USD this worker may spend; None: no cap
    parent: int  # the pid of the process that started it
    relay: bool  # whether anyone listens to its events


def make_jobs(
    url: str,
    run_id: str,
    shares: Sequence[Share],
    specs: Mapping[str, Any],
    options: Mapping[str, Any],
    params: Mapping[str, Any] | None,
    budget_left: float | None,
    relay: bool,
) -> list[WorkerJob]:
    """A job per share, each with an equal part of what the budget has left."""
    part = None if budget_left is None else max(0.0, budget_left) / max(1, len(shares))
    return [
        WorkerJob(
            url,
            run_id,
            share,
            {alias: specs[alias] for alias in share.parts},
            dict(options),
            dict(params or {}),
            part,
            os.getpid(),
            relay,
        )
        for share in shares
    ]


@dataclass
class WorkerReport:
    """What a worker says at its end; `error_kind`: store | user | infrastructure | bug."""

    index: int
    stored: int = 0
    stored_ok: int = 0
    interrupted: bool = False
    budget_stopped: bool = False
    error: str | None = None
    error_kind: str | None = None
