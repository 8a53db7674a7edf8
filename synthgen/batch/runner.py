"""A run's batch side: find the jobs it already has, make new ones from its unfinished cells, wait, collect.

Making a job, in this order, so that a crash or a kill at any point never sends a cell twice:

1. its input JSONL is written to a temporary file from the store's cells (streamed: 100,000 cells are never in
   memory together), each cell's worst case reserved against --budget;
2. the job is stored (`preparing`: key, idempotency token, name, cells), then its cells are marked `submitted`
   with the job's key and the exact request body;
3. the input is uploaded and the job created; the provider's id is stored (`submitted`).

`reconcile` (every start, `--resume`, `batch collect`) looks for a `preparing` job at the provider (by token,
name or metadata) before anything is submitted again, refreshes `submitted` ones, and collects finished ones.
"""

from __future__ import annotations

import json
import math
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ..adapters import Adapter, adapter_class
from ..catalog import ModelSpec
from ..cost import Charger
from ..prompt import RoundPlan, Topic
from ..store import FAILED, OK, SUBMITTED, BatchJob, Record, RunInfo, Store, utc_now
from ..store.jobs import COLLECTED, PREPARING, SUBMITTED_JOB, TERMINAL, job_token
from .base import Backend, backend_for, job_name
from .collect import collect, fresh
from .options import RETRY_KINDS, BatchOptions


class Pushback:
    """An iterator that takes back the one item it gave last (a cell that did not fit this job)."""

    def __init__(self, items: Iterator[Record]):
        self._items, self._back = items, []

    def __iter__(self) -> Pushback:
        return self

    def __next__(self) -> Record:
        return self._back.pop() if self._back else next(self._items)

    def push(self, item: Record) -> None:
        self._back.append(item)


class BatchRunner:
    def __init__(
        self,
        store: Store,
        run: RunInfo,
        specs: Mapping[str, ModelSpec],
        options: BatchOptions,
        charger: Charger,
        *,
        params: Mapping[str, Any] | None = None,
        max_attempts: int = 6,
        on_stored: Callable[[Record], None] | None = None,
        check: Callable[[], None] | None = None,
    ):
        self.store, self.run, self.options, self.charger = store, run, options, charger
        self.specs = {alias: specs[alias] for alias in options.models if alias in specs}
        self.params = dict(params or {})
        self.max_attempts = max_attempts
        self.on_stored = on_stored
        self.check = check or (lambda: None)
        self.notes: list[str] = []
        self._backends: dict[str, Backend] = {}
        self._adapters: dict[str, Adapter] = {}
        self._dir = tempfile.TemporaryDirectory(prefix="synthgen-batch-")
        if charger.meter is not None:  # jobs of an earlier process still in flight hold their worst case
            charger.meter.in_flight += sum(j.reserved_usd or 0.0 for j in self.jobs() if j.live)

    # --- parts ---
    def backend(self, alias: str) -> Backend:
        if alias not in self._backends:
            self._backends[alias] = backend_for(self.specs[alias], self.options)
        return self._backends[alias]

    def adapter(self, alias: str) -> Adapter:
        if alias not in self._adapters:
            self._adapters[alias] = adapter_class(self.specs[alias].protocol)(max_connections=1, timeout=60.0)
        return self._adapters[alias]

    def jobs(self) -> list[BatchJob]:
        return self.store.jobs(self.run.run_id)

    def live(self) -> list[BatchJob]:
        return [j for j in self.jobs() if j.live and j.model in self.specs]

    def close(self) -> None:
        for backend in self._backends.values():
            backend.close()
        self._dir.cleanup()

    # --- what an earlier process left ---
    def reconcile(self) -> None:
        self.poll()

    def _resume(self, job: BatchJob) -> None:
        """A job whose id was never stored: adopt the provider's, or submit its cells (never others) now."""
        backend = self.backend(job.model)
        if backend.find(job):
            job.status, job.submitted_at = SUBMITTED_JOB, job.submitted_at or utc_now()
            self.store.put_job(job)
            return
        path = Path(self._dir.name) / f"{job.key}.jsonl"
        count = 0
        with path.open("w", encoding="utf-8") as handle:
            for cell in self.store.job_cells(job.run_id, job.model, job.key):
                handle.write(_dumps(backend.line(backend.record_id(cell), cell.request_body or {})))
                count += 1
        if count == 0:  # stopped before any cell was marked: nothing of it exists anywhere
            job.status, job.cells, job.message = COLLECTED, 0, "never submitted (stopped before its cells were marked)"
            self.store.put_job(job)
            return
        job.cells = count
        self._send(job, path)

    # --- new jobs ---
    def submit(self, retry: bool = False) -> dict[str, int]:
        """Jobs for every batch model's cells without an outcome (`retry`: only failures a retry may fix); the
        cells left for online requests per model (fewer than a job's minimum)."""
        online: dict[str, int] = {}
        counts = self.store.counts(self.run.run_id)
        for alias, spec in self.specs.items():
            if retry:
                remaining = sum(1 for _ in self._eligible(alias, True))
            else:
                remaining = sum(n for s, n in counts.get(alias, {}).items() if s not in (OK, SUBMITTED))
            stream = Pushback(self._eligible(alias, retry))
            low, high = spec.batch_min_records or 1, spec.batch_max_records or max(remaining, 1)
            while remaining > 0 and not self.charger.stopped:
                self.check()
                if remaining >= low:
                    jobs = math.ceil(remaining / high)
                    taken = self._make(alias, stream, math.ceil(remaining / jobs), low)
                    if taken > 0:
                        remaining -= taken
                        continue
                    if taken == 0:  # the budget: nothing more is sent
                        break
                online[alias] = remaining
                self.notes.append(
                    f"{alias}: {remaining} cells are fewer than {self.backend(alias).service}'s minimum of {low} "
                    "records per job: sent online"
                )
                break
        return online

    def _eligible(self, alias: str, retry: bool) -> Iterator[Record]:
        for cell in self.store.records(self.run.run_id, model=alias):
            if cell.status in (OK, SUBMITTED):
                continue
            if retry and not (
                cell.status == FAILED and cell.failure_kind in RETRY_KINDS and cell.attempts < self.max_attempts
            ):
                continue
            yield cell

    def retry_cells(self, alias: str) -> Iterator[Record]:
        """A model's cells whose failure a retry may fix (the provider's trouble, not the request's)."""
        return self._eligible(alias, True)

    def retryable(self) -> int:
        return sum(1 for alias in self.specs for _ in self._eligible(alias, True))

    def _make(self, alias: str, stream: Pushback, size: int, low: int) -> int:
        """One job of at most `size` cells: the number it took; 0 when the budget stopped it; -1 when fewer than
        `low` fit (its cells stay as they were, for online requests)."""
        spec, backend, adapter = self.specs[alias], self.backend(alias), self.adapter(alias)
        number = 1 + sum(1 for j in self.jobs() if j.model == alias)
        job = BatchJob(self.run.run_id, f"{alias}-{number:04d}", alias, spec.protocol)
        job.token, job.name = job_token(job.run_id, job.key), job_name(job)
        path = Path(self._dir.name) / f"{job.key}.jsonl"
        count = size_bytes = 0
        reserved = 0.0
        meter = self.charger.meter
        params = self.params.get(alias)
        with path.open("w", encoding="utf-8") as handle:
            for cell in stream:
                if count >= size:
                    stream.push(cell)
                    break
                body = adapter.build_body(spec, cell.prompt, params, round=_plan_of(cell), attempt=cell.attempts)
                text = _dumps(backend.line(backend.record_id(cell), body))
                n = len(text.encode("utf-8"))
                if spec.batch_max_bytes and size_bytes + n > spec.batch_max_bytes and count:
                    stream.push(cell)
                    break
                if meter is not None:
                    worst = self.charger.worst(spec, cell.prompt)
                    if not meter.reserve(worst):
                        stream.push(cell)
                        break
                    reserved += worst
                handle.write(text)
                count += 1
                size_bytes += n
        if count < low:
            if meter is not None:
                meter.release(reserved)
            path.unlink()
            return 0 if self.charger.stopped and count == 0 else -1
        job.cells, job.reserved_usd = count, reserved if meter is not None else None
        self.store.put_job(job)  # its identity, before any cell is marked or anything is sent
        self._mark(job, path)
        self._send(job, path)
        return count

    def _mark(self, job: BatchJob, path: Path) -> None:
        backend = self.backend(job.model)
        with path.open(encoding="utf-8") as handle:
            while page := [json.loads(line) for _, line in zip(range(1000), handle, strict=False)]:
                bodies = {backend.round_of(rid): body for rid, body in map(backend.body_of, page)}
                cells = self.store.cells(job.run_id, job.model, [n for n in bodies if n is not None])
                marked = [_submitted(cells[n], job.key, body) for n, body in bodies.items() if n in cells]
                self.store.put_records(marked)

    def _send(self, job: BatchJob, path: Path) -> None:
        self.backend(job.model).submit(job, path, job.cells, lambda: self.store.put_job(job))
        job.status, job.submitted_at = SUBMITTED_JOB, utc_now()
        self.store.put_job(job)
        path.unlink(missing_ok=True)

    # --- waiting and collecting ---
    def poll(self) -> list[BatchJob]:
        """Refresh every live job, collecting those that finished; the run's jobs as they are now."""
        for job in self.live():
            self.check()
            if job.status == PREPARING:
                self._resume(job)
            else:
                self._poll(job)
        return self.jobs()

    def _poll(self, job: BatchJob) -> None:
        self.backend(job.model).refresh(job)
        self.store.put_job(job)
        if job.state in TERMINAL:
            self.finish(job)

    def finish(self, job: BatchJob) -> None:
        ok, failed, spent = collect(
            self.store, job, self.backend(job.model), self.adapter(job.model), self.charger, self.on_stored
        )
        if self.charger.meter is not None:
            self.charger.meter.settle(job.reserved_usd or 0.0, spent)
        job.ok, job.failed = job.ok + ok, job.failed + failed
        job.status, job.finished_at = COLLECTED, utc_now()
        self.store.put_job(job)

    def wait(self, poll_s: float, on_poll: Callable[[list[BatchJob]], None] | None = None) -> None:
        stop = threading.Event()
        while True:
            jobs = self.poll()
            if on_poll is not None:
                on_poll(jobs)
            if not self.live():
                return
            stop.wait(poll_s)

    def cancel(self) -> list[BatchJob]:
        cancelled = []
        for job in self.live():
            if job.status == PREPARING and not self.backend(job.model).find(job):
                self._resume(job)  # it may exist nowhere yet: submit, so that it can be cancelled like the others
            self.backend(job.model).cancel(job)
            job.message = (job.message + " cancel requested").strip()
            job.status = SUBMITTED_JOB
            self.store.put_job(job)
            cancelled.append(job)
        return cancelled


def _plan_of(cell: Record) -> RoundPlan:
    topics = tuple(Topic(t["category"], t["topic"]) for t in cell.topics)
    return RoundPlan(index=cell.round, sentiment=cell.label, topics=topics, prompt=cell.prompt)


def _dumps(line: dict[str, Any]) -> str:
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


def _submitted(cell: Record, key: str, body: dict[str, Any]) -> Record:
    """The cell as a job carries it: its identity, the exact request, no earlier outcome."""
    return fresh(
        cell,
        status=SUBMITTED,
        request_body=body,
        attempts=cell.attempts,
        batch_job=key,
    )
