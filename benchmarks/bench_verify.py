"""Verified labels, measured on data no model wrote (tests/data/real: written by hand; see its README).

    python benchmarks/bench_verify.py --judge            # the bundled judge's accuracy on the hand-written sets
    python benchmarks/bench_verify.py --runs --rounds 200 # a default run with and without --verify

--judge: Gemma 3 270M scoring each label's log-probability after the task's few-shot prompt, with and without
contextual calibration, on the dev part (looked at while choosing the prompt) and the test part (reported).

--runs: `synthgen generate --rounds N --verify` on the bundled model (one run, fixed seed). "Without --verify" is
the same run's first answers exported without verdicts (a copy of the store with the verification layers
emptied): the same answers `generate --rounds N` writes for that seed, so the comparison is exact. Measured:
wall time (generation alone, and generation + verification), answers generated per kept answer, label agreement
against an independent measure (a MiniLM + logistic-regression classifier trained on the hand-written *dev*
parts only, sentiment and emotion-as-polarity: no part of the judge, never tuned on a test part), and
`synthgen evaluate` on the hand-written sentiment test set with each export (TF-IDF and MiniLM classifiers).
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
REAL = ROOT / "tests" / "data" / "real"


def _read(path: Path) -> tuple[list[str], list[str]]:
    if path.suffix == ".csv":
        rows = list(csv.DictReader(path.open(encoding="utf-8")))
    else:
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r["text"] for r in rows], [r["label"] for r in rows]


def bench_judge() -> dict:
    import numpy as np

    from synthgen.adapters import _llama_runtime as runtime
    from synthgen.catalog import load_catalog
    from synthgen.task import load_task
    from synthgen.verify import logprob
    from synthgen.verify.prompts import CONTENT_FREE, fewshot_prompt, task_examples

    spec = load_catalog().get_model("local-gemma")
    out = {}
    for name in ("sentiment", "emotion"):
        info = load_task(name).info()
        examples = task_examples(info)
        calibration = fewshot_prompt(info, CONTENT_FREE, examples)
        for part in ("dev", "test"):
            path = REAL / f"{name}_{part}.{'csv' if name == 'sentiment' else 'jsonl'}"
            texts, labels = _read(path)
            raw = cal = 0
            started = time.perf_counter()
            for text, label in zip(texts, labels, strict=True):
                probs, calibrated, _ = runtime.WORKER.submit(
                    logprob.score, spec, fewshot_prompt(info, text, examples), calibration, info.names
                ).result()
                raw += info.names[int(np.argmax(probs))] == label
                cal += info.names[int(np.argmax(calibrated))] == label
            seconds = (time.perf_counter() - started) / len(texts)
            out[f"{name}_{part}"] = {
                "texts": len(texts),
                "accuracy_uncalibrated": round(raw / len(texts), 4),
                "accuracy_calibrated": round(cal / len(texts), 4),
                "seconds_per_text": round(seconds, 4),
            }
            print(f"{name} {part}: {out[f'{name}_{part}']}", flush=True)
    return out


POLARITY = {"anger": "negative", "fear": "negative", "sadness": "negative", "joy": "positive", "love": "positive"}


def _polar(path: Path) -> tuple[list[str], list[str]]:
    """An emotion set as sentiment: anger, fear, sadness negative; joy, love positive; surprise left out."""
    texts, labels = _read(path)
    kept = [(t, POLARITY[label]) for t, label in zip(texts, labels, strict=True) if label in POLARITY]
    return [t for t, _ in kept], [label for _, label in kept]


def _independent_classifier():
    """MiniLM + logistic regression trained on the hand-written dev parts only (sentiment dev, and emotion dev as
    polarity: review-style and narrative-style sentences): an independent measure, no part of the judge. Its
    accuracy on both held-out test parts says how far it is to be trusted."""
    from synthgen.evaluation import make_classifier, scores

    texts, labels = _read(REAL / "sentiment_dev.csv")
    more, more_labels = _polar(REAL / "emotion_dev.jsonl")
    model = make_classifier("minilm", seed=0).fit(texts + more, labels + more_labels)
    accuracy = {}
    for name, (test_texts, test_labels) in (
        ("sentiment_test", _read(REAL / "sentiment_test.csv")),
        ("emotion_test_as_polarity", _polar(REAL / "emotion_test.jsonl")),
    ):
        accuracy[name] = round(scores(test_labels, list(model.predict(test_texts)), ["negative", "positive"])[0], 4)
    return model, accuracy


def _strip_verification(db: Path, copy: Path) -> None:
    shutil.copy(db, copy)
    con = sqlite3.connect(copy)
    con.execute("DELETE FROM verdicts")
    con.execute("DELETE FROM attempts")
    con.commit()
    con.close()


def bench_runs(rounds: int, seed: int, max_regenerations: int) -> dict:
    from synthgen.api import evaluate, export_dataset
    from synthgen.verify import generate_verified

    work = Path(tempfile.mkdtemp(prefix="bench-verify-"))
    db = work / "verified.db"
    started = time.perf_counter()
    result = generate_verified(
        rounds=rounds,
        models=["local-gemma"],
        store=f"sqlite:///{db}",
        seed=seed,
        max_regenerations=max_regenerations,
    )
    total = time.perf_counter() - started
    generation = result.generation.wall_s
    figures = result.agreement()
    _strip_verification(db, work / "plain.db")
    model, independent_accuracy = _independent_classifier()

    out = {
        "rounds": rounds,
        "seed": seed,
        "max_regenerations": max_regenerations,
        "independent_classifier_test_accuracy": independent_accuracy,
        "judge_first_answer_agreement": figures.overall,
        "judge_per_label": {k: v for k, v in figures.to_dict()["per_label"].items()},
        "cells": figures.cells,
        "answers": figures.answers,
        "wall_s": {"generate": round(generation, 1), "generate_verify": round(total, 1)},
    }
    for name, path in (("without_verify", work / "plain.db"), ("with_verify", db)):
        exported = export_dataset("last", work / f"out-{name}", store=f"sqlite:///{path}")
        rows = [r for part in exported.splits.values() for r in part]
        names = exported.task.names
        predicted = model.predict([r.text for r in rows])
        agree = sum(p == names[r.label] for p, r in zip(predicted, rows, strict=True))
        per_label = {
            label: round(
                sum(p == label for p, r in zip(predicted, rows, strict=True) if names[r.label] == label)
                / max(1, sum(names[r.label] == label for r in rows)),
                4,
            )
            for label in names
        }
        scores = {}
        for classifier in ("tfidf", "minilm"):
            report = evaluate(data=work / f"out-{name}", real=REAL / "sentiment_test.csv", classifier=classifier)
            scores[classifier] = {s.name: [round(s.accuracy, 4), round(s.macro_f1, 4)] for s in report.scores}
        out[name] = {
            "exported": len(rows),
            "labels": {n: sum(names[r.label] == n for r in rows) for n in names},
            "dropped": exported.drop_counts(),
            "independent_agreement": round(agree / len(rows), 4),
            "independent_agreement_per_label": per_label,
            "answers_per_kept": round(figures.answers / len(rows), 3) if name == "with_verify" else 1.0,
            "evaluate_on_handwritten_test": scores,
            "similar_dropped": exported.checked.similar_within + exported.checked.similar_across,
        }
        print(f"{name}: {json.dumps(out[name])}", flush=True)
    out["work"] = str(work)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--judge", action="store_true")
    parser.add_argument("--runs", action="store_true")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--max-regenerations", type=int, default=3)
    parser.add_argument("--out", default=None, help="Write the figures here as JSON.")
    args = parser.parse_args()
    figures = {}
    if args.judge or not args.runs:
        figures["judge"] = bench_judge()
    if args.runs:
        figures["runs"] = bench_runs(args.rounds, args.seed, args.max_regenerations)
    text = json.dumps(figures, indent=2)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
