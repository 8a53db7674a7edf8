"""Seconds the stores take: what the tests prove happens, this measures how fast (tests assert no wall-clock time).

    python benchmarks/bench_store.py                     # SQLite and moto
    python benchmarks/bench_store.py --dynalite URL      # also a running dynalite (or DynamoDB Local) endpoint

Per store: a run of 50 rounds x 6 models planned, every cell written (one in ten failed), read back, counted
(the target: well under 60 s). Then how long opening takes to give up on an unreachable endpoint and on missing
credentials (target: under 5 s each, one attempt and no backoff), and how long a SQLite write waits on another
process's lock before it says so (at least the busy timeout).
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synthgen.errors import InfrastructureError, UserError  # noqa: E402
from synthgen.store import FAILED, OK, Record, RunInfo, Store, StoreUnavailable, open_store  # noqa: E402

AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def plan(models: int = 6, rounds: int = 50) -> tuple[RunInfo, list[Record]]:
    names = [f"m{i}" for i in range(models)]
    run = RunInfo(
        run_id=f"bench-{uuid.uuid4().hex[:8]}",
        created_at="2026-01-01T00:00:00+00:00",
        seed=1,
        rounds=rounds,
        models=names,
        template="sentiment",
        template_text="t",
        topics_source="sentiment",
    )
    cells = [
        Record(run_id=run.run_id, round=r, model=m, model_id=m, sentiment="positive", topics=[], prompt="p")
        for r in range(rounds)
        for m in names
    ]
    return run, cells


def many_records(store: Store) -> dict[str, float]:
    run, cells = plan()
    started = time.perf_counter()
    store.create_run(run, cells)
    planned = time.perf_counter()
    for cell in cells:
        cell.status, cell.attempts = (FAILED if cell.round % 10 == 0 else OK), 1
        cell.text, cell.response, cell.latency_s = "an answer", {"completion": "an answer"}, 0.25
        store.put_record(cell)
    written = time.perf_counter()
    assert len(list(store.records(run.run_id))) == len(cells)
    assert sum(store.counts(run.run_id)[m].get(OK, 0) for m in run.models) == 270
    done = time.perf_counter()
    return {
        "plan_s": planned - started,
        "write_s": written - planned,
        "read_s": done - written,
        "total_s": done - started,
    }


def timed_refusal(open_it: Callable[[], Any]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        open_it().close()
        outcome = "opened"
    except (UserError, InfrastructureError) as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    return {"seconds": time.perf_counter() - started, "outcome": outcome}


@contextmanager
def env(**values: str | None) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def sqlite_lock_wait(folder: Path, busy_timeout: float = 1.0) -> dict[str, Any]:
    from synthgen.store.sqlite import SQLiteStore

    class Impatient(SQLiteStore):
        pass

    Impatient.busy_timeout = busy_timeout  # SQLite's own wait, set when the connection opens
    path = folder / "locked.db"
    store = Impatient(path)
    run, cells = plan(1, 1)
    store.create_run(run, cells)
    other = sqlite3.connect(str(path), isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    started = time.perf_counter()
    try:
        store.put_record(cells[0])
        outcome = "written"
    except StoreUnavailable as exc:
        outcome = str(exc)
    waited = time.perf_counter() - started
    other.execute("ROLLBACK")
    other.close()
    store.close()
    return {"busy_timeout_s": busy_timeout, "waited_s": waited, "outcome": outcome}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dynalite", help="endpoint URL of a running dynalite or DynamoDB Local")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        with open_store(f"sqlite:///{folder}/bench.db") as store:
            results["sqlite_300_records"] = many_records(store)
        results["sqlite_lock_wait"] = sqlite_lock_wait(folder)
        with env(**AWS, AWS_ENDPOINT_URL_DYNAMODB=None):
            from moto import mock_aws

            with mock_aws(), open_store(f"dynamodb://bench-{uuid.uuid4().hex[:8]}") as store:
                results["moto_300_records"] = many_records(store)
        if args.dynalite:
            with env(**AWS, AWS_ENDPOINT_URL_DYNAMODB=args.dynalite):
                with open_store(f"dynamodb://bench-{uuid.uuid4().hex[:8]}") as store:
                    results["dynalite_300_records"] = many_records(store)
        with env(**AWS, AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:1"):
            results["open_unreachable"] = timed_refusal(lambda: open_store("dynamodb://bench-unreachable"))
        none = str(folder / "none")
        with env(
            AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:1",
            AWS_ACCESS_KEY_ID=None,
            AWS_SECRET_ACCESS_KEY=None,
            AWS_SESSION_TOKEN=None,
            AWS_PROFILE=None,
            AWS_SHARED_CREDENTIALS_FILE=none,
            AWS_CONFIG_FILE=none,
            AWS_EC2_METADATA_DISABLED="true",
            AWS_REGION="us-east-1",
        ):
            results["open_without_credentials"] = timed_refusal(lambda: open_store("dynamodb://bench-nocreds"))
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
