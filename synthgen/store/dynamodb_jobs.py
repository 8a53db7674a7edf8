"""Batch jobs on DynamoDB: one item per job, {model: "_batch", sk: "RUN_ID#KEY", info: JSON}; a page of a
model's cells by round with BatchGetItem. Mixed into DynamoDBStore, sharing its calls."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import dynamodb_codec as codec
from .base import Record, dumps, loads, utc_now
from .jobs import BatchJob

JOB_PARTITION = "_batch"
_GET = 100  # BatchGetItem's limit


class DynamoJobs:
    """Batch-job methods of DynamoDBStore (see Store.put_job)."""

    table: str
    _calls: Any
    _query: Any

    def put_job(self, job: BatchJob) -> None:
        job.updated_at = utc_now()
        plain = {
            "model": JOB_PARTITION,
            "sk": f"{job.run_id}#{job.key}",
            "kind": "batch_job",
            "run_id": job.run_id,
            "status": job.status,
            "created_at": job.created_at,
            "info": dumps(job.to_dict()),
        }
        self._calls("put_item", TableName=self.table, Item=codec.typed(plain))

    def jobs(self, run_id: str) -> list[BatchJob]:
        found = [BatchJob.from_dict(loads(p.get("info") or "{}")) for p in self._query(JOB_PARTITION, run_id)]
        return sorted(found, key=lambda j: (j.created_at, j.key))

    def cells(self, run_id: str, model: str, rounds: Iterable[int]) -> dict[int, Record]:
        wanted = sorted(set(rounds))
        out: dict[int, Record] = {}
        for start in range(0, len(wanted), _GET):
            keys = [{"model": {"S": model}, "sk": {"S": f"{run_id}#{r:06d}"}} for r in wanted[start : start + _GET]]
            while keys:
                answer = self._calls(
                    "batch_get_item", RequestItems={self.table: {"Keys": keys, "ConsistentRead": True}}
                )
                for item in answer.get("Responses", {}).get(self.table, []):
                    record = codec.record_of(codec.plain_of(item))
                    out[record.round] = record
                keys = (answer.get("UnprocessedKeys") or {}).get(self.table, {}).get("Keys", [])
        return out
