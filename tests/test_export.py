"""Export: a run in the store -> deduplicated, stratified DatasetDict, its card, files, and the Hub push.

Runs are built through the store API (create_run + put_record + put_cleaned), exactly as generate and clean write them.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from synthgen import export as export_module
from synthgen.cli import main
from synthgen.errors import UserError
from synthgen.export import Row, deduplicate, export_dataset, normalise, split_rows
from synthgen.store import CleanedText, Record, RunInfo, utc_now
from synthgen.store.sqlite import SQLiteStore

MODEL_IDS = {"j2-ultra": "ai21.j2-ultra-v1", "llama2": "meta.llama2-70b-chat-v1", "gpt-4": "gpt-4-1106-preview"}
TEMPLATE = "You write one sentence.\nThe sentiment is {sentiment}, with the topics:\n{topics}\nOnly the sentence."
TOPICS = [{"category": "Contexts or Scenarios", "topic": "Work environment"},
          {"category": "Temporal Aspects", "topic": "Recent events"},
          {"category": "Local idioms", "topic": "Popular sayings"}]


def make_run(path: Path, run_id: str = "run-1", rounds: int = 100, models: tuple[str, ...] = tuple(MODEL_IDS),
             text: Callable[[int, str, str], str | None] | None = None,
             status: Callable[[int, str], str] | None = None, seed: int = 5) -> SQLiteStore:
    """A run whose sentiments alternate (so it is balanced) and whose answers are unique unless `text` says else."""
    store = SQLiteStore(path)
    info = RunInfo(run_id=run_id, created_at=utc_now(), seed=seed, rounds=rounds, models=list(models),
                   template="sentiment", template_text=TEMPLATE, topics_source="sentiment",
                   params={"gpt-4": {"temperature": 0.2}})
    cells = [Record(run_id=run_id, round=i, model=m, model_id=MODEL_IDS.get(m, m),
                    sentiment="positive" if i % 2 else "negative", topics=TOPICS, prompt=f"prompt {i}")
             for i in range(rounds) for m in models]
    store.create_run(info, cells)
    text = text or (lambda i, m, s: f"{m} wrote sentence number {i}, which is {s}.")
    for cell in cells:
        cell.status = status(cell.round, cell.model) if status else "ok"
        if cell.status == "ok":
            cell.text = text(cell.round, cell.model, cell.sentiment)
            cell.latency_s, cell.input_tokens, cell.output_tokens = 1.0, 40, 12
        else:
            cell.failure_kind, cell.failure_message = "throttled", "429"
        store.put_record(cell)
    return store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "synthgen.db"


def url(db: Path) -> str:
    return f"sqlite:///{db}"


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    code = 0
    try:
        main(args)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    out, err = capsys.readouterr()
    return code, out, err


# --- the dataset -----------------------------------------------------------------------------------------------------

def test_round_trip_gives_label_names_split_sizes_disjoint_splits_and_balance(db, tmp_path, capsys):
    from datasets import load_from_disk

    make_run(db).close()
    out = tmp_path / "data"
    code, stdout, err = run_cli(["export", "--store", url(db), "--out", str(out), "--test-size", "0.1"], capsys)
    assert code == 0, err

    dd = load_from_disk(str(out))
    assert set(dd) == {"train", "test"}
    assert dd["train"].features["labels"].names == ["negative", "positive"]
    assert (dd["train"].num_rows, dd["test"].num_rows) == (270, 30)
    assert set(dd["train"].column_names) == {"text", "labels", "model", "topics", "run", "record_id"}
    assert not set(dd["train"]["text"]) & set(dd["test"]["text"])
    for split in ("train", "test"):
        share = sum(dd[split]["labels"]) / dd[split].num_rows
        assert abs(share - 0.5) <= 0.02, (split, share)
    row = dd["test"][0]
    assert row["run"] == "run-1" and row["record_id"].startswith("run-1/")
    assert row["topics"] == ["Contexts or Scenarios: Work environment", "Temporal Aspects: Recent events",
                             "Local idioms: Popular sayings"]
    # every record is exported once, with the label it was asked for
    labels = {r: lab for split in dd.values() for r, lab in zip(split["record_id"], split["labels"], strict=True)}
    assert len(labels) == 300
    assert all(lab == int(r.split("/")[1]) % 2 for r, lab in labels.items())
    assert "train 270, test 30" in stdout


def test_split_is_stratified_by_model_and_reproducible_from_the_seed():
    rows = [Row(f"t{i}-{m}", i % 2, m, (), "r", f"r/{i}/{m}") for i in range(60) for m in ("a", "b", "c")]
    splits = split_rows(rows, 0.2, seed=3)
    assert len(splits["test"]) == 36
    per_model_label = Counter((r.model, r.label) for r in splits["test"])
    assert set(per_model_label.values()) == {6}  # 30 of each (model, label): 20% is exactly 6
    assert split_rows(rows, 0.2, seed=3) == splits
    assert split_rows(rows, 0.2, seed=4)["test"] != splits["test"]


def test_small_runs_still_get_a_test_row_and_one_text_is_refused():
    rows = [Row(f"t{i}", i % 2, "a", (), "r", f"r/{i}") for i in range(3)]
    splits = split_rows(rows, 0.1, seed=0)
    assert (len(splits["train"]), len(splits["test"])) == (2, 1)
    with pytest.raises(UserError, match="at least 2"):
        split_rows(rows[:1], 0.1, seed=0)


def test_near_duplicate_key_ignores_case_punctuation_quotes_and_spacing():
    assert normalise('"What a  day!"') == normalise("what a day") == normalise("WHAT A DAY.")
    assert normalise("What a day") != normalise("What a night")


def test_duplicates_and_empty_answers_are_dropped_before_the_split_and_reported(db, tmp_path):
    def text(i: int, model: str, sentiment: str) -> str:
        if i == 3 and model == "gpt-4":
            return "j2-ultra wrote sentence number 3, which is positive."  # exact copy of j2-ultra's answer
        if i == 4 and model == "llama2":
            return '  "J2-ULTRA wrote sentence number 4 which is negative!"  '  # near copy
        if i == 6 and model == "gpt-4":
            return "   "
        if i == 8 and model == "llama2":
            return "j2-ultra wrote sentence number 7, which is positive."  # copy with the other label
        return f"{model} wrote sentence number {i}, which is {sentiment}."

    make_run(db, rounds=20, models=("j2-ultra", "llama2", "gpt-4"), text=text).close()
    result = export_dataset("last", tmp_path / "out", store=url(db))

    assert result.drop_counts() == {"empty": 1, "exact_duplicate": 2, "near_duplicate": 1}
    by_id = {d.record_id: d for d in result.dropped}
    assert by_id["run-1/000003/gpt-4"].duplicate_of == "run-1/000003/j2-ultra"
    assert by_id["run-1/000004/llama2"].reason == "near_duplicate"
    assert by_id["run-1/000008/llama2"].label_conflict
    assert result.kept == 60 - 4
    keys = {split: {normalise(r.text) for r in rows} for split, rows in result.splits.items()}
    assert not keys["train"] & keys["test"]
    dropped_file = [json.loads(line) for line in (tmp_path / "out" / "dropped.jsonl").read_text().splitlines()]
    assert Counter(d["reason"] for d in dropped_file) == Counter(result.drop_counts())
    assert "| exact duplicate of an earlier text | 2 |" in result.card
    assert "1 dropped duplicate(s) carried the other label" in result.card


def test_deduplicate_keeps_the_first_text():
    rows = [Row("Same.", 1, "a", (), "r", "r/1/a"), Row("same", 1, "b", (), "r", "r/1/b")]
    kept, dropped = deduplicate(rows)
    assert [r.record_id for r in kept] == ["r/1/a"]
    assert dropped[0].reason == "near_duplicate" and dropped[0].duplicate_of == "r/1/a"


# --- cleaned text ----------------------------------------------------------------------------------------------------

def test_cleaned_text_replaces_the_raw_answer_and_none_kept_answers_are_dropped(db, tmp_path):
    store = make_run(db, rounds=10, text=lambda i, m, s: (f"Sure! Here's one:\n\n\"Llama {i} is {s}.\"\n\nHow's this?"
                                                          if m == "llama2" else f"{m} {i} {s}."))
    store.put_cleaned([CleanedText(record_id=f"run-1/{i:06d}/llama2", run_id="run-1", model="llama2",
                                   text=None if i == 2 else f"Llama {i} is {'positive' if i % 2 else 'negative'}.",
                                   reason="kept: alone in target cluster", method="kmeans3 seed=0")
                       for i in range(10)])
    store.close()
    result = export_dataset("run-1", tmp_path / "out", store=url(db), require_clean=["llama2"])

    texts = {r.record_id: r.text for rows in result.splits.values() for r in rows}
    assert texts["run-1/000001/llama2"] == "Llama 1 is positive."
    assert texts["run-1/000001/gpt-4"] == "gpt-4 1 positive."
    assert "run-1/000002/llama2" not in texts
    assert not any("How's this?" in t for t in texts.values())
    fig = result.cleaning["llama2"]
    assert (fig.answers, fig.cleaned, fig.none_kept, fig.raw) == (10, 9, 1, 0)
    assert result.drop_counts() == {"none_kept": 1}
    assert "| llama2 | 10 | 9 | 1 | 0 | `kmeans3 seed=0` |" in result.card


def test_require_clean_refuses_uncleaned_answers_naming_the_model_and_the_fix(db, tmp_path, capsys):
    store = make_run(db, rounds=10)
    store.put_cleaned([CleanedText(record_id="run-1/000000/llama2", run_id="run-1", model="llama2", text="x.")])
    store.close()
    out = tmp_path / "out"
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(out), "--require-clean", "llama2"], capsys)
    assert code == 2
    assert err.count("\n") == 1
    assert "llama2" in err and "9 of 10" in err and "synthgen clean --model llama2" in err
    assert not out.exists()


def test_a_partly_cleaned_model_is_exported_with_a_note_naming_the_raw_answers(db, tmp_path, capsys):
    store = make_run(db, rounds=10)
    store.put_cleaned([CleanedText(record_id="run-1/000000/llama2", run_id="run-1", model="llama2", text="Kept.")])
    store.close()
    code, out, err = run_cli(["export", "--store", url(db), "--out", str(tmp_path / "out")], capsys)
    assert code == 0, err
    assert "cleaned text used: llama2 1 of 10" in out
    assert "note: 9 answers of llama2 have no cleaned text" in out


def test_require_clean_of_a_model_not_in_the_run_is_refused(db, tmp_path):
    make_run(db, rounds=4).close()
    with pytest.raises(UserError, match="no model claude-v2"):
        export_dataset("last", tmp_path / "out", store=url(db), require_clean=["claude-v2"])


# --- the card --------------------------------------------------------------------------------------------------------

def test_card_has_hub_metadata_and_states_models_prompt_topics_counts_cleaning_and_parameters(db, tmp_path):
    from huggingface_hub import DatasetCard

    make_run(db, rounds=40, status=lambda i, m: "failed" if (m == "j2-ultra" and i < 4) else "ok").close()
    out = tmp_path / "out"
    result = export_dataset("last", out, store=url(db), seed=11)
    card_text = (out / "README.md").read_text()
    assert card_text == result.card

    meta = DatasetCard(card_text).data
    assert meta.license == "other"
    assert meta.task_categories == ["text-classification"]
    assert meta.language == ["en"]
    assert meta.size_categories == ["n<1K"]
    assert "synthetic" in meta.tags
    assert meta.pretty_name

    for alias, model_id in MODEL_IDS.items():
        assert f"| {alias} | `{model_id}` |" in card_text
    assert TEMPLATE in card_text
    assert "Topics source: `sentiment`" in card_text and "- Contexts or Scenarios (1)" in card_text
    assert "| j2-ultra | 18 | 18 | 36 |" in card_text  # 4 failed rounds: 2 of each label
    assert "| gpt-4 | 20 | 20 | 40 |" in card_text
    train = result.label_counts("train")
    assert f"| train | {train['negative']} (" in card_text
    assert "| gpt-4 | 40 | 0 | 0 | 40 | - |" in card_text  # cleaning: no cleaned entries, raw answers used
    assert "| exact duplicate of an earlier text | 0 |" in card_text
    assert "- seed: 5" in card_text and "- rounds: 40" in card_text and "shuffled with seed 11" in card_text
    params = json.loads(card_text.split("```json\n")[1].split("```")[0])
    assert params["gpt-4"]["temperature"] == 0.2  # the run's override, deep-merged over the catalog
    assert params["gpt-4"]["max_tokens"] == 512
    assert params["llama2"] == {"temperature": 0.5, "top_p": 0.9, "max_gen_len": 200}


# --- formats ---------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "csv"])
def test_file_formats_write_one_file_per_split_with_the_same_rows(db, tmp_path, fmt):
    make_run(db, rounds=20).close()
    out = tmp_path / "out"
    result = export_dataset("last", out, store=url(db), format=fmt)
    for split, rows in result.splits.items():
        path = out / f"{split}.{fmt}"
        if fmt == "parquet":
            from datasets import Dataset

            back = Dataset.from_parquet(str(path))
            assert back.features["labels"].names == ["negative", "positive"]
            loaded = back.to_list()
        elif fmt == "jsonl":
            loaded = [json.loads(line) for line in path.read_text().splitlines()]
        else:
            with path.open(newline="") as fh:
                loaded = list(csv.DictReader(fh))
            for item in loaded:
                item["labels"], item["topics"] = int(item["labels"]), json.loads(item["topics"])
        assert loaded == [r.to_dict() for r in rows]
    assert (out / "README.md").is_file()


def test_a_new_export_replaces_an_earlier_one_in_the_same_folder(db, tmp_path):
    make_run(db, rounds=10).close()
    out = tmp_path / "out"
    export_dataset("last", out, store=url(db), format="disk")
    export_dataset("last", out, store=url(db), format="jsonl")
    assert sorted(p.name for p in out.iterdir()) == ["README.md", "dropped.jsonl", "export.json", "test.jsonl",
                                                     "train.jsonl"]


# --- the Hub ---------------------------------------------------------------------------------------------------------

def test_push_hands_repo_token_private_flag_and_card_to_the_single_upload_function(db, tmp_path, capsys, monkeypatch):
    make_run(db, rounds=10).close()
    token = "hf_secret_token_1234567890"
    monkeypatch.setenv("HF_TOKEN", token)
    calls = []

    def fake_upload(dataset_dict, repo_id, token, private, card_text):
        calls.append((dataset_dict, repo_id, token, private, card_text))
        return f"https://huggingface.co/datasets/{repo_id}"

    monkeypatch.setattr(export_module, "upload", fake_upload)
    out = tmp_path / "out"
    code, stdout, err = run_cli(["export", "--store", url(db), "--out", str(out), "--push", "alice/sentiment-synth",
                                 "--private"], capsys)
    assert code == 0, err
    [(dd, repo_id, passed_token, private, card_text)] = calls
    assert (repo_id, passed_token, private) == ("alice/sentiment-synth", token, True)
    assert card_text == (out / "README.md").read_text()
    assert "pretty_name: sentiment-synth (synthgen)" in card_text
    assert dd["train"].num_rows + dd["test"].num_rows == 30
    assert "pushed to https://huggingface.co/datasets/alice/sentiment-synth (private)" in stdout
    assert token not in card_text + stdout + err
    assert not any(token in p.read_text(errors="ignore") for p in out.rglob("*") if p.is_file())


def test_upload_sends_the_card_first_then_the_data_with_token_and_private_flag(monkeypatch):
    from datasets import Dataset, DatasetDict
    from huggingface_hub import HfApi

    order = []

    def create_repo(self, repo_id, **kw):
        order.append(("create_repo", repo_id, self.token, kw))

    def upload_file(self, **kw):
        order.append(("upload_file", kw["repo_id"], self.token, kw))

    def push_to_hub(self, repo_id, **kw):
        order.append(("push_to_hub", repo_id, kw["token"], kw))

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_file", upload_file)
    monkeypatch.setattr(DatasetDict, "push_to_hub", push_to_hub)
    dd = DatasetDict({"train": Dataset.from_dict({"text": ["a"]}), "test": Dataset.from_dict({"text": ["b"]})})
    url_ = export_module.upload(dd, "bob/data", "hf_tok", False, "---\nlicense: other\n---\n# card\n")

    assert url_ == "https://huggingface.co/datasets/bob/data"
    assert [step[0] for step in order] == ["create_repo", "upload_file", "push_to_hub"]
    assert all(step[1] == "bob/data" and step[2] == "hf_tok" for step in order)
    assert order[0][3]["repo_type"] == "dataset" and order[0][3]["private"] is False
    assert order[1][3]["path_in_repo"] == "README.md" and order[1][3]["path_or_fileobj"].endswith(b"# card\n")
    assert order[2][3]["private"] is False


def test_push_without_any_token_is_refused_before_anything_is_written(db, tmp_path, capsys, monkeypatch):
    make_run(db, rounds=4).close()
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))  # no saved login
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    out = tmp_path / "out"
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(out), "--push", "alice/x"], capsys)
    assert code == 2 and err.count("\n") == 1 and "HF_TOKEN" in err
    assert not out.exists()


def test_a_failed_upload_is_one_line_that_never_shows_the_token(db, tmp_path, capsys, monkeypatch):
    make_run(db, rounds=4).close()
    monkeypatch.setenv("HF_TOKEN", "hf_leaky_token_0987")

    def failing_upload(dataset_dict, repo_id, token, private, card_text):
        raise ConnectionError(f"could not reach the Hub with\nAuthorization: Bearer {token}")

    monkeypatch.setattr(export_module, "upload", failing_upload)
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(tmp_path / "o"), "--push", "alice/x"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "upload failed" in err and "hf_leaky_token_0987" not in err


def test_a_malformed_repo_id_is_refused(db, tmp_path, capsys, monkeypatch):
    make_run(db, rounds=4).close()
    monkeypatch.setenv("HF_TOKEN", "hf_x")
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(tmp_path / "o"), "--push", "no-slash"], capsys)
    assert code == 2 and "USER/NAME" in err


# --- bad input -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", ["1.5", "0", "1", "-0.2"])
def test_a_test_size_outside_zero_to_one_is_one_line_and_exit_2(db, tmp_path, capsys, size):
    make_run(db, rounds=4).close()
    out = tmp_path / "out"
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(out), "--test-size", size], capsys)
    assert code == 2
    assert err.startswith("error: --test-size") and err.count("\n") == 1
    assert not out.exists()


def test_a_run_without_ok_answers_is_refused(db, tmp_path, capsys):
    make_run(db, rounds=4, status=lambda i, m: "failed").close()
    out = tmp_path / "out"
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "has no ok answers" in err
    assert not out.exists()


def test_an_unwritable_out_is_refused_and_nothing_is_written(db, tmp_path, capsys):
    make_run(db, rounds=4).close()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    for out in (blocker / "data", blocker):
        code, _, err = run_cli(["export", "--store", url(db), "--out", str(out)], capsys)
        assert code == 2 and err.startswith(f"error: --out {out}") and err.count("\n") == 1
    assert blocker.read_text() == "not a folder"


def test_a_folder_holding_other_files_is_not_overwritten(db, tmp_path, capsys):
    make_run(db, rounds=4).close()
    out = tmp_path / "project"
    out.mkdir()
    (out / "README.md").write_text("my project")
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(out)], capsys)
    assert code == 2 and "not empty" in err
    assert [p.name for p in out.iterdir()] == ["README.md"] and (out / "README.md").read_text() == "my project"


def test_an_unknown_run_is_one_line_and_exit_2(db, tmp_path, capsys):
    make_run(db, rounds=4).close()
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(tmp_path / "o"), "--run", "nope"], capsys)
    assert code == 2 and "--run nope: no such run" in err
