"""Gemini batch mode over HTTP (httpx2): `models/{model}:batchGenerateContent` with inline requests for a small
job, or a JSONL of {"key", "request"} lines uploaded through the Files API (resumable upload) for a large one;
the batch polled at `batches/{id}`, its inline responses or responses file matched to cells by key. The key
travels in the x-goog-api-key header, never in a URL."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2

from ..results import Failure, FailureKind, kind_for_status
from ..store import BatchJob
from ..store.jobs import CANCELLED, DONE, EXPIRED, FAILED_JOB, RUNNING
from .base import Backend, BatchUnavailable, Result, Transient, call

INLINE_MAX_BYTES = 10_000_000  # inline requests are for jobs under 20 MB; above this the JSONL is uploaded
_STATES = {
    "BATCH_STATE_SUCCEEDED": DONE,
    "BATCH_STATE_FAILED": FAILED_JOB,
    "BATCH_STATE_CANCELLED": CANCELLED,
    "BATCH_STATE_EXPIRED": EXPIRED,
}
_CODES = {"UNAVAILABLE": 503, "RESOURCE_EXHAUSTED": 429, "INTERNAL": 500, "DEADLINE_EXCEEDED": 504}


class GeminiBatch(Backend):
    service = "Gemini batch mode"

    def __init__(self, spec: Any, options: Any):
        super().__init__(spec, options)
        self.base = spec.resolved_base_url()
        self._key = spec.api_key() or ""
        self.http = httpx2.Client(timeout=httpx2.Timeout(300.0, connect=10.0), headers={"x-goog-api-key": self._key})
        self.inline_max = int(spec.options.get("batch_inline_max_bytes", INLINE_MAX_BYTES))

    def line(self, rid: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"key": rid, "request": body}

    def body_of(self, line: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return line["key"], line["request"]

    def _request(self, what: str, method: str, url: str, **kw: Any) -> httpx2.Response:
        def attempt() -> httpx2.Response:
            try:
                response = self.http.request(method, url, **kw)
            except httpx2.TransportError as exc:
                raise Transient(type(exc).__name__) from None
            if response.status_code == 429 or response.status_code >= 500:
                raise Transient(f"HTTP {response.status_code}")
            if response.status_code >= 400:
                try:
                    detail = response.json().get("error", {}).get("message", "")
                except ValueError:
                    detail = response.text[:200]
                raise BatchUnavailable(f"{self.service}: {what} refused (HTTP {response.status_code}: {detail})")
            return response

        return call(f"{self.service}: {what}", attempt, (self._key,))

    def _model(self) -> str:
        return quote(self.spec.model_id, safe=".-_")

    def submit(self, job: BatchJob, path: Path, lines: int, save: Callable[[], None]) -> None:
        size = path.stat().st_size
        if size <= self.inline_max:
            with path.open(encoding="utf-8") as handle:
                requests = [
                    {"request": item["request"], "metadata": {"key": item["key"]}} for item in map(json.loads, handle)
                ]
            config: dict[str, Any] = {"requests": {"requests": requests}}
            job.input_file = "inline"
        else:
            if not job.input_file or job.input_file == "inline":
                job.input_file = self._upload(job, path, size)
                save()
            config = {"fileName": job.input_file}
        body = {"batch": {"displayName": job.name, "inputConfig": config}}
        url = f"{self.base}/v1beta/models/{self._model()}:batchGenerateContent"
        operation = self._request("batchGenerateContent", "POST", url, json=body).json()
        job.provider_id = operation["name"]
        self._read(job, operation)

    def _upload(self, job: BatchJob, path: Path, size: int) -> str:
        start = self._request(
            "file upload",
            "POST",
            f"{self.base}/upload/v1beta/files",
            headers={
                "X-Goog-Upload-Protocol": "resumable",
                "X-Goog-Upload-Command": "start",
                "X-Goog-Upload-Header-Content-Length": str(size),
                "X-Goog-Upload-Header-Content-Type": "application/jsonl",
            },
            json={"file": {"display_name": job.name}},
        )
        upload_url = start.headers["x-goog-upload-url"]

        def chunks() -> Iterator[bytes]:
            with path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    yield block

        done = self._request(
            "file upload",
            "POST",
            upload_url,
            headers={"X-Goog-Upload-Offset": "0", "X-Goog-Upload-Command": "upload, finalize"},
            content=chunks(),
        )
        return done.json()["file"]["name"]

    def find(self, job: BatchJob) -> bool:
        token = None
        while True:
            params = {"pageSize": 100, **({"pageToken": token} if token else {})}
            page = self._request("list batches", "GET", f"{self.base}/v1beta/batches", params=params).json()
            for operation in page.get("operations", []):
                if (operation.get("metadata") or {}).get("displayName") == job.name:
                    job.provider_id = operation["name"]
                    self._read(job, operation)
                    return True
            token = page.get("nextPageToken")
            if not token:
                return False

    def refresh(self, job: BatchJob) -> None:
        self._read(job, self._request("get batch", "GET", f"{self.base}/v1beta/{job.provider_id}").json())

    def _read(self, job: BatchJob, operation: dict[str, Any]) -> None:
        meta = operation.get("metadata") or {}
        job.provider_state = str(meta.get("state", ""))
        job.state = _STATES.get(job.provider_state, RUNNING)
        stats = meta.get("batchStats") or {}
        job.done = int(stats.get("successfulRequestCount") or 0) + int(stats.get("failedRequestCount") or 0)
        output = meta.get("output") or operation.get("response") or {}
        if output.get("responsesFile"):
            job.output_file = output["responsesFile"]
        elif output.get("inlinedResponses") is not None:
            job.output_file = "inline"
        if operation.get("error"):
            job.message = str(operation["error"].get("message", ""))[:500]

    def results(self, job: BatchJob) -> Iterator[Result]:
        if job.output_file == "inline":
            operation = self._request("get batch", "GET", f"{self.base}/v1beta/{job.provider_id}").json()
            output = (operation.get("metadata") or {}).get("output") or operation.get("response") or {}
            for item in (output.get("inlinedResponses") or {}).get("inlinedResponses", []):
                yield _result(str((item.get("metadata") or {}).get("key", "")), item)
            return
        if not job.output_file:
            return
        url = f"{self.base}/download/v1beta/{job.output_file}:download"
        with self.http.stream("GET", url, params={"alt": "media"}) as response:
            if response.status_code >= 400:
                raise BatchUnavailable(
                    f"{self.service}: download of {job.output_file} refused ({response.status_code})"
                )
            for raw_line in response.iter_lines():
                if raw_line.strip():
                    item = json.loads(raw_line)
                    yield _result(str(item.get("key", "")), item)

    def cancel(self, job: BatchJob) -> None:
        if job.provider_id:
            self._request("cancel batch", "POST", f"{self.base}/v1beta/{job.provider_id}:cancel")

    def close(self) -> None:
        self.http.close()


def _result(rid: str, item: dict[str, Any]) -> Result:
    if item.get("response") is not None and not item.get("error"):
        return Result(rid, item["response"], None)
    error = item.get("error") or item.get("status") or {}
    code = error.get("code")
    status = code if isinstance(code, int) else _CODES.get(str(error.get("status", "")))
    kind = kind_for_status(status) if status else FailureKind.TRANSIENT
    return Result(rid, error, Failure(kind, f"{error.get('status', code)}: {error.get('message', '')}", status=status))
