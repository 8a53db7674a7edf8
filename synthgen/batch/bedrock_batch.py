"""Bedrock batch inference through boto3: the input JSONL of {"recordId", "modelInput"} lines (the model's
InvokeModel body, or the Converse request for Converse models) uploaded to `--batch-s3`, CreateModelInvocationJob
with the `--batch-role` service role and a clientRequestToken fixed per job (a repeated submit finds the job it
made, never a second one); results read from the `.jsonl.out` files under the job's output prefix (a line with
`error` instead of `modelOutput` is that cell's failure) and its `manifest.json.out`.

Endpoints: AWS_ENDPOINT_URL_BEDROCK (control plane) and AWS_ENDPOINT_URL_S3, as boto3 reads them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..results import Failure, FailureKind, kind_for_status
from ..store import BatchJob
from ..store.jobs import CANCELLED, DONE, EXPIRED, FAILED_JOB, RUNNING
from .base import Backend, BatchUnavailable, Result, Transient, call

_STATES = {
    "Completed": DONE,
    "PartiallyCompleted": DONE,
    "Failed": FAILED_JOB,
    "Stopped": CANCELLED,
    "Expired": EXPIRED,
}
_RETRY = {"ThrottlingException", "ServiceUnavailableException", "InternalServerException", "TooManyRequestsException"}


def _clients() -> tuple[Any, Any]:
    import boto3
    from botocore.config import Config

    from ..adapters._aws import _region

    config = Config(retries={"mode": "standard", "total_max_attempts": 1}, connect_timeout=10, read_timeout=60)
    session = boto3.session.Session()
    region = _region()[0]
    return session.client("bedrock", region_name=region, config=config), session.client(
        "s3", region_name=region, config=config
    )


class BedrockBatch(Backend):
    service = "Bedrock batch inference"

    def __init__(self, spec: Any, options: Any):
        super().__init__(spec, options)
        self.control, self.s3 = _clients()
        self.bucket, self.prefix = options.bucket_prefix()
        self.converse = spec.protocol == "bedrock-converse"

    @staticmethod
    def record_id(cell: Any) -> str:
        return f"{cell.round:011d}"  # Bedrock's recordId: an alphanumeric string, unique in its job

    @staticmethod
    def round_of(rid: str) -> int | None:
        return int(rid) if rid.isdigit() else None

    def line(self, rid: str, body: dict[str, Any]) -> dict[str, Any]:
        return {"recordId": rid, "modelInput": body}

    def body_of(self, line: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return line["recordId"], line["modelInput"]

    @classmethod
    def check(cls, spec: Any, options: Any) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        bucket, _ = options.bucket_prefix()
        _, s3 = _clients()
        try:
            s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            what = "no such bucket" if status == 404 else f"access denied ({status})" if status == 403 else str(exc)
            raise UserError(f"--batch-s3 {options.s3}: {what}; create the bucket or name one you can write") from None
        except BotoCoreError as exc:
            raise BatchUnavailable(f"--batch-s3 {options.s3}: S3 cannot be reached ({type(exc).__name__})") from None
        finally:
            s3.close()

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        def attempt() -> Any:
            try:
                return fn()
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
                if code in _RETRY or int(status) >= 500:
                    raise Transient(code or str(status)) from None
                message = exc.response.get("Error", {}).get("Message", "")
                raise BatchUnavailable(f"{self.service}: {what} refused ({code}: {message})") from None
            except BotoCoreError as exc:
                raise Transient(type(exc).__name__) from None

        return call(f"{self.service}: {what}", attempt)

    def _key(self, job: BatchJob, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, job.run_id, job.key, *parts) if p)

    def _output_uri(self, job: BatchJob) -> str:
        return f"s3://{self.bucket}/{self._key(job, 'output')}/"

    def submit(self, job: BatchJob, path: Path, lines: int, save: Callable[[], None]) -> None:
        key = self._key(job, "input.jsonl")  # the same key on every try: the token's request is the same
        from boto3.s3.transfer import TransferConfig

        # parts of 8 MB, two at a time: what the upload holds in memory, however large the job
        transfer = TransferConfig(multipart_chunksize=8 << 20, max_concurrency=2)
        self._call("upload to S3", lambda: self.s3.upload_file(str(path), self.bucket, key, Config=transfer))
        job.input_file = f"s3://{self.bucket}/{key}"
        save()
        request: dict[str, Any] = {
            "jobName": job.name,
            "roleArn": self.options.role,
            "clientRequestToken": job.token,
            "modelId": self.spec.model_id,
            "inputDataConfig": {"s3InputDataConfig": {"s3Uri": job.input_file, "s3InputFormat": "JSONL"}},
            "outputDataConfig": {"s3OutputDataConfig": {"s3Uri": self._output_uri(job)}},
            "tags": [{"key": "synthgen-run", "value": job.run_id}, {"key": "synthgen-job", "value": job.key}],
        }
        if self.converse:
            request["modelInvocationType"] = "Converse"
        answer = self._call("CreateModelInvocationJob", lambda: self.control.create_model_invocation_job(**request))
        job.provider_id = answer["jobArn"]
        job.output_file = self._output_uri(job)

    def find(self, job: BatchJob) -> bool:
        answer = self._call(
            "ListModelInvocationJobs",
            lambda: self.control.list_model_invocation_jobs(nameContains=job.name, maxResults=100),
        )
        for summary in answer.get("invocationJobSummaries", []):
            if summary.get("clientRequestToken") == job.token or summary.get("jobName") == job.name:
                job.provider_id = summary["jobArn"]
                job.output_file = self._output_uri(job)
                self._read(job, summary)
                return True
        return False

    def refresh(self, job: BatchJob) -> None:
        answer = self._call(
            "GetModelInvocationJob", lambda: self.control.get_model_invocation_job(jobIdentifier=job.provider_id)
        )
        self._read(job, answer)

    def _read(self, job: BatchJob, answer: dict[str, Any]) -> None:
        job.provider_state = str(answer.get("status", ""))
        job.state = _STATES.get(job.provider_state, RUNNING)
        job.done = int(answer.get("processedRecordCount") or 0)
        if answer.get("message"):
            job.message = str(answer["message"])[:500]

    def results(self, job: BatchJob) -> Iterator[Result]:
        bucket, _, prefix = job.output_file[len("s3://") :].partition("/")
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for page in pages:
            for item in page.get("Contents", []):
                if item["Key"].endswith("manifest.json.out"):
                    manifest = json.loads(self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
                    job.message = (job.message + f" manifest: {json.dumps(manifest, sort_keys=True)}").strip()[:900]
                    continue
                if not item["Key"].endswith(".jsonl.out"):
                    continue
                body = self.s3.get_object(Bucket=bucket, Key=item["Key"])["Body"]
                for raw_line in body.iter_lines():
                    if raw_line.strip():
                        yield _result(json.loads(raw_line))

    def cancel(self, job: BatchJob) -> None:
        if job.provider_id:
            self._call(
                "StopModelInvocationJob",
                lambda: self.control.stop_model_invocation_job(jobIdentifier=job.provider_id),
            )

    def close(self) -> None:
        self.control.close()
        self.s3.close()


def _result(line: dict[str, Any]) -> Result:
    rid = str(line.get("recordId") or "")
    if "modelOutput" in line and not line.get("error"):
        return Result(rid, line["modelOutput"], None)
    error = line.get("error") or {}
    code = error.get("errorCode")
    status = int(code) if isinstance(code, int) or (isinstance(code, str) and code.isdigit()) else None
    kind = kind_for_status(status) if status else FailureKind.TRANSIENT
    message = f"{code}: {error.get('errorMessage', '')}" if code is not None else str(error)[:300]
    return Result(rid, error, Failure(kind, message, status=status))
