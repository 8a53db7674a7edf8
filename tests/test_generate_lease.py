"""One process works on a run at a time: a second `generate --resume` of a run in progress refuses with one line
and sends nothing, and two started together send each unfinished cell once."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import run_cli

from synthgen.generation import generate
from synthgen.store import open_store

try:
    from test_generate import _cli_env, _requests, records
except ImportError:  # tests/ imported as a package
    from tests.test_generate import _cli_env, _requests, records


def test_a_run_another_process_holds_is_refused_in_one_line_and_nothing_is_sent(provider_server, tmp_path, capsys):
    db = tmp_path / "s.db"
    provider_server.configure(model="gpt-4", always_status=400)
    first = generate(rounds=4, models=["gpt-4"], store=f"sqlite:///{db}", seed=1)
    before = [r.to_dict() for r in records(db)]
    with open_store(f"sqlite:///{db}", create=False) as store:
        assert store.claim_run(first.run_id, "build-box:4242:feedbeef", 600)  # a live run on another machine
    sent = len(provider_server.requests)
    capsys.readouterr()
    assert run_cli("generate", "--resume", first.run_id, "--store", f"sqlite:///{db}") == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: run {first.run_id} is being worked on by build-box:4242:feedbeef (lease for ")
    assert err.count("\n") == 1 and "wait for it to finish" in err
    assert len(provider_server.requests) == sent and [r.to_dict() for r in records(db)] == before


def test_a_lease_left_by_a_dead_process_on_this_machine_is_taken_over(provider_server, tmp_path):
    import socket

    db = tmp_path / "s.db"
    provider_server.configure(model="gpt-4", always_status=400)
    first = generate(rounds=3, models=["gpt-4"], store=f"sqlite:///{db}", seed=1)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    with open_store(f"sqlite:///{db}", create=False) as store:
        assert store.claim_run(first.run_id, f"{socket.gethostname()}:{int(dead.stdout)}:0", 600)
    provider_server.configure(model="gpt-4", always_status=None)
    again = generate(store=f"sqlite:///{db}", resume=first.run_id)
    assert again.ok == 3
    with open_store(f"sqlite:///{db}", create=False) as store:
        assert store.lease_holder(first.run_id) is None  # released when the run ended


def test_two_resumes_started_together_send_each_unfinished_cell_once(tmp_path):
    from provider_server import start_subprocess_server, stop_subprocess_server

    proc_srv, url = start_subprocess_server(latency=0.2, seed=2)
    try:
        db = tmp_path / "s.db"
        store = f"sqlite:///{db}"
        env = _cli_env(url)
        plan = [sys.executable, "-m", "synthgen.cli", "generate", "--rounds", "60", "--models", "gpt-4,titan-express"]
        plan += ["--store", store, "--seed", "3", "--max-attempts", "1", "--quiet"]
        # the first run fails every cell (HTTP 400), so both resumes find 120 cells to do
        import httpx

        httpx.post(f"{url}/_control/configure", json={"model": "*", "always_status": 400}, timeout=10)
        done = subprocess.run(plan, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        httpx.post(f"{url}/_control/configure", json={"model": "*", "always_status": None}, timeout=10)
        before = len(_requests(url))
        # slow enough (120 cells x 0.2 s / 4 at once = 6 s) that the two are sure to overlap
        resume = [
            sys.executable,
            "-m",
            "synthgen.cli",
            "generate",
            "--resume",
            "last",
            "--store",
            store,
            "--quiet",
            "--concurrency",
            "4",
        ]
        procs = [
            subprocess.Popen(resume, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        outs = [p.communicate(timeout=120) for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes == [0, 2], outs
        refused = next(err for p, (_, err) in zip(procs, outs, strict=True) if p.returncode == 2)
        assert "is being worked on by" in refused and refused.count("\n") == 1
        ok_out = next(out for p, (out, _) in zip(procs, outs, strict=True) if p.returncode == 0)
        assert json.loads(ok_out.strip().splitlines()[-1])["ok"] == 120
        assert len([q for q in _requests(url)[before:] if q["status"] == 200]) == 120  # each cell once
        assert len(records(db)) == 120
    finally:
        stop_subprocess_server(proc_srv)
