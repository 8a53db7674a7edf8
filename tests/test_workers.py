"""`generate --workers N`: the run's cells split over worker processes, each cell stored once; a killed worker or
parent, Ctrl-C and a second `--resume` behave as they do with one process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter

import psutil
import pytest
from conftest import PROVIDER_GEMINI_KEY, run_cli, run_cli_output

from synthgen.generation import generate
from synthgen.store import open_store
from synthgen.workers.shares import plan_shares

try:
    from test_generate import SEED_MODELS, _cli_env, _requests, records
except ImportError:  # tests/ imported as a package
    from tests.test_generate import SEED_MODELS, _cli_env, _requests, records


# --- the split (pure) ---


@pytest.mark.parametrize("workers", [2, 3, 5])
def test_shares_split_every_cell_once_and_every_limit_exactly(workers):
    limits = {"fast": 64, "capped": 3, "one": 1}
    todo = {"fast": 100, "capped": 100, "one": 100}
    shares = plan_shares(workers, 64, limits, todo)
    assert len(shares) == workers
    assert sum(s.concurrency for s in shares) == 64  # what one process keeps in flight, no more
    for alias, limit in limits.items():
        assert sum(s.limits.get(alias, 0) for s in shares) == limit
        assert all(s.limits[alias] >= 1 for s in shares if alias in s.parts)
        for r in range(100):  # each cell in exactly one share
            assert sum(1 for s in shares if alias in s.parts and s.takes(alias, r)) == 1


def test_shares_are_fewer_than_workers_where_nothing_would_keep_them_busy():
    assert len(plan_shares(8, 64, {"a": 2, "b": 1}, {"a": 50, "b": 50})) == 2  # the limits
    assert len(plan_shares(8, 64, {"a": 64}, {"a": 3})) == 3  # the cells
    assert len(plan_shares(8, 64, {"a": 64, "done": 64}, {"a": 100, "done": 0})) == 8
    assert all("done" not in s.parts for s in plan_shares(8, 64, {"a": 64, "done": 64}, {"a": 100, "done": 0}))


# --- runs ---


def test_two_workers_store_rounds_x_models_records_each_sent_once(provider_server, tmp_path):
    db = tmp_path / "s.db"
    seen = Counter()
    summary = generate(
        rounds=15,
        models=SEED_MODELS,
        store=f"sqlite:///{db}",
        seed=3,
        workers=2,
        on_event=lambda e: seen.update([e.kind]),
    )
    assert summary.ok == 90 and summary.total == 90 and summary.run.status == "done" and not summary.interrupted
    recs = records(db)
    assert len(recs) == 90 and len({(r.round, r.model) for r in recs}) == 90
    assert all(r.status == "ok" and r.text and r.attempts == 1 for r in recs)
    assert len(provider_server.requests) == 90  # one request per cell over both workers
    assert seen["stored"] == 90 and seen["start"] == 90  # every event reached this process
    # the same run in one process plans the same cells: the split changes who sends them, not what is sent
    one = generate(rounds=15, models=SEED_MODELS, store=f"sqlite:///{tmp_path / 'one.db'}", seed=3)
    assert sorted((r.round, r.model, r.prompt) for r in records(tmp_path / "one.db")) == sorted(
        (r.round, r.model, r.prompt) for r in recs
    )
    with open_store(f"sqlite:///{db}", create=False) as store:
        assert store.lease_holder(summary.run_id) is None and one.ok == 90


def test_workers_keep_typed_failures_and_the_breaker(provider_server, tmp_path):
    provider_server.configure(model="*", p429=0.3, p500=0.1)
    provider_server.configure(model="gpt-4", always_status=403)
    db = tmp_path / "s.db"
    summary = generate(
        rounds=20,
        models=["gpt-4", "gemini-pro"],
        store=f"sqlite:///{db}",
        seed=2,
        workers=2,
        backoff_base=0.01,
        concurrency=4,  # two in flight per model and worker: each worker's breaker opens before its share is sent
    )
    recs = records(db)
    assert len(recs) == 40 and len({(r.round, r.model) for r in recs}) == 40
    gpt4 = [r for r in recs if r.model == "gpt-4"]
    assert {r.status for r in gpt4} == {"failed", "skipped"}
    assert all(r.failure_kind == "access_denied" for r in gpt4 if r.status == "failed")
    assert all("circuit breaker" in r.failure_message for r in gpt4 if r.status == "skipped")
    # a 403 is never retried: one request per failed cell, none for a skipped one
    assert len([q for q in provider_server.requests if q["model"] == "gpt-4"]) == sum(
        r.status == "failed" for r in gpt4
    )
    assert all(r.status == "ok" for r in recs if r.model == "gemini-pro")  # 429 and 500 retried
    assert any(r.attempts > 1 for r in recs if r.model == "gemini-pro")
    assert summary.ok == 20
    blob = json.dumps([r.to_dict() for r in recs])
    assert PROVIDER_GEMINI_KEY not in blob  # redacted in every worker


@pytest.mark.parametrize("value", ["0", "-2", "1000000", "many"])
def test_bad_workers_values_are_one_line_and_exit_2(provider_server, tmp_path, capsys, value):
    db = tmp_path / "s.db"
    code, out, err = run_cli_output(
        ["generate", "--rounds", "2", "--models", "gpt-4", "--store", f"sqlite:///{db}", "--workers", value], capsys
    )
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and "--workers" in err, err
    assert not db.exists() and provider_server.requests == []


def test_more_workers_than_concurrency_is_refused(provider_server, tmp_path, capsys):
    db = tmp_path / "s.db"
    args = ["generate", "--rounds", "2", "--models", "gpt-4", "--store", f"sqlite:///{db}"]
    code, _, err = run_cli_output([*args, "--workers", "4", "--concurrency", "2"], capsys)
    assert code == 2 and "--workers 4 with --concurrency 2" in err and err.count("\n") == 1


def test_the_in_process_local_model_refuses_workers_in_one_line(provider_server, tmp_path, capsys):
    db = tmp_path / "s.db"
    args = ["generate", "--rounds", "2", "--models", "gpt-4,local-gemma", "--store", f"sqlite:///{db}"]
    code, _, err = run_cli_output([*args, "--workers", "2"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "--workers 2: local-gemma runs inside the process (llama-cpp)" in err
    assert not db.exists() and provider_server.requests == []


def test_a_run_of_batch_jobs_refuses_workers_in_one_line(provider_server, tmp_path, capsys):
    db = tmp_path / "s.db"
    args = ["generate", "--rounds", "2", "--models", "gpt-4", "--store", f"sqlite:///{db}", "--batch"]
    code, _, err = run_cli_output([*args, "--workers", "2"], capsys)
    assert code == 2 and err.count("\n") == 1 and "a run of batch jobs (--batch) is sent by one process" in err
    assert not db.exists()


# --- processes: kill, interrupt, resume ---


def _start(url, tmp_path, rounds=40, workers=2, extra=(), session=False):
    store = f"sqlite:///{tmp_path / 's.db'}"
    argv = [sys.executable, "-m", "synthgen.cli", "generate", "--rounds", str(rounds), "--models"]
    argv += [",".join(SEED_MODELS), "--store", store, "--seed", "9", "--concurrency", "8", "--quiet"]
    argv += ["--workers", str(workers), *extra]
    gen = subprocess.Popen(
        argv,
        env=_cli_env(url),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=session,
    )
    return gen, store


def _wait_for_ok(db, n, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if db.exists():
            try:
                if sum(r.status == "ok" for r in records(db)) >= n:
                    return
            except Exception:  # noqa: BLE001 - the file is being created
                pass
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} ok records after {timeout} s")


def _workers_of(pid, n=2, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        kids = [p for p in psutil.Process(pid).children() if "synthgen.workers.side" in " ".join(p.cmdline())]
        if len(kids) >= n:
            return kids
        time.sleep(0.05)
    raise AssertionError("the workers did not start")


def _resume(url, tmp_path, store, *extra):
    argv = [sys.executable, "-m", "synthgen.cli", "generate", "--resume", "last", "--store", store, "--quiet", *extra]
    return subprocess.run(argv, env=_cli_env(url), cwd=tmp_path, capture_output=True, text=True, timeout=120)


@pytest.fixture
def slow_server():
    from provider_server import start_subprocess_server, stop_subprocess_server

    proc, url = start_subprocess_server(latency=0.15, jitter=0.1, seed=2, gemini_api_key=PROVIDER_GEMINI_KEY)
    try:
        yield url
    finally:
        stop_subprocess_server(proc)


def test_a_killed_worker_ends_the_run_in_one_line_and_resume_finishes_it_exactly_once(slow_server, tmp_path):
    db = tmp_path / "s.db"
    gen, store = _start(slow_server, tmp_path)
    workers = _workers_of(gen.pid)
    _wait_for_ok(db, 30)
    workers[0].send_signal(signal.SIGKILL)
    out, err = gen.communicate(timeout=60)
    assert gen.returncode == 3, err
    line = err.decode().strip()
    assert "Traceback" not in line
    assert line.count("\n") == 0 and "was killed (SIGKILL)" in line and "resume with synthgen generate --resume" in line
    [run] = open_store(store, create=False).list_runs()
    assert run.status == "interrupted"
    stored = {(r.round, r.model) for r in records(db) if r.status == "ok"}
    assert 30 <= len(stored) < 240  # the other worker finished its share
    before = len(_requests(slow_server))
    resumed = _resume(slow_server, tmp_path, store, "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["ok"] == 240 and summary["total"] == 240 and summary["status"] == "done"
    recs = records(db)
    assert len(recs) == 240 and len({(r.round, r.model) for r in recs}) == 240 and all(r.status == "ok" for r in recs)
    sent = [q for q in _requests(slow_server)[before:] if q["status"] == 200]
    assert len(sent) == 240 - len(stored)  # nothing stored ok was asked again


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "Ctrl-C"])
def test_stopping_the_parent_stops_every_worker_with_outcomes_stored(slow_server, tmp_path, how):
    db = tmp_path / "s.db"
    gen, store = _start(slow_server, tmp_path, session=how == "Ctrl-C")
    workers = _workers_of(gen.pid)
    _wait_for_ok(db, 30)
    if how == "Ctrl-C":  # a terminal's Ctrl-C reaches the whole process group: the parent and every worker
        os.killpg(gen.pid, signal.SIGINT)
    else:
        gen.send_signal(getattr(signal, how))
    out, err = gen.communicate(timeout=60)
    assert gen.returncode == 130, err
    assert b"Traceback" not in err and b"KeyboardInterrupt" not in err, err
    assert json.loads(out.decode().strip().splitlines()[-1])["status"] == "interrupted"
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
    stored = {(r.round, r.model) for r in records(db) if r.status == "ok"}
    assert 30 <= len(stored) < 240
    before = len(_requests(slow_server))
    resumed = _resume(slow_server, tmp_path, store)  # one process finishes what two began
    assert resumed.returncode == 0, resumed.stderr
    assert len(records(db)) == 240 and all(r.status == "ok" for r in records(db))
    assert len([q for q in _requests(slow_server)[before:] if q["status"] == 200]) == 240 - len(stored)


def test_a_killed_parent_takes_its_workers_along_and_resume_starts_at_once(slow_server, tmp_path):
    db = tmp_path / "s.db"
    gen, store = _start(slow_server, tmp_path)
    workers = _workers_of(gen.pid)
    _wait_for_ok(db, 20)
    gen.send_signal(signal.SIGKILL)
    gen.communicate(timeout=30)
    gone, alive = psutil.wait_procs(workers, timeout=10)
    assert alive == []  # nothing goes on sending behind a lease that looks free
    stored = {(r.round, r.model) for r in records(db) if r.status == "ok"}
    resumed = _resume(slow_server, tmp_path, store, "--workers", "2")
    assert resumed.returncode == 0, resumed.stderr  # the dead parent's lease is taken over at once
    assert len(records(db)) == 240 and all(r.status == "ok" for r in records(db)) and len(stored) < 240


def test_a_resume_while_workers_run_is_refused_in_one_line(slow_server, tmp_path):
    db = tmp_path / "s.db"
    gen, store = _start(slow_server, tmp_path)
    try:
        _workers_of(gen.pid)
        _wait_for_ok(db, 10)
        second = _resume(slow_server, tmp_path, store, "--workers", "2")
        assert second.returncode == 2 and "is being worked on by" in second.stderr
        assert second.stderr.count("\n") == 1
    finally:
        out, err = gen.communicate(timeout=120)
    assert gen.returncode == 0, err
    assert len(records(db)) == 240 and all(r.status == "ok" for r in records(db))


def test_workers_share_a_dynamodb_table(provider_server, monkeypatch, tmp_path_factory):
    """DynamoDB as it is: each worker opens the table by its URL; every cell lands once."""
    try:
        from test_dynalite import Dynalite
        from test_store_contract import aws_test_env
    except ImportError:  # tests/ imported as a package
        from tests.test_dynalite import Dynalite
        from tests.test_store_contract import aws_test_env
    server = Dynalite(tmp_path_factory.mktemp("dynalite")).start()
    try:
        aws_test_env(monkeypatch, server.url)
        url = f"dynamodb://workers{time.time_ns()}"
        assert run_cli("generate", "--rounds", "10", "--models", "gpt-4,gemini-pro,llama2", "--store", url,
                       "--seed", "4", "--quiet", "--workers", "2") == 0  # fmt: skip
        with open_store(url, create=False) as store:
            [run] = store.list_runs()
            recs = list(store.records(run.run_id))
        assert run.status == "done" and len(recs) == 30 and len({(r.round, r.model) for r in recs}) == 30
        assert all(r.status == "ok" for r in recs) and len(provider_server.requests) == 30
    finally:
        server.stop()


def test_one_worker_is_this_process(provider_server, tmp_path):
    summary = generate(rounds=3, models=["gpt-4"], store=f"sqlite:///{tmp_path / 's.db'}", seed=1, workers=1)
    assert summary.ok == 3
    assert not [p for p in psutil.Process(os.getpid()).children() if "synthgen.workers.side" in " ".join(p.cmdline())]


def test_a_script_without_a_main_guard_can_use_workers(provider_server, tmp_path):
    """Workers start a fresh interpreter on synthgen's own entry: the caller's script is not run again in them
    (multiprocessing's spawn would, and a script without `if __name__ == "__main__"` would start workers of its
    own)."""
    script = tmp_path / "make.py"
    script.write_text(
        "import synthgen\n"
        f"s = synthgen.generate(rounds=6, models=['gpt-4'], store='sqlite:///{tmp_path / 's.db'}', seed=1, workers=2)\n"
        "print(s.ok)\n"
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0 and done.stdout.strip() == "6", done.stderr
    assert len(provider_server.requests) == 6


def test_a_budget_is_split_between_the_workers_and_never_passed(provider_server, tmp_path):
    db = tmp_path / "s.db"
    summary = generate(rounds=40, models=["gpt-4"], store=f"sqlite:///{db}", seed=1, budget=0.1, workers=2)
    with open_store(f"sqlite:///{db}", create=False) as store:
        spent = store.run_cost(summary.run_id)[0] or 0.0
    assert 0 < summary.ok < 40 and spent <= 0.1
    assert summary.run.status == "interrupted" and any(line.startswith("budget reached: $") for line in summary.closing)
