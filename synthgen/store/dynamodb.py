"""The DynamoDB store (`--store dynamodb://TABLE`): one table, single-table design, same semantics as SQLite.

Key schema: partition key `model` (S), sort key `sk` (S).

    records       model = ALIAS             sk = "RUN_ID#000042"   (unique per cell: run, round, model)
    runs          model = "_run"            sk = RUN_ID            (its lease: lease_owner, lease_expires)
    cleaned texts model = "_clean#ALIAS"    sk = "RUN_ID#000042"
    schema        model = "_meta"           sk = "schema"          (version: the table's schema version)

A run's records are read with one strongly consistent Query per model (the run item lists the models),
merged in (round, model) order; a Scan is used only for reads across runs. How items are encoded is
dynamodb_codec.py; how calls are retried, dynamodb_calls.py; opening and migrations, dynamodb_schema.py.

Region comes from boto3's chain (us-east-1 when none is set), the endpoint from AWS_ENDPOINT_URL_DYNAMODB.
"""

from __future__ import annotations

import heapq
import itertools
import re
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import UserError
from . import dynamodb_codec as codec
from .base import (
    OK,
    CleanedText,
    Record,
    RecordRejected,
    RunExists,
    RunInfo,
    Store,
    StoreRequestError,
    StoreUnavailable,
    utc_now,
)
from .dynamodb_calls import Calls, ConditionFailed
from .dynamodb_jobs import DynamoJobs
from .dynamodb_leases import DynamoLeases
from .dynamodb_schema import ensure_table, migrate, open_error
from .dynamodb_verdicts import DynamoVerdicts

__all__ = ["DynamoDBStore", "StoreRequestError", "StoreUnavailable", "RecordRejected"]

DEFAULT_REGION = "us-east-1"
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")


class DynamoDBStore(DynamoJobs, DynamoLeases, DynamoVerdicts, Store):
    max_writers = 16  # the engine's writer threads: DynamoDB writes are network round trips
    open_connect_timeout, open_read_timeout = 2.0, 4.0  # the open check fails fast

    def __init__(self, table: str, *, create: bool = True):
        self.table = table
        self.url = f"dynamodb://{table}"
        self._wall = time.time  # lease expiry: wall-clock seconds, shared with other processes
        self._lock = threading.Lock()
        self._registered: set[tuple[str, str]] = set()
        self.endpoint = "the AWS endpoint"
        try:
            session = boto3.session.Session()
            self.region = session.region_name or DEFAULT_REGION
            # one attempt, short timeouts: a store that cannot be reached says so in seconds, not minutes
            probe = session.client(
                "dynamodb",
                region_name=self.region,
                config=Config(
                    connect_timeout=self.open_connect_timeout,
                    read_timeout=self.open_read_timeout,
                    retries={"mode": "standard", "total_max_attempts": 1},
                ),
            )
            self.endpoint = probe.meta.endpoint_url
            try:
                created = ensure_table(probe, table, self.url, f"{self.region} at {self.endpoint}", create)
            finally:
                probe.close()
            client = session.client(
                "dynamodb",
                region_name=self.region,
                config=Config(
                    connect_timeout=5,
                    read_timeout=30,
                    max_pool_connections=self.max_writers * 2,
                    retries={"mode": "standard", "max_attempts": 4},
                ),
            )
        except UserError:
            raise
        except (BotoCoreError, ClientError, ValueError) as exc:
            raise open_error(exc, self.url, table, self.endpoint) from None
        self._calls = Calls(client, table, self.url, self.endpoint)
        try:
            migrate(self._calls, created)
        except BaseException:
            client.close()
            raise

    @classmethod
    def from_url(cls, url: str, *, create: bool = True) -> DynamoDBStore:
        table = url[len("dynamodb://") :]
        if not table:
            raise UserError(f"--store {url}: name the table: dynamodb://TABLE")
        if not _TABLE_NAME.fullmatch(table):
            raise UserError(
                f"--store {url}: `{table}` is not a DynamoDB table name (3 to 255 letters, digits, `_`, `-` or `.`)"
            )
        return cls(table, create=create)

    # --- reads ---
    def _pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        return (codec.plain_of(item) for item in self._calls.pages(operation, **kwargs))

    def _query(
        self, partition: str, run_id: str | None = None, status: str | None = None, projection: str | None = None
    ) -> Iterator[dict[str, Any]]:
        names = {"#p": "model"}
        values: dict[str, Any] = {":p": {"S": partition}}
        key = "#p = :p"
        if run_id is not None:
            names["#k"], values[":k"] = "sk", {"S": f"{run_id}#"}
            key += " AND begins_with(#k, :k)"
        kwargs: dict[str, Any] = {"KeyConditionExpression": key}
        if status is not None:
            names["#s"], values[":s"] = "status", {"S": status}
            kwargs["FilterExpression"] = "#s = :s"
        if projection:
            kwargs["ProjectionExpression"] = projection
            names.update({f"#{a}": a for a in re.findall(r"#(\w+)", projection)})
        return self._pages("query", ExpressionAttributeNames=names, ExpressionAttributeValues=values, **kwargs)

    def _scan(
        self, kind: str, run_id: str | None = None, status: str | None = None, projection: str | None = None
    ) -> Iterator[dict[str, Any]]:
        names = {"#kind": "kind"}
        values: dict[str, Any] = {":kind": {"S": kind}}
        conditions = ["#kind = :kind"]
        for attr, value in (("run_id", run_id), ("status", status)):
            if value is not None:
                names[f"#{attr}"], values[f":{attr}"] = attr, {"S": value}
                conditions.append(f"#{attr} = :{attr}")
        kwargs: dict[str, Any] = {"FilterExpression": " AND ".join(conditions)}
        if projection:
            kwargs["ProjectionExpression"] = projection
            names.update({f"#{a}": a for a in re.findall(r"#(\w+)", projection)})
        return self._pages("scan", ExpressionAttributeNames=names, ExpressionAttributeValues=values, **kwargs)

    def _run_key(self, run_id: str) -> dict[str, Any]:
        return {"model": {"S": codec.RUN_PARTITION}, "sk": {"S": run_id}}

    def _run_models(self, run_id: str) -> list[str] | None:
        """The models that have items in a run (from its run item), or None when there is no run item."""
        item = self._calls(
            "get_item",
            TableName=self.table,
            Key=self._run_key(run_id),
            ConsistentRead=True,
            ProjectionExpression="#m, #c",
            ExpressionAttributeNames={"#m": "models", "#c": "cell_models"},
        ).get("Item")
        if item is None:
            return None
        plain = codec.plain_of(item)
        return sorted(set(plain.get("models") or []) | set(plain.get("cell_models") or ()))

    def _register(self, run_id: str, model: str) -> None:
        """Make sure the run item lists `model`, so reads of the run find its records (once per process)."""
        if (run_id, model) in self._registered:
            return
        models = self._run_models(run_id)
        if models is not None and model not in models:
            try:
                self._calls(
                    "update_item",
                    TableName=self.table,
                    Key=self._run_key(run_id),
                    UpdateExpression="ADD #c :m",
                    ConditionExpression="attribute_exists(#k)",
                    ExpressionAttributeNames={"#c": "cell_models", "#k": "sk"},
                    ExpressionAttributeValues={":m": {"SS": [model]}},
                )
            except ConditionFailed:
                pass  # the run item is gone: nothing lists the model, reads scan instead
        with self._lock:
            self._registered.update((run_id, m) for m in (models or []))
            self._registered.add((run_id, model))

    # --- runs ---
    def create_run(self, run: RunInfo, cells: Iterable[Record]) -> None:
        if self.get_run(run.run_id) is not None:
            raise RunExists(f"run {run.run_id} already exists in {self.url}")
        models: set[str] = set()
        # Cells first, in chunks (a large plan is never held whole), the run item last: a run is visible only
        # once all its cells are stored, so a plan that fails half way leaves no run to resume.
        stream = iter(cells)
        while chunk := list(itertools.islice(stream, 1000)):
            items: dict[tuple[str, str], dict[str, Any]] = {}
            for cell in chunk:
                plain, cell.note = codec.record_item(cell)
                items.setdefault((plain["model"], plain["sk"]), codec.typed(plain))
            models.update(m for m, _ in items)
            self._calls.batch_put(list(items.values()))
        run_plain = codec.run_item(run, models)
        try:
            self._calls(
                "put_item",
                TableName=self.table,
                Item=codec.typed(run_plain),
                ConditionExpression="attribute_not_exists(#k)",
                ExpressionAttributeNames={"#k": "sk"},
            )
        except ConditionFailed:
            raise RunExists(f"run {run.run_id} already exists in {self.url}") from None
        with self._lock:
            self._registered.update((run.run_id, m) for m in set(run.models) | models)

    def get_run(self, run_id: str) -> RunInfo | None:
        item = self._calls("get_item", TableName=self.table, Key=self._run_key(run_id), ConsistentRead=True).get("Item")
        return codec.run_of(codec.plain_of(item), self.url) if item else None

    def list_runs(self) -> list[RunInfo]:
        runs = [codec.run_of(p, self.url) for p in self._query(codec.RUN_PARTITION)]
        return sorted(runs, key=lambda r: (r.created_at, r.run_id))

    def set_run_status(self, run_id: str, status: str) -> None:
        try:
            self._calls(
                "update_item",
                TableName=self.table,
                Key=self._run_key(run_id),
                UpdateExpression="SET #s = :s",
                ConditionExpression="attribute_exists(#k)",
                ExpressionAttributeNames={"#s": "status", "#k": "sk"},
                ExpressionAttributeValues={":s": {"S": status}},
            )
        except ConditionFailed:
            pass  # no such run: nothing to do, as in SQLite

    # --- records ---
    def put_record(self, record: Record) -> bool:
        record.updated_at = utc_now()
        plain, record.note = codec.record_item(record)
        self._register(record.run_id, record.model)
        key = {"model": {"S": plain.pop("model")}, "sk": {"S": plain.pop("sk")}}
        names = {"#key": "sk", "#status": "status"}
        values: dict[str, Any] = {":ok": {"S": OK}}
        sets, removes = [], []
        for i, (name, value) in enumerate(plain.items()):
            names[f"#a{i}"], values[f":a{i}"] = name, codec.av(value)
            # created_at stays that of the first write (the planned cell), as in SQLite's upsert
            sets.append(f"#a{i} = if_not_exists(#a{i}, :a{i})" if name == "created_at" else f"#a{i} = :a{i}")
        for i, name in enumerate(n for n in codec.RECORD_ATTRS if n not in plain):
            names[f"#r{i}"] = name
            removes.append(f"#r{i}")
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self._calls(
                "update_item",
                TableName=self.table,
                Key=key,
                UpdateExpression=update,
                ConditionExpression="attribute_not_exists(#key) OR #status <> :ok",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ConditionFailed:
            return self._is_own_write(key, record.updated_at)
        except RecordRejected as exc:
            raise RecordRejected(f"record {record.id} cannot be stored: {exc}") from None
        return True

    def _is_own_write(self, key: dict[str, Any], updated_at: str | None) -> bool:
        """After a retried write hit the ok-guard: was the ok record there our own first attempt?"""
        item = self._calls(
            "get_item",
            TableName=self.table,
            Key=key,
            ConsistentRead=True,
            ProjectionExpression="#u",
            ExpressionAttributeNames={"#u": "updated_at"},
        )
        return codec.plain_of(item.get("Item") or {}).get("updated_at") == updated_at

    def records(
        self, run_id: str | None = None, model: str | None = None, status: str | None = None
    ) -> Iterator[Record]:
        if run_id is not None:
            models = [model] if model is not None else self._run_models(run_id)
            if models is not None:
                streams = [(codec.record_of(p) for p in self._query(m, run_id, status)) for m in models]
                yield from heapq.merge(*streams, key=lambda r: (r.round, r.model))
                return
            found = (codec.record_of(p) for p in self._scan("record", run_id, status))
        elif model is not None:
            found = (codec.record_of(p) for p in self._query(model, None, status))
        else:
            found = (codec.record_of(p) for p in self._scan("record", None, status))
        yield from sorted(found, key=lambda r: (r.run_id, r.round, r.model))

    def counts(self, run_id: str) -> dict[str, dict[str, int]]:
        models = self._run_models(run_id)
        if models is None:
            scanned = self._scan("record", run_id, projection="#model, #status")
            pairs = ((p["model"], p["status"]) for p in scanned)
        else:
            pairs = ((m, p["status"]) for m in models for p in self._query(m, run_id, projection="#status"))
        out: dict[str, dict[str, int]] = {}
        for model, status in pairs:
            by = out.setdefault(model, {})
            by[status] = by.get(status, 0) + 1
        return out

    # --- cleaned layer ---
    def put_cleaned(self, items: Iterable[CleanedText]) -> None:
        items = list(items)
        typed_items: dict[tuple[str, str], dict[str, Any]] = {}
        for item in items:  # all encoded before anything is written: a rejected one leaves the store as it was
            plain = codec.cleaned_item(item)
            typed_items[(plain["model"], plain["sk"])] = codec.typed(
                plain
            )  # the last of a key wins (INSERT OR REPLACE)
        for run_id, model in sorted({(i.run_id, i.model) for i in items}):
            self._register(run_id, model)
        self._calls.batch_put(list(typed_items.values()))

    def cleaned(self, run_id: str, model: str | None = None) -> dict[str, CleanedText]:
        models = [model] if model is not None else self._run_models(run_id)
        if models is None:
            found = self._scan("cleaned", run_id)
        else:
            found = (p for m in models for p in self._query(codec.CLEAN_PREFIX + m, run_id))
        out = {}
        for plain in found:
            item = codec.cleaned_of(plain)
            out[item.record_id] = item
        return out

    def close(self) -> None:
        calls = getattr(self, "_calls", None)
        if calls is not None:
            calls.client.close()
