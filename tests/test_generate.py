"""`synthgen generate` end to end against the local provider server: journal, faults, kill and resume."""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from conftest import PROVIDER_GEMINI_KEY, PROVIDER_OPENAI_KEY, run_cli

from synthgen.generation import generate
from synthgen.store import open_store

SEED_MODELS = ["j2-ultra", "titan-express", "claude-v2", "llama2", "gemini-pro", "gpt-4"]
REPO = Path(__file__).resolve().parents[1]


def records(db):
    with open_store(f"sqlite:///{db}", create=False) as store:
        return list(store.records())


def test_every_cell_is_stored_once_with_all_fields(provider_server, tmp_path):
    db = tmp_path / "s.db"
    summary = generate(rounds=10, models=SEED_MODELS, store=f"sqlite:///{db}", seed=3)
    assert summary.ok == 60 and summary.total == 60 and summary.run.status == "done"
    recs = records(db)
    assert len(recs) == 60
    assert len({(r.run_id, r.round, r.model) for r in recs}) == 60
    assert Counter(r.sentiment for r in recs if r.model == "gpt-4") == {"positive": 5, "negative": 5}
    by_round = {}
    for r in recs:
        assert r.status == "ok" and r.text and r.attempts == 1 and r.latency_s > 0
        assert r.input_tokens and r.output_tokens and r.finish_reason
        assert datetime.fromisoformat(r.updated_at).utcoffset().total_seconds() == 0
        assert r.response and r.request_body
        for t in r.topics:
            assert f"- {t['category']}: {t['topic']}" in r.prompt
        by_round.setdefault(r.round, set()).add((r.prompt, json.dumps(r.topics)))
        blob = json.dumps(r.to_dict())
        assert PROVIDER_GEMINI_KEY not in blob and PROVIDER_OPENAI_KEY not in blob
    assert all(len(v) == 1 for v in by_round.values())  # every model of a round got the same prompt
    # the server saw exactly one request per cell, with the recorded prompt
    assert len(provider_server.requests) == 60


def test_faults_end_with_exactly_one_record_per_cell_and_the_right_status(provider_server, tmp_path):
    provider_server.configure(model="*", p429=0.15, p500=0.1, p_timeout=0.03, p_malformed=0.03, timeout_sleep=5)
    provider_server.configure(model="gpt-4", always_status=403)
    db = tmp_path / "s.db"
    summary = generate(
        rounds=30, models=SEED_MODELS, store=f"sqlite:///{db}", seed=5, timeout=1.0, backoff_base=0.01, concurrency=32
    )
    recs = records(db)
    assert len(recs) == 180 and len({(r.round, r.model) for r in recs}) == 180
    gpt4 = [r for r in recs if r.model == "gpt-4"]
    assert {r.status for r in gpt4} == {"failed", "skipped"}
    assert all(r.failure_kind == "access_denied" for r in gpt4 if r.status == "failed")
    skipped = [r for r in gpt4 if r.status == "skipped"]
    assert skipped and all(
        "circuit breaker" in r.failure_message and "access_denied" in r.failure_message for r in skipped
    )
    # a 403 is never retried: one request per failed cell, none for skipped ones
    gpt4_requests = [q for q in provider_server.requests if q["model"] == "gpt-4"]
    assert len(gpt4_requests) == sum(1 for r in gpt4 if r.status == "failed")
    others = [r for r in recs if r.model != "gpt-4"]
    # retryable faults were retried: nearly everything ends ok; malformed answers are never stored as text
    assert sum(r.status == "ok" for r in others) >= 0.95 * len(others)
    assert any(r.attempts > 1 for r in others)
    for r in others:
        if r.status == "failed":
            assert r.text is None and r.failure_kind
        else:
            assert r.text and r.failure_kind is None
    assert summary.models["gpt-4"].ok == 0


def test_throttling_lowers_concurrency_and_everything_still_lands(provider_server, tmp_path):
    provider_server.configure(model="*", p429=0.4, latency=0.01)
    db = tmp_path / "s.db"
    summary = generate(
        rounds=20, models=["gpt-4", "gemini-pro"], store=f"sqlite:///{db}", seed=1, backoff_base=0.01, max_attempts=12
    )
    assert summary.ok == 40
    recs = records(db)
    assert len(recs) == 40 and max(r.attempts for r in recs) > 1
    throttled = sum(1 for q in provider_server.requests if q["status"] == 429)
    assert len(provider_server.requests) == 40 + throttled


def _cli_env(srv_url):
    env = dict(os.environ)
    env.update(
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME=srv_url,
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        GEMINI_BASE_URL=srv_url,
        GEMINI_API_KEY=PROVIDER_GEMINI_KEY,
        OPENAI_BASE_URL=f"{srv_url}/v1",
        OPENAI_API_KEY=PROVIDER_OPENAI_KEY,
        AWS_EC2_METADATA_DISABLED="true",
    )
    return env


def _wait_for_records(db, at_least, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    n = conn.execute("SELECT COUNT(*) FROM records WHERE status != 'planned'").fetchone()[0]
                if n >= at_least:
                    return n
            except sqlite3.Error:
                pass
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} outcomes stored in {timeout}s")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT, signal.SIGTERM])
def test_killed_run_resumes_to_exactly_rounds_x_models_records(tmp_path, sig):
    from provider_server import start_subprocess_server, stop_subprocess_server

    proc_srv, url = start_subprocess_server(
        latency=0.15, jitter=0.1, seed=2, gemini_api_key=PROVIDER_GEMINI_KEY, p429=0.05
    )
    try:
        db = tmp_path / "s.db"
        store = f"sqlite:///{db}"
        argv = [
            sys.executable,
            "-m",
            "synthgen.cli",
            "generate",
            "--rounds",
            "40",
            "--models",
            ",".join(SEED_MODELS),
            "--store",
            store,
            "--seed",
            "9",
            "--concurrency",
            "8",
            "--quiet",
        ]
        gen = subprocess.Popen(argv, env=_cli_env(url), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _wait_for_records(db, 30)
        gen.send_signal(sig)
        out, err = gen.communicate(timeout=30)
        stored_before = {(r.round, r.model) for r in records(db) if r.status == "ok"}
        assert 30 <= len(stored_before) < 240
        if sig in (signal.SIGINT, signal.SIGTERM):  # SIGTERM stops a run as Ctrl-C does
            assert gen.returncode == 130, err
            [run] = open_store(store, create=False).list_runs()
            assert run.status == "interrupted"
        requests_before = _requests(url)
        resumed = subprocess.run(
            [sys.executable, "-m", "synthgen.cli", "generate", "--resume", "last", "--store", store, "--quiet"],
            env=_cli_env(url),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert resumed.returncode == 0, resumed.stderr
        summary = json.loads(resumed.stdout.strip().splitlines()[-1])
        assert summary["ok"] == 240 and summary["total"] == 240 and summary["status"] == "done"
        recs = records(db)
        assert len(recs) == 240 and all(r.status == "ok" for r in recs)
        # nothing stored ok before the kill was asked again
        prompts_after = [q for q in _requests(url)[len(requests_before) :] if q["status"] == 200]
        assert len(prompts_after) == 240 - len(stored_before)
    finally:
        stop_subprocess_server(proc_srv)


def _requests(url):
    import httpx

    return httpx.get(f"{url}/_control/requests", timeout=10).json()


def test_log_and_runs_read_the_journal_back(provider_server, tmp_path, capsys):
    db = tmp_path / "s.db"
    provider_server.configure(model="gpt-4", always_status=400)
    generate(rounds=3, models=["gpt-4", "titan-express"], store=f"sqlite:///{db}", seed=1)
    capsys.readouterr()
    assert run_cli("log", "--store", f"sqlite:///{db}", "--run", "last", "--json") == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(lines) == 6
    assert {
        "id",
        "run_id",
        "round",
        "model",
        "model_id",
        "sentiment",
        "topics",
        "prompt",
        "request_body",
        "text",
        "response",
        "latency_s",
        "input_tokens",
        "output_tokens",
        "status",
        "failure_kind",
        "failure_message",
        "attempts",
        "created_at",
    } <= set(lines[0])
    assert run_cli("log", "--store", f"sqlite:///{db}", "--status", "failed", "--model", "gpt-4") == 0
    failed = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(failed) == 3 and all(f["failure_kind"] == "invalid_request" for f in failed)
    assert run_cli("runs", "--store", f"sqlite:///{db}", "--json") == 0
    [run] = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert run["counts"] == {"ok": 3, "failed": 3}


@pytest.mark.parametrize(
    "argv, message",
    [
        (["generate", "--rounds", "0", "--models", "gpt-4"], "--rounds 0"),
        (["generate", "--rounds", "2", "--models", "gpt-4", "--store", "postgres://x"], "unknown scheme"),
        (["generate", "--rounds", "2", "--models", "gpt-5000"], "unknown model 'gpt-5000'"),
        (["generate", "--resume", "nope"], "--resume nope: no such run"),
        (["generate", "--rounds", "2", "--models", "gpt-4", "--max-attempts", "0"], "--max-attempts 0"),
        (["generate", "--rounds", "2", "--models", ","], "--models ,: names no model"),
        (["generate", "--rounds", "2", "--models", "gpt-4", "--timeout", "-1"], "--timeout -1"),
        (["generate", "--rounds", "2", "--models", "gpt-4", "--template", "missing-template"], "--template"),
        (["generate", "--rounds", "2", "--models", "gpt-4", "--concurrency", "0"], "--concurrency 0"),
        (
            ["generate", "--rounds", "99999999999999999999", "--models", "gpt-4"],
            "--rounds 99999999999999999999: a run plans at most 1,000,000 rounds",
        ),
        (
            [
                "generate",
                "--rounds",
                "900000",
                "--models",
                "gpt-4,titan-express,claude-v2,llama2,gemini-pro,gpt-4o-mini,"
                "j2-ultra,claude-haiku,nova-lite,mistral-large,llama3-70b,claude-sonnet",
            ],
            "cells; a run holds at most",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2_and_nothing_written(provider_server, tmp_path, capsys, argv, message):
    db = tmp_path / "s.db"
    generate(rounds=1, models=["gpt-4"], store=f"sqlite:///{db}", seed=1)
    before = records(db)
    capsys.readouterr()
    store_args = [] if "--store" in argv else ["--store", f"sqlite:///{db}"]
    assert run_cli(*argv, *store_args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert [r.to_dict() for r in records(db)] == [r.to_dict() for r in before]
    assert len(open_store(f"sqlite:///{db}", create=False).list_runs()) == 1


_TWO = ["generate", "--rounds", "2", "--models", "gpt-4"]
# (argv, environment changes, what the one line says); BAD_TEMPLATE and LATIN1_TOPICS are files made per test
BAD_INPUTS = {
    "rounds": (["generate", "--rounds", "0", "--models", "gpt-4"], {}, "--rounds 0"),
    "unknown-model": (["generate", "--rounds", "2", "--models", "gpt-5000"], {}, "unknown model 'gpt-5000'"),
    "no-model": (["generate", "--rounds", "2", "--models", ","], {}, "--models ,"),
    "template": ([*_TWO, "--template", "nope"], {}, "--template nope"),
    "template-render": ([*_TWO, "--template", "BAD_TEMPLATE"], {}, "cannot be filled in"),
    "template-empty": ([*_TWO, "--template", "EMPTY_TEMPLATE"], {}, "the template is empty"),
    "rounds-limit": (
        ["generate", "--rounds", "99999999999999999999", "--models", "gpt-4"],
        {},
        "a run plans at most 1,000,000 rounds",
    ),
    "topics": ([*_TWO, "--topics", "nope"], {}, "--topics"),
    "topics-encoding": ([*_TWO, "--topics", "LATIN1_TOPICS"], {}, "not UTF-8 text"),
    "max-attempts": ([*_TWO, "--max-attempts", "0"], {}, "--max-attempts 0"),
    "timeout": ([*_TWO, "--timeout", "-1"], {}, "--timeout -1"),
    "concurrency": ([*_TWO, "--concurrency", "0"], {}, "--concurrency 0"),
    "bedrock-endpoint": (
        ["generate", "--rounds", "2", "--models", "claude-v2"],
        {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": "notaurl"},
        "AWS_ENDPOINT_URL_BEDROCK_RUNTIME 'notaurl' is not a URL",
    ),
    "aws-region": (
        ["generate", "--rounds", "2", "--models", "claude-haiku"],
        {"AWS_REGION": "bad region!"},
        "AWS_REGION 'bad region!' is not an AWS region name",
    ),
    "openai-endpoint": (
        _TWO,
        {"OPENAI_BASE_URL": "localhost:8080/v1"},
        "OPENAI_BASE_URL is 'localhost:8080/v1', not an http(s) URL",
    ),
    "credentials": (_TWO, {"OPENAI_API_KEY": None}, "credentials missing"),
}


def _bad_input(name, tmp_path, monkeypatch):
    argv, env, message = BAD_INPUTS[name]
    (tmp_path / "bad-template.txt").write_text("A {sentiment:d} sentence.")
    (tmp_path / "latin1.toml").write_bytes('[categories]\nA = ["café"]\n'.encode("latin-1"))
    (tmp_path / "empty.txt").write_text(" \n\n")
    files = {
        "BAD_TEMPLATE": str(tmp_path / "bad-template.txt"),
        "LATIN1_TOPICS": str(tmp_path / "latin1.toml"),
        "EMPTY_TEMPLATE": str(tmp_path / "empty.txt"),
    }
    for variable, value in env.items():
        if value is None:
            monkeypatch.delenv(variable)
        else:
            monkeypatch.setenv(variable, value)
    return [files.get(arg, arg) for arg in argv], message


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_from_an_empty_directory_creates_no_database(provider_server, tmp_path, monkeypatch, capsys, name):
    argv, message = _bad_input(name, tmp_path, monkeypatch)
    workdir = tmp_path / "work"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.delenv("SYNTHGEN_STORE", raising=False)
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert list(workdir.iterdir()) == []  # no synthgen.db, no -wal, nothing
    assert provider_server.requests == []


@pytest.mark.parametrize("argv", [["models"], ["generate", "--rounds", "2", "--models", "gpt-4"], ["runs"]])
def test_a_dotenv_file_that_is_not_utf8_is_one_line_naming_it(provider_server, tmp_path, monkeypatch, capsys, argv):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_bytes("OPENAI_API_KEY=caf\xe9\n".encode("latin-1"))
    assert run_cli(*argv) == 2
    err = capsys.readouterr().err
    where = tmp_path / ".env"
    assert err == f"error: {where}: not UTF-8 text (byte 0xe9 at offset 18); save .env as UTF-8 or remove it\n"
    assert not (tmp_path / "synthgen.db").exists()


@pytest.mark.parametrize("name", ["rounds", "unknown-model", "template", "topics", "bedrock-endpoint", "aws-region"])
def test_bad_input_creates_no_dynamodb_table(provider_server, tmp_path, monkeypatch, capsys, name):
    import boto3
    from moto import mock_aws

    argv, message = _bad_input(name, tmp_path, monkeypatch)
    monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)
    with mock_aws():
        assert run_cli(*argv, "--store", "dynamodb://synthgen-never-made") == 2
        assert message in capsys.readouterr().err
        assert boto3.client("dynamodb", region_name="us-east-1").list_tables()["TableNames"] == []


def test_an_unexpected_error_in_one_model_is_its_failure_and_the_others_carry_on(provider_server, tmp_path):
    # a parameter of the wrong shape (the Python API takes any object) breaks gpt-4's body inside the adapter
    db = tmp_path / "s.db"
    summary = generate(
        rounds=12, models=["gpt-4", "titan-express"], store=f"sqlite:///{db}", seed=2, params={"gpt-4": {"messages": 3}}
    )
    assert summary.run.status == "done"
    recs = records(db)
    assert len(recs) == 24 and all(r.status == "ok" for r in recs if r.model == "titan-express")
    gpt4 = [r for r in recs if r.model == "gpt-4"]
    failed = [r for r in gpt4 if r.status == "failed"]
    skipped = [r for r in gpt4 if r.status == "skipped"]
    assert len(failed) >= 5 and skipped and len(failed) + len(skipped) == 12
    assert all(
        r.failure_kind == "error"
        and r.failure_message.startswith("TypeError:")
        and r.attempts == 1
        and "\n" not in r.failure_message
        for r in failed
    )
    assert all("circuit breaker" in r.failure_message and "error" in r.failure_message for r in skipped)
    assert summary.models["gpt-4"].failures == {"error": len(failed), "skipped": len(skipped)}
    assert [q["model"] for q in provider_server.requests].count("gpt-4") == 0


def test_error_bodies_that_echo_the_key_are_stored_redacted(provider_server, tmp_path):
    provider_server.configure(model="*", always_status=401, echo_key=True)
    db = tmp_path / "s.db"
    generate(rounds=7, models=["gpt-4", "gemini-pro"], store=f"sqlite:///{db}", seed=1, concurrency=1)
    recs = records(db)
    # one cell at a time: five failures in a row open each model's breaker, and its last two cells are skipped,
    # quoting the last failure
    assert len(recs) == 14 and Counter(r.status for r in recs) == {"failed": 10, "skipped": 4}
    assert all("credential received: " in r.failure_message for r in recs)
    sent = {
        q["headers"].get("authorization", "") + q["headers"].get("x-goog-api-key", "") for q in provider_server.requests
    }
    assert any(PROVIDER_OPENAI_KEY in s for s in sent) and any(PROVIDER_GEMINI_KEY in s for s in sent)
    for r in recs:
        blob = json.dumps(r.to_dict())
        assert r.status == "skipped" or "credential received: ***" in json.dumps(r.response)
        assert PROVIDER_OPENAI_KEY not in blob and PROVIDER_GEMINI_KEY not in blob
    with sqlite3.connect(db) as conn:  # and not in any column of the file either
        dump = "\n".join(conn.iterdump())
    assert PROVIDER_OPENAI_KEY not in dump and PROVIDER_GEMINI_KEY not in dump


def test_a_database_that_fills_up_mid_run_stops_with_one_line_and_resumes(tmp_path):
    """The file system refuses to grow the database (RLIMIT_FSIZE, as a full disk): one line, exit 2, resumable."""
    import resource

    from provider_server import start_subprocess_server, stop_subprocess_server

    def limit_file_size():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (600_000, 600_000))  # planned cells: ~220 KB

    proc_srv, url = start_subprocess_server(latency=0.01, seed=2, gemini_api_key=PROVIDER_GEMINI_KEY)
    try:
        db = tmp_path / "s.db"
        store = f"sqlite:///{db}"
        argv = [
            sys.executable,
            "-m",
            "synthgen.cli",
            "generate",
            "--rounds",
            "60",
            "--models",
            "gpt-4,titan-express",
            "--store",
            store,
            "--seed",
            "3",
            "--concurrency",
            "4",
            "--quiet",
        ]
        full = subprocess.run(
            argv,
            env=_cli_env(url),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            preexec_fn=limit_file_size,
        )
        assert full.returncode == 3, full.stderr
        [line] = full.stderr.splitlines()
        assert line.startswith(f"error: store {store} cannot be written (")
        [run] = open_store(store, create=False).list_runs()
        stored = sum(r.status == "ok" for r in records(db))
        assert 0 < stored < 120
        assert line.endswith(
            f": {stored} of 120 cells stored ok; resume with synthgen generate --resume {run.run_id} --store {store}"
        )
        resumed = subprocess.run(
            [sys.executable, "-m", "synthgen.cli", "generate", "--resume", run.run_id, "--store", store, "--quiet"],
            env=_cli_env(url),
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert resumed.returncode == 0, resumed.stderr
        recs = records(db)
        assert len(recs) == 120 and all(r.status == "ok" for r in recs)
        assert open_store(store, create=False).get_run(run.run_id).status == "done"
    finally:
        stop_subprocess_server(proc_srv)


def test_a_resumed_run_that_loses_its_store_counts_the_cells_stored_ok(provider_server, tmp_path):
    """The stopped-run line counts one thing, cells with an ok record, whatever this run stored before it."""
    from synthgen.store import StoreUnavailable
    from synthgen.store.sqlite import SQLiteStore

    class DiesAfter(SQLiteStore):
        def __init__(self, path, writes):
            super().__init__(path)
            self.writes = writes

        def put_records(self, records):  # what the engine's writer calls
            out = []
            for record in records:
                if self.writes == 0:
                    raise StoreUnavailable(f"store {self.url} cannot be written (injected)")
                self.writes -= 1
                out.extend(super().put_records([record]))
            return out

    provider_server.configure(model="gpt-4", always_status=400)  # every gpt-4 cell fails, titan's are ok
    db = tmp_path / "s.db"
    first = generate(rounds=6, models=["gpt-4", "titan-express"], store=f"sqlite:///{db}", seed=1)
    assert first.ok == 6 and first.total == 12
    store = DiesAfter(db, writes=2)  # the resumed run stores two (failed) outcomes, then its store is gone
    try:
        with pytest.raises(StoreUnavailable) as caught:
            generate(store=store, resume=first.run_id)
    finally:
        store.close()
    ok = sum(r.status == "ok" for r in records(db))
    assert ok == 6
    assert str(caught.value) == (
        f"store sqlite:///{db} cannot be written (injected): 6 of 12 cells stored ok; "
        f"resume with synthgen generate --resume {first.run_id} --store sqlite:///{db}"
    )


def test_resume_of_a_missing_database_creates_nothing(tmp_path, capsys):
    assert run_cli("generate", "--resume", "last", "--store", f"sqlite:///{tmp_path}/none.db") == 2
    assert "no such database" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_missing_credentials_for_a_named_model_is_refused_before_planning(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert run_cli("generate", "--rounds", "2", "--models", "gpt-4", "--store", f"sqlite:///{tmp_path}/s.db") == 2
    assert "OPENAI_API_KEY" in capsys.readouterr().err
    assert open_store(f"sqlite:///{tmp_path}/s.db").list_runs() == []


def test_without_models_every_model_with_credentials_is_used(provider_server, tmp_path, monkeypatch):
    summary = generate(rounds=1, store=f"sqlite:///{tmp_path}/s.db", seed=1)
    assert {"j2-ultra", "gpt-4", "gemini-pro", "claude-haiku"} <= set(summary.run.models)
    assert "local" not in summary.run.models and "local-gemma" not in summary.run.models
    assert summary.notes and "credentials present" in summary.notes[0]


def test_unreachable_dynamodb_store_is_one_line_and_nothing_is_sent(provider_server, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", "http://127.0.0.1:1")
    assert run_cli("generate", "--rounds", "2", "--models", "gpt-4", "--store", "dynamodb://synthgen-test") == 3
    err = capsys.readouterr().err
    assert "dynamodb://synthgen-test" in err and err.count("\n") == 1
    assert provider_server.requests == []


def test_an_outcome_the_store_rejects_becomes_that_cells_failure_and_the_run_goes_on(provider_server, tmp_path):
    """A record the store cannot encode (RecordRejected) is replaced by a failure record saying why."""
    from synthgen.store import RecordRejected
    from synthgen.store.sqlite import SQLiteStore

    class RejectsRoundTwo(SQLiteStore):
        def put_records(self, records):  # what the engine's writer calls
            out = []
            for record in records:
                if record.round == 2 and record.model == "gpt-4" and record.status == "ok":
                    out.append(RecordRejected("text: a lone surrogate (U+D800) cannot be stored"))
                else:
                    out.extend(super().put_records([record]))
            return out

    db = tmp_path / "s.db"
    store = RejectsRoundTwo(db)
    try:
        summary = generate(rounds=4, models=["gpt-4", "titan-express"], store=store, seed=1)
    finally:
        store.close()
    assert summary.run.status == "done" and summary.ok == 7 and summary.total == 8
    [bad] = [r for r in records(db) if r.status != "ok"]
    assert (bad.round, bad.model, bad.status, bad.failure_kind) == (2, "gpt-4", "failed", "error")
    assert bad.failure_message == "the outcome could not be stored: text: a lone surrogate (U+D800) cannot be stored"
    assert bad.text is None and bad.attempts == 1


def test_a_store_that_fails_unexpectedly_ends_the_run_with_that_error_not_a_hang(provider_server, tmp_path):
    from synthgen.store.sqlite import SQLiteStore

    class Broken(SQLiteStore):
        def put_records(self, records):
            raise RuntimeError("a bug in the store")

    store = Broken(tmp_path / "s.db")
    try:
        with pytest.raises(BaseExceptionGroup) as caught:
            generate(rounds=3, models=["gpt-4"], store=store, seed=1)
    finally:
        store.close()
    assert caught.group_contains(RuntimeError, match="a bug in the store")
