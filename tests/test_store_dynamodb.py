"""The DynamoDB store's own concerns, under moto: retry windows on an injected clock, refusals by kind, unprocessed
batch items, what an item holds. Opening: test_store_dynamodb_open.py."""

from __future__ import annotations

from typing import Any

import pytest

from synthgen.store import (
    FAILED,
    OK,
    PLANNED,
    SCHEMA_VERSION,
    CleanedText,
    RecordRejected,
    StoreRequestError,
    StoreUnavailable,
    open_store,
)

try:
    from test_store_contract import aws_test_env, dynamodb_backend, keys, make_run, outcome
except ImportError:  # tests/ imported as a package
    from tests.test_store_contract import aws_test_env, dynamodb_backend, keys, make_run, outcome


@pytest.fixture
def dynamo(monkeypatch: pytest.MonkeyPatch) -> Any:
    from moto import mock_aws

    aws_test_env(monkeypatch)
    with mock_aws():
        handle = open_store(dynamodb_backend("moto").url)
        now = [0.0]  # backoff sleeps pass on a clock of their own: retry windows in no time

        def sleep(seconds: float) -> None:
            now[0] += seconds

        handle._calls.sleep, handle._calls.clock = sleep, lambda: now[0]  # type: ignore[attr-defined]
        yield handle
        handle.close()


def client_error(code: str, status: int = 400) -> Exception:
    from botocore.exceptions import ClientError

    return ClientError(
        {"Error": {"Code": code, "Message": f"{code} (injected)"}, "ResponseMetadata": {"HTTPStatusCode": status}},
        "UpdateItem",
    )


def failing_then_real(
    monkeypatch: pytest.MonkeyPatch, store: Any, operation: str, errors: list[Exception], before: bool = True
) -> list[dict[str, Any]]:
    """Make `operation` raise `errors` in turn (after really doing the call when before=False), then work."""
    real = getattr(store._calls.client, operation)
    calls: list[dict[str, Any]] = []

    def patched(**kwargs: Any) -> Any:
        calls.append(kwargs)
        if errors:
            error = errors.pop(0)
            if not before:
                real(**kwargs)
            raise error
        return real(**kwargs)

    monkeypatch.setattr(store._calls.client, operation, patched)
    return calls


def test_throttled_put_is_retried_and_stored_once(dynamo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    run, cells = make_run(rounds=1)
    dynamo.create_run(run, cells)
    sleeps: list[float] = []
    dynamo._calls.sleep = sleeps.append
    errors = [
        client_error("ProvisionedThroughputExceededException"),
        client_error("ThrottlingException"),
        client_error("InternalServerError", 500),
    ]
    calls = failing_then_real(monkeypatch, dynamo, "update_item", errors)
    assert dynamo.put_record(outcome(cells[0])) is True
    assert len(calls) == 4 and len(sleeps) == 3
    assert all(0 <= s <= dynamo._calls.retry_cap for s in sleeps)
    assert [r.status for r in dynamo.records(run.run_id)].count(OK) == 1
    assert len(list(dynamo.records(run.run_id))) == len(cells)


def test_throttling_is_retried_for_the_throttle_window_then_stops_the_run(
    dynamo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, cells = make_run(rounds=1)
    dynamo.create_run(run, cells)
    # throttled for longer than an unreachable store would be given: still retried, then stored
    calls = failing_then_real(monkeypatch, dynamo, "update_item", [client_error("ThrottlingException")] * 60)
    started = dynamo._calls.clock()
    assert dynamo.put_record(outcome(cells[0])) is True
    assert len(calls) == 61 and dynamo._calls.clock() - started > dynamo._calls.unreachable_window
    errors = [client_error("ProvisionedThroughputExceededException")] * 100_000
    calls = failing_then_real(monkeypatch, dynamo, "update_item", errors)
    started = dynamo._calls.clock()
    with pytest.raises(
        StoreUnavailable,
        match=r"store dynamodb://\S+ still throttled \("
        r"ProvisionedThroughputExceededException at .*update_item failed",
    ):
        dynamo.put_record(outcome(cells[1]))
    calls_ = dynamo._calls
    assert calls_.throttle_window - calls_.retry_cap <= calls_.clock() - started <= calls_.throttle_window
    assert len(calls) > 100


def test_an_unreachable_store_is_retried_for_a_while_then_one_error(
    dynamo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from botocore.exceptions import EndpointConnectionError

    run, cells = make_run(rounds=2)
    dynamo.create_run(run, cells)
    down = EndpointConnectionError(endpoint_url="http://127.0.0.1:1")
    # a short outage is ridden out
    failing_then_real(monkeypatch, dynamo, "update_item", [down] * 5)
    assert dynamo.put_record(outcome(cells[0])) is True
    # a long one is one error, after the unreachable window, naming the store and what happened
    outage = [down] * 100_000
    calls = failing_then_real(monkeypatch, dynamo, "update_item", outage)
    started = dynamo._calls.clock()
    with pytest.raises(StoreUnavailable) as caught:
        dynamo.put_record(outcome(cells[1]))
    waited = dynamo._calls.clock() - started
    assert dynamo._calls.unreachable_window - dynamo._calls.retry_cap <= waited <= dynamo._calls.unreachable_window
    message = str(caught.value)
    assert message.startswith(f"store {dynamo.url} unreachable (EndpointConnectionError at ")
    assert f"update_item failed {len(calls)} times" in message and "\n" not in message
    # once given up, the next call (marking the run interrupted) tries once instead of waiting again
    n = len(calls)
    with pytest.raises(StoreUnavailable):
        dynamo.put_record(outcome(cells[2]))
    assert len(calls) == n + 1
    outage.clear()
    assert dynamo.put_record(outcome(cells[2])) is True  # back: all is normal again
    assert dynamo.put_record(outcome(cells[3])) is True


def test_a_request_dynamodb_rejects_is_our_bug_named_by_its_code_not_an_unavailable_store(
    dynamo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    run, cells = make_run(rounds=1)
    dynamo.create_run(run, cells)
    calls = failing_then_real(monkeypatch, dynamo, "update_item", [client_error("ValidationException")])
    with pytest.raises(StoreRequestError) as caught:
        dynamo.put_record(outcome(cells[0]))
    assert len(calls) == 1  # not retried
    assert not isinstance(caught.value, StoreUnavailable)  # the run does not stop as if the store were down
    message = str(caught.value)
    assert "update_item" in message and "ValidationException: ValidationException (injected)" in message
    assert "bug in synthgen" in message and "AWS_ENDPOINT_URL_DYNAMODB" not in message
    assert dynamo._calls.down is None  # the store is fine: the next call is not cut short
    assert dynamo.put_record(outcome(cells[0])) is True


@pytest.mark.parametrize(
    "message",
    [
        "Item size has exceeded the maximum allowed size",
        "ExpressionAttributeValues contains invalid value: Number overflow. Attempting "
        "to store a number with magnitude larger than supported range for key :a14",
    ],
)
def test_an_item_dynamodb_refuses_for_its_content_is_that_record_rejected_not_our_bug(
    dynamo: Any, monkeypatch: pytest.MonkeyPatch, message: str
) -> None:
    from botocore.exceptions import ClientError

    run, cells = make_run(rounds=1)
    dynamo.create_run(run, cells)
    refused = ClientError(
        {"Error": {"Code": "ValidationException", "Message": message}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "UpdateItem",
    )
    calls = failing_then_real(monkeypatch, dynamo, "update_item", [refused])
    with pytest.raises(RecordRejected, match=f"record {cells[0].id} cannot be stored: .*ValidationException"):
        dynamo.put_record(outcome(cells[0]))
    assert len(calls) == 1 and dynamo._calls.down is None  # not retried; the store is fine
    assert [r.status for r in dynamo.records(run.run_id)] == [PLANNED] * len(cells)


def test_a_record_too_large_even_compressed_is_rejected_and_the_cell_stays(dynamo: Any) -> None:
    import base64
    import random

    run, cells = make_run(rounds=1)
    dynamo.create_run(run, cells)
    noise = base64.b64encode(random.Random(3).randbytes(450_000)).decode()  # 600 KB, ~450 KB compressed
    with pytest.raises(RecordRejected, match="does not fit DynamoDB's 400 KB item limit even compressed"):
        dynamo.put_record(outcome(cells[0], text=noise))
    assert dynamo.put_record(outcome(cells[0], FAILED, text=None)) is True  # what the engine stores instead


def test_damaged_items_read_back_without_failing(dynamo: Any) -> None:
    """Items no synthgen wrote this way (another tool, older code): bytes that are not UTF-8, zlib that does not
    inflate, JSON that does not parse. Reading gives what can be read instead of failing the whole read."""
    import zlib

    run, cells = make_run(rounds=1)
    dynamo.create_run(run, cells)
    key = {"model": {"S": cells[0].model}, "sk": {"S": f"{run.run_id}#000000"}}
    dynamo._calls.client.update_item(
        TableName=dynamo.table,
        Key=key,
        UpdateExpression="SET #t = :t, #f = :f, #p = :p, #r = :r, #s = :s REMOVE #text, #prompt, #resp",
        ExpressionAttributeNames={
            "#t": "text_z",
            "#f": "failure_message_z",
            "#p": "prompt_z",
            "#r": "response",
            "#s": "status",
            "#text": "text",
            "#prompt": "prompt",
            "#resp": "response_z",
        },
        ExpressionAttributeValues={
            ":t": {"B": zlib.compress(b"caf\xe9 ok")},  # Latin-1, not UTF-8
            ":f": {"B": zlib.compress(b"bad \xed\xa0\x80 happy")},  # a surrogate, packed
            ":p": {"B": b"not zlib"},
            ":r": {"S": "{not json"},
            ":s": {"S": OK},
        },
    )
    [got] = dynamo.records(run.run_id, status=OK)
    assert got.text == "caf\ufffd ok" and got.failure_message == "bad \ufffd happy"
    assert got.prompt == "" and got.response == "{not json"  # a required field that cannot be read: empty
    json_line = __import__("json").dumps(got.to_dict(), ensure_ascii=False)
    json_line.encode("utf-8")  # what `synthgen log --json` prints


@pytest.mark.parametrize(
    "code, status",
    [
        ("ResourceNotFoundException", 400),
        ("AccessDeniedException", 400),
        ("UnrecognizedClientException", 400),
        ("403", 403),
    ],
)
def test_a_missing_table_or_refused_credentials_are_an_unavailable_store_with_what_to_check(
    dynamo: Any, monkeypatch: pytest.MonkeyPatch, code: str, status: int
) -> None:
    run, cells = make_run(rounds=1)
    dynamo.create_run(run, cells)
    calls = failing_then_real(monkeypatch, dynamo, "update_item", [client_error(code, status)])
    with pytest.raises(StoreUnavailable, match=rf"refused update_item \({code}: .*check AWS_ENDPOINT_URL_DYNAMODB"):
        dynamo.put_record(outcome(cells[0]))
    assert len(calls) == 1


def test_a_write_whose_answer_was_lost_counts_as_stored(dynamo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import ConnectionClosedError

    run, cells = make_run(rounds=1)
    dynamo.create_run(run, cells)
    lost = ConnectionClosedError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")
    calls = failing_then_real(monkeypatch, dynamo, "update_item", [lost], before=False)
    assert dynamo.put_record(outcome(cells[0])) is True  # the retry met our own ok record
    assert len(calls) == 2
    assert dynamo.put_record(outcome(cells[0])) is False  # somebody else's: refused
    assert [r.status for r in dynamo.records(run.run_id)] == [OK, PLANNED, PLANNED]


def unprocessing(monkeypatch: pytest.MonkeyPatch, store: Any, times: int) -> list[int]:
    """batch_write_item stores half of a batch only, `times` times, returning the rest unprocessed."""
    real = store._calls.client.batch_write_item
    sizes: list[int] = []

    def patched(RequestItems: dict[str, Any], **kwargs: Any) -> Any:  # noqa: N803 - boto3's spelling
        ((table, requests),) = RequestItems.items()
        sizes.append(len(requests))
        if len(sizes) <= times and len(requests) > 1:
            half = len(requests) // 2
            real(RequestItems={table: requests[:half]}, **kwargs)
            return {"UnprocessedItems": {table: requests[half:]}}
        return real(RequestItems=RequestItems, **kwargs)

    monkeypatch.setattr(store._calls.client, "batch_write_item", patched)
    return sizes


def test_unprocessed_batch_items_are_retried(dynamo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    run, cells = make_run(models=["a1", "b2", "c3", "d4", "e5"], rounds=12)  # 60 cells: batches of 25, 25, 10
    sleeps: list[float] = []
    dynamo._calls.sleep = sleeps.append
    sizes = unprocessing(monkeypatch, dynamo, times=3)
    dynamo.create_run(run, cells)
    assert sizes[:4] == [25, 13, 7, 4] and max(sizes) == 25
    assert len(sleeps) == 3
    got = list(dynamo.records(run.run_id))
    assert keys(got) == sorted(keys(cells)) and {r.status for r in got} == {PLANNED}
    cleaned = [CleanedText(record_id=c.id, run_id=run.run_id, model=c.model, text="t") for c in cells]
    unprocessing(monkeypatch, dynamo, times=2)
    dynamo.put_cleaned(cleaned)
    assert len(dynamo.cleaned(run.run_id)) == 60


def test_unprocessed_forever_raises(dynamo: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    run, cells = make_run(rounds=20)
    monkeypatch.setattr(
        dynamo._calls.client, "batch_write_item", lambda RequestItems: {"UnprocessedItems": RequestItems}
    )  # noqa: N803
    started = dynamo._calls.clock()
    with pytest.raises(StoreUnavailable, match="still throttled: 25 items unprocessed"):
        dynamo.create_run(run, cells)
    assert dynamo._calls.clock() - started > dynamo._calls.throttle_window - dynamo._calls.retry_cap
    assert dynamo.get_run(run.run_id) is None  # the run item is written last: no half-planned run is visible


def test_item_layout(dynamo: Any) -> None:
    run, cells = make_run(rounds=2)
    dynamo.create_run(run, cells)
    dynamo.put_record(outcome(cells[0], latency_s=0.123456))
    dynamo.put_cleaned([CleanedText(record_id=cells[0].id, run_id=run.run_id, model=cells[0].model, text="c")])
    client, table = dynamo._calls.client, dynamo.table
    desc = client.describe_table(TableName=table)["Table"]
    assert desc["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"
    assert {k["AttributeName"]: k["KeyType"] for k in desc["KeySchema"]} == {"model": "HASH", "sk": "RANGE"}
    items = client.scan(TableName=table)["Items"]
    by_key = {(i["model"]["S"], i["sk"]["S"]): i for i in items}
    record = by_key[(cells[0].model, f"{run.run_id}#000000")]
    assert record["latency_s"] == {"N": "0.123456"} and record["status"] == {"S": OK}
    assert record["attempts"] == {"N": "1"} and "S" in record["response"] and "S" in record["created_at"]
    assert ("_run", run.run_id) in by_key
    assert (f"_clean#{cells[0].model}", f"{run.run_id}#000000") in by_key
    assert record["label"] == record["sentiment"] == {"S": cells[0].sentiment}
    assert by_key[("_meta", "schema")]["version"] == {"N": str(SCHEMA_VERSION)}  # stamped when the table was made
    assert len(items) == len(cells) + 3


def test_records_of_unlisted_models_and_runs_without_run_item(dynamo: Any) -> None:
    run, cells = make_run(rounds=2)
    dynamo.create_run(run, cells)
    stray = outcome(cells[0], model="not-in-run", model_id="x")
    assert dynamo.put_record(stray)
    assert "not-in-run" in {r.model for r in dynamo.records(run.run_id)}
    assert dynamo.counts(run.run_id)["not-in-run"] == {OK: 1}
    orphan = outcome(cells[1], run_id="no-run-item")
    dynamo.put_record(orphan)
    assert keys(dynamo.records("no-run-item")) == [("no-run-item", orphan.round, orphan.model)]
    assert dynamo.counts("no-run-item") == {orphan.model: {OK: 1}}
