"""Opening a DynamoDB table: find or create it, check its keys, and bring its items to SCHEMA_VERSION.

The table's schema version lives in one item, {model: "_meta", sk: "schema", version: N}, written when synthgen
creates the table. A table without it was written by synthgen before versions (schema 1). Migrations run in
order on open, each safe to run twice (another process may be opening the same table), then the version item
is raised; a table at a version newer than this code is refused.

What cannot open says so in one line: an endpoint that cannot be reached at all (or DynamoDB failing with 5xx)
is StoreUnavailable, exit 3, as is any store that went away; credentials missing or refused, access denied, a
bad table name, a table with other keys, or an endpoint that is not DynamoDB are UserError, exit 2.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

from ..errors import UserError
from .base import SCHEMA_VERSION, StoreUnavailable, too_new
from .dynamodb_calls import CHECK, CREDENTIALS, NETWORK, RETRYABLE, Calls, ConditionFailed, code_of
from .dynamodb_codec import META_KEY, META_PARTITION, av, plain_of

TABLE_ACTIVE_TIMEOUT = 300.0


def ensure_table(probe: Any, table: str, url: str, where: str, create: bool) -> bool:
    """Describe the table (creating it when missing and `create`), wait until it is ACTIVE, check its keys.
    True when this call created it. `where` names the region and endpoint for messages."""
    created = False
    try:
        desc = probe.describe_table(TableName=table)["Table"]
    except ClientError as exc:
        if code_of(exc) != "ResourceNotFoundException":
            raise
        if not create:
            raise UserError(
                f"--store {url}: no table {table} in {where}; run `synthgen generate` first, or name another table"
            ) from None
        try:
            probe.create_table(
                TableName=table,
                BillingMode="PAY_PER_REQUEST",
                KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
                AttributeDefinitions=[
                    {"AttributeName": "model", "AttributeType": "S"},
                    {"AttributeName": "sk", "AttributeType": "S"},
                ],
            )
            created = True
        except ClientError as exc2:
            if code_of(exc2) != "ResourceInUseException":  # someone else is creating it: wait for it
                raise
        desc = {"TableStatus": "CREATING"}
    if desc["TableStatus"] == "CREATING":
        desc = _wait_active(probe, table, url)
    _check_keys(desc, table, url)
    return created


def _wait_active(probe: Any, table: str, url: str, sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    deadline = time.monotonic() + TABLE_ACTIVE_TIMEOUT
    delay = 0.05
    while True:
        try:
            desc = probe.describe_table(TableName=table)["Table"]
            if desc["TableStatus"] != "CREATING":
                return desc
        except ClientError as exc:
            if code_of(exc) != "ResourceNotFoundException":
                raise
        if time.monotonic() > deadline:
            raise UserError(
                f"--store {url}: table {table} is not ACTIVE after {TABLE_ACTIVE_TIMEOUT:.0f} s; try again later"
            )
        sleep(delay)
        delay = min(delay * 2, 2.0)


def _check_keys(desc: dict[str, Any], table: str, url: str) -> None:
    keys = {k["AttributeName"]: k["KeyType"] for k in desc.get("KeySchema", [])}
    types = {a["AttributeName"]: a["AttributeType"] for a in desc.get("AttributeDefinitions", [])}
    if keys != {"model": "HASH", "sk": "RANGE"} or types.get("model") != "S" or types.get("sk") != "S":
        shown = ", ".join(f"{name} ({kind.lower()})" for name, kind in keys.items())
        raise UserError(
            f"--store {url}: table {table} has keys {shown}; synthgen needs partition key `model` (S) "
            "and sort key `sk` (S): name a new table and it will be created"
        )


def open_error(exc: Exception, url: str, table: str, endpoint: str) -> Exception:
    """What a failed open means, in one line: StoreUnavailable when DynamoDB cannot be reached or is failing,
    UserError when something the user set up is wrong."""
    where = f"--store {url}"
    if isinstance(exc, NETWORK):
        return StoreUnavailable(f"{where}: cannot reach DynamoDB at {endpoint} ({CHECK})")
    if isinstance(exc, (NoCredentialsError, PartialCredentialsError)):
        return UserError(
            f"{where}: no AWS credentials found (set AWS_PROFILE or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY; {CHECK})"
        )
    if isinstance(exc, ClientError):
        code, message = code_of(exc), exc.response.get("Error", {}).get("Message", "")
        if code in CREDENTIALS:
            return UserError(f"{where}: DynamoDB at {endpoint} rejected the credentials ({code}: {message}; {CHECK})")
        if code == "AccessDeniedException":
            return UserError(
                f"{where}: access denied to table {table} ({message}); check the IAM policy allows "
                "DescribeTable, CreateTable, Query, Scan, GetItem, PutItem, UpdateItem, BatchWriteItem"
            )
        if code in RETRYABLE:  # DynamoDB itself, busy or failing: try again later
            return StoreUnavailable(f"{where}: DynamoDB at {endpoint} answered {code}: {message}; try again later")
        if not message or code.isdigit():  # not DynamoDB's JSON error: something else answers there
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", code)
            return UserError(f"{where}: {endpoint} answered HTTP {status}, not as DynamoDB does ({CHECK})")
        return UserError(f"{where}: DynamoDB at {endpoint} answered {code}: {message} ({CHECK})")
    return UserError(f"{where}: cannot open DynamoDB at {endpoint}: {exc} ({CHECK})")


# --- versions ---
_META = {"model": {"S": META_PARTITION}, "sk": {"S": META_KEY}}


def _v2_records_gain_label(calls: Calls) -> None:
    """`label` is the task-neutral name of what the cell was asked for; until now that was `sentiment`."""
    items = calls.pages(
        "scan",
        FilterExpression="#kind = :record AND attribute_not_exists(#label)",
        ProjectionExpression="#model, #sk, #sentiment",
        ExpressionAttributeNames={
            "#kind": "kind",
            "#label": "label",
            "#model": "model",
            "#sk": "sk",
            "#sentiment": "sentiment",
        },
        ExpressionAttributeValues={":record": {"S": "record"}},
    )
    for item in list(items):  # read first: a scan does not have to see its own writes
        if "sentiment" not in item:
            continue
        try:  # a record rewritten since the scan has its label already: leave it
            calls(
                "update_item",
                TableName=calls.table,
                Key={"model": item["model"], "sk": item["sk"]},
                UpdateExpression="SET #label = :label",
                ConditionExpression="attribute_exists(#sk) AND attribute_not_exists(#label)",
                ExpressionAttributeNames={"#label": "label", "#sk": "sk"},
                ExpressionAttributeValues={":label": item["sentiment"]},
            )
        except ConditionFailed:
            pass


def _v3_runs_gain_a_lease(calls: Calls) -> None:
    """Nothing to rewrite: a lease is two attributes of the run item, set when a run is first claimed."""


def _v4_verdicts(calls: Calls) -> None:
    """Nothing to rewrite: verdicts and regenerated attempts are items in partitions of their own
    (`_verdict#ALIAS`, `_attempt#ALIAS`; dynamodb_verdicts.py), written when a run is verified."""


def _v5_batch_jobs(calls: Calls) -> None:
    """Nothing to rewrite: batch jobs are new items (partition `_batch`), and a record's `batch_job` and
    `cost_usd` are attributes written with its next outcome."""


MIGRATIONS: dict[int, Callable[[Calls], None]] = {
    2: _v2_records_gain_label,
    3: _v3_runs_gain_a_lease,
    4: _v4_verdicts,
    5: _v5_batch_jobs,
}
assert sorted(MIGRATIONS) == list(range(2, SCHEMA_VERSION + 1))


def version_of(calls: Calls) -> int:
    item = calls("get_item", TableName=calls.table, Key=_META, ConsistentRead=True).get("Item")
    return int(plain_of(item).get("version") or 1) if item else 1


def migrate(calls: Calls, created: bool) -> None:
    """Bring a table to SCHEMA_VERSION (a table this process created is there already: it is only stamped)."""
    version = SCHEMA_VERSION if created else version_of(calls)
    if version > SCHEMA_VERSION:
        raise too_new(calls.url, version)
    if version == SCHEMA_VERSION and not created:
        return
    for step in range(version + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[step](calls)
    try:
        calls(
            "put_item",
            TableName=calls.table,
            Item={**_META, "kind": {"S": "meta"}, "version": av(SCHEMA_VERSION)},
            ConditionExpression="attribute_not_exists(#v) OR #v < :v",
            ExpressionAttributeNames={"#v": "version"},
            ExpressionAttributeValues={":v": av(SCHEMA_VERSION)},
        )
    except ConditionFailed:  # another process stamped it meanwhile: ours, or a newer synthgen's
        if version_of(calls) > SCHEMA_VERSION:
            raise too_new(calls.url, version_of(calls)) from None
