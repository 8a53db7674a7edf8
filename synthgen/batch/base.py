"""What every provider's batch service looks like to synthgen: write a JSONL line per cell, submit a job, find
it again after a crash, read its state, stream its results, cancel it.

Control-plane calls are few: each is tried up to `TRIES` times with backoff on what a retry can fix (connection
errors, 429, 5xx); then BatchUnavailable, one line, exit 3, and the run resumes later. Keys travel only in
headers (or boto3's signatures): never in a file, a job's metadata, a record or a message.
"""

from __future__ import annotations

import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from ..catalog import ModelSpec
from ..errors import InfrastructureError
from ..results import Failure
from ..secrets import redact
from ..store import BatchJob, Record
from .options import BatchOptions

TRIES = 4
T = TypeVar("T")


class BatchUnavailable(InfrastructureError):
    """A provider's batch service could not be reached, or refused a job: exit 3; the run is resumable."""


class Result(NamedTuple):
    """One line of a job's results: the cell's id, the provider's response body (None with a failure), and the
    failure the line reports (None for an answer: the table's paths then say whether it holds one)."""

    rid: str
    raw: Any
    failure: Failure | None


class Transient(Exception):
    """A control-plane failure a retry may fix (raised inside a backend's call, caught by `call`)."""


def call(
    what: str, fn: Callable[[], T], secrets: tuple[str, ...] = (), sleep: Callable[[float], None] = time.sleep
) -> T:
    """`fn()`, retried on Transient; BatchUnavailable (redacted, one line) when it keeps failing."""
    for attempt in range(1, TRIES + 1):
        try:
            return fn()
        except Transient as exc:
            if attempt == TRIES:
                raise BatchUnavailable(redact(f"{what} failed {TRIES} times: {exc}", secrets)) from None
            sleep(min(8.0, 0.25 * 2**attempt))
    raise AssertionError("unreachable")


def job_name(job: BatchJob) -> str:
    """A name every provider takes (Bedrock: [a-zA-Z0-9-], at most 63) that names the run and the job."""
    name = re.sub(r"[^A-Za-z0-9-]+", "-", f"synthgen-{job.run_id}-{job.key}").strip("-")
    return name[:63].rstrip("-")


class Backend(ABC):
    """One provider's batch service for one model of a run."""

    service: str = ""

    def __init__(self, spec: ModelSpec, options: BatchOptions):
        self.spec = spec
        self.options = options

    @staticmethod
    def record_id(cell: Record) -> str:
        """The id a line carries (OpenAI's custom_id, Gemini's key): the cell key RUN/ROUND/MODEL."""
        return cell.id

    @staticmethod
    def round_of(rid: str) -> int | None:
        parts = rid.split("/")
        return int(parts[-2]) if len(parts) >= 3 and parts[-2].isdigit() else None

    @abstractmethod
    def line(self, rid: str, body: dict[str, Any]) -> dict[str, Any]:
        """The JSONL line that asks for one cell."""

    @abstractmethod
    def body_of(self, line: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """(id, request body) of a line this backend wrote."""

    @classmethod
    def check(cls, spec: ModelSpec, options: BatchOptions) -> None:
        """Before anything is stored: UserError for set-up no job can work with (a bucket that is not there)."""
        return None

    @abstractmethod
    def submit(self, job: BatchJob, path: Path, lines: int, save: Callable[[], None]) -> None:
        """Upload the input (`save()` once its id is set on the job) and create the job: sets provider_id."""

    @abstractmethod
    def find(self, job: BatchJob) -> bool:
        """Find a job this run submitted whose id was never stored (by token, name or metadata): True, with
        provider_id set; False when the provider has none."""

    @abstractmethod
    def refresh(self, job: BatchJob) -> None:
        """Read the job's state: sets state (RUNNING or a TERMINAL one), provider_state, done, output files."""

    @abstractmethod
    def results(self, job: BatchJob) -> Iterator[Result]:
        """Every result line of a finished job, streamed (never the whole file in memory)."""

    @abstractmethod
    def cancel(self, job: BatchJob) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional
        pass


def backend_for(spec: ModelSpec, options: BatchOptions) -> Backend:
    if spec.protocol == "openai-chat":
        from .openai_batch import OpenAIBatch

        return OpenAIBatch(spec, options)
    if spec.protocol.startswith("bedrock-"):
        from .bedrock_batch import BedrockBatch

        return BedrockBatch(spec, options)
    from .gemini_batch import GeminiBatch

    return GeminiBatch(spec, options)
