"""The verification layers (verdicts, regenerated attempts) keep the journal's contract on every store: an ok
verdict or attempt is never overwritten (the panel's decisions alone are replaced, on purpose), a failed one is
replaced when the work is resumed, and a run's layers read back whole, in key order."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from test_store_contract import backend, make_run  # noqa: F401 - the fixture, shared

from synthgen.store import FAILED, OK, open_store
from synthgen.store.verdicts import PANEL, Attempt, Verdict, text_sha


def verdict(round_: int, judge: str, **kw: Any) -> Verdict:
    fields = {"label": "positive", "confidence": 0.8, "probs": {"negative": 0.2, "positive": 0.8}, "text_sha": "ab"}
    return Verdict("20260101-000000-aaaa", round_, "gpt-4", kw.pop("attempt", 0), judge, **{**fields, **kw})


def test_verdicts_are_journaled_once_and_only_the_panel_is_replaced(backend):  # noqa: F811
    store = backend.open()
    run, cells = make_run()
    store.create_run(run, cells)
    assert store.put_verdicts([verdict(0, "local-gemma"), verdict(1, "local-gemma")]) == 2
    # an ok verdict is never overwritten; a failed one is, when retried
    assert store.put_verdicts([verdict(0, "local-gemma", label="negative")]) == 0
    assert store.put_verdicts([verdict(2, "claude-haiku", status=FAILED, label=None, failure_kind="throttled")]) == 1
    assert store.put_verdicts([verdict(2, "claude-haiku", label="negative")]) == 1
    panel = verdict(0, PANEL, accepted=False, reason="judged positive, not negative", method="vote")
    assert store.put_verdicts([panel], replace=True) == 1
    assert store.put_verdicts([verdict(0, PANEL, accepted=True, method="mean")], replace=True) == 1
    store.close()

    again = backend.open(create=False)
    found = {(v.round, v.judge): v for v in again.verdicts(run.run_id)}
    assert sorted(found) == [(0, PANEL), (0, "local-gemma"), (1, "local-gemma"), (2, "claude-haiku")]
    assert found[(0, "local-gemma")].label == "positive"
    assert found[(0, "local-gemma")].probs == {"negative": 0.2, "positive": 0.8}
    assert found[(2, "claude-haiku")].label == "negative" and found[(2, "claude-haiku")].status == OK
    assert found[(0, PANEL)].accepted is True and found[(0, PANEL)].method == "mean"
    assert [v.round for v in again.verdicts(run.run_id, model="gpt-4")] == [0, 0, 1, 2]
    assert again.verdicts("no-such-run") == []
    again.close()


def test_attempts_are_never_overwritten_once_ok(backend):  # noqa: F811
    store = backend.open()
    run, cells = make_run()
    store.create_run(run, cells)

    def attempt(n: int, **kw: Any) -> Attempt:
        return Attempt(run.run_id, 1, "gpt-4", n, "gpt-4-id", "positive", **kw)

    assert store.put_attempt(attempt(1, status=FAILED, failure_kind="answer_missing", tries=2, first_try=1))
    assert store.put_attempt(attempt(1, text="a better answer", tries=1, first_try=3, request_body={"seed": 7}))
    assert not store.put_attempt(attempt(1, text="would overwrite"))
    assert store.put_attempt(attempt(2, text="another", first_try=4))
    found = store.attempts(run.run_id)
    assert [(a.attempt, a.text, a.first_try) for a in found] == [(1, "a better answer", 3), (2, "another", 4)]
    assert found[0].request_body == {"seed": 7} and found[0].id == f"{run.run_id}/000001/gpt-4/01"
    store.close()


def test_a_schema_3_sqlite_store_gains_the_verification_tables(tmp_path):
    path = tmp_path / "old.db"
    store = open_store(f"sqlite:///{path}")
    store.close()
    db = sqlite3.connect(path)
    db.execute("DROP TABLE verdicts")
    db.execute("DROP TABLE attempts")
    db.execute("PRAGMA user_version = 3")
    db.commit()
    db.close()
    store = open_store(f"sqlite:///{path}", create=False)
    run, cells = make_run()
    store.create_run(run, cells)
    assert store.put_verdicts([verdict(0, "local-gemma")]) == 1
    assert store.verdicts(run.run_id)[0].text_sha == "ab"
    store.close()


def test_text_sha_tells_a_changed_text():
    assert text_sha("I love it.") == text_sha("I love it.") != text_sha("I love it!")
    assert len(text_sha(None)) == 16


def test_a_verdict_the_store_cannot_hold_is_rejected_not_stored(backend):  # noqa: F811
    from synthgen.store import RecordRejected

    store = backend.open()
    run, cells = make_run()
    store.create_run(run, cells)
    with pytest.raises(RecordRejected):
        store.put_verdicts([verdict(0, "local-gemma", label="\ud800")])
    assert store.verdicts(run.run_id) == []
    store.close()
