"""Schema versions: a store written by older code opens and upgrades; one newer than the code, or a file that is not a
synthgen store, is refused in one line and left byte for byte as it was."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from synthgen.errors import UserError
from synthgen.store import SCHEMA_VERSION, open_store

try:
    from test_store_contract import aws_test_env
except ImportError:  # tests/ imported as a package
    from tests.test_store_contract import aws_test_env

DATA = Path(__file__).resolve().parent / "data"
V1_RUN = "20260101-000000-v1v1"  # what tests/data/make_store_v1.py wrote into store-v1.db


def user_version(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return db.execute("PRAGMA user_version").fetchone()[0]


@pytest.fixture
def v1_store(tmp_path: Path) -> Path:
    """A copy of the committed schema-1 store: the committed file itself is never opened for writing."""
    path = tmp_path / "store-v1.db"
    shutil.copy(DATA / "store-v1.db", path)
    assert user_version(path) == 1
    return path


def test_a_schema_1_sqlite_store_opens_upgraded_with_everything_in_it(v1_store: Path) -> None:
    url = f"sqlite:///{v1_store}"
    with open_store(url, create=False) as store:
        [run] = store.list_runs()
        records = list(store.records(V1_RUN))
        cleaned = store.cleaned(V1_RUN)
        assert store.claim_run(V1_RUN, "me", 60) is True  # schema 3: runs carry a lease
    assert user_version(v1_store) == SCHEMA_VERSION
    assert (run.run_id, run.seed, run.rounds, run.models, run.status) == (
        V1_RUN,
        7,
        2,
        ["claude-v2", "gpt-4"],
        "interrupted",
    )
    assert run.params == {"gpt-4": {"temperature": 0.7}} and run.store_url == url  # not /old/place/synthgen.db
    assert [(r.round, r.model, r.status, r.label, r.sentiment) for r in records] == [
        (0, "claude-v2", "ok", "positive", "positive"),
        (0, "gpt-4", "failed", "positive", "positive"),
        (1, "claude-v2", "planned", "negative", "negative"),
        (1, "gpt-4", "ok", "negative", "negative"),
    ]
    ok, failed, _, unicode_ok = records
    assert (ok.text, ok.response, ok.latency_s, ok.input_tokens, ok.output_tokens) == (
        "Great pizza.",
        {"completion": "Great pizza."},
        0.25,
        12,
        3,
    )
    assert (failed.failure_kind, failed.failure_message, failed.attempts) == ("transient", "HTTP 500: boom", 6)
    assert unicode_ok.text == "Pizza naïve, café — 日本語 🍕."
    assert {k: (c.text, c.dropped, c.reason) for k, c in cleaned.items()} == {
        ok.id: ("Great pizza.", ["Sure!"], "kept cluster 1")
    }
    with sqlite3.connect(v1_store) as db:  # the migration copied sentiment into the new column
        assert db.execute("SELECT COUNT(*) FROM records WHERE label = sentiment").fetchone()[0] == 4


def test_a_store_that_schema_1_code_reopened_after_the_upgrade_opens_again(v1_store: Path) -> None:
    """synthgen before versions set user_version back to 1 on every open: the columns are there already."""
    open_store(f"sqlite:///{v1_store}").close()
    with sqlite3.connect(v1_store) as db:
        db.execute("PRAGMA user_version = 1")
        db.execute(
            "INSERT INTO records (run_id, round, model, model_id, status, sentiment, topics, prompt, attempts,"
            " created_at) VALUES (?, 2, 'gpt-4', 'gpt-4', 'planned', 'positive', '[]', 'p', 0, 't')",
            (V1_RUN,),
        )
    with open_store(f"sqlite:///{v1_store}", create=False) as store:
        assert [r.label for r in store.records(V1_RUN)][-1] == "positive"
    assert user_version(v1_store) == SCHEMA_VERSION


def test_a_sqlite_store_newer_than_the_code_is_refused_untouched(v1_store: Path) -> None:
    with sqlite3.connect(v1_store) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    before = v1_store.read_bytes()
    with pytest.raises(UserError) as caught:
        open_store(f"sqlite:///{v1_store}")
    assert str(caught.value) == (
        f"--store sqlite:///{v1_store}: the store is at schema version {SCHEMA_VERSION + 1}"
        f", this synthgen knows up to {SCHEMA_VERSION}: upgrade synthgen"
    )
    assert v1_store.read_bytes() == before


def foreign_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO customers (name) VALUES ('Ada')")


def not_sqlite(path: Path) -> None:
    path.write_text("id,name\n1,Ada\n")


@pytest.mark.parametrize(
    "make, message",
    [
        (foreign_database, r"is not a synthgen store \(its tables: customers\)"),
        (not_sqlite, "is not a SQLite database"),
    ],
    ids=["another-programs-database", "not-sqlite"],
)
@pytest.mark.parametrize("create", [True, False])
def test_a_file_that_is_not_a_synthgen_store_is_refused_before_anything_is_written(
    tmp_path: Path, make: Any, message: str, create: bool
) -> None:
    path = tmp_path / "theirs.db"
    make(path)
    before = path.read_bytes()
    with pytest.raises(UserError, match=message) as caught:
        open_store(f"sqlite:///{path}", create=create)
    assert str(caught.value).startswith(f"--store sqlite:///{path}: ") and "\n" not in str(caught.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["theirs.db"]  # no -wal or -shm left behind


# --- DynamoDB: items as synthgen wrote them before versions (no _meta item) ---
def v1_items(table: str) -> list[dict[str, Any]]:
    run = {
        "model": {"S": "_run"},
        "sk": {"S": V1_RUN},
        "kind": {"S": "run"},
        "run_id": {"S": V1_RUN},
        "created_at": {"S": "2026-01-01T00:00:00+00:00"},
        "seed": {"N": "7"},
        "rounds": {"N": "2"},
        "models": {"L": [{"S": "claude-v2"}, {"S": "gpt-4"}]},
        "template": {"S": "sentiment"},
        "template_text": {"S": "Write a {sentiment} review."},
        "topics_source": {"S": "sentiment"},
        "params": {"S": "{}"},
        "status": {"S": "done"},
        "store_url": {"S": "dynamodb://elsewhere"},
        "model_plans": {"S": "{}"},
        "cell_models": {"SS": ["claude-v2", "gpt-4"]},
    }
    records = [
        {
            "model": {"S": model},
            "sk": {"S": f"{V1_RUN}#{r:06d}"},
            "kind": {"S": "record"},
            "run_id": {"S": V1_RUN},
            "model_id": {"S": f"{model}-id"},
            "status": {"S": "ok"},
            "sentiment": {"S": ("positive", "negative")[r]},
            "prompt": {"S": f"p{r}"},
            "text": {"S": f"answer {r} {model}"},
            "round": {"N": str(r)},
            "attempts": {"N": "1"},
            "topics": {"S": '[{"category":"food","topic":"pizza"}]'},
            "latency_s": {"N": "0.5"},
            "created_at": {"S": "2026-01-01T00:00:00+00:00"},
        }
        for r in range(2)
        for model in ("claude-v2", "gpt-4")
    ]
    cleaned = {
        "model": {"S": "_clean#gpt-4"},
        "sk": {"S": f"{V1_RUN}#000001"},
        "kind": {"S": "cleaned"},
        "record_id": {"S": f"{V1_RUN}/000001/gpt-4"},
        "run_id": {"S": V1_RUN},
        "cleaned_model": {"S": "gpt-4"},
        "dropped": {"S": "[]"},
        "reason": {"S": "kept"},
        "method": {"S": "m"},
        "text": {"S": "answer"},
        "created_at": {"S": "2026-01-01T00:00:00+00:00"},
    }
    return [run, *records, cleaned]


@pytest.fixture
def v1_table(monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3
    from moto import mock_aws

    aws_test_env(monkeypatch)
    with mock_aws():
        client = boto3.client("dynamodb")
        client.create_table(
            TableName="synthgen-v1",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "model", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
        )
        for item in v1_items("synthgen-v1"):
            client.put_item(TableName="synthgen-v1", Item=item)
        yield client


def test_a_schema_1_dynamodb_table_opens_upgraded_with_everything_in_it(v1_table: Any) -> None:
    with open_store("dynamodb://synthgen-v1", create=False) as store:
        [run] = store.list_runs()
        records = list(store.records(V1_RUN))
        cleaned = store.cleaned(V1_RUN)
        assert store.claim_run(V1_RUN, "me", 60) is True
    assert (run.run_id, run.seed, run.status, run.store_url) == (V1_RUN, 7, "done", "dynamodb://synthgen-v1")
    assert [(r.round, r.model, r.label, r.sentiment, r.text) for r in records] == [
        (r, m, s, s, f"answer {r} {m}") for r, s in enumerate(("positive", "negative")) for m in ("claude-v2", "gpt-4")
    ]
    assert [c.text for c in cleaned.values()] == ["answer"]
    items = v1_table.scan(TableName="synthgen-v1")["Items"]
    meta = [i for i in items if i["model"]["S"] == "_meta"]
    assert meta == [
        {"model": {"S": "_meta"}, "sk": {"S": "schema"}, "kind": {"S": "meta"}, "version": {"N": str(SCHEMA_VERSION)}}
    ]
    stored = [i for i in items if i.get("kind") == {"S": "record"}]
    assert len(stored) == 4 and all(i["label"] == i["sentiment"] for i in stored)  # the label was copied in
    open_store("dynamodb://synthgen-v1", create=False).close()  # opened again: nothing left to do


def test_a_dynamodb_table_newer_than_the_code_is_refused_untouched(v1_table: Any) -> None:
    v1_table.put_item(
        TableName="synthgen-v1",
        Item={
            "model": {"S": "_meta"},
            "sk": {"S": "schema"},
            "kind": {"S": "meta"},
            "version": {"N": str(SCHEMA_VERSION + 1)},
        },
    )
    before = v1_table.scan(TableName="synthgen-v1")["Items"]
    with pytest.raises(UserError) as caught:
        open_store("dynamodb://synthgen-v1")
    assert str(caught.value) == (
        f"--store dynamodb://synthgen-v1: the store is at schema version "
        f"{SCHEMA_VERSION + 1}, this synthgen knows up to {SCHEMA_VERSION}: upgrade synthgen"
    )
    assert v1_table.scan(TableName="synthgen-v1")["Items"] == before
