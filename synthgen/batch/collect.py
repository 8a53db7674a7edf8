"""A finished job's results -> one outcome record per cell, a page of results at a time.

Each result line is matched to its cell by id (the cells of the page are read from the store together), read by
the table's paths exactly as an online answer is (a response without the answer is a failure, never text),
redacted, costed at the run's batch prices, and stored; a cell the results do not mention (the job expired,
failed or was cancelled before it ran) gets a failed record saying so. A cell that has an outcome already, or
that moved to another job, is left alone, so collecting twice stores nothing twice.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from typing import Any

from ..adapters import Adapter, parse_answer
from ..adapters.storable import storable_result
from ..cost import Charger
from ..results import CallResult, Failure, Usage
from ..store import FAILED, OK, SUBMITTED, BatchJob, Record, Store
from ..store.jobs import CANCELLED, EXPIRED, FAILED_JOB
from .base import Backend, Result

PAGE = 1000


def outcome(cell: Record, result: Result, spec: Any, adapter: Adapter, charger: Charger, job: BatchJob) -> Record:
    """The record for one result line (the cell's identity and request, the answer or failure, its cost)."""
    secret = (spec.api_key() or "",)
    body = cell.request_body or {}
    text, finish, usage, failure, notes = None, None, Usage(), result.failure, []
    if failure is None:
        text, finish, usage, failure, notes = parse_answer(spec, result.raw, {})
        if failure is None and (failure := adapter.check_answer(spec, text, None)) is not None:
            text = None
    call = storable_result(
        spec,
        secret,
        body=body,
        latency=0.0,
        raw=result.raw,
        text=text,
        finish=finish,
        usage=usage,
        failure=failure,
        notes=notes,
    )
    return _record(cell, call, job, charger.cost(spec.alias, call.usage.input_tokens, call.usage.output_tokens))


def fresh(cell: Record, **outcome: Any) -> Record:
    """A new record of the cell: its identity and prompt (no earlier outcome), with these outcome fields."""
    identity = ("run_id", "round", "model", "model_id", "label", "topics", "prompt", "created_at")
    return Record(**{name: getattr(cell, name) for name in identity}, **outcome)


def _record(cell: Record, call: CallResult, job: BatchJob, cost: float | None) -> Record:
    failure = call.failure
    return fresh(
        cell,
        status=OK if failure is None else FAILED,
        request_body=cell.request_body,
        text=call.text,
        response=call.raw,
        input_tokens=call.usage.input_tokens,
        output_tokens=call.usage.output_tokens,
        finish_reason=call.finish_reason,
        failure_kind=str(failure.kind) if failure else None,
        failure_message=failure.message if failure else None,
        attempts=cell.attempts + 1,
        note="; ".join(call.notes) or None,
        batch_job=job.key,
        cost_usd=cost,
    )


def unanswered(cell: Record, job: BatchJob) -> Record:
    """The failed record of a cell its job never answered."""
    kind = {EXPIRED: "expired", CANCELLED: "cancelled", FAILED_JOB: "invalid_request"}.get(job.state, "transient")
    why = f": {job.message}" if job.message and job.state == FAILED_JOB else ""
    message = (
        f"batch job {job.key} ({job.provider_id}) ended {job.provider_state or job.state} without this request{why}"
    )
    call = CallResult(cell.model, cell.model_id, cell.request_body or {}, 0.0, failure=Failure(kind, message[:400]))  # type: ignore[arg-type]
    return _record(cell, call, job, None)


def collect(
    store: Store,
    job: BatchJob,
    backend: Backend,
    adapter: Adapter,
    charger: Charger,
    on_stored: Callable[[Record], None] | None = None,
) -> tuple[int, int, float]:
    """Store an outcome for every cell of a finished job; (ok, failed, cost of what was stored)."""
    ok = failed = 0
    spent = 0.0
    spec = backend.spec

    def store_page(records: Iterable[Record]) -> None:
        nonlocal ok, failed, spent
        records = list(records)
        if not records:
            return
        results = store.put_records(records)
        for record, written in zip(records, results, strict=True):
            if written is True:
                ok += record.status == OK
                failed += record.status != OK
                spent += record.cost_usd or 0.0
                if on_stored is not None:
                    on_stored(record)

    lines = iter(backend.results(job))
    while page := list(itertools.islice(lines, PAGE)):
        rounds = [backend.round_of(result.rid) for result in page]
        cells = store.cells(job.run_id, job.model, [n for n in rounds if n is not None])
        mine = []
        for result, number in zip(page, rounds, strict=True):
            cell = cells.get(number) if number is not None else None
            if cell is None or cell.status != SUBMITTED or cell.batch_job != job.key:
                continue  # not this job's, or answered already (a collect that ran before)
            mine.append(outcome(cell, result, spec, adapter, charger, job))
        store_page(mine)
    while rest := list(itertools.islice(store.job_cells(job.run_id, job.model, job.key), PAGE)):
        before = ok + failed
        store_page(unanswered(cell, job) for cell in rest)
        if ok + failed == before:  # the store took none of them (each rejected): they stay as they are
            break
    return ok, failed, spent
