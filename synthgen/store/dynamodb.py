"""The DynamoDB store (`--store dynamodb://TABLE`): one table, single-table design, same semantics as SQLite.

Key schema: partition key `model` (S), sort key `sk` (S).

    records       model = ALIAS             sk = "RUN_ID#000042"   (unique per cell: run, round, model)
    runs          model = "_run"            sk = RUN_ID
    cleaned texts model = "_clean#ALIAS"    sk = "RUN_ID#000042"

A run's records are read with one strongly consistent Query per model (the run item lists the models),
merged in (round, model) order; a Scan is used only for reads across runs. `topics`, `request_body` and
`response` are stored as JSON text (exact round trip, no 32-level nesting limit, no float/Decimal ambiguity);
`latency_s` and the counts are Numbers (floats go through Decimal). An item that would pass the 400 KB
limit has its raw response zlib-compressed into a Binary attribute, then trimmed if still too big; the
record's `note` says so and the answer text is always kept.

Every call is retried with backoff and jitter: for up to `throttle_window` (15 minutes) while DynamoDB answers
but throttles or leaves batch items unprocessed, for up to `unreachable_window` (2 minutes) while it cannot be
reached or answers 5xx. Then StoreWriteError (a StoreUnavailable): `generate` stops with one line, resumable.
A table that is gone, or access or credentials refused, is a StoreWriteError at once; any other refusal
(ValidationException) is a request synthgen built wrong: StoreRequestError, naming the code, a bug to report.

Region comes from boto3's chain (us-east-1 when none is set), the endpoint from AWS_ENDPOINT_URL_DYNAMODB.
"""

from __future__ import annotations

import heapq
import json
import math
import os
import random
import re
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from ..errors import UserError
from .base import OK, CleanedText, Record, RunInfo, Store, StoreUnavailable, dumps, utc_now

ITEM_LIMIT = 400 * 1024
ITEM_BUDGET = ITEM_LIMIT - 4096  # our size estimate is close but not DynamoDB's exact arithmetic
BATCH = 25
RUN_PARTITION = "_run"
CLEAN_PREFIX = "_clean#"
SIZE_NOTE = "to fit DynamoDB's 400 KB item limit"
_INTACT = "the answer text is intact"
DEFAULT_REGION = "us-east-1"
_TABLE_NAME = re.compile(r"[A-Za-z0-9_.-]{3,255}")
_CHECK = "check AWS_ENDPOINT_URL_DYNAMODB / AWS_REGION / credentials"

_THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
              "LimitExceededException", "TransactionConflictException"}
_RETRYABLE = _THROTTLED | {"InternalServerError", "InternalFailure", "ServiceUnavailable"}
_CREDENTIALS = {"UnrecognizedClientException", "InvalidSignatureException", "ExpiredTokenException",
                "MissingAuthenticationTokenException", "InvalidClientTokenId", "IncompleteSignature",
                "ExpiredToken", "SignatureDoesNotMatch"}
# Refusals that say the store is not usable from here (no retry helps, the user must act): the rest of the codes
# DynamoDB answers for a non-retryable error are about the request itself.
_UNAVAILABLE = _CREDENTIALS | {"ResourceNotFoundException", "AccessDeniedException"}
# refused, reset, timed out, TLS or proxy failures: every way of not getting an answer
_NETWORK = (BotoConnectionError, HTTPClientError)

# Record fields by how they are stored
_STR = ("model_id", "status", "sentiment", "prompt", "text", "finish_reason", "failure_kind",
        "failure_message", "created_at", "updated_at", "note")
_INT = ("round", "input_tokens", "output_tokens", "attempts")
_JSON = ("topics", "request_body", "response")
_SQUEEZE = ("request_body", "text", "prompt", "failure_message")  # compressed (losslessly) when still too big
_RECORD_ATTRS = (("run_id", "kind", "latency_s", "response_trimmed") + _STR + _INT + _JSON
                 + tuple(f"{f}_z" for f in ("response",) + _SQUEEZE))


class StoreWriteError(StoreUnavailable):
    """A call DynamoDB kept refusing or could not be reached for, after retrying for a window of time; or a
    table or credentials that no retry can help with (the table is gone, access denied, credentials refused)."""


class StoreRequestError(RuntimeError):
    """DynamoDB refused a request synthgen built (ValidationException and the like): a bug of ours, not the
    store's state. Not a StoreUnavailable: the run does not end as if the store were down, with a hint to check
    the endpoint; it ends with this error and its traceback, to be reported."""


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _throttled(exc: Exception) -> bool:
    """DynamoDB answered and said slow down: the table is there, only busy."""
    return isinstance(exc, ClientError) and _code(exc) in _THROTTLED


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, _NETWORK):
        return True
    if isinstance(exc, ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return _code(exc) in _RETRYABLE or int(status) >= 500
    return False


# --- attribute values: plain Python <-> DynamoDB's typed JSON ---
def _av(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        return {"S": value}
    if isinstance(value, bool):
        return {"BOOL": value}
    if isinstance(value, int):
        return {"N": str(value)}
    if isinstance(value, float):
        return {"N": str(Decimal(repr(value)))}  # the shortest repr round-trips exactly through Decimal
    if isinstance(value, bytes):
        return {"B": value}
    if isinstance(value, (set, frozenset)):
        return {"SS": sorted(value)}
    if isinstance(value, list):
        return {"L": [_av(v) for v in value]}
    raise TypeError(f"cannot store {type(value).__name__} in DynamoDB")


def _py(av: dict[str, Any]) -> Any:
    (kind, value), = av.items()
    if kind in ("S", "N", "B", "BOOL"):
        return value  # numbers stay strings here; the field decides int or float
    if kind == "L":
        return [_py(v) for v in value]
    if kind in ("SS", "NS", "BS"):
        return set(value)
    if kind == "M":
        return {k: _py(v) for k, v in value.items()}
    return None  # NULL


def _typed(plain: dict[str, Any]) -> dict[str, Any]:
    return {k: _av(v) for k, v in plain.items()}


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    return {k: _py(v) for k, v in item.items()}


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _size(plain: dict[str, Any]) -> int:
    """An upper estimate of DynamoDB's item size: names plus values in UTF-8, binary values as base64."""
    total = 0
    for name, value in plain.items():
        total += len(name)
        if isinstance(value, str):
            total += len(_utf8(value))
        elif isinstance(value, bytes):
            total += (len(value) + 2) // 3 * 4  # as base64: what moto counts (AWS counts raw bytes: a margin)
        elif isinstance(value, bool):
            total += 1
        elif isinstance(value, (int, float)):
            total += 21
        else:  # list / set of strings
            total += 3 + sum(1 + len(_utf8(v)) for v in value)
    return total


def _trim(raw: bytes, room: int) -> tuple[int, bytes]:
    """The longest prefix of `raw` (cut at a UTF-8 boundary) whose zlib form fits in `room` bytes."""
    def cut(n: int) -> int:
        while 0 < n < len(raw) and raw[n] & 0xC0 == 0x80:
            n -= 1
        return n

    lo, hi = 0, len(raw)
    best = zlib.compress(b"")
    while lo < hi:
        mid = cut((lo + hi + 1) // 2)
        if mid <= lo:
            break
        packed = zlib.compress(raw[:mid])
        if len(packed) <= room:
            lo, best = mid, packed
        else:
            hi = mid - 1
    return lo, best


def _record_plain(record: Record) -> dict[str, Any]:
    """The item for a record, made to fit the item limit; sets `record.note` when something was squeezed."""
    data = record.__dict__
    plain: dict[str, Any] = {"model": record.model, "sk": f"{record.run_id}#{record.round:06d}",
                             "kind": "record", "run_id": record.run_id}
    notes = [n for n in (record.note or "").split("; ") if n and SIZE_NOTE not in n and n != _INTACT]
    for name in _STR:
        if data[name] is not None and name != "note":
            plain[name] = data[name]
    for name in _INT:
        if data[name] is not None:
            plain[name] = int(data[name])
    if record.latency_s is not None and math.isfinite(record.latency_s):
        plain["latency_s"] = float(record.latency_s)
    for name in _JSON:
        if data[name] is not None:
            plain[name] = dumps(data[name])
    if notes:
        plain["note"] = "; ".join(notes)
    if _size(plain) <= ITEM_BUDGET:
        record.note = plain.get("note")
        return plain

    squeezed = []
    if "response" in plain:
        raw = _utf8(plain.pop("response"))
        packed = zlib.compress(raw)
        plain["response_z"] = packed
        if _size(plain) <= ITEM_BUDGET:
            squeezed.append(f"raw response stored zlib-compressed ({len(raw):,} -> {len(packed):,} bytes)")
        else:
            room = ITEM_BUDGET - (_size(plain) - _size({"": packed})) - len("response_trimmed") - 1 - 400
            kept, packed = _trim(raw, max(room, 0) * 3 // 4)
            plain["response_z"], plain["response_trimmed"] = packed, True
            squeezed.append(f"raw response trimmed: kept the first {kept:,} of {len(raw):,} bytes "
                            "of its JSON (zlib-compressed)")
    for name in _SQUEEZE:
        if _size(plain) <= ITEM_BUDGET:
            break
        if name in plain:
            plain[f"{name}_z"] = zlib.compress(_utf8(plain.pop(name)))
            squeezed.append(f"{name} stored zlib-compressed")
    if _size(plain) > ITEM_BUDGET:
        raise StoreWriteError(f"record {record.id} does not fit DynamoDB's 400 KB item limit even compressed "
                              f"({_size(plain):,} bytes)")
    notes.append(", ".join(squeezed) + f" {SIZE_NOTE}; {_INTACT}")
    record.note = plain["note"] = "; ".join(notes)
    return plain


def _unpack(plain: dict[str, Any], name: str) -> str | None:
    if name in plain:
        return plain[name]
    packed = plain.get(f"{name}_z")
    return None if packed is None else zlib.decompress(bytes(packed)).decode("utf-8", "surrogatepass")


def _record_of(plain: dict[str, Any]) -> Record:
    data: dict[str, Any] = {"run_id": plain["run_id"], "model": plain["model"]}
    for name in _STR:
        data[name] = _unpack(plain, name)
    for name in _INT:
        if plain.get(name) is not None:
            data[name] = int(plain[name])
    data["latency_s"] = float(plain["latency_s"]) if plain.get("latency_s") is not None else None
    for name in _JSON:
        text = _unpack(plain, name)
        if name == "response" and plain.get("response_trimmed"):
            data[name] = text  # the kept prefix of the JSON text; `note` says so
        else:
            data[name] = json.loads(text) if text is not None else None
    return Record(**data)


def _run_plain(run: RunInfo, cell_models: Iterable[str] = ()) -> dict[str, Any]:
    plain: dict[str, Any] = {
        "model": RUN_PARTITION, "sk": run.run_id, "kind": "run", "run_id": run.run_id,
        "created_at": run.created_at, "seed": int(run.seed), "rounds": int(run.rounds),
        "models": list(run.models), "template": run.template, "template_text": run.template_text,
        "topics_source": run.topics_source, "params": dumps(run.params),
        "status": run.status, "store_url": run.store_url, "model_plans": dumps(run.model_plans),
    }
    models = set(run.models) | set(cell_models)
    if models:
        plain["cell_models"] = models
    return plain


def _run_of(plain: dict[str, Any]) -> RunInfo:
    return RunInfo(run_id=plain["run_id"], created_at=plain["created_at"], seed=int(plain["seed"]),
                   rounds=int(plain["rounds"]), models=list(plain.get("models") or []),
                   template=plain["template"],
                   template_text=plain["template_text"], topics_source=plain["topics_source"],
                   params=json.loads(plain.get("params") or "{}"), status=plain["status"],
                   store_url=plain.get("store_url", ""),
                   model_plans=json.loads(plain.get("model_plans") or "{}"))


def _clean_sk(item: CleanedText) -> str:
    prefix, suffix = f"{item.run_id}/", f"/{item.model}"
    rid = item.record_id
    if rid.startswith(prefix) and rid.endswith(suffix) and rid[len(prefix):len(rid) - len(suffix)].isdigit():
        return f"{item.run_id}#{int(rid[len(prefix):len(rid) - len(suffix)]):06d}"
    return f"{item.run_id}#~{rid}"


def _cleaned_plain(item: CleanedText) -> dict[str, Any]:
    plain: dict[str, Any] = {"model": CLEAN_PREFIX + item.model, "sk": _clean_sk(item), "kind": "cleaned",
                             "record_id": item.record_id, "run_id": item.run_id, "cleaned_model": item.model,
                             "dropped": dumps(item.dropped), "reason": item.reason, "method": item.method,
                             "created_at": item.created_at}
    if item.text is not None:
        plain["text"] = item.text
    return plain


def _cleaned_of(plain: dict[str, Any]) -> CleanedText:
    return CleanedText(record_id=plain["record_id"], run_id=plain["run_id"], model=plain["cleaned_model"],
                       text=plain.get("text"), dropped=json.loads(plain["dropped"]),
                       reason=plain.get("reason", ""), method=plain.get("method", ""),
                       created_at=plain["created_at"])


class DynamoDBStore(Store):
    max_writers = 16  # the engine's writer threads: DynamoDB writes are network round trips
    # How long one call keeps retrying (full-jitter exponential backoff, over botocore's own standard retries):
    throttle_window = 900.0  # seconds, while DynamoDB answers but throttles or leaves batch items unprocessed
    unreachable_window = 120.0  # seconds, while it cannot be reached (connection errors, timeouts) or answers 5xx
    retry_base, retry_cap = 0.05, 5.0  # seconds: full-jitter exponential backoff
    open_connect_timeout, open_read_timeout = 2.0, 4.0  # the open check fails fast
    table_active_timeout = 300.0

    def __init__(self, table: str, *, create: bool = True):
        self.table = table
        self.url = f"dynamodb://{table}"
        self._sleep: Callable[[float], None] = time.sleep
        self._clock: Callable[[], float] = time.monotonic
        # Once a call gave up after its window, later calls try once instead of waiting a window again, until one
        # succeeds. The engine has its own fail-fast latch (Engine._store_down: no write starts after the first
        # failure, and the run stops once); this one serves what the engine's cannot reach: writes already in
        # flight in other writer threads, and callers outside the engine, such as `generate` marking the stopped
        # run interrupted, which would otherwise wait a whole window (up to 15 minutes) to say the same thing.
        self._down: StoreWriteError | None = None
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._registered: set[tuple[str, str]] = set()
        self.endpoint = (os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL")
                         or "the AWS endpoint")
        try:
            session = boto3.session.Session()
            self.region = session.region_name or DEFAULT_REGION
            probe = session.client("dynamodb", region_name=self.region, config=Config(
                connect_timeout=self.open_connect_timeout, read_timeout=self.open_read_timeout,
                retries={"mode": "standard", "total_max_attempts": 1}))
            self.endpoint = probe.meta.endpoint_url
            try:
                self._open(probe, create)
            finally:
                probe.close()
            self._client = session.client("dynamodb", region_name=self.region, config=Config(
                connect_timeout=5, read_timeout=30, max_pool_connections=self.max_writers * 2,
                retries={"mode": "standard", "max_attempts": 4}))
        except UserError:
            raise
        except (BotoCoreError, ClientError, ValueError) as exc:
            raise self._setup_error(exc) from None

    @classmethod
    def from_url(cls, url: str, *, create: bool = True) -> DynamoDBStore:
        table = url[len("dynamodb://"):]
        if not table:
            raise UserError(f"--store {url}: name the table: dynamodb://TABLE")
        if not _TABLE_NAME.fullmatch(table):
            raise UserError(f"--store {url}: `{table}` is not a DynamoDB table name "
                            "(3 to 255 letters, digits, `_`, `-` or `.`)")
        return cls(table, create=create)

    # --- opening ---
    def _open(self, probe: Any, create: bool) -> None:
        try:
            desc = probe.describe_table(TableName=self.table)["Table"]
        except ClientError as exc:
            if _code(exc) != "ResourceNotFoundException":
                raise
            if not create:
                raise UserError(f"--store {self.url}: no table {self.table} in {self.region} at "
                                f"{self.endpoint}; run `synthgen generate` first, or name another table"
                                ) from None
            try:
                probe.create_table(
                    TableName=self.table, BillingMode="PAY_PER_REQUEST",
                    KeySchema=[{"AttributeName": "model", "KeyType": "HASH"},
                               {"AttributeName": "sk", "KeyType": "RANGE"}],
                    AttributeDefinitions=[{"AttributeName": "model", "AttributeType": "S"},
                                          {"AttributeName": "sk", "AttributeType": "S"}])
            except ClientError as exc2:
                if _code(exc2) != "ResourceInUseException":  # someone else is creating it: wait for it
                    raise
            desc = {"TableStatus": "CREATING"}
        if desc["TableStatus"] == "CREATING":
            desc = self._wait_active(probe)
        self._check_schema(desc)

    def _wait_active(self, probe: Any) -> dict[str, Any]:
        deadline = time.monotonic() + self.table_active_timeout
        delay = 0.05
        while True:
            try:
                desc = probe.describe_table(TableName=self.table)["Table"]
                if desc["TableStatus"] != "CREATING":
                    return desc
            except ClientError as exc:
                if _code(exc) != "ResourceNotFoundException":
                    raise
            if time.monotonic() > deadline:
                raise UserError(f"--store {self.url}: table {self.table} is not ACTIVE after "
                                f"{self.table_active_timeout:.0f} s; try again later")
            self._sleep(delay)
            delay = min(delay * 2, 2.0)

    def _check_schema(self, desc: dict[str, Any]) -> None:
        keys = {k["AttributeName"]: k["KeyType"] for k in desc.get("KeySchema", [])}
        types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
        if keys != {"model": "HASH", "sk": "RANGE"} or types.get("model") != "S" or types.get("sk") != "S":
            shown = ", ".join(f"{name} ({kind.lower()})" for name, kind in keys.items())
            raise UserError(f"--store {self.url}: table {self.table} has keys {shown}; synthgen needs "
                            "partition key `model` (S) and sort key `sk` (S): name a new table and it will "
                            "be created")

    def _setup_error(self, exc: Exception) -> UserError:
        where = f"--store {self.url}"
        if isinstance(exc, _NETWORK):
            return UserError(f"{where}: cannot reach DynamoDB at {self.endpoint} ({_CHECK})")
        if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
            return UserError(f"{where}: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID / "
                             f"AWS_SECRET_ACCESS_KEY; {_CHECK})")
        if isinstance(exc, ClientError):
            code, message = _code(exc), exc.response.get("Error", {}).get("Message", "")
            if code in _CREDENTIALS:
                return UserError(f"{where}: DynamoDB at {self.endpoint} rejected the credentials "
                                 f"({code}: {message}; {_CHECK})")
            if code == "AccessDeniedException":
                return UserError(f"{where}: access denied to table {self.table} ({message}); check the IAM "
                                 "policy allows DescribeTable, CreateTable, Query, Scan, GetItem, PutItem, "
                                 "UpdateItem, BatchWriteItem")
            if not message or code.isdigit():  # not DynamoDB's JSON error: something else answers there
                status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", code)
                return UserError(f"{where}: {self.endpoint} answered HTTP {status}, not as DynamoDB does "
                                 f"({_CHECK})")
            return UserError(f"{where}: DynamoDB at {self.endpoint} answered {code}: {message} ({_CHECK})")
        return UserError(f"{where}: cannot open DynamoDB at {self.endpoint}: {exc} ({_CHECK})")

    # --- calls with retries ---
    def _backoff(self, attempt: int) -> float:
        return self._rng.uniform(0, min(self.retry_cap, self.retry_base * 2 ** (attempt - 1)))

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        """A call retried on throttling, 5xx and dropped connections with backoff and jitter, for a window of
        time (`throttle_window` while DynamoDB answers, `unreachable_window` while it does not); then
        StoreWriteError, a one-line stop."""
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = getattr(self._client, operation)(**kwargs)
                self._down = None
                return answer
            except (ClientError, *_NETWORK) as exc:
                if not _retryable(exc):
                    if isinstance(exc, ClientError) and _code(exc) != "ConditionalCheckFailedException":
                        error = self._refused(exc, operation)
                        if isinstance(error, StoreRequestError):
                            raise error from exc  # a bug: keep the whole story
                        raise error from None
                    raise
                delay = self._backoff(attempt)
                window = self.throttle_window if _throttled(exc) else self.unreachable_window
                if self._down is not None or self._clock() - started + delay > window:
                    raise self._gave_up(exc, operation, attempt, self._clock() - started) from None
            self._sleep(delay)

    def _refused(self, exc: ClientError, operation: str) -> StoreWriteError | StoreRequestError:
        """A refusal no retry helps with: the store unusable from here (StoreWriteError, with what to check), or
        a request of ours DynamoDB rejects (StoreRequestError, naming the code: a bug to report)."""
        code, message = _code(exc), exc.response.get("Error", {}).get("Message", "")
        if code in _UNAVAILABLE or not code or code.isdigit():  # digits: not DynamoDB answering at all
            return StoreWriteError(f"store {self.url} refused {operation} ({code}: {message}; {_CHECK})")
        return StoreRequestError(f"store {self.url}: DynamoDB rejected the {operation} request synthgen built "
                                 f"({code}: {message}); this is a bug in synthgen, please report it")

    def _gave_up(self, exc: Exception, operation: str, attempts: int, waited: float) -> StoreWriteError:
        what = "still throttled" if _throttled(exc) else "unreachable"
        cause = type(exc).__name__ if isinstance(exc, _NETWORK) else (_code(exc) or str(exc))
        error = StoreWriteError(f"store {self.url} {what} ({cause} at {self.endpoint}; {operation} failed "
                                f"{attempts} times over {waited:.0f} s)")
        self._down = error
        return error

    def _batch_put(self, items: list[dict[str, Any]]) -> None:
        for start in range(0, len(items), BATCH):
            pending = [{"PutRequest": {"Item": item}} for item in items[start:start + BATCH]]
            began = self._clock()
            attempt = 0
            while pending:
                attempt += 1
                answer = self._call("batch_write_item", RequestItems={self.table: pending})
                pending = (answer.get("UnprocessedItems") or {}).get(self.table, [])
                if pending:
                    delay = self._backoff(attempt)
                    if self._clock() - began + delay > self.throttle_window:
                        raise StoreWriteError(f"store {self.url} still throttled: {len(pending)} items unprocessed "
                                              f"after {attempt} batch writes over {self._clock() - began:.0f} s")
                    self._sleep(delay)

    def _pages(self, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Items of a Query or Scan (strongly consistent), page by page, as plain values."""
        kwargs = {"TableName": self.table, "ConsistentRead": True, **kwargs}
        while True:
            page = self._call(operation, **kwargs)
            for item in page.get("Items", []):
                yield _plain(item)
            if not page.get("LastEvaluatedKey"):
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _query(self, partition: str, run_id: str | None = None, status: str | None = None,
               projection: str | None = None) -> Iterator[dict[str, Any]]:
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
        return self._pages("query", ExpressionAttributeNames=names, ExpressionAttributeValues=values,
                           **kwargs)

    def _scan(self, kind: str, run_id: str | None = None, status: str | None = None,
              projection: str | None = None) -> Iterator[dict[str, Any]]:
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
        return {"model": {"S": RUN_PARTITION}, "sk": {"S": run_id}}

    def _run_models(self, run_id: str) -> list[str] | None:
        """The models that have items in a run (from its run item), or None when there is no run item."""
        item = self._call(
            "get_item", TableName=self.table, Key=self._run_key(run_id), ConsistentRead=True,
            ProjectionExpression="#m, #c",
            ExpressionAttributeNames={"#m": "models", "#c": "cell_models"}).get("Item")
        if item is None:
            return None
        plain = _plain(item)
        return sorted(set(plain.get("models") or []) | set(plain.get("cell_models") or ()))

    def _register(self, run_id: str, model: str) -> None:
        """Make sure the run item lists `model`, so reads of the run find its records (once per process)."""
        if (run_id, model) in self._registered:
            return
        models = self._run_models(run_id)
        if models is not None and model not in models:
            try:
                self._call("update_item", TableName=self.table, Key=self._run_key(run_id),
                           UpdateExpression="ADD #c :m", ConditionExpression="attribute_exists(#k)",
                           ExpressionAttributeNames={"#c": "cell_models", "#k": "sk"},
                           ExpressionAttributeValues={":m": {"SS": [model]}})
            except ClientError as exc:
                if _code(exc) != "ConditionalCheckFailedException":
                    raise
        with self._lock:
            self._registered.update((run_id, m) for m in (models or []))
            self._registered.add((run_id, model))

    # --- runs ---
    def create_run(self, run: RunInfo, cells: Iterable[Record]) -> None:
        if self.get_run(run.run_id) is not None:
            raise ValueError(f"run {run.run_id} already exists in {self.url}")
        items: dict[tuple[str, str], dict[str, Any]] = {}
        # cells first, the run item last: a run is visible only once all its cells are stored
        for cell in cells:
            plain = _record_plain(cell)
            items.setdefault((plain["model"], plain["sk"]), _typed(plain))
        self._batch_put(list(items.values()))
        try:
            self._call("put_item", TableName=self.table, Item=_typed(_run_plain(run, (m for m, _ in items))),
                       ConditionExpression="attribute_not_exists(#k)", ExpressionAttributeNames={"#k": "sk"})
        except ClientError as exc:
            if _code(exc) == "ConditionalCheckFailedException":
                raise ValueError(f"run {run.run_id} already exists in {self.url}") from None
            raise
        with self._lock:
            self._registered.update((run.run_id, m) for m in set(run.models) | {m for m, _ in items})

    def get_run(self, run_id: str) -> RunInfo | None:
        item = self._call("get_item", TableName=self.table, Key=self._run_key(run_id),
                          ConsistentRead=True).get("Item")
        return _run_of(_plain(item)) if item else None

    def list_runs(self) -> list[RunInfo]:
        runs = [_run_of(p) for p in self._query(RUN_PARTITION)]
        return sorted(runs, key=lambda r: (r.created_at, r.run_id))

    def set_run_status(self, run_id: str, status: str) -> None:
        try:
            self._call("update_item", TableName=self.table, Key=self._run_key(run_id),
                       UpdateExpression="SET #s = :s", ConditionExpression="attribute_exists(#k)",
                       ExpressionAttributeNames={"#s": "status", "#k": "sk"},
                       ExpressionAttributeValues={":s": {"S": status}})
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":  # no such run: nothing to do, as in SQLite
                raise

    # --- records ---
    def put_record(self, record: Record) -> bool:
        record.updated_at = utc_now()
        plain = _record_plain(record)
        self._register(record.run_id, record.model)
        key = {"model": {"S": plain.pop("model")}, "sk": {"S": plain.pop("sk")}}
        names = {"#key": "sk", "#status": "status"}
        values: dict[str, Any] = {":ok": {"S": OK}}
        sets, removes = [], []
        for i, (name, value) in enumerate(plain.items()):
            names[f"#a{i}"], values[f":a{i}"] = name, _av(value)
            # created_at stays that of the first write (the planned cell), as in SQLite's upsert
            sets.append(f"#a{i} = if_not_exists(#a{i}, :a{i})" if name == "created_at" else f"#a{i} = :a{i}")
        for i, name in enumerate(n for n in _RECORD_ATTRS if n not in plain):
            names[f"#r{i}"] = name
            removes.append(f"#r{i}")
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self._call("update_item", TableName=self.table, Key=key, UpdateExpression=update,
                       ConditionExpression="attribute_not_exists(#key) OR #status <> :ok",
                       ExpressionAttributeNames=names, ExpressionAttributeValues=values)
        except ClientError as exc:
            if _code(exc) != "ConditionalCheckFailedException":
                raise
            return self._is_own_write(key, record.updated_at)
        return True

    def _is_own_write(self, key: dict[str, Any], updated_at: str | None) -> bool:
        """After a retried write hit the ok-guard: was the ok record there our own first attempt?"""
        item = self._call("get_item", TableName=self.table, Key=key, ConsistentRead=True,
                          ProjectionExpression="#u", ExpressionAttributeNames={"#u": "updated_at"})
        return _plain(item.get("Item") or {}).get("updated_at") == updated_at

    def records(self, run_id: str | None = None, model: str | None = None,
                status: str | None = None) -> Iterator[Record]:
        if run_id is not None:
            models = [model] if model is not None else self._run_models(run_id)
            if models is not None:
                streams = [(_record_of(p) for p in self._query(m, run_id, status)) for m in models]
                yield from heapq.merge(*streams, key=lambda r: (r.round, r.model))
                return
            found = (_record_of(p) for p in self._scan("record", run_id, status))
        elif model is not None:
            found = (_record_of(p) for p in self._query(model, None, status))
        else:
            found = (_record_of(p) for p in self._scan("record", None, status))
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
        typed: dict[tuple[str, str], dict[str, Any]] = {}
        for item in items:
            plain = _cleaned_plain(item)
            typed[(plain["model"], plain["sk"])] = _typed(plain)  # the last of a key wins (INSERT OR REPLACE)
            self._register(item.run_id, item.model)
        self._batch_put(list(typed.values()))

    def cleaned(self, run_id: str, model: str | None = None) -> dict[str, CleanedText]:
        models = [model] if model is not None else self._run_models(run_id)
        if models is None:
            found = self._scan("cleaned", run_id)
        else:
            found = (p for m in models for p in self._query(CLEAN_PREFIX + m, run_id))
        out = {}
        for plain in found:
            item = _cleaned_of(plain)
            out[item.record_id] = item
        return out

    def close(self) -> None:
        client = getattr(self, "_client", None)
        if client is not None:
            client.close()
