"""Provider batch jobs end to end: the real openai SDK and boto3 against the batch test server (OpenAI Files and
Batches, the Bedrock control plane with S3 from moto's server, Gemini batch mode), journaled in SQLite."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_fixtures import BUCKET, GEMINI_KEY, OPENAI_KEY, ROLE, batch_bed
from conftest import run_cli_output

FOUR = "gpt-4o-mini,claude-3-haiku,claude-haiku,gemini-flash"  # OpenAI, Bedrock InvokeModel and Converse, Gemini
S3 = f"s3://{BUCKET}/jobs"


@pytest.fixture
def bed(tmp_path):
    with batch_bed(tmp_path) as (server, env):
        yield server, env


def _gen(db: Path, *args: str) -> list[str]:
    return ["generate", "--store", f"sqlite:///{db}", "--quiet", "--poll", "0.02", *args]


def _records(db: Path) -> list[sqlite3.Row]:
    con = sqlite3.connect(db)
    con.row_factory = sqlite3.Row
    return con.execute("SELECT * FROM records ORDER BY round, model").fetchall()


def test_four_protocols_complete_as_batch_jobs_with_one_record_per_cell(bed, tmp_path, capsys):
    server, _ = bed
    db = tmp_path / "s.db"
    code, out, err = run_cli_output(
        _gen(db, "--rounds", "200", "--models", FOUR, "--batch", "--batch-s3", S3, "--batch-role", ROLE, "--wait"),
        capsys,
    )
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["ok"] == summary["total"] == 800 and summary["status"] == "done"
    rows = _records(db)
    assert len(rows) == 800 and {r["status"] for r in rows} == {"ok"}
    assert all(r["batch_job"] and r["cost_usd"] > 0 and r["attempts"] == 1 for r in rows)
    assert len(server.creates) == 4  # one job per model, nothing online
    assert not [r for r in server.provider.requests if r["protocol"]]
    # the exact request body of each cell is stored, and no key is in any file the providers got
    gpt = next(r for r in rows if r["model"] == "gpt-4o-mini")
    assert json.loads(gpt["request_body"])["model"] == "gpt-4o-mini"
    assert all(OPENAI_KEY.encode() not in blob and GEMINI_KEY.encode() not in blob for blob in server.files.values())
    code, out, _ = run_cli_output(["batch", "status", "last", "--store", f"sqlite:///{db}", "--json"], capsys)
    jobs = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and {j["status"] for j in jobs} == {"collected"} and sum(j["ok"] for j in jobs) == 800


def test_per_line_errors_are_failures_retried_online(bed, tmp_path, capsys):
    server, _ = bed
    server.configure(outcome="partial", error_every=4)
    db = tmp_path / "s.db"
    code, out, err = run_cli_output(_gen(db, "--rounds", "40", "--models", "gpt-4o-mini", "--batch", "--wait"), capsys)
    assert code == 0, err
    rows = _records(db)
    assert [r["status"] for r in rows] == ["ok"] * 40
    retried = [r for r in rows if r["attempts"] == 2]
    assert len(retried) == 10  # every 4th line failed with a 500 in its job, then went online
    online = server.provider.requests_for(model="gpt-4o-mini")
    assert len(online) == 10


def test_expired_items_go_into_the_next_job_with_batch_retry(bed, tmp_path, capsys):
    server, _ = bed
    server.configure(outcome="expire", outcome_jobs=1)  # the first job expires half way, the next completes
    db = tmp_path / "s.db"
    args = ["--rounds", "20", "--models", "gemini-flash", "--batch", "--batch-retry", "batch", "--wait"]
    code, _, err = run_cli_output(_gen(db, *args), capsys)
    assert code == 0, err
    rows = _records(db)
    assert {r["status"] for r in rows} == {"ok"}
    assert len(server.creates) == 2 and {r["batch_job"] for r in rows} == {"gemini-flash-0001", "gemini-flash-0002"}
    assert len([r for r in rows if r["batch_job"] == "gemini-flash-0002" and r["attempts"] == 2]) == 10
    assert not server.provider.requests_for(model="gemini-flash")


def test_a_failed_job_fails_its_cells_and_the_run_ends(bed, tmp_path, capsys):
    server, _ = bed
    server.configure(outcome="fail")
    db = tmp_path / "s.db"
    code, out, err = run_cli_output(_gen(db, "--rounds", "10", "--models", "gpt-4o-mini", "--batch", "--wait"), capsys)
    assert code == 0, err
    rows = _records(db)
    assert {r["status"] for r in rows} == {"failed"} and {r["failure_kind"] for r in rows} == {"invalid_request"}
    assert "bad line" in rows[0]["failure_message"]


def test_a_kill_between_submit_and_the_stored_id_resumes_with_exactly_one_job(bed, tmp_path, capsys):
    server, env = bed
    server.configure(create_delay=30.0)  # the job exists at the provider; its id never reaches the client
    db = tmp_path / "s.db"
    cmd = [sys.executable, "-m", "synthgen.cli", *_gen(db, "--rounds", "120", "--models", "claude-haiku,gpt-4o-mini")]
    cmd += ["--batch", "--batch-s3", S3, "--batch-role", ROLE]
    proc = subprocess.Popen(
        cmd, env={**os.environ, **env}, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not server.creates and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.creates, proc.communicate(timeout=5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    server.configure(create_delay=0.0)
    code, out, err = run_cli_output(_gen(db, "--resume", "last", "--wait"), capsys)
    assert code == 0, err
    rows = _records(db)
    assert len(rows) == 240 and {r["status"] for r in rows} == {"ok"}
    run_id = rows[0]["run_id"]
    for key in ("claude-haiku-0001", "gpt-4o-mini-0001"):
        assert len([j for j in server.jobs_named(run_id) if key in json.dumps(j.get("metadata") or j.get("name"))]) == 1
    assert len(server.creates) == 2


# Run the CLI, killing itself (SIGKILL: no cleanup at all) right after the first page of a job's results is stored.
_KILLED_MID_COLLECT = """
import os, signal, sys
from synthgen.store.sqlite import SQLiteStore

put = SQLiteStore.put_records

def put_then_die(self, records):
    written = put(self, records)
    if records and all(r.status == "ok" for r in records):
        os.kill(os.getpid(), signal.SIGKILL)
    return written

SQLiteStore.put_records = put_then_die
from synthgen.cli import main
main(sys.argv[1:])
"""


def test_a_kill_in_the_middle_of_collecting_resumes_without_a_second_job_or_record(bed, tmp_path, capsys):
    server, env = bed
    db = tmp_path / "s.db"
    cmd = [sys.executable, "-c", _KILLED_MID_COLLECT, *_gen(db, "--rounds", "2500", "--models", "gpt-4o-mini")]
    done = subprocess.run(cmd + ["--batch", "--wait"], env={**os.environ, **env}, cwd=tmp_path, capture_output=True)
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    stored = {r["status"] for r in _records(db)}
    ok_before = sum(r["status"] == "ok" for r in _records(db))
    assert 0 < ok_before < 2500 and stored == {"ok", "submitted"}  # killed with part of the results stored
    code, out, err = run_cli_output(_gen(db, "--resume", "last", "--wait"), capsys)
    assert code == 0, err
    rows = _records(db)
    assert len(rows) == 2500 and {r["status"] for r in rows} == {"ok"} and {r["attempts"] for r in rows} == {1}
    assert len(server.creates) == 1  # the job was collected again, never submitted again


def test_a_large_gemini_job_goes_through_an_uploaded_file(bed, tmp_path, capsys):
    server, _ = bed
    catalog = tmp_path / "llms"
    catalog.mkdir()
    shipped = (Path(__file__).resolve().parents[1] / "llms" / "gemini.toml").read_text()
    entry = shipped[shipped.index("[models.gemini-flash]") :].split("\n\n")[0]
    (catalog / "gemini.toml").write_text(entry + "\noptions = { batch_inline_max_bytes = 1000 }\n")
    db = tmp_path / "s.db"
    args = _gen(db, "--rounds", "30", "--models", "gemini-flash", "--batch", "--wait", "--catalog", str(catalog))
    code, out, err = run_cli_output(args, capsys)
    assert code == 0, err
    rows = _records(db)
    assert len(rows) == 30 and {r["status"] for r in rows} == {"ok"}
    uploaded = [name for name in server.files if name.startswith("files/")]
    assert uploaded, "the requests were sent inline, not as an uploaded file"
    lines = [json.loads(x) for x in server.files[uploaded[0]].splitlines() if x.strip()]
    assert len(lines) == 30 and {"key", "request"} <= set(lines[0])
    assert GEMINI_KEY.encode() not in server.files[uploaded[0]]


def test_cancel_stops_the_jobs_and_marks_their_cells(bed, tmp_path, capsys):
    server, _ = bed
    server.configure(steps=1000)  # never finishes by itself
    db = tmp_path / "s.db"
    code, out, err = run_cli_output(_gen(db, "--rounds", "12", "--models", "gpt-4o-mini", "--batch"), capsys)
    assert code == 0, err
    assert json.loads(out.strip().splitlines()[-1])["batch_jobs_live"] == 1
    assert {r["status"] for r in _records(db)} == {"submitted"}
    code, out, err = run_cli_output(["batch", "cancel", "last", "--store", f"sqlite:///{db}"], capsys)
    assert code == 0, err
    rows = _records(db)
    assert {r["status"] for r in rows} == {"failed"} and {r["failure_kind"] for r in rows} == {"cancelled"}
    assert server.creates[0]["state"] == "cancelled"


def test_a_budget_stops_a_run_half_way_and_a_larger_one_finishes_it(bed, tmp_path, capsys):
    db = tmp_path / "s.db"
    # gpt-4o-mini online: worst case per request ~ (25 + 200) tokens; 0.0009 USD holds about 6 of 40 requests
    code, out, err = run_cli_output(_gen(db, "--rounds", "40", "--models", "gpt-4o-mini", "--budget", "0.0009"), capsys)
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert 0 < summary["ok"] < 40 and summary["status"] == "interrupted"
    assert summary["notes"][-1].startswith("budget reached")
    spent = sum(r["cost_usd"] for r in _records(db) if r["cost_usd"])
    assert spent <= 0.0009
    code, out, err = run_cli_output(_gen(db, "--resume", "last", "--budget", "1"), capsys)
    assert code == 0 and json.loads(out.strip().splitlines()[-1])["ok"] == 40


def test_a_budget_caps_batch_jobs_too(bed, tmp_path, capsys):
    server, _ = bed
    db = tmp_path / "s.db"
    code, out, err = run_cli_output(
        _gen(db, "--rounds", "40", "--models", "gpt-4o-mini", "--batch", "--wait", "--budget", "0.0009"), capsys
    )
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert 0 < summary["ok"] < 40 and summary["notes"][-1].startswith("budget reached")
    assert server.creates and len(server.creates[0]["lines"]) == summary["ok"]


def test_fewer_cells_than_bedrocks_minimum_run_online_and_say_so(bed, tmp_path, capsys):
    server, _ = bed
    db = tmp_path / "s.db"
    args = ["--rounds", "30", "--models", "claude-haiku", "--batch", "--batch-s3", S3, "--batch-role", ROLE]
    code, out, err = run_cli_output(_gen(db, *args), capsys)
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["ok"] == 30 and not server.creates
    assert any("minimum of 100" in note for note in summary["notes"])


@pytest.mark.parametrize(
    "args, says",
    [
        (["--batch", "--batch-s3", "http://x/y", "--batch-role", ROLE], "not an S3 URL"),
        (["--batch", "--batch-s3", "s3://Bad_Bucket/p", "--batch-role", ROLE], "not an S3 bucket name"),
        (["--batch", "--batch-s3", S3], "--batch-role"),
        (["--batch", "--batch-s3", "s3://no-such-bucket-here/p", "--batch-role", ROLE], "no such bucket"),
        (
            ["--batch", "--batch-only", "--batch-s3", S3, "--batch-role", ROLE, "--models", "claude-haiku,llama2"],
            "llama2",
        ),
        (["--budget", "1", "--models", "titan-premier"], "no prices"),
    ],
)
def test_bad_batch_input_is_one_line_exit_2_and_nothing_stored(bed, tmp_path, capsys, args, says):
    db = tmp_path / "s.db"
    models = [] if "--models" in args else ["--models", "claude-haiku"]
    code, out, err = run_cli_output(_gen(db, "--rounds", "5", *models, *args), capsys)
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1
    assert not db.exists()


def test_the_estimate_matches_a_hand_counted_run(bed, tmp_path, capsys):
    import math

    from synthgen.catalog import load_catalog
    from synthgen.generation import generate

    db = tmp_path / "s.db"
    code, out, _ = run_cli_output(
        _gen(db, "--rounds", "6", "--models", "gpt-4o-mini,claude-haiku", "--seed", "3", "--estimate"), capsys
    )
    assert code == 0 and not db.exists()  # nothing stored
    found = {m["model"]: m for m in json.loads(out)["models"]}
    summary = generate(rounds=6, models=["gpt-4o-mini", "claude-haiku"], store=f"sqlite:///{db}", seed=3)
    catalog = load_catalog()
    for alias in ("gpt-4o-mini", "claude-haiku"):
        spec = catalog[alias]
        prompts = [r["prompt"] for r in _records(db) if r["model"] == alias]  # the prompts the run really sent
        hand = sum(math.ceil(len(spec.system or "") / 4) + math.ceil(len(p) / 4) for p in prompts)
        assert found[alias]["requests"] == 6 and found[alias]["input_tokens"] == hand
        assert found[alias]["output_tokens"] == 6 * 200 and found[alias]["output_source"] == "answer-length cap"
        expected = (hand * spec.price_input_per_1m + 1200 * spec.price_output_per_1m) / 1e6
        assert found[alias]["online_usd"] == pytest.approx(expected)
        assert found[alias]["batch_usd"] == pytest.approx(expected / 2)
    assert summary.ok == 12
    code, out, _ = run_cli_output(_gen(db, "--rounds", "6", "--models", "gpt-4o-mini", "--estimate"), capsys)
    again = json.loads(out)["models"][0]
    assert again["output_source"] == "earlier runs (6 answers)"


def test_dynamodb_keeps_batch_jobs_and_reads_a_page_of_cells(tmp_path, monkeypatch):
    from moto import mock_aws

    from synthgen.store import BatchJob, Record, RunInfo
    from synthgen.store.dynamodb import DynamoDBStore

    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        store = DynamoDBStore("jobs-table")
        run = RunInfo("r1", "2026-12-03T00:00:00+00:00", 1, 3, ["m"], "t", "x", "topics")
        cells = [Record("r1", i, "m", "mid", "positive", [], f"p{i}") for i in range(3)]
        store.create_run(run, cells)
        job = BatchJob("r1", "m-0001", "m", "openai-chat", token="tok", cells=3)
        store.put_job(job)
        job.status, job.provider_id = "submitted", "batch_1"
        store.put_job(job)
        assert [(j.key, j.status, j.provider_id) for j in store.jobs("r1")] == [("m-0001", "submitted", "batch_1")]
        marked = Record("r1", 1, "m", "mid", "positive", [], "p1", status="submitted", batch_job="m-0001")
        store.put_records([marked])
        assert sorted(store.cells("r1", "m", [0, 1, 9])) == [0, 1]
        assert [c.round for c in store.job_cells("r1", "m", "m-0001")] == [1]
        store.close()
