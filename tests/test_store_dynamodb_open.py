"""Opening a DynamoDB store: what it says, in one line, when it cannot open, and which kind of error that is
(StoreUnavailable, exit 3, for a store that cannot be reached; UserError, exit 2, for what the user set up)."""

from __future__ import annotations

import os
from typing import Any

import pytest

from synthgen.errors import UserError
from synthgen.store import StoreUnavailable, open_store

try:
    from test_store_contract import aws_test_env
except ImportError:  # tests/ imported as a package
    from tests.test_store_contract import aws_test_env


def test_table_with_other_keys_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import boto3
    from moto import mock_aws

    aws_test_env(monkeypatch)
    with mock_aws():
        boto3.client("dynamodb").create_table(
            TableName="ModelExecutionMetadata",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[
                {"AttributeName": "model", "KeyType": "HASH"},
                {"AttributeName": "timestamp", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "model", "AttributeType": "S"},
                {"AttributeName": "timestamp", "AttributeType": "S"},
            ],
        )
        with pytest.raises(UserError, match="has keys model .hash., timestamp .range.; synthgen needs"):
            open_store("dynamodb://ModelExecutionMetadata")
        with pytest.raises(UserError, match="no table missing-table in us-east-1"):
            open_store("dynamodb://missing-table", create=False)


@pytest.mark.parametrize(
    "url, message",
    [
        ("dynamodb://", "--store dynamodb://: name the table: dynamodb://TABLE"),
        ("dynamodb://ab", "is not a DynamoDB table name"),
        ("dynamodb://bad/name", "is not a DynamoDB table name"),
    ],
)
def test_bad_store_urls(url: str, message: str) -> None:
    with pytest.raises(UserError, match=message):
        open_store(url)


def no_waiting(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Record every sleep (botocore's retries and ours): opening must not wait out a retry schedule."""
    import time

    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    return sleeps


def test_an_unreachable_endpoint_is_an_unavailable_store_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    aws_test_env(monkeypatch, "http://127.0.0.1:1")
    sleeps = no_waiting(monkeypatch)
    with pytest.raises(StoreUnavailable) as caught:
        open_store("dynamodb://synthgen-test")
    assert sleeps == []  # one attempt, no backoff (benchmarks/bench_store.py times it)
    assert caught.value.exit_code == 3  # infrastructure: the input was fine
    assert str(caught.value) == (
        "--store dynamodb://synthgen-test: cannot reach DynamoDB at "
        "http://127.0.0.1:1 (check AWS_ENDPOINT_URL_DYNAMODB / AWS_REGION / "
        "credentials)"
    )


def test_missing_credentials_are_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    aws_test_env(monkeypatch, "http://127.0.0.1:1")
    for name in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    sleeps = no_waiting(monkeypatch)
    with pytest.raises(UserError, match="no AWS credentials found") as caught:
        open_store("dynamodb://synthgen-test")
    assert caught.value.exit_code == 2 and sleeps == []


def test_region_defaults_to_us_east_1(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    from moto import mock_aws

    aws_test_env(monkeypatch)
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    with mock_aws(), open_store("dynamodb://synthgen-region") as handle:
        assert handle.region == "us-east-1"  # type: ignore[attr-defined]
    assert "AWS_ENDPOINT_URL_DYNAMODB" not in os.environ
