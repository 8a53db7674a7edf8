"""Writes store-v1.db: a SQLite store as synthgen wrote it at schema version 1 (commit a75f399), before migrations.

tests/test_store_migrations.py opens a copy of the committed file to prove that a store written by older code
opens and upgrades. The file is the fixture, not this script: run with code newer than schema 1 the script
would write the newer schema, so it refuses to (it checks `PRAGMA user_version` after writing).

    python tests/data/make_store_v1.py

One run, 2 rounds x 2 models: an ok, a failed, a planned and an ok-with-a-long-unicode-answer cell, and one
cleaned text; the run was created at /old/place/synthgen.db (its stored `store_url`), so a test can see the
store read back names where it was opened, not where it was made.
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from synthgen.store import CleanedText, Record, RunInfo  # noqa: E402
from synthgen.store.sqlite import SQLiteStore  # noqa: E402

RUN_ID = "20260101-000000-v1v1"
CREATED = "2026-01-01T00:00:00+00:00"
MODELS = ["claude-v2", "gpt-4"]


def main() -> None:
    target, scratch = HERE / "store-v1.db", HERE / "store-v1.db.new"
    scratch.unlink(missing_ok=True)
    run = RunInfo(
        run_id=RUN_ID,
        created_at=CREATED,
        seed=7,
        rounds=2,
        models=MODELS,
        template="sentiment",
        template_text="Write a {sentiment} review about {topics}.",
        topics_source="sentiment",
        params={"gpt-4": {"temperature": 0.7}},
        status="interrupted",
        store_url="sqlite:////old/place/synthgen.db",
    )
    cells = [
        Record(
            run_id=RUN_ID,
            round=r,
            model=m,
            model_id=f"{m}-id",
            sentiment="positive" if r == 0 else "negative",
            topics=[{"category": "food", "topic": f"pizza {r}"}],
            prompt=f"Write review {r} for {m}",
            request_body={"prompt": f"Write review {r} for {m}"},
            created_at=CREATED,
        )
        for r in range(2)
        for m in MODELS
    ]
    store = SQLiteStore(scratch)
    store.create_run(run, cells)
    ok, failed, _planned, unicode_ok = cells
    ok.status, ok.text, ok.response, ok.latency_s = "ok", "Great pizza.", {"completion": "Great pizza."}, 0.25
    ok.input_tokens, ok.output_tokens, ok.finish_reason, ok.attempts = 12, 3, "stop", 1
    failed.status, failed.failure_kind, failed.failure_message = "failed", "transient", "HTTP 500: boom"
    failed.response, failed.attempts = {"error": "boom"}, 6
    unicode_ok.status, unicode_ok.text, unicode_ok.attempts = "ok", "Pizza naïve, café — 日本語 🍕.", 2
    for record in (ok, failed, unicode_ok):
        store.put_record(record)
    store.put_cleaned(
        [
            CleanedText(
                record_id=ok.id,
                run_id=RUN_ID,
                model=ok.model,
                text="Great pizza.",
                dropped=["Sure!"],
                reason="kept cluster 1",
                method="kmeans3 seed=0",
                created_at=CREATED,
            )
        ]
    )
    store.close()
    db = sqlite3.connect(scratch)
    version = db.execute("PRAGMA user_version").fetchone()[0]
    db.close()
    if version != 1:  # the committed file stays as it is
        scratch.unlink()
        raise SystemExit(f"this code writes schema {version}, not 1: keep the committed store-v1.db")
    scratch.replace(target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
