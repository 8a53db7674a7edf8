"""One store contract, every backend: SQLite and DynamoDB (moto here, a dynalite server in test_dynalite.py).

`StoreContract` holds the behaviour every store must show; a test class per backend runs it with a
`backend` fixture. DynamoDB-only concerns (throttling, unprocessed batch items, opening errors) follow.
"""

from __future__ import annotations

import base64
import json
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from synthgen.errors import UserError
from synthgen.store import (
    FAILED,
    OK,
    PLANNED,
    SKIPPED,
    CleanedText,
    Record,
    RecordRejected,
    RunExists,
    RunInfo,
    Store,
    StoreUnavailable,
    UnknownRun,
    open_store,
)

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def aws_test_env(monkeypatch: pytest.MonkeyPatch, endpoint: str | None = None) -> None:
    """Dummy credentials, a region, and the endpoint (None: AWS itself, which moto intercepts)."""
    for name, value in AWS_TEST_ENV.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)
    if endpoint:
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
    else:
        monkeypatch.delenv("AWS_ENDPOINT_URL_DYNAMODB", raising=False)


@dataclass
class Backend:
    name: str
    url: str
    dynamodb: bool
    others: list[str] = field(default_factory=list)  # other, unused store URLs of the same kind

    def open(self, create: bool = True) -> Store:
        return open_store(self.url, create=create)


def dynamodb_backend(name: str) -> Backend:
    tag = uuid.uuid4().hex[:10]
    return Backend(name, f"dynamodb://synthgen-{tag}", True, [f"dynamodb://synthgen-{tag}-other"])


@pytest.fixture(params=["sqlite", "moto"])
def backend(request: pytest.FixtureRequest, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path}/s.db", False, [f"sqlite:///{tmp_path}/other.db"])
        return
    from moto import mock_aws

    aws_test_env(monkeypatch)
    with mock_aws():
        yield dynamodb_backend("moto")


# --- building runs ---
MODELS = ["claude-v2", "gpt-4", "j2-ultra"]


def make_run(
    run_id: str = "20260101-000000-aaaa",
    models: list[str] | None = None,
    rounds: int = 3,
    created_at: str = "2026-01-01T00:00:00+00:00",
) -> tuple[RunInfo, list[Record]]:
    models = list(models or MODELS)
    run = RunInfo(
        run_id=run_id,
        created_at=created_at,
        seed=42,
        rounds=rounds,
        models=models,
        template="sentiment",
        template_text="Write a {sentiment} review about {topics}.",
        topics_source="sentiment",
        params={"gpt-4": {"temperature": 0.7, "stop": ["\n\n"]}},
    )
    cells = [
        Record(
            run_id=run_id,
            round=r,
            model=m,
            model_id=f"{m}-id",
            sentiment="positive" if r % 2 else "negative",
            topics=[{"category": "food", "topic": f"pizza {r}"}],
            prompt=f"Write review {r} for {m}",
            created_at=created_at,
        )
        for r in range(rounds)
        for m in models
    ]
    return run, cells


def outcome(cell: Record, status: str = OK, **changes: Any) -> Record:
    data = cell.to_dict()
    data.update(
        status=status,
        attempts=cell.attempts + 1,
        latency_s=0.25,
        input_tokens=12,
        output_tokens=34,
        request_body={"prompt": cell.prompt, "temperature": 0.5},
        response={"completion": "fine", "usage": {"in": 12, "out": 34}},
    )
    if status == OK:
        data.update(text=f"answer {cell.round} {cell.model}", finish_reason="stop")
    else:
        data.update(failure_kind="server_error", failure_message="HTTP 500: boom", text=None)
    data.update(changes)
    return Record.from_dict(data)


def keys(records: Any) -> list[tuple[str, int, str]]:
    return [(r.run_id, r.round, r.model) for r in records]


class StoreContract:
    """What every store does; subclasses run it with a `backend` fixture."""

    @pytest.fixture
    def store(self, backend: Backend) -> Any:
        handle = backend.open()
        yield handle
        handle.close()

    def test_create_run_writes_planned_cells(self, store: Store) -> None:
        run, cells = make_run(rounds=3)
        store.create_run(run, cells)
        got = list(store.records(run.run_id))
        assert keys(got) == [(run.run_id, r, m) for r in range(3) for m in MODELS]
        assert {r.status for r in got} == {PLANNED}
        assert [r.to_dict() for r in got] == [c.to_dict() for c in cells]
        stored = store.get_run(run.run_id)
        assert stored is not None and stored.to_dict() == {**run.to_dict(), "store_url": store.url}
        assert [r.run_id for r in store.list_runs()] == [run.run_id]
        assert store.get_run("nope") is None

    def test_put_record_upserts_failed_then_ok(self, store: Store) -> None:
        run, cells = make_run()
        store.create_run(run, cells)
        cell = cells[4]
        failed = outcome(cell, FAILED, created_at="2099-01-01T00:00:00+00:00")
        assert store.put_record(failed) is True
        assert failed.updated_at is not None
        [got] = store.records(run.run_id, model=cell.model, status=FAILED)
        assert (got.round, got.failure_kind, got.attempts) == (cell.round, "server_error", 1)
        assert got.created_at == cell.created_at  # the planned cell's, kept like SQLite's upsert

        ok = outcome(failed, OK, failure_kind=None, failure_message=None)
        assert store.put_record(ok) is True
        mine = [r for r in store.records(run.run_id) if (r.round, r.model) == (cell.round, cell.model)]
        assert len(mine) == 1
        assert mine[0].status == OK and mine[0].attempts == 2 and mine[0].text == ok.text
        assert mine[0].failure_kind is None and mine[0].failure_message is None
        assert len(list(store.records(run.run_id))) == len(cells)

    def test_ok_is_never_overwritten(self, store: Store) -> None:
        run, cells = make_run()
        store.create_run(run, cells)
        first = outcome(cells[0], OK, text="first answer")
        assert store.put_record(first) is True
        assert store.put_record(outcome(cells[0], FAILED)) is False
        assert store.put_record(outcome(cells[0], OK, text="second answer")) is False
        assert store.put_record(outcome(cells[0], SKIPPED)) is False
        [got] = store.records(run.run_id, model=cells[0].model, status=OK)
        assert got.text == "first answer" and got.updated_at == first.updated_at

    def test_create_run_twice_is_refused_and_keeps_records(self, store: Store) -> None:
        run, cells = make_run()
        store.create_run(run, cells)
        store.put_record(outcome(cells[0]))
        with pytest.raises(RunExists, match=f"run {run.run_id} already exists in {store.url}"):
            store.create_run(run, cells)
        assert [r.status for r in store.records(run.run_id)][0] == OK

    def test_records_order_and_filters(self, store: Store) -> None:
        run_b, cells_b = make_run(
            "20260102-000000-bbbb", ["titan-express", "claude-v2"], 2, created_at="2026-01-02T00:00:00+00:00"
        )
        run_a, cells_a = make_run("20260101-000000-aaaa", MODELS, 12)
        cells_b = list(reversed(cells_b))
        store.create_run(run_b, cells_b)
        store.create_run(run_a, cells_a)
        for cell in cells_a[::3]:
            store.put_record(outcome(cell, OK))
        for cell in cells_a[1::3]:
            store.put_record(outcome(cell, FAILED))
        store.put_record(outcome(cells_b[0], SKIPPED))

        everything = list(store.records())
        assert keys(everything) == sorted(keys(cells_a) + keys(cells_b))
        assert keys(store.records(run_a.run_id)) == sorted(keys(cells_a))
        assert keys(store.records(run_b.run_id)) == sorted(keys(cells_b))
        assert keys(store.records(model="claude-v2")) == sorted(
            k for k in keys(cells_a + cells_b) if k[2] == "claude-v2"
        )
        gpt4 = [(run_a.run_id, r, "gpt-4") for r in range(12)]
        assert keys(store.records(run_a.run_id, model="gpt-4")) == gpt4
        assert keys(store.records(run_a.run_id, status=OK)) == sorted(keys(cells_a[::3]))
        assert keys(store.records(status=FAILED)) == sorted(keys(cells_a[1::3]))
        assert keys(store.records(model=cells_b[0].model, status=SKIPPED)) == [keys(cells_b)[0]]
        assert list(store.records(model="titan-express", status=SKIPPED)) == []
        assert keys(store.records(run_a.run_id, model="claude-v2", status=PLANNED)) == sorted(
            k for k in keys(cells_a[2::3]) if k[2] == "claude-v2"
        )
        assert list(store.records("no-such-run")) == []
        assert list(store.records(model="no-such-model")) == []

    def test_counts(self, store: Store) -> None:
        run, cells = make_run(rounds=4)
        store.create_run(run, cells)
        for cell in cells[:5]:
            store.put_record(outcome(cell, OK))
        store.put_record(outcome(cells[5], FAILED))
        assert store.counts(run.run_id) == {
            "claude-v2": {OK: 2, PLANNED: 2},
            "gpt-4": {OK: 2, PLANNED: 2},
            "j2-ultra": {OK: 1, FAILED: 1, PLANNED: 2},
        }
        assert store.counts("no-such-run") == {}

    def test_runs_resolve_and_status(self, store: Store) -> None:
        with pytest.raises(UserError, match="no runs in"):
            store.resolve_run("last")
        older, older_cells = make_run("20260101-000000-zzzz", rounds=1, created_at="2026-01-01T00:00:00Z")
        newer, newer_cells = make_run("20260101-000000-aaaa", rounds=1, created_at="2026-01-03T00:00:00Z")
        store.create_run(newer, newer_cells)
        store.create_run(older, older_cells)
        assert [r.run_id for r in store.list_runs()] == [older.run_id, newer.run_id]  # by created_at
        assert store.resolve_run("last").run_id == newer.run_id
        assert store.resolve_run(None).run_id == newer.run_id
        assert store.resolve_run(older.run_id).run_id == older.run_id
        with pytest.raises(UserError, match="--run 20990101-nope: no such run") as caught:
            store.resolve_run("20990101-nope")
        assert newer.run_id in str(caught.value) and "\n" not in str(caught.value)
        with pytest.raises(UserError, match="--resume 20990101-nope: no such run"):  # the flag the user gave
            store.resolve_run("20990101-nope", flag="--resume")
        store.set_run_status(older.run_id, "done")
        store.set_run_status("no-such-run", "done")  # nothing to update, no error, no run created
        assert store.get_run(older.run_id).status == "done"  # type: ignore[union-attr]
        assert store.get_run("no-such-run") is None
        assert [r.status for r in store.list_runs()] == ["done", "running"]

    def test_cleaned_round_trip(self, store: Store) -> None:
        run, cells = make_run(rounds=2)
        store.create_run(run, cells)
        items = [
            CleanedText(
                record_id=c.id,
                run_id=run.run_id,
                model=c.model,
                text=f"clean ✓ {c.round}",
                dropped=["Sure! Here is a review:", "Ünïcödé 🍕"],
                reason="kept cluster 1",
                method="kmeans3+pca2/tfidf-svd seed=0",
            )
            for c in cells
        ]
        items[1].text, items[1].reason, items[1].dropped, items[1].method = None, "no sentence kept", [], ""
        store.put_cleaned(items)
        got = store.cleaned(run.run_id)
        assert got == {i.record_id: i for i in items}
        llama = store.cleaned(run.run_id, model="gpt-4")
        assert llama == {i.record_id: i for i in items if i.model == "gpt-4"}
        replaced = CleanedText(
            record_id=items[0].record_id, run_id=run.run_id, model=items[0].model, text="replaced", method="again"
        )
        store.put_cleaned([replaced])
        assert store.cleaned(run.run_id)[replaced.record_id] == replaced
        assert len(store.cleaned(run.run_id)) == len(items)
        assert store.cleaned("no-such-run") == {}
        assert len(list(store.records(run.run_id))) == len(cells)  # the cleaned layer is not records

    def test_json_floats_unicode_round_trip(self, store: Store) -> None:
        run, cells = make_run(rounds=1)
        store.create_run(run, cells)
        nested: Any = {"leaf": [1.5, None, True, "x"]}
        for depth in range(40):  # deeper than DynamoDB's 32-level limit for maps
            nested = {f"level{depth}": nested}
        response = {
            "floats": [0.1, 1e-07, 1e300, 2.5e-300, 3.0, -0.0, 123456789.123456789],
            "ints": [0, -1, 2**63, 10**30],
            "empty": {"": "", "list": [], "map": {}},
            "text": "naïve café — 日本語 🍕 \u0000 \t\n",
            "nested": nested,
            "null": None,
        }
        record = outcome(
            cells[0],
            OK,
            response=response,
            latency_s=1.0000000000000002,
            text="",
            request_body={"temperature": 0.7, "top_p": 0.9, "messages": [{"content": "é"}]},
            topics=[{"category": "café", "topic": "🍕 & ü"}],
            note="a note; with a semicolon",
            input_tokens=0,
            output_tokens=2**40,
        )
        assert store.put_record(record) is True
        [got] = store.records(run.run_id, status=OK)
        assert got.to_dict() == record.to_dict()
        assert json.dumps(got.response, sort_keys=True) == json.dumps(response, sort_keys=True)
        assert isinstance(got.latency_s, float) and got.latency_s == 1.0000000000000002
        assert isinstance(got.output_tokens, int) and got.text == ""

    def test_large_raw_response_keeps_the_answer(self, backend: Backend, store: Store) -> None:
        run, cells = make_run(rounds=2)
        store.create_run(run, cells)
        answer = "The answer stays whole. " * 200
        compressible = {"choices": [{"text": answer}], "debug": "abc" * 170_000}  # ~510 KB of JSON
        noise = base64.b64encode(random.Random(7).randbytes(420_000)).decode()  # ~560 KB, barely compressible
        incompressible = {"choices": [{"text": answer}], "debug": noise}
        first = outcome(cells[0], OK, text=answer, response=compressible)
        second = outcome(cells[1], OK, text=answer, response=incompressible)
        assert store.put_record(first) and store.put_record(second)
        got = {r.model: r for r in store.records(run.run_id, status=OK)}
        one, two = got[cells[0].model], got[cells[1].model]
        assert one.text == answer and two.text == answer
        if not backend.dynamodb:
            assert one.response == compressible and two.response == incompressible
            assert one.note is None and two.note is None
            return
        assert one.response == compressible
        assert "compressed" in one.note and "400 KB" in one.note and "answer text is intact" in one.note
        assert first.note == one.note  # the caller's record says so too
        assert "trimmed" in two.note and "400 KB" in two.note
        assert isinstance(two.response, str) and len(two.response) > 200_000
        assert json.dumps(incompressible, ensure_ascii=False, separators=(",", ":")).startswith(two.response)
        # a later write of a small response drops the squeeze note and the binary attribute
        again = outcome(cells[2], FAILED, response=incompressible, note="kept")
        assert store.put_record(again) and "trimmed" in again.note
        assert store.put_record(outcome(cells[2], OK, note="kept")) is True
        [three] = store.records(run.run_id, model=cells[2].model, status=OK)
        assert three.note == "kept" and three.response == outcome(cells[2]).response

    def test_many_records(self, store: Store) -> None:
        models = ["m1", "m2", "m3", "m4", "m5", "m6"]
        run, cells = make_run(models=models, rounds=50)  # how long this takes: benchmarks/bench_store.py
        store.create_run(run, cells)
        for cell in cells:
            assert store.put_record(outcome(cell, FAILED if cell.round % 10 == 0 else OK))
        got = list(store.records(run.run_id))
        assert len(got) == 300 and keys(got) == sorted(keys(cells))
        assert store.counts(run.run_id) == {m: {OK: 45, FAILED: 5} for m in models}
        assert len(list(store.records(run.run_id, status=OK))) == 270

    @pytest.mark.parametrize(
        "bad",
        [{"text": "bad \ud800 happy."}, {"output_tokens": 10**30}],
        ids=["lone-surrogate", "integer-past-64-bits"],
    )
    def test_a_record_that_cannot_be_encoded_is_rejected_and_nothing_changes(
        self, store: Store, bad: dict[str, Any]
    ) -> None:
        run, cells = make_run(rounds=2)
        store.create_run(run, cells)
        store.put_record(outcome(cells[1]))
        before = ([r.to_dict() for r in store.records()], [r.to_dict() for r in store.list_runs()])
        with pytest.raises(RecordRejected) as caught:
            store.put_record(outcome(cells[0], **bad))
        assert not isinstance(caught.value, StoreUnavailable)  # this record, not the store
        assert str(caught.value).startswith(f"record {cells[0].id} cannot be stored")
        assert ([r.to_dict() for r in store.records()], [r.to_dict() for r in store.list_runs()]) == before
        # the store goes on: the engine stores a failure record for that cell instead
        assert store.put_record(outcome(cells[0], FAILED)) is True

    def test_a_run_whose_planned_cells_cannot_be_encoded_is_rejected_whole(self, store: Store) -> None:
        run, cells = make_run(rounds=2)
        cells[3] = Record.from_dict({**cells[3].to_dict(), "prompt": "Write \udcff"})
        with pytest.raises(RecordRejected):
            store.create_run(run, cells)
        assert store.get_run(run.run_id) is None and store.list_runs() == []
        assert list(store.records(run.run_id)) == []

    def test_records_carry_their_label_as_sentiment_too(self, store: Store) -> None:
        run, cells = make_run(rounds=2)
        cells[0] = Record.from_dict({**cells[0].to_dict(), "sentiment": "", "label": "joy"})  # the new name only
        store.create_run(run, cells)
        got = list(store.records(run.run_id))
        assert [(r.label, r.sentiment) for r in got] == [(c.label, c.label) for c in cells]
        assert got[0].label == "joy" and got[1].label == "negative"

    def test_a_run_keeps_its_task_and_one_stored_without_a_task_reads_as_sentiment(self, store: Store) -> None:
        from synthgen.labels import SENTIMENT_TASK, Label, TaskInfo

        task = TaskInfo("emotion", "Which emotion?", (Label("anger", "is angry"), Label("joy", "is glad", 2.0)), ("x",))
        run, cells = make_run(rounds=2)
        run.task = task.to_dict()
        cells = [Record.from_dict({**c.to_dict(), "label": "joy" if c.round else "anger"}) for c in cells]
        store.create_run(run, cells)
        assert store.get_run(run.run_id).task_info() == task  # type: ignore[union-attr]
        assert [r.label for r in store.records(run.run_id)] == [c.label for c in cells]
        before, old_cells = make_run(run_id="20250101-000000-bbbb", rounds=1)  # a RunInfo as written before tasks
        store.create_run(before, old_cells)
        assert store.get_run(before.run_id).task_info() == SENTIMENT_TASK  # type: ignore[union-attr]

    def test_a_run_read_back_names_the_store_it_was_read_from(self, store: Store) -> None:
        run, cells = make_run(rounds=1)
        run.store_url = "sqlite:////old/place/synthgen.db"  # where it was created, before the store moved
        store.create_run(run, cells)
        assert store.get_run(run.run_id).store_url == store.url  # type: ignore[union-attr]
        assert [r.store_url for r in store.list_runs()] == [store.url]
        assert store.resolve_run("last").store_url == store.url

    def test_a_run_lease_is_one_owners_until_it_expires_or_is_released(self, store: Store) -> None:
        run, cells = make_run(rounds=1)
        store.create_run(run, cells)
        now = [1_000.0]
        store._wall = lambda: now[0]  # type: ignore[attr-defined]
        assert store.lease_holder(run.run_id) is None
        assert store.claim_run(run.run_id, "a", 60) is True  # free: taken, until 1060
        assert store.lease_holder(run.run_id) == ("a", 1060.0)
        assert store.claim_run(run.run_id, "a", 60) is True  # ours already: renewed
        assert store.claim_run(run.run_id, "b", 60) is False  # another owner's, live
        assert store.renew_run(run.run_id, "b", 60) is False
        now[0] += 59
        assert store.renew_run(run.run_id, "a", 60) is True  # until 1119
        now[0] += 60
        assert store.claim_run(run.run_id, "b", 60) is False  # 1119 is not past 1119
        now[0] += 1
        assert store.renew_run(run.run_id, "a", 60) is True  # expired, but nobody took it: still a's
        now[0] += 61
        assert store.claim_run(run.run_id, "b", 30) is True  # expired: b takes it
        assert store.renew_run(run.run_id, "a", 60) is False  # a lost it: a stops
        assert store.claim_run(run.run_id, "a", 60) is False
        store.release_run(run.run_id, "a")  # not a's: nothing happens
        assert store.claim_run(run.run_id, "a", 60) is False
        store.release_run(run.run_id, "b")
        assert store.lease_holder(run.run_id) is None
        assert store.claim_run(run.run_id, "a", 60) is True  # released: free at once
        assert store.get_run(run.run_id).to_dict() == {**run.to_dict(), "store_url": store.url}  # type: ignore
        with pytest.raises(UnknownRun, match="no-such-run"):
            store.claim_run("no-such-run", "a", 60)
        with pytest.raises(UnknownRun):
            store.renew_run("no-such-run", "a", 60)
        store.release_run("no-such-run", "a")
        assert store.get_run("no-such-run") is None and len(store.list_runs()) == 1
        with pytest.raises(ValueError, match="positive ttl_s"):
            store.claim_run(run.run_id, "a", 0)

    def test_processes_claiming_one_run_at_once_exactly_one_wins(self, backend: Backend, store: Store) -> None:
        """Each racer has its own handle (its own connection or client), as separate processes do."""
        if backend.name == "moto":
            pytest.skip("moto's in-process mock does not serialise conditional writes across threads; dynalite does")
        run, cells = make_run(rounds=1)
        store.create_run(run, cells)
        handles = [backend.open(create=False) for _ in range(8)]
        start = threading.Barrier(len(handles))
        won: dict[str, bool] = {}

        def claim(owner: str, handle: Store) -> None:
            start.wait()
            won[owner] = handle.claim_run(run.run_id, owner, 60)

        threads = [threading.Thread(target=claim, args=(f"owner-{i}", h)) for i, h in enumerate(handles)]
        try:
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            for handle in handles:
                handle.close()
        [winner] = [owner for owner, ok in won.items() if ok]
        assert len(won) == len(handles)
        assert store.renew_run(run.run_id, winner, 60) is True
        assert not any(store.claim_run(run.run_id, owner, 60) for owner in won if owner != winner)

    def test_reopen_sees_everything_and_create_false(self, backend: Backend, store: Store) -> None:
        run, cells = make_run(rounds=2)
        store.create_run(run, cells)
        store.put_record(outcome(cells[0]))
        with backend.open(create=False) as again:
            assert keys(again.records()) == sorted(keys(cells))
            assert again.resolve_run("last").run_id == run.run_id
        with pytest.raises(UserError, match="--store"):
            open_store(backend.others[0], create=False)


class TestStoreContract(StoreContract):
    """SQLite and DynamoDB-under-moto, through the `backend` fixture above."""


# --- SQLite only ---
def test_sqlite_waits_out_a_short_lock_and_names_a_long_one(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another process's write holds the database: a short hold is waited out; one past the busy timeout is
    one line saying so, never the disk-full advice."""
    import sqlite3
    import threading

    from synthgen.store.sqlite import SQLiteStore

    monkeypatch.setattr(SQLiteStore, "busy_timeout", 1.0)
    path = tmp_path / "s.db"
    store = open_store(f"sqlite:///{path}")
    run, cells = make_run(rounds=2)
    store.create_run(run, cells)
    other = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        other.execute("BEGIN IMMEDIATE")  # the other process's write lock
        releaser = threading.Timer(0.2, lambda: other.execute("COMMIT"))
        releaser.start()
        assert store.put_record(outcome(cells[0])) is True  # waited the 0.2 s out
        releaser.join()
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(StoreUnavailable) as caught:  # after the busy timeout (SQLite's own wait)
            store.put_record(outcome(cells[1]))
        message = str(caught.value)
        assert message == (
            f"store sqlite:///{path}: database is locked: another process holds it (still busy after 1 s)"
        )
        other.execute("ROLLBACK")
        assert store.put_record(outcome(cells[1])) is True
    finally:
        other.close()
        store.close()
