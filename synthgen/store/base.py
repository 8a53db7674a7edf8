"""The store is a journal: a run's cells are written as `planned` first, then each outcome as it happens.

A cell is (run, round, model) and has exactly one record, whose status moves planned -> ok | failed | skipped.
An `ok` record is final; a failed or skipped one is replaced when a resumed run retries that cell.
Resume = planned cells minus ok cells.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..errors import InfrastructureError, UserError
from ..labels import SENTIMENT_TASK, TaskInfo, sentiment_alias

PLANNED, OK, FAILED, SKIPPED = "planned", "ok", "failed", "skipped"
# in a provider batch job (the record's `batch_job` names it) and not answered yet: never sent online meanwhile
SUBMITTED = "submitted"
STATUSES = (PLANNED, OK, FAILED, SKIPPED, SUBMITTED)


# The layout both stores are at: 1 the first one; 2 records gain `label`; 3 runs carry a lease; 4 the verdicts
# layer; 5 batch jobs. Each backend has one migration per version; a store newer than this is refused (written by
# a newer synthgen).
SCHEMA_VERSION = 5


class StoreUnavailable(InfrastructureError):
    """The store could not take a write (or answer a read) after its own retries: unreachable, full, read-only,
    or unreachable already when opened. Exit 3.

    A command stops with this one line; `generate` adds how many cells were stored and how to resume."""


class RecordRejected(Exception):
    """This one record (or cleaned text, or planned run) cannot be stored as it is, and the store is unchanged:
    a string that is not valid UTF-8 (a lone surrogate), an integer outside 64 bits, a number DynamoDB cannot
    hold, an item DynamoDB refuses for its content, or one too large even compressed and trimmed.

    Not an outage: the store works, so the engine stores a failure record for that cell instead and the other
    cells go on."""


class StoreRequestError(RuntimeError):
    """DynamoDB refused a request synthgen built (a ValidationException about the request, not its content): a
    bug of ours, not the store's state. Not a StoreUnavailable: the run does not end as if the store were down,
    with a hint to check the endpoint; it ends with this error and its traceback, to be reported."""


class RunExists(ValueError):
    """create_run for a run id the store already holds: run ids are unique, so this is a caller's mistake."""


class UnknownRun(LookupError):
    """A lease was asked for on a run the store does not hold."""


def utc_now() -> str:
    """ISO 8601 in UTC with an explicit offset: 2026-11-23T01:23:45.123456+00:00."""
    return datetime.now(UTC).isoformat()


def record_id(run_id: str, round_index: int, model: str) -> str:
    return f"{run_id}/{round_index:06d}/{model}"


class _Serial:
    """to_dict / from_dict for the store's dataclasses; unknown keys (from a newer writer) are ignored."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        known = cls.__dataclass_fields__  # type: ignore[attr-defined]
        return cls(**{k: v for k, v in data.items() if k in known})


@sentiment_alias
@dataclass
class Record(_Serial):
    """One cell of a run and its outcome. (`sentiment=` and `.sentiment` are the label's deprecated name from
    before tasks; both stores keep a `sentiment` column mirroring `label`, so a store written earlier reads back.)"""

    run_id: str
    round: int
    model: str  # alias
    model_id: str
    label: str  # the label the cell was asked for: one of the run's task's labels
    topics: list[dict[str, str]]  # [{"category": ..., "topic": ...}] exactly as prompted
    prompt: str
    status: str = PLANNED
    request_body: dict[str, Any] | None = None  # never holds a secret: keys travel in headers
    text: str | None = None
    response: Any = None  # the provider's full decoded response or error body
    latency_s: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    finish_reason: str | None = None
    failure_kind: str | None = None
    failure_message: str | None = None
    attempts: int = 0
    created_at: str = field(default_factory=utc_now)
    updated_at: str | None = None
    note: str | None = None  # e.g. "raw response trimmed to fit DynamoDB's 400 KB item limit"
    batch_job: str | None = None  # the key of the batch job that carries (or carried) this cell, if one did
    cost_usd: float | None = None  # what this outcome cost at the prices the run was planned with; None: unknown

    @property
    def id(self) -> str:
        return record_id(self.run_id, self.round, self.model)

    def to_dict(self) -> dict[str, Any]:
        # `sentiment`: the label under its old name, for readers of `synthgen log --json` written before tasks
        return {**asdict(self), "sentiment": self.label, "id": self.id}

    def columns(self) -> dict[str, Any]:
        """The fields as the stores write them: the dataclass's, and `sentiment` mirroring `label`."""
        return {**self.__dict__, "sentiment": self.label}


@dataclass
class ModelPlan(_Serial):
    """What one model of a run is sent, fixed when the run is planned: the card reads it from here, so a table
    edited after the run never changes what the card says the run did."""

    model_id: str
    protocol: str
    params: dict[str, Any]  # the resolved parameters: the table's defaults deep-merged with the run's overrides
    template: str  # the name of the template this model's prompts are rendered from
    template_text: str
    prompt_format: str = "{prompt}"  # how the rendered prompt is wrapped for the model's chat format
    few_shot: bool = False  # a base model's few-shot completion prompt built from the round, not the run's template
    # USD per million tokens when the run was planned: input, output, batch_input, batch_output, as_of (None: unknown)
    prices: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunInfo(_Serial):
    run_id: str
    created_at: str
    seed: int
    rounds: int
    models: list[str]
    template: str  # template name
    template_text: str
    topics_source: str
    params: dict[str, Any] = field(default_factory=dict)  # per-model parameter overrides given for the run
    status: str = "running"  # running | done | interrupted
    store_url: str = ""
    model_plans: dict[str, dict[str, Any]] = field(default_factory=dict)  # alias -> ModelPlan.to_dict()
    task: dict[str, Any] = field(default_factory=dict)  # TaskInfo.to_dict(): what the run was asked to label
    batch: dict[str, Any] = field(default_factory=dict)  # batch.BatchOptions.to_dict(): the models sent as batch jobs

    def task_info(self) -> TaskInfo:
        """The run's task as stored when it was planned; a run stored before tasks is the seed's sentiment task."""
        return TaskInfo.from_dict(self.task) or SENTIMENT_TASK

    def plan_of(self, alias: str) -> ModelPlan | None:
        """The model's ModelPlan, or None for a run stored before plans were (the card then says so)."""
        data = self.model_plans.get(alias)
        return ModelPlan.from_dict(data) if data else None


@dataclass
class CleanedText(_Serial):
    """The cleaned layer: one cleaned text per answer, linked to its record; raw answers are never modified."""

    record_id: str
    run_id: str
    model: str
    text: str | None  # None when no sentence could be kept; `reason` says why
    dropped: list[str] = field(default_factory=list)
    reason: str = ""  # which selection path kept the text, or why none was kept
    method: str = ""  # cleaner configuration, e.g. "kmeans3+pca2/tfidf-svd seed=0"
    created_at: str = field(default_factory=utc_now)


@dataclass
class RunCounts:
    run: RunInfo
    counts: dict[str, dict[str, int]]  # model -> status -> count

    def total(self, status: str | None = None) -> int:
        return sum(n for by in self.counts.values() for s, n in by.items() if status in (None, s))


class Store(ABC):
    """Where runs, records and cleaned texts live. Implementations: SQLite (default) and DynamoDB."""

    url: str

    # --- runs ---
    @abstractmethod
    def create_run(self, run: RunInfo, cells: Iterable[Record]) -> None:
        """Write the run and all its planned cells (status `planned`) before any request is sent.
        RunExists when the store holds the run id already."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunInfo | None:
        """The run, its `store_url` this store's URL: where it was read from (a copied database names its new
        place), not where it was created."""

    @abstractmethod
    def list_runs(self) -> list[RunInfo]:
        """All runs, oldest first."""

    @abstractmethod
    def set_run_status(self, run_id: str, status: str) -> None: ...

    def resolve_run(self, run_id: str | None, *, flag: str = "--run") -> RunInfo:
        """A run by id, or the latest for `last`/None; a clear error, naming `flag`, when there is none."""
        if run_id in (None, "last"):
            runs = self.list_runs()
            if not runs:
                raise UserError(f"no runs in {self.url}; start one with `synthgen generate`")
            return runs[-1]
        run = self.get_run(run_id)
        if run is None:
            known = ", ".join(r.run_id for r in self.list_runs()[-5:]) or "none"
            raise UserError(f"{flag} {run_id}: no such run in {self.url} (latest: {known}; see `synthgen runs`)")
        return run

    # --- leases: one process works on a run at a time ---
    # A lease is (owner, expiry in wall-clock seconds). Expiry is compared with this machine's clock, so a TTL
    # must be well above the clock skew between machines that share a store (seconds: use a minute or more).
    @abstractmethod
    def claim_run(self, run_id: str, owner: str, ttl_s: float) -> bool:
        """Take the run's lease until now + `ttl_s`, atomically, when nobody holds it, its holder's lease has
        expired, or `owner` holds it already (renewed then): True. False while another owner's lease is live.
        UnknownRun for a run the store does not hold."""

    @abstractmethod
    def renew_run(self, run_id: str, owner: str, ttl_s: float) -> bool:
        """Extend `owner`'s lease to now + `ttl_s`: True while `owner` holds it (even expired, as long as nobody
        took it since). False when it does not: another owner claimed it after it expired, or it was released;
        stop working on the run then. UnknownRun for a run the store does not hold."""

    @abstractmethod
    def release_run(self, run_id: str, owner: str) -> None:
        """Drop `owner`'s lease, so another process can claim the run at once. Nothing happens when `owner`
        does not hold it, or there is no such run."""

    @abstractmethod
    def lease_holder(self, run_id: str) -> tuple[str, float] | None:
        """The run's lease holder and its expiry (wall-clock seconds), or None when nobody holds it."""

    # --- records ---
    @abstractmethod
    def put_record(self, record: Record) -> bool:
        """Store a cell's outcome durably before returning. Never overwrites an `ok` record: returns False then.
        RecordRejected when this record cannot be stored as it is (nothing in the store changes then)."""

    # Whether `put_records` writes a group at the cost of one (one transaction): the engine then hands its writer
    # every outcome waiting, not one at a time.
    groups_writes = False

    def put_records(self, records: Sequence[Record]) -> list[bool | RecordRejected]:
        """`put_record` for each, in order: True / False as it returns, or the RecordRejected it raised (that
        record was not stored; the others were). StoreUnavailable stops at once."""
        results: list[bool | RecordRejected] = []
        for record in records:
            try:
                results.append(self.put_record(record))
            except RecordRejected as exc:
                results.append(exc)
        return results

    @abstractmethod
    def records(
        self, run_id: str | None = None, model: str | None = None, status: str | None = None
    ) -> Iterator[Record]:
        """Records ordered by (run, round, model)."""

    def counts(self, run_id: str) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for rec in self.records(run_id):
            by = out.setdefault(rec.model, {})
            by[rec.status] = by.get(rec.status, 0) + 1
        return out

    def cells(self, run_id: str, model: str, rounds: Iterable[int]) -> dict[int, Record]:
        """The records of these rounds of one model of a run, by round (what a batch job's results are matched
        with, a page at a time)."""
        wanted = set(rounds)
        return {r.round: r for r in self.records(run_id, model=model) if r.round in wanted}

    def job_cells(self, run_id: str, model: str, job: str) -> Iterator[Record]:
        """The cells a batch job carries that have no outcome yet (status `submitted`, `batch_job` = job)."""
        return (r for r in self.records(run_id, model=model, status=SUBMITTED) if r.batch_job == job)

    def run_cost(self, run_id: str) -> tuple[float | None, int]:
        """The run's stored cost in USD (None when no record carries one) and how many ok records carry none."""
        total, unknown = None, 0
        for rec in self.records(run_id):
            if rec.cost_usd is not None:
                total = (total or 0.0) + rec.cost_usd
            elif rec.status == OK:
                unknown += 1
        return total, unknown

    # --- batch jobs (store/jobs.py: BatchJob); each backend keeps them beside its runs ---
    def put_job(self, job: Any) -> None:
        """Write (replace) a batch job's state, durably, before anything that depends on it happens."""
        raise NotImplementedError(f"{type(self).__name__} keeps no batch jobs")

    def jobs(self, run_id: str) -> list[Any]:
        """A run's batch jobs, in the order they were made."""
        return []

    # --- cleaned layer ---
    @abstractmethod
    def put_cleaned(self, items: Iterable[CleanedText]) -> None:
        """Write (replace) cleaned texts, keyed by record id."""

    @abstractmethod
    def cleaned(self, run_id: str, model: str | None = None) -> dict[str, CleanedText]:
        """Cleaned texts of a run by record id."""

    # --- verification layers (store/verdicts.py: Verdict, Attempt); each backend keeps them beside its records ---
    def put_verdicts(self, verdicts: Iterable[Any], *, replace: bool = False) -> int:
        """Write verdicts durably; an `ok` one is never overwritten unless `replace` (the panel's decisions, a
        verdict on a text that changed since). Returns how many were written."""
        raise NotImplementedError(f"{type(self).__name__} keeps no verdicts")

    def verdicts(self, run_id: str, model: str | None = None) -> list[Any]:
        """A run's verdicts, ordered by (round, model, attempt, judge)."""
        return []

    def put_attempt(self, attempt: Any) -> bool:
        """Write a regenerated attempt durably; an `ok` one is never overwritten (returns False then)."""
        raise NotImplementedError(f"{type(self).__name__} keeps no attempts")

    def attempts(self, run_id: str, model: str | None = None) -> list[Any]:
        """A run's regenerated attempts, ordered by (round, model, attempt)."""
        return []

    def close(self) -> None:  # noqa: B027 - optional
        pass

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


def loads(text: str) -> Any:
    """A JSON field read back; text that is not JSON (damaged, or written by hand) is returned as it is, because
    reading what a store holds must never fail."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def too_new(url: str, version: int) -> UserError:
    """A store written by a newer synthgen: refused before anything is read or written."""
    return UserError(
        f"--store {url}: the store is at schema version {version}, this synthgen knows up to "
        f"{SCHEMA_VERSION}: upgrade synthgen"
    )


def check_lease(ttl_s: float) -> None:
    if not ttl_s > 0:
        raise ValueError(f"a lease needs a positive ttl_s, not {ttl_s!r}")
