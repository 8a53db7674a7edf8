"""The OpenAI Batch API through the openai SDK: a JSONL of requests (custom_id = the cell key) uploaded through
the Files API (purpose `batch`), a batch with completion_window 24h and metadata naming the run and the job,
polled; its output and error files streamed back and matched to cells by custom_id."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..adapters.openai_chat import NO_KEY
from ..results import Failure, FailureKind, kind_for_status
from ..store import BatchJob
from ..store.jobs import CANCELLED, DONE, EXPIRED, FAILED_JOB, RUNNING
from .base import Backend, BatchUnavailable, Result, Transient, call

_STATES = {
    "validating": RUNNING,
    "in_progress": RUNNING,
    "finalizing": RUNNING,
    "cancelling": RUNNING,
    "completed": DONE,
    "failed": FAILED_JOB,
    "expired": EXPIRED,
    "cancelled": CANCELLED,
}
FIND_WINDOW_S = 3 * 3600  # a job is looked for among the batches created since its record, and a margin


class OpenAIBatch(Backend):
    service = "OpenAI Batch API"

    def __init__(self, spec: Any, options: Any):
        super().__init__(spec, options)
        import openai

        self._key = spec.api_key() or (NO_KEY if spec.key_optional else "")
        self.client = openai.OpenAI(api_key=self._key, base_url=spec.resolved_base_url(), max_retries=0, timeout=300)
        self.url = "/v1/completions" if spec.options.get("endpoint") == "completions" else "/v1/chat/completions"

    def line(self, rid: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"custom_id": rid, "method": "POST", "url": self.url, "body": body}

    def body_of(self, line: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return line["custom_id"], line["body"]

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        import openai

        def attempt() -> Any:
            try:
                return fn()
            except (openai.APIConnectionError, openai.RateLimitError, openai.InternalServerError) as exc:
                raise Transient(f"{type(exc).__name__}: {exc}") from None
            except openai.APIStatusError as exc:
                raise BatchUnavailable(
                    f"{self.service}: {what} refused (HTTP {exc.status_code}: {exc.message})"
                ) from None

        return call(f"{self.service}: {what}", attempt, (self._key,))

    def submit(self, job: BatchJob, path: Path, lines: int, save: Callable[[], None]) -> None:
        if not job.input_file:
            with path.open("rb") as handle:  # a file object: the SDK streams it, never reads it whole
                uploaded = self._call(
                    "upload", lambda: self.client.files.create(file=(path.name, handle), purpose="batch")
                )
            job.input_file = uploaded.id
            save()
        batch = self._call(
            "create batch",
            lambda: self.client.batches.create(
                input_file_id=job.input_file,
                endpoint=self.url,
                completion_window="24h",
                metadata={"synthgen_run": job.run_id, "synthgen_job": job.key, "synthgen_token": job.token},
            ),
        )
        job.provider_id = batch.id
        self._read(job, batch)

    def find(self, job: BatchJob) -> bool:
        since = _epoch(job.created_at) - FIND_WINDOW_S
        page = self._call("list batches", lambda: self.client.batches.list(limit=100))
        for batch in page:  # newest first, page after page
            meta = batch.metadata or {}
            if meta.get("synthgen_run") == job.run_id and meta.get("synthgen_job") == job.key:
                job.provider_id = batch.id
                job.input_file = batch.input_file_id
                self._read(job, batch)
                return True
            if batch.created_at < since:
                break
        return False

    def refresh(self, job: BatchJob) -> None:
        batch = self._call("retrieve batch", lambda: self.client.batches.retrieve(job.provider_id))
        self._read(job, batch)

    def _read(self, job: BatchJob, batch: Any) -> None:
        job.provider_state = batch.status
        job.state = _STATES.get(batch.status, RUNNING)
        counts = batch.request_counts
        if counts is not None:
            job.done = (counts.completed or 0) + (counts.failed or 0)
        job.output_file, job.error_file = batch.output_file_id, batch.error_file_id
        errors = getattr(batch, "errors", None)
        if errors is not None and errors.data:
            job.message = "; ".join(f"{e.code}: {e.message}" for e in errors.data[:3] if e)[:500]

    def results(self, job: BatchJob) -> Iterator[Result]:
        import json

        for file_id in (job.output_file, job.error_file):
            if not file_id:
                continue
            with self.client.files.with_streaming_response.content(file_id) as response:
                for raw_line in response.iter_lines():
                    if raw_line.strip():
                        yield _result(json.loads(raw_line))

    def cancel(self, job: BatchJob) -> None:
        if job.provider_id:
            batch = self._call("cancel batch", lambda: self.client.batches.cancel(job.provider_id))
            self._read(job, batch)

    def close(self) -> None:
        self.client.close()


def _result(line: dict[str, Any]) -> Result:
    rid = str(line.get("custom_id") or "")
    response = line.get("response") or {}
    error = line.get("error")
    if error:  # the request never ran: batch_expired, batch_cancelled ...
        code = str(error.get("code") or "")
        kind = "expired" if "expired" in code else "cancelled" if "cancel" in code else str(FailureKind.TRANSIENT)
        return Result(rid, error, Failure(kind, f"{code}: {error.get('message', '')}"))  # type: ignore[arg-type]
    status = int(response.get("status_code") or 0)
    body = response.get("body")
    if status != 200:
        message = ((body or {}).get("error") or {}).get("message", "") if isinstance(body, dict) else str(body)
        return Result(rid, body, Failure(kind_for_status(status), f"HTTP {status}: {message}", status=status))
    return Result(rid, body, None)


def _epoch(iso: str) -> float:
    from datetime import datetime

    try:
        return datetime.fromisoformat(iso).timestamp()
    except ValueError:
        return time.time()
