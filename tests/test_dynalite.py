"""The store contract against a real DynamoDB implementation: dynalite (npm), on LevelDB in a tmp folder.

Install it with `npm install --no-save dynalite@4` in the repository root (or set DYNALITE_BIN); without
node or dynalite these tests skip with that message.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from synthgen.store import OK, open_store

try:
    import test_store_contract as contract
except ImportError:  # tests/ imported as a package
    from tests import test_store_contract as contract

StoreContract = contract.StoreContract
aws_test_env, dynamodb_backend = contract.aws_test_env, contract.dynamodb_backend
keys, make_run, outcome = contract.keys, contract.make_run, contract.outcome

REPO = Path(__file__).resolve().parents[1]
SKIP = "dynalite not installed: npm install dynalite (node required)"


def dynalite_command() -> list[str] | None:
    if os.environ.get("DYNALITE_BIN"):
        return [os.environ["DYNALITE_BIN"]]
    if not shutil.which("node"):
        return None
    local = REPO / "node_modules" / ".bin" / "dynalite"
    if local.exists():
        return [str(local)]
    npx = shutil.which("npx")
    if npx:
        try:
            probe = subprocess.run([npx, "--no-install", "dynalite", "--help"], cwd=REPO, capture_output=True,
                                   timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if probe.returncode == 0:
            return [npx, "--no-install", "dynalite"]
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def dynalite(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A dynalite server on a free port of 127.0.0.1: yields its endpoint URL, stops it after the session."""
    command = dynalite_command()
    if command is None:
        pytest.skip(SKIP)
    folder = tmp_path_factory.mktemp("dynalite")
    port = free_port()
    log = open(folder / "dynalite.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port), "--path", str(folder / "db"),
         "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"],
        cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                output = (folder / "dynalite.log").read_text()
                pytest.fail(f"dynalite exited with {server.returncode}: {output}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"dynalite did not listen on port {port} within 30 s")
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        try:
            os.killpg(server.pid, signal.SIGTERM)  # its own session: npx and the node process under it
        except ProcessLookupError:
            pass
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture
def backend(dynalite: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    aws_test_env(monkeypatch, dynalite)
    return dynamodb_backend("dynalite")  # a fresh table per test


class TestDynaliteContract(StoreContract):
    """The whole contract of test_store_contract.py, against dynalite."""


def test_parallel_writers_store_each_cell_once(dynalite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine writes from `max_writers` threads at once; twice each cell, only one ok lands."""
    aws_test_env(monkeypatch, dynalite)
    with open_store(dynamodb_backend("dynalite").url) as store:
        run, cells = make_run(models=["m1", "m2", "m3", "m4", "m5", "m6"], rounds=40)
        store.create_run(run, cells)
        results: list[bool] = []
        lock = threading.Lock()

        def write(part: list[Any]) -> None:
            for cell in part:
                stored = store.put_record(outcome(cell, OK, text=f"{threading.get_ident()}"))
                with lock:
                    results.append(stored)

        writers = store.max_writers  # type: ignore[attr-defined]
        doubled = cells + cells
        threads = [threading.Thread(target=write, args=(doubled[i::writers],)) for i in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results.count(True) == len(cells) and results.count(False) == len(cells)
        got = list(store.records(run.run_id))
        assert keys(got) == sorted(keys(cells)) and {r.status for r in got} == {OK}
        assert store.counts(run.run_id) == {m: {OK: 40} for m in run.models}


def test_unknown_table_without_create(dynalite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from synthgen.errors import UserError

    aws_test_env(monkeypatch, dynalite)
    with pytest.raises(UserError, match=f"no table synthgen-absent in us-east-1 at {dynalite}"):
        open_store("dynamodb://synthgen-absent", create=False)


def test_generate_journals_a_faulty_run_into_dynamodb(dynalite: str, provider_server: Any,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """`synthgen generate --store dynamodb://TABLE` end to end: a table is created, every cell lands once."""
    from conftest import run_cli

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite)
    provider_server.configure(model="*", p429=0.1, p500=0.05)
    table = f"gen{time.time_ns()}"
    assert run_cli("generate", "--rounds", "12", "--models", "j2-ultra,claude-v2,gemini-pro,gpt-4",
                   "--store", f"dynamodb://{table}", "--seed", "4", "--quiet") == 0
    from synthgen.store import open_store

    with open_store(f"dynamodb://{table}", create=False) as store:
        [run] = store.list_runs()
        records = list(store.records(run.run_id))
    assert run.status == "done"
    assert len(records) == 48 and len({(r.round, r.model) for r in records}) == 48
    assert all(r.status == "ok" and r.text for r in records)
