"""The store contract against a real DynamoDB implementation: dynalite (npm), on LevelDB in a tmp folder.

Install it with `npm install --no-save dynalite@4` in the repository root (or set DYNALITE_BIN). Where node is
absent these tests skip, saying so; where node is present but dynalite is not installed they fail, saying how to
install it (CI installs it: a skip there would hide a broken set-up).
"""

from __future__ import annotations

import json
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
NO_NODE = "node not found: the dynalite tests need node, then `npm install --no-save dynalite@4`"
NO_DYNALITE = (
    "node is present but dynalite is not installed: run `npm install --no-save dynalite@4` in the "
    f"repository root ({REPO}), or set DYNALITE_BIN"
)


def dynalite_command() -> list[str]:
    """How to start dynalite here; skips where node is absent, fails where only dynalite is missing."""
    if os.environ.get("DYNALITE_BIN"):
        return [os.environ["DYNALITE_BIN"]]
    if not shutil.which("node"):
        pytest.skip(NO_NODE)
    local = REPO / "node_modules" / ".bin" / "dynalite"
    if local.exists():
        return [str(local)]
    npx = shutil.which("npx")
    if npx:
        try:
            probe = subprocess.run(
                [npx, "--no-install", "dynalite", "--help"], cwd=REPO, capture_output=True, timeout=60
            )
        except (OSError, subprocess.TimeoutExpired):
            probe = None
        if probe is not None and probe.returncode == 0:
            return [npx, "--no-install", "dynalite"]
    pytest.fail(NO_DYNALITE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Dynalite:
    """One dynalite server on 127.0.0.1:`port`, its tables in `folder` (LevelDB): it can be killed and restarted
    on the same data, as a DynamoDB endpoint that goes away and comes back."""

    def __init__(self, folder: Path, port: int | None = None):
        self.command = dynalite_command()
        self.folder = folder
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server: subprocess.Popen[bytes] | None = None

    def start(self) -> Dynalite:
        log = open(self.folder / "dynalite.log", "ab")  # noqa: SIM115 - the child keeps it
        self.server = subprocess.Popen(
            [
                *self.command,
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--path",
                str(self.folder / "db"),
                "--createTableMs",
                "0",
                "--deleteTableMs",
                "0",
                "--updateTableMs",
                "0",
            ],
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + 30
        while True:
            if self.server.poll() is not None:
                output = (self.folder / "dynalite.log").read_text()
                pytest.fail(f"dynalite exited with {self.server.returncode}: {output}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"dynalite did not listen on port {self.port} within 30 s")
                time.sleep(0.1)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        server, self.server = self.server, None
        if server is None:
            return
        try:
            os.killpg(server.pid, sig)  # its own session: npx and the node process under it
        except ProcessLookupError:
            pass
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()


@pytest.fixture(scope="session")
def dynalite(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A dynalite server on a free port of 127.0.0.1: yields its endpoint URL, stops it after the session."""
    server = Dynalite(tmp_path_factory.mktemp("dynalite"))
    try:
        yield server.start().url
    finally:
        server.stop()


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


def test_lone_surrogates_a_table_holds_read_back_replaced(dynalite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB stores the lone surrogates it is sent (JSON escapes); synthgen refuses to write them, but a table
    written by other code can hold them: reading gives U+FFFD, which every encoder downstream accepts."""
    aws_test_env(monkeypatch, dynalite)
    with open_store(dynamodb_backend("dynalite").url) as store:
        run, cells = make_run(rounds=1)
        store.create_run(run, cells)
        key = {"model": {"S": cells[0].model}, "sk": {"S": f"{run.run_id}#000000"}}
        store._calls.client.update_item(  # type: ignore[attr-defined]
            TableName=store.table,
            Key=key,
            UpdateExpression="SET #t = :t, #p = :p, #s = :s",  # type: ignore
            ExpressionAttributeNames={"#t": "text", "#p": "topics", "#s": "status"},
            ExpressionAttributeValues={
                ":t": {"S": "bad \ud800 happy."},
                ":p": {"S": '[{"topic":"\udc80"}]'},
                ":s": {"S": OK},
            },
        )
        [got] = store.records(run.run_id, status=OK)
    assert got.text == "bad \ufffd happy." and got.topics == [{"topic": "\ufffd"}]
    json.dumps(got.to_dict(), ensure_ascii=False).encode("utf-8")


def test_a_number_dynamodb_refuses_is_that_record_rejected(dynalite: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """DynamoDB's own wording for an item's content maps to RecordRejected, not to a bug of ours."""
    from synthgen.store import RecordRejected

    aws_test_env(monkeypatch, dynalite)
    with open_store(dynamodb_backend("dynalite").url) as store:
        with pytest.raises(RecordRejected, match="Number overflow"):
            store._calls(
                "put_item",
                TableName=store.table,  # type: ignore[attr-defined]
                Item={"model": {"S": "m"}, "sk": {"S": "k"}, "n": {"N": "1e300"}},
            )
        assert store._calls.down is None  # type: ignore[attr-defined]


def test_generate_journals_a_faulty_run_into_dynamodb(
    dynalite: str, provider_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`synthgen generate --store dynamodb://TABLE` end to end: a table is created, every cell lands once."""
    from conftest import run_cli

    monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", dynalite)
    provider_server.configure(model="*", p429=0.1, p500=0.05)
    table = f"gen{time.time_ns()}"
    assert (
        run_cli(
            "generate",
            "--rounds",
            "12",
            "--models",
            "j2-ultra,claude-v2,gemini-pro,gpt-4",
            "--store",
            f"dynamodb://{table}",
            "--seed",
            "4",
            "--quiet",
        )
        == 0
    )
    from synthgen.store import open_store

    with open_store(f"dynamodb://{table}", create=False) as store:
        [run] = store.list_runs()
        records = list(store.records(run.run_id))
    assert run.status == "done"
    assert len(records) == 48 and len({(r.round, r.model) for r in records}) == 48
    assert all(r.status == "ok" and r.text for r in records)


def test_a_store_that_goes_away_mid_run_stops_with_one_line_and_resume_completes_it(
    provider_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: Any
) -> None:
    """dynalite is killed mid-run: one line and exit 2, what was stored stays; restarted on the same data,
    --resume ends with exactly rounds x models records."""
    from conftest import run_cli

    from synthgen.store.dynamodb_calls import Calls

    server = Dynalite(tmp_path).start()
    try:
        aws_test_env(monkeypatch, server.url)
        monkeypatch.setattr(Calls, "unreachable_window", 2.0)  # not two minutes, in a test
        provider_server.configure(model="*", latency=0.02)
        url = f"dynamodb://gone{time.time_ns()}"

        def kill_when_under_way() -> None:
            provider_server.wait_for_requests(20, timeout=60)
            server.stop(signal.SIGKILL)

        killer = threading.Thread(target=kill_when_under_way)
        killer.start()
        code = run_cli(
            "generate",
            "--rounds",
            "40",
            "--models",
            "gpt-4,claude-v2",
            "--store",
            url,
            "--seed",
            "8",
            "--concurrency",
            "4",
            "--quiet",
        )
        killer.join()
        err = capsys.readouterr().err
        assert code == 3, err
        [line] = err.splitlines()
        assert line.startswith(f"error: store {url} unreachable (EndpointConnectionError at {server.url}; ")
        assert " of 80 cells stored ok; resume with synthgen generate --resume " in line and "Traceback" not in err
        run_id = line.split("--resume ")[1].split()[0]
        assert line.endswith(f"--resume {run_id} --store {url}")
        asked = len(provider_server.requests)
        assert asked < 80

        server.start()  # the same port and data: the endpoint is back
        with open_store(url, create=False) as store:
            [run] = store.list_runs()
            stored = [r for r in store.records(run_id) if r.status != "planned"]
        assert run.run_id == run_id and run.status in ("running", "interrupted")
        assert 0 < len(stored) < 80 and all(r.status == OK for r in stored)
        # what the engine counted as stored (a write whose answer the kill cut off may be there uncounted)
        counted = int(line.split(" of 80 cells stored ok")[0].rsplit(" ", 1)[1])
        assert 0 < counted <= len(stored)
        assert run_cli("generate", "--resume", run_id, "--store", url, "--quiet") == 0
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert summary["ok"] == 80 and summary["total"] == 80 and summary["status"] == "done"
        with open_store(url, create=False) as store:
            records = list(store.records(run_id))
        assert len(records) == 80 and len({(r.round, r.model) for r in records}) == 80
        assert all(r.status == OK and r.text for r in records)
        # nothing stored before the store went away was asked again
        assert len(provider_server.requests) - asked == 80 - len(stored)
    finally:
        server.stop()


def test_dynalite_missing_fails_where_node_is_present_and_skips_only_without_node(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    monkeypatch.delenv("DYNALITE_BIN", raising=False)
    monkeypatch.setattr(sys.modules[__name__], "REPO", tmp_path)  # a checkout without node_modules/
    if shutil.which("node"):
        with pytest.raises(pytest.fail.Exception, match="run `npm install --no-save dynalite@4`"):
            dynalite_command()
    monkeypatch.setenv("PATH", str(tmp_path))  # no node at all
    with pytest.raises(pytest.skip.Exception, match="node not found"):
        dynalite_command()
