"""`synthgen evaluate`: a quick classifier trained on an export's train split, scored on its test split and on a
real labelled file (the hand-written set in tests/data/real), beside the majority baseline and the in-domain
ceiling; labels the task lacks are one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_cli_output
from test_export import make_run, url

from synthgen.api import evaluate

REAL = Path(__file__).parent / "data" / "real"
WORDS = {
    "positive": ["loved", "great", "wonderful", "happy", "perfect", "friendly", "best"],
    "negative": ["hated", "terrible", "awful", "broken", "rude", "worst", "late"],
}


def text(i: int, model: str, sentiment: str) -> str:
    words = WORDS[sentiment]
    return f"The {model} visit number {i} was {words[i % 7]} and {words[(i * 3 + 1) % 7]}, truly {words[(i + 2) % 7]}."


def test_evaluate_scores_synthetic_and_real_data_beside_baseline_and_ceiling(tmp_path, capsys):
    make_run(tmp_path / "s.db", rounds=60, text=text).close()
    report = evaluate("last", real=REAL / "sentiment_test.csv", store=url(tmp_path / "s.db"), plot=tmp_path / "cm.png")
    names = [s.name for s in report.scores]
    assert names[0] == "synthetic train -> synthetic test" and names[1] == "synthetic train -> real file"
    assert names[2].startswith("majority baseline") and names[3].startswith("in-domain ceiling")
    synthetic, real, baseline, ceiling = report.scores
    assert synthetic.accuracy > 0.95 and synthetic.tested == 18 and real.tested == 120
    assert baseline.accuracy == 0.5 and 0.5 < ceiling.accuracy <= 1.0 and real.accuracy > baseline.accuracy
    assert sum(map(sum, report.confusion)) == 120
    assert (tmp_path / "cm.png").read_bytes()[:4] == b"\x89PNG"

    code, out, err = run_cli_output(
        ["export", "--store", url(tmp_path / "s.db"), "--out", str(tmp_path / "data"), "--format", "jsonl"], capsys
    )
    assert code == 0, err
    code, out, err = run_cli_output(
        ["evaluate", "--data", str(tmp_path / "data"), "--real", str(REAL / "sentiment_dev.csv"), "--json"], capsys
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["labels"] == ["negative", "positive"] and len(data["scores"]) == 4
    assert data["scores"][1]["tested"] == 80


def test_labels_the_task_lacks_are_one_line_exit_2(tmp_path, capsys):
    make_run(tmp_path / "s.db", rounds=10, text=text).close()
    code, out, err = run_cli_output(
        ["evaluate", "--store", url(tmp_path / "s.db"), "--real", str(REAL / "emotion_dev.jsonl")], capsys
    )
    assert code == 2 and err.count("\n") == 1
    assert "label(s) anger, fear, joy, love, sadness, surprise are not labels" in err
    code, _, err = run_cli_output(
        [
            "evaluate",
            "--store",
            url(tmp_path / "s.db"),
            "--real",
            str(REAL / "sentiment_dev.csv"),
            "--label-column",
            "y",
        ],
        capsys,
    )
    assert code == 2 and "no column 'y' (--label-column)" in err
