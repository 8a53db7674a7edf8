"""The SQLite store's own concerns: a copied database, text another tool wrote, leases raced by real processes, and
an up-to-date store opened without a write."""

from __future__ import annotations

import multiprocessing
import shutil
import sqlite3
from pathlib import Path
from typing import Any

from synthgen.store import OK, open_store

try:
    from test_store_contract import make_run, outcome
except ImportError:  # tests/ imported as a package
    from tests.test_store_contract import make_run, outcome


def test_a_copied_database_names_its_new_place_on_resume(tmp_path: Path) -> None:
    old, new = tmp_path / "old" / "s.db", tmp_path / "new" / "s.db"
    with open_store(f"sqlite:///{old}") as store:
        run, cells = make_run(rounds=1)
        run.store_url = store.url
        store.create_run(run, cells)
    new.parent.mkdir()
    shutil.copy(old, new)
    old.unlink()
    with open_store(f"sqlite:///{new}", create=False) as store:
        assert store.resolve_run("last", flag="--resume").store_url == f"sqlite:///{new}"
        assert [r.store_url for r in store.list_runs()] == [f"sqlite:///{new}"]


def test_text_that_is_not_utf8_reads_back_replaced_not_failing(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with open_store(f"sqlite:///{path}") as store:
        run, cells = make_run(rounds=1)
        store.create_run(run, cells)
        store.put_record(outcome(cells[0]))
    with sqlite3.connect(path) as db:  # another tool writes Latin-1 bytes and a broken JSON field
        db.execute("UPDATE records SET text = CAST(X'636166E9' AS TEXT), response = '{broken' WHERE status = 'ok'")
    with open_store(f"sqlite:///{path}", create=False) as store:
        [got] = store.records(run.run_id, status=OK)
    assert got.text == "caf\ufffd" and got.response == "{broken"


def _claim(path: str, owner: str, start: Any, results: Any) -> None:
    store = open_store(f"sqlite:///{path}", create=False)
    try:
        start.wait()
        results.put((owner, store.claim_run("20260101-000000-aaaa", owner, 60)))
    finally:
        store.close()


def test_processes_claiming_one_run_at_once_exactly_one_wins(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with open_store(f"sqlite:///{path}") as store:
        run, cells = make_run(rounds=1)
        store.create_run(run, cells)
    context = multiprocessing.get_context("spawn")  # no inherited connections or locks
    start, results = context.Barrier(4), context.Queue()
    racers = [context.Process(target=_claim, args=(str(path), f"owner-{i}", start, results)) for i in range(4)]
    for racer in racers:
        racer.start()
    won = dict(results.get(timeout=60) for _ in racers)
    for racer in racers:
        racer.join(timeout=60)
    assert [r.exitcode for r in racers] == [0] * 4
    assert sorted(won.values()) == [False, False, False, True]
    [winner] = [owner for owner, ok in won.items() if ok]
    with open_store(f"sqlite:///{path}", create=False) as store:
        assert store.renew_run(run.run_id, winner, 60) is True
        assert store.claim_run(run.run_id, "latecomer", 60) is False


def test_an_up_to_date_store_is_opened_and_read_without_a_write(tmp_path: Path) -> None:
    """Only a store that needs a migration is written when opened: reading commands leave the file as it is."""
    path = tmp_path / "s.db"
    with open_store(f"sqlite:///{path}") as store:
        run, cells = make_run(rounds=1)
        store.create_run(run, cells)
    before = path.read_bytes()
    with open_store(f"sqlite:///{path}", create=False) as store:
        assert [r.run_id for r in store.list_runs()] == [run.run_id]
        assert len(list(store.records(run.run_id))) == len(cells)
    assert path.read_bytes() == before


def test_records_are_read_in_pages_in_key_order_while_outcomes_are_written(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 's.db'}") as store:
        store.page_size = 3  # several pages, the last one short
        run, cells = make_run(rounds=5)
        store.create_run(run, cells)
        seen = []
        for rec in store.records(run.run_id):  # the engine writes outcomes while a resume reads the cells
            seen.append((rec.round, rec.model))
            store.put_record(outcome(rec))
        assert seen == sorted((c.round, c.model) for c in cells) and len(seen) == len(cells) > 3
        assert all(r.status == OK for r in store.records(run.run_id))


def test_reading_a_run_is_linear_in_its_size(tmp_path: Path) -> None:
    """Each page starts where the last ended (found in the key's index), not by skipping the run's keys from the
    start: five times the rows is about five times the work, not twenty-five."""

    def steps(rounds: int) -> tuple[int, int]:
        with open_store(f"sqlite:///{tmp_path / f'{rounds}.db'}") as store:
            store.page_size = 50
            other, other_cells = make_run(run_id="20260101-000000-0000", rounds=rounds)
            run, cells = make_run(rounds=rounds)
            store.create_run(other, other_cells)  # a run before it in key order: its pages must not be scanned
            store.create_run(run, cells)
            count = [0]
            store._db.set_progress_handler(lambda: count.__setitem__(0, count[0] + 1) or 0, 100)
            read = [(r.round, r.model) for r in store.records(run.run_id, model="gpt-4")]
            assert read == sorted((c.round, c.model) for c in cells if c.model == "gpt-4")
            assert len(list(store.records(run.run_id))) == len(cells)
            return count[0], len(read)

    small, n_small = steps(200)
    large, n_large = steps(1000)
    assert n_large == 5 * n_small
    assert large < 8 * small  # quadratic reads would be ~25x
