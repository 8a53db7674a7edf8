"""A provider batch job as the journal keeps it: its identity is stored before it is submitted and again after.

A job moves `preparing` (its cells chosen and marked `submitted`, its idempotency token fixed: nothing is known
at the provider yet, or the answer to the submit was lost) -> `submitted` (the provider's id stored) ->
`collected` (every cell it carried has an outcome). `state` is the provider's own word for it as last seen.
After a crash at any point, the stored key and token find the job at the provider again (synthgen.batch), so
the same cells are never submitted twice.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from .base import _Serial, utc_now

PREPARING, SUBMITTED_JOB, COLLECTED = "preparing", "submitted", "collected"
LIVE = (PREPARING, SUBMITTED_JOB)
# the provider's state, as synthgen reads it (each backend maps its own words onto these)
RUNNING, DONE, FAILED_JOB, EXPIRED, CANCELLED = "running", "done", "failed", "expired", "cancelled"
TERMINAL = (DONE, FAILED_JOB, EXPIRED, CANCELLED)


def job_token(run_id: str, key: str) -> str:
    """The job's idempotency token (Bedrock's clientRequestToken): the same for every submit of this job."""
    return hashlib.sha256(f"synthgen\x1f{run_id}\x1f{key}".encode()).hexdigest()[:40]


@dataclass
class BatchJob(_Serial):
    run_id: str
    key: str  # unique in its run: "ALIAS-0001"
    model: str  # alias
    protocol: str
    status: str = PREPARING
    provider_id: str | None = None  # OpenAI batch id, Bedrock job ARN, Gemini batch name
    token: str = ""  # job_token(): Bedrock's clientRequestToken; OpenAI metadata and Gemini's display name carry it
    name: str = ""  # the name the provider shows (Bedrock jobName, Gemini displayName)
    input_file: str | None = None  # OpenAI file id, S3 URI, Gemini file name ("inline" for inline requests)
    output_file: str | None = None  # OpenAI output file id, S3 output prefix, Gemini responses file
    error_file: str | None = None  # OpenAI error file id
    state: str = ""  # the provider's state as last read (running, done, failed, expired, cancelled)
    provider_state: str = ""  # the provider's own word (in_progress, InProgress, BATCH_STATE_RUNNING)
    cells: int = 0
    done: int = 0  # requests the provider reports finished (answered or failed)
    ok: int = 0  # stored ok when collected
    failed: int = 0  # stored failed when collected
    reserved_usd: float | None = None  # its worst case, held against --budget while it is in flight
    message: str = ""
    created_at: str = field(default_factory=utc_now)
    submitted_at: str | None = None
    updated_at: str | None = None
    finished_at: str | None = None

    @property
    def live(self) -> bool:
        return self.status in LIVE
