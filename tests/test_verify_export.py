"""Export of a verified run: rejected texts dropped with their verdicts (or kept), regenerated answers exported in
their cell's place, the labels rebalanced within 2 points, optional judge columns, near-duplicates by MinHash kept
out of both splits, and a card that states the measured facts. Runs are written through the store API."""

from __future__ import annotations

import json

import pytest
from test_export import make_run, url

from synthgen.check import diversity_report, near_duplicates, shingles
from synthgen.export import export_dataset
from synthgen.export.checked import balanced_counts
from synthgen.labels import SENTIMENT_TASK
from synthgen.store.verdicts import PANEL, Attempt, Verdict, text_sha


def judge(store, run_id, rounds, models, says, attempt_text=None):
    """Verdicts as `synthgen verify` writes them: `says(round, model)` is the judged label; a cell whose
    `attempt_text(round, model)` is a text got a regenerated attempt 1 that passed."""
    verdicts = []
    for record in store.records(run_id, status="ok"):
        label = says(record.round, record.model)
        for attempt, text, judged in ((0, record.text, label), (1, None, record.label)):
            if attempt == 1:
                text = attempt_text(record.round, record.model) if attempt_text else None
                if text is None or label == record.label:
                    continue
                store.put_attempt(
                    Attempt(run_id, record.round, record.model, 1, record.model_id, record.label, text=text)
                )
            common = {"label": judged, "confidence": 0.6 + 0.01 * (record.round % 10), "text_sha": text_sha(text)}
            verdicts.append(Verdict(run_id, record.round, record.model, attempt, "local-gemma", **common))
            verdicts.append(
                Verdict(run_id, record.round, record.model, attempt, PANEL, accepted=judged == record.label, **common)
            )
    store.put_verdicts(verdicts, replace=True)


def test_a_run_without_verdicts_exports_as_before_and_says_no_judge_checked_it(tmp_path):
    make_run(tmp_path / "s.db", rounds=20).close()
    result = export_dataset("last", tmp_path / "out", store=url(tmp_path / "s.db"))
    assert result.kept == 60 and not result.checked.judged
    assert "No judge checked this dataset" in result.card and "## Verification" not in result.card


def test_rejected_texts_are_dropped_with_their_verdicts_and_the_labels_rebalanced(tmp_path):
    store = make_run(tmp_path / "s.db", rounds=40)

    def says(r: int, m: str) -> str:  # the judge rejects every third negative of j2-ultra: negatives end up short
        return "positive" if r % 2 or (m == "j2-ultra" and r % 6 == 0) else "negative"

    judge(store, "run-1", 40, None, says)
    store.close()
    result = export_dataset("last", tmp_path / "out", store=url(tmp_path / "s.db"), judge_columns=True)
    counts = result.drop_counts()
    # 53 negatives and 60 positives: 3 positives cut, least confident first, for 53 / 110 = 48.2%
    assert counts["label_rejected"] == 7 and counts["rebalanced"] == 3
    every = [r for rows in result.splits.values() for r in rows]
    shares = [sum(r.label == i for r in every) / len(every) for i in (0, 1)]
    assert all(abs(s - 0.5) <= 0.02 for s in shares)
    dropped = [json.loads(x) for x in (tmp_path / "out" / "dropped.jsonl").read_text().splitlines()]
    rejected = [d for d in dropped if d["reason"] == "label_rejected"]
    assert rejected[0]["verdicts"][0]["label"] == "positive" and rejected[0]["verdicts"][-1]["judge"] == PANEL
    assert result.dataset["train"].features["judge_label"].dtype == "string"
    assert set(result.dataset["train"]["judge_label"]) == {"negative", "positive"}
    card = result.card
    assert "## Verification" in card and "| label negative | 53 of 60 | 88.3% |" in card
    assert "Each label was checked by a judge model (local-gemma)" in card

    kept = export_dataset("last", tmp_path / "kept", store=url(tmp_path / "s.db"), keep_unverified=True)
    assert "label_rejected" not in kept.drop_counts() and kept.checked.kept_unverified == 7


def test_a_regenerated_answer_that_passed_is_exported_in_its_cells_place(tmp_path):
    store = make_run(tmp_path / "s.db", rounds=20)
    judge(
        store,
        "run-1",
        20,
        None,
        lambda r, m: "positive" if (r, m) == (4, "gpt-4") else ("positive" if r % 2 else "negative"),
        attempt_text=lambda r, m: f"A truly gloomy second try, round {r}." if (r, m) == (4, "gpt-4") else None,
    )
    store.close()
    result = export_dataset("last", None, store=url(tmp_path / "s.db"))
    texts = {r.record_id: r.text for rows in result.splits.values() for r in rows}
    assert texts["run-1/000004/gpt-4"] == "A truly gloomy second try, round 4."
    assert result.checked.regenerated_kept == 1 and result.checked.rejected == 0


def test_balanced_counts_cut_the_larger_labels_only():
    assert balanced_counts([100, 60], [0.5, 0.5], 0.02) == [65, 60]
    assert balanced_counts([50, 50], [0.5, 0.5], 0.02) == [50, 50]
    six = balanced_counts([20, 20, 20, 20, 20, 5], [1 / 6] * 6, 0.02)
    assert six[-1] == 5 and all(abs(n / sum(six) - 1 / 6) <= 0.02 for n in six)
    assert balanced_counts([10, 0], [0.5, 0.5], 0.02) == [0, 0]


def test_near_duplicates_keep_the_first_and_never_straddle_the_split(tmp_path):
    def text(i, model, sentiment):
        if model == "gpt-4" and i % 5 == 0:
            return f"I really loved how the whole team celebrated {i} together at the office party last night!"
        if model == "llama2" and i % 5 == 0:
            return f"I really loved how the whole team celebrated {i} together at the office party last night."
        return f"{model} wrote sentence number {i}, which is {sentiment}."

    make_run(tmp_path / "s.db", rounds=30, text=text).close()
    result = export_dataset("last", tmp_path / "out", store=url(tmp_path / "s.db"))
    assert result.drop_counts().get("near_duplicate") == 6  # the loose key still catches punctuation-only copies
    texts = [r.text for rows in result.splits.values() for r in rows]
    assert near_duplicates(texts) == []
    assert "## Near-duplicates" in result.card


def test_minhash_finds_reworded_copies_and_an_embedder_finds_more():
    texts = [
        "The hotel staff were lovely and the room was spotless, we will come back.",
        "The hotel staff were lovely and the room was spotless, we will come back soon!",
        "Our flight was delayed for six hours and nobody told us anything at all.",
        "A completely different sentence about gardening in spring.",
    ]
    found = near_duplicates(texts)
    assert [(d.index, d.kept, d.how) for d in found] == [(1, 0, "minhash")] and found[0].similarity >= 0.8
    assert near_duplicates(texts, threshold=0.95) == []
    assert shingles("Hello, world!") == {"hello world"}

    class Echo:
        name = "echo"

        def embed(self, items):
            import numpy as np

            return np.array([[1.0, 0.0] if "flight" in t or "gardening" in t else [0.0, 1.0] for t in items])

    with_cosine = near_duplicates(texts, embedder=Echo())
    assert [(d.index, d.kept, d.how) for d in with_cosine] == [(1, 0, "minhash"), (3, 2, "cosine")]


def test_diversity_per_model_and_label():
    texts = ["the cat sat on the mat", "the cat sat on the hat", "a dog ran in the park at work"]
    report = diversity_report(
        texts,
        ["a", "a", "b"],
        ["negative", "negative", "positive"],
        [["Contexts: Work environment"], ["Pets: Cats"], ["Contexts: Work environment"]],
        label_order=SENTIMENT_TASK.names,
    )
    a = report.per_model["a"]
    assert a.texts == 2 and a.distinct_1 == pytest.approx(6 / 12) and a.distinct_2 == pytest.approx(6 / 10)
    assert report.per_model["b"].topic_mention == 1.0 and a.topic_mention == 0.0  # "work" is in b's text
    assert a.vocabulary == 6 and report.overall.length_p50 == 6
    assert a.mean_similarity is not None and report.per_model["b"].mean_similarity is None
    assert list(report.per_label) == ["negative", "positive"]
    assert set(report.to_dict()) == {"embedder", "overall", "per_model", "per_label"}
