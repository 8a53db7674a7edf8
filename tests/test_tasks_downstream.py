"""Everything downstream follows the run's stored task: an `emotion` run generated through the provider server,
then its stats, plots, export (six-class ClassLabel, stratified split, card), topics per label, and a resume;
and a store written before tasks reads back as the sentiment task."""

from __future__ import annotations

import json
import shutil
import sqlite3
from collections import Counter
from pathlib import Path

import pytest
from conftest import run_cli_output

from synthgen.api import export_dataset, run_stats, topics
from synthgen.generation import generate
from synthgen.labels import SENTIMENT_TASK
from synthgen.stats import plot_stats
from synthgen.store import open_store

EMOTIONS = ["anger", "fear", "joy", "love", "sadness", "surprise"]
MODELS = ["gpt-4o-mini", "claude-haiku"]
DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def emotion_run(provider_server, tmp_path):
    db = f"sqlite:///{tmp_path / 's.db'}"
    summary = generate(rounds=60, models=MODELS, store=db, seed=4, task="emotion")
    return db, summary


def test_an_emotion_run_stores_its_task_and_ten_answers_per_label_and_model(emotion_run):
    db, summary = emotion_run
    assert summary.ok == 120
    assert {m: s.labels for m, s in summary.models.items()} == {m: dict.fromkeys(EMOTIONS, 10) for m in MODELS}
    with open_store(db, create=False) as store:
        run = store.get_run(summary.run_id)
        records = list(store.records(summary.run_id))
    task = run.task_info()
    assert task.name == "emotion" and list(task.names) == EMOTIONS
    assert task.description_of("fear") == "expresses fear, worry or anxiety about what might happen"
    assert run.template == "emotion" and run.topics_source == "emotion"
    for rec in records:
        assert f"The emotion is {rec.label}: the sentence {task.description_of(rec.label)}" in rec.prompt
        assert rec.sentiment == rec.label  # the deprecated name reads the same field


def test_stats_and_plots_follow_the_runs_labels(emotion_run, tmp_path, capsys):
    db, summary = emotion_run
    stats = run_stats(summary.run_id, store=db)
    assert list(stats.labels) == EMOTIONS and set(stats.labels.values()) == {20}
    assert stats.to_dict()["task"]["name"] == "emotion"
    names = sorted(p.name for p in plot_stats(stats, tmp_path / "plots"))
    assert names == ["answers_per_model.png", "diversity.png", "emotion_split.png", "latency_per_model.png"]
    code, out, err = run_cli_output(["stats", "--store", db], capsys)
    assert code == 0, err
    assert "task emotion:" in out and "surprise: expresses surprise" in out
    assert "emotion split: anger 20 (16.7%)" in out


def test_export_gives_six_classes_in_order_a_stratified_split_and_a_card_naming_the_task(emotion_run, tmp_path):
    from datasets import load_from_disk

    db, summary = emotion_run
    result = export_dataset(summary.run_id, tmp_path / "data", store=db, test_size=0.25)
    dd = load_from_disk(str(tmp_path / "data"))
    assert dd["train"].features["labels"].names == EMOTIONS
    assert result.dataset["test"].features["labels"].names == EMOTIONS
    kept = result.kept
    test = Counter(dd["test"]["labels"])
    train = Counter(dd["train"]["labels"])
    every = train + test
    for i in range(len(EMOTIONS)):  # each label's share of the test split is its share of the whole, within one
        assert abs(test[i] - every[i] * len(dd["test"]) / kept) <= 1
    assert not set(dd["train"]["text"]) & set(dd["test"]["text"])
    assert list(result.label_counts("test")) == EMOTIONS
    card = (tmp_path / "data" / "README.md").read_text(encoding="utf-8")
    assert "# synthgen emotion, run " in card and "task `emotion`" in card
    assert "| 5 | `surprise` | expresses surprise or astonishment at something unexpected |" in card
    assert "| split | anger | fear | joy | love | sadness | surprise | total |" in card
    assert "0 = anger, 1 = fear, 2 = joy, 3 = love, 4 = sadness, 5 = surprise" in card
    assert "multi-class-classification" in card and "- emotion" in card


def test_topics_have_a_per_label_view_from_the_run_and_from_the_export(emotion_run, tmp_path):
    db, summary = emotion_run
    report = topics(summary.run_id, store=db, k=3)
    assert [v.label for v in report.labels] == EMOTIONS
    assert all(v.n_texts == 20 and abs(sum(v.topic_share) - 1) < 1e-3 for v in report.labels)
    assert {a.label for a in report.assignments} == set(EMOTIONS)
    export_dataset(summary.run_id, tmp_path / "data", store=db)
    from_export = topics(dataset=tmp_path / "data", k=3)
    assert [v.label for v in from_export.labels] == EMOTIONS
    assert sum(v.n_texts for v in from_export.labels) == from_export.n_texts
    assert type(report).from_dict(report.to_dict()).labels == report.labels


def test_a_resumed_run_keeps_the_task_it_was_planned_with(provider_server, tmp_path, monkeypatch):
    db = f"sqlite:///{tmp_path / 's.db'}"
    provider_server.configure(model="*", always_status=403)
    first = generate(rounds=6, models=["gpt-4o-mini"], store=db, seed=2, task="sentiment3")
    assert first.ok == 0
    provider_server.configure(model="*", always_status=None)
    tasks = tmp_path / "tasks"  # a task of the same name, edited since: the run does not see it
    tasks.mkdir()
    edited = (Path(__file__).resolve().parents[1] / "tasks" / "sentiment3.toml").read_text(encoding="utf-8")
    (tasks / "sentiment3.toml").write_text(edited.replace('name = "neutral"', 'name = "mixed"'), encoding="utf-8")
    monkeypatch.setenv("SYNTHGEN_TASKS", str(tasks))
    done = generate(store=db, resume=first.run_id)
    assert done.ok == 6 and list(done.models["gpt-4o-mini"].labels) == ["negative", "neutral", "positive"]
    assert set(done.models["gpt-4o-mini"].labels.values()) == {2}


def test_a_store_written_before_tasks_reads_back_with_its_labels_as_the_sentiment_task(tmp_path):
    path = tmp_path / "store-v1.db"
    shutil.copy(DATA / "store-v1.db", path)
    url = f"sqlite:///{path}"
    with open_store(url, create=False) as store:
        [run] = store.list_runs()
        labels = [r.label for r in store.records(run.run_id)]
    assert run.task == {} and run.task_info() == SENTIMENT_TASK
    assert labels == ["positive", "positive", "negative", "negative"]
    result = export_dataset(run.run_id, None, store=url, allow_partial=True)
    assert result.dataset["train"].features["labels"].names == ["negative", "positive"]
    assert "task `sentiment`" in result.card and "expresses a positive feeling" in result.card
    with sqlite3.connect(path) as db:  # the sentiment column still mirrors the label for anything reading it
        assert db.execute("SELECT COUNT(*) FROM records WHERE label = sentiment").fetchone()[0] == 4


def test_log_json_carries_label_and_the_deprecated_sentiment(emotion_run, capsys):
    db, summary = emotion_run
    code, out, _ = run_cli_output(["log", "--store", db, "--run", summary.run_id, "--json"], capsys)
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(rows) == 120
    assert all(r["label"] in EMOTIONS and r["sentiment"] == r["label"] for r in rows)
