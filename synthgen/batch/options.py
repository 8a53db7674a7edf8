"""What `generate --batch` was asked, checked before anything is stored, and kept with the run (RunInfo.batch)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ..catalog import ModelSpec
from ..errors import UserError

# protocol -> the batch service that takes its requests
SERVICES = {
    "openai-chat": "OpenAI Batch API",
    "bedrock-invoke": "Bedrock batch inference",
    "bedrock-converse": "Bedrock batch inference",
    "gemini": "Gemini batch mode",
}
RETRY = ("online", "batch")
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_PREFIX = re.compile(r"[-!_*'().a-zA-Z0-9/]*")
_ROLE = re.compile(r"arn:aws(-[a-z-]+)?:iam::[0-9]{12}:role/[\w+=,.@/-]+")
# retried from a job's outcome (into the next job or online): the provider's own trouble, not the request's
RETRY_KINDS = ("throttled", "transient", "expired")


@dataclass
class BatchOptions:
    models: list[str] = field(default_factory=list)  # the aliases sent as batch jobs
    only: bool = False
    s3: str | None = None  # s3://bucket/prefix for Bedrock's input and output files
    role: str | None = None  # the service role Bedrock reads and writes S3 with
    retry: str = "online"  # where retryable failures inside a job go: online, or the next job

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> BatchOptions:
        known = cls.__dataclass_fields__
        return cls(**{k: v for k, v in (data or {}).items() if k in known})

    def bucket_prefix(self) -> tuple[str, str]:
        bucket, _, prefix = (self.s3 or "")[len("s3://") :].partition("/")
        return bucket, prefix.strip("/")


def takes_batch(spec: ModelSpec) -> bool:
    return spec.batch and spec.protocol in SERVICES


def check_batch(
    specs: Sequence[ModelSpec],
    *,
    batch: bool,
    only: bool = False,
    s3: str | None = None,
    role: str | None = None,
    retry: str = "online",
) -> BatchOptions | None:
    """The run's batch options, or None without --batch; UserError (one line) for what no job could work with."""
    if not batch:
        if only or s3 or role:
            flag = "--batch-only" if only else "--batch-s3" if s3 else "--batch-role"
            raise UserError(f"{flag} needs --batch: add --batch to send batch jobs")
        return None
    if retry not in RETRY:
        raise UserError(f"--batch-retry {retry}: use online or batch")
    models = [s.alias for s in specs if takes_batch(s)]
    without = [s.alias for s in specs if not takes_batch(s)]
    if only and without:
        raise UserError(
            f"--batch-only: {', '.join(without)} take{'s' if len(without) == 1 else ''} no batch jobs (their table "
            "says no `batch = true`, or their protocol has no batch service); drop them from --models, or leave out "
            "--batch-only to run them online"
        )
    if not models:
        raise UserError("--batch: none of the selected models takes batch jobs (see `synthgen models`)")
    bedrock = [s.alias for s in specs if takes_batch(s) and s.protocol.startswith("bedrock-")]
    if s3 is not None:
        check_s3(s3)
    if bedrock:
        if s3 is None:
            raise UserError(
                f"--batch: {', '.join(bedrock)} run as Bedrock batch jobs, which read and write S3; give "
                "--batch-s3 s3://BUCKET/PREFIX"
            )
        if role is None:
            raise UserError(
                f"--batch: {', '.join(bedrock)} run as Bedrock batch jobs, which need a service role; give "
                "--batch-role arn:aws:iam::ACCOUNT:role/NAME (see the README: Bedrock batch set-up)"
            )
    if role is not None and not _ROLE.fullmatch(role):
        raise UserError(f"--batch-role {role}: not an IAM role ARN; write arn:aws:iam::123456789012:role/NAME")
    return BatchOptions(models=models, only=only, s3=s3.rstrip("/") if s3 else None, role=role, retry=retry)


def check_s3(url: str) -> None:
    if not url.startswith("s3://"):
        raise UserError(f"--batch-s3 {url}: not an S3 URL; write s3://BUCKET/PREFIX")
    bucket, _, prefix = url[len("s3://") :].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise UserError(
            f"--batch-s3 {url}: `{bucket}` is not an S3 bucket name (3 to 63 lowercase letters, digits, `.` or `-`)"
        )
    if not _PREFIX.fullmatch(prefix) or "//" in prefix.strip("/"):
        raise UserError(f"--batch-s3 {url}: the prefix may hold letters, digits, `/` and -!_*'(). only")
