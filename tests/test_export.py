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
from conftest import run_cli_output as run_cli

from synthgen import export as export_module
from synthgen.errors import UserError
from synthgen.export import Row, deduplicate, export_dataset, split_rows
from synthgen.store import CleanedText, Record, RunInfo, utc_now
from synthgen.store.sqlite import SQLiteStore
from synthgen.text import loose_key

MODEL_IDS = {"j2-ultra": "ai21.j2-ultra-v1", "llama2": "meta.llama2-70b-chat-v1", "gpt-4": "gpt-4-1106-preview"}
TEMPLATE = "You write one sentence.\nThe sentiment is {sentiment}, with the topics:\n{topics}\nOnly the sentence."
TOPICS = [
    {"category": "Contexts or Scenarios", "topic": "Work environment"},
    {"category": "Temporal Aspects", "topic": "Recent events"},
    {"category": "Local idioms", "topic": "Popular sayings"},
]


def plans_for(models: tuple[str, ...], template: str, text: str, params: dict | None = None) -> dict:
    """What `generate` stores with a run when it plans it: each model's resolved parameters and template."""
    from synthgen.catalog import load_catalog
    from synthgen.generation import plan_models
    from synthgen.prompt import Template

    return plan_models(load_catalog().select(models), Template(template, text, "test"), params)


def make_run(
    path: Path,
    run_id: str = "run-1",
    rounds: int = 100,
    models: tuple[str, ...] = tuple(MODEL_IDS),
    text: Callable[[int, str, str], str | None] | None = None,
    status: Callable[[int, str], str] | None = None,
    seed: int = 5,
    run_status: str = "done",
    with_plans: bool = True,
) -> SQLiteStore:
    """A run whose sentiments alternate (so it is balanced) and whose answers are unique unless `text` says else.

    It ends `run_status` (`done`, as generate leaves a finished run); a `status` of "planned" leaves cells unsent.
    `with_plans=False` stores it as runs were stored before each model's plan was kept."""
    store = SQLiteStore(path)
    params = {"gpt-4": {"temperature": 0.2}}
    info = RunInfo(
        run_id=run_id,
        created_at=utc_now(),
        seed=seed,
        rounds=rounds,
        models=list(models),
        template="sentiment",
        template_text=TEMPLATE,
        topics_source="sentiment",
        params=params,
        model_plans=plans_for(models, "sentiment", TEMPLATE, params) if with_plans else {},
    )
    cells = [
        Record(
            run_id=run_id,
            round=i,
            model=m,
            model_id=MODEL_IDS.get(m, m),
            sentiment="positive" if i % 2 else "negative",
            topics=TOPICS,
            prompt=f"prompt {i}",
        )
        for i in range(rounds)
        for m in models
    ]
    store.create_run(info, cells)
    text = text or (lambda i, m, s: f"{m} wrote sentence number {i}, which is {s}.")
    for cell in cells:
        cell.status = status(cell.round, cell.model) if status else "ok"
        if cell.status == "planned":
            continue
        if cell.status == "ok":
            cell.text = text(cell.round, cell.model, cell.sentiment)
            cell.latency_s, cell.input_tokens, cell.output_tokens = 1.0, 40, 12
        else:
            cell.failure_kind, cell.failure_message = "throttled", "429"
        store.put_record(cell)
    store.set_run_status(run_id, run_status)
    return store


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "synthgen.db"


def url(db: Path) -> str:
    return f"sqlite:///{db}"


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
    assert row["topics"] == [
        "Contexts or Scenarios: Work environment",
        "Temporal Aspects: Recent events",
        "Local idioms: Popular sayings",
    ]
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
    assert loose_key('"What a  day!"') == loose_key("what a day") == loose_key("WHAT A DAY.")
    assert loose_key("What a day") != loose_key("What a night")


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
    keys = {split: {loose_key(r.text) for r in rows} for split, rows in result.splits.items()}
    assert not keys["train"] & keys["test"]
    dropped_file = [json.loads(line) for line in (tmp_path / "out" / "dropped.jsonl").read_text().splitlines()]
    assert Counter(d["reason"] for d in dropped_file) == Counter(result.drop_counts())
    assert "| exact duplicate of an earlier text | 2 |" in result.card
    assert "1 dropped duplicate carried the other label" in result.card


def test_deduplicate_keeps_the_first_text():
    rows = [Row("Same.", 1, "a", (), "r", "r/1/a"), Row("same", 1, "b", (), "r", "r/1/b")]
    kept, dropped = deduplicate(rows)
    assert [r.record_id for r in kept] == ["r/1/a"]
    assert dropped[0].reason == "near_duplicate" and dropped[0].duplicate_of == "r/1/a"


# --- cleaned text ----------------------------------------------------------------------------------------------------


def test_cleaned_text_replaces_the_raw_answer_and_none_kept_answers_are_dropped(db, tmp_path):
    store = make_run(
        db,
        rounds=10,
        text=lambda i, m, s: (
            f"Sure! Here's one:\n\n\"Llama {i} is {s}.\"\n\nHow's this?" if m == "llama2" else f"{m} {i} {s}."
        ),
    )
    store.put_cleaned(
        [
            CleanedText(
                record_id=f"run-1/{i:06d}/llama2",
                run_id="run-1",
                model="llama2",
                text=None if i == 2 else f"Llama {i} is {'positive' if i % 2 else 'negative'}.",
                reason="kept: alone in target cluster",
                method="kmeans3 seed=0",
            )
            for i in range(10)
        ]
    )
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
    assert "Topics source: `sentiment`" in card_text and "- Contexts or Scenarios (1 topic; 116 texts)" in card_text
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
    (out / "notes.txt").write_text("mine")  # not the export's: it stays
    export_dataset("last", out, store=url(db), format="jsonl")
    assert sorted(p.name for p in out.iterdir()) == [
        "README.md",
        "dropped.jsonl",
        "export.json",
        "notes.txt",
        "test.jsonl",
        "train.jsonl",
    ]
    assert (out / "notes.txt").read_text() == "mine"
    # nothing left beside it: no lock file, no temporary or old folder
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


# --- unfinished runs -------------------------------------------------------------------------------------------------


def unsent_after_round_30(i: int, model: str) -> str:
    return "ok" if i < 30 else "planned"


@pytest.mark.parametrize(
    ("run_status", "status"),
    [
        ("interrupted", unsent_after_round_30),
        ("running", unsent_after_round_30),
        ("done", unsent_after_round_30),  # cells still planned whatever the status says
        ("interrupted", None),  # every cell answered, but the run did not end on its own
    ],
)
def test_an_unfinished_run_is_refused_with_its_counts_and_the_resume_command(db, tmp_path, capsys, run_status, status):
    make_run(db, rounds=50, status=status, run_status=run_status).close()
    out = tmp_path / "out"
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(out)], capsys)
    assert code == 2 and err.count("\n") == 1
    planned, ok = (60, 90) if status else (0, 150)
    assert f"{planned} planned, {ok} ok, 0 failed of 150 cells" in err and f"status {run_status}" in err
    assert f"`synthgen generate --resume run-1 --store {url(db)}`" in err
    assert "--allow-partial" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == [db.name]


def test_the_resume_command_names_no_store_when_it_is_the_default(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SYNTHGEN_STORE", raising=False)
    make_run(Path("synthgen.db"), rounds=50, status=unsent_after_round_30, run_status="interrupted").close()
    code, _, err = run_cli(["export", "--out", "data"], capsys)
    assert code == 2 and "`synthgen generate --resume run-1` (" in err and "--store" not in err


def test_allow_partial_exports_an_unfinished_run_and_the_card_says_how_much_it_holds(db, tmp_path, capsys):
    make_run(db, rounds=50, status=unsent_after_round_30, run_status="interrupted").close()
    out = tmp_path / "out"
    code, stdout, err = run_cli(["export", "--store", url(db), "--out", str(out), "--allow-partial"], capsys)
    assert code == 0, err
    card = (out / "README.md").read_text()
    said = "This export holds 90 of the 150 planned cells (60%): the run was interrupted (60 planned, 90 ok, 0 failed)."
    assert said in card and said in stdout
    result = export_dataset("last", tmp_path / "api", store=url(db), allow_partial=True)
    assert result.partial == said and result.kept == 90


def test_a_finished_run_has_no_partial_note(db, tmp_path):
    make_run(db, rounds=10, status=lambda i, m: "failed" if i == 0 else "ok").close()
    result = export_dataset("last", tmp_path / "out", store=url(db))
    assert result.partial is None and "Partial run" not in result.card


# --- a re-export that fails, or meets another export ---------------------------------------------------------------


@pytest.mark.parametrize("writer", ["write_dataset", "write_dropped", "write_manifest"])
def test_a_re_export_that_fails_midway_leaves_the_previous_export_intact(db, tmp_path, capsys, monkeypatch, writer):
    from datasets import load_from_disk

    make_run(db, rounds=10).close()
    out = tmp_path / "out"
    first = export_dataset("last", out, store=url(db), format="disk")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(export_module.files, writer, disk_full)
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(out), "--format", "jsonl"], capsys)
    assert code == 2 and err.count("\n") == 1 and "No space left on device" in err
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert load_from_disk(str(out))["train"]["record_id"] == [r.record_id for r in first.splits["train"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([db.name, "out"])  # the half-written folder is gone

    monkeypatch.undo()
    export_dataset("last", out, store=url(db), format="jsonl")  # the folder is still accepted
    assert (out / "train.jsonl").is_file() and not (out / "dataset_dict.json").exists()


def test_a_swap_that_fails_puts_the_previous_export_back(db, tmp_path, monkeypatch):
    make_run(db, rounds=10).close()
    out = tmp_path / "out"
    export_dataset("last", out, store=url(db), format="jsonl")
    before = sorted(p.name for p in out.iterdir())
    rename = export_module.outdir.os.rename

    def failing_rename(src, dst):
        if ".synthgen-new-" in str(src):
            raise OSError(5, "Input/output error")
        return rename(src, dst)

    monkeypatch.setattr(export_module.outdir.os, "rename", failing_rename)
    with pytest.raises(UserError, match="Input/output error"):
        export_dataset("last", out, store=url(db), format="csv")
    assert sorted(p.name for p in out.iterdir()) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([db.name, "out"])


def test_a_second_export_into_the_same_folder_refuses_at_once_while_the_first_writes(db, tmp_path, capsys):
    import subprocess
    import sys

    make_run(db, rounds=10).close()
    out = tmp_path / "out"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time; fh = open(sys.argv[1], 'w'); "
            "fcntl.flock(fh, fcntl.LOCK_EX); print('locked', flush=True); time.sleep(60)",
            str(tmp_path / ".out.lock"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        code, _, err = run_cli(["export", "--store", url(db), "--out", str(out)], capsys)
        assert code == 2 and err.count("\n") == 1
        assert f"another export is writing {out}; wait for it" in err
        assert not out.exists()
    finally:
        holder.kill()
        holder.wait()
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(out)], capsys)
    assert code == 0, err
    assert not (tmp_path / ".out.lock").exists()


# --- the Hub ---------------------------------------------------------------------------------------------------------


def test_push_hands_repo_token_private_flag_and_card_to_the_single_upload_function(db, tmp_path, capsys, monkeypatch):
    make_run(db, rounds=10).close()
    token = "hf_secret_token_1234567890"
    monkeypatch.setenv("HF_TOKEN", token)
    calls = []

    def fake_upload(dataset_dict, repo_id, token, private, card_text):
        calls.append((dataset_dict, repo_id, token, private, card_text))
        return export_module.Pushed(f"https://huggingface.co/datasets/{repo_id}", private)

    monkeypatch.setattr(export_module, "upload", fake_upload)
    out = tmp_path / "out"
    code, stdout, err = run_cli(
        ["export", "--store", url(db), "--out", str(out), "--push", "alice/sentiment-synth", "--private"], capsys
    )
    assert code == 0, err
    [(dd, repo_id, passed_token, private, card_text)] = calls
    assert (repo_id, passed_token, private) == ("alice/sentiment-synth", token, True)
    local = (out / "README.md").read_text()
    # the same card, less the YAML that describes the local files: push_to_hub writes that for its Parquet files
    assert card_text.split("\n---\n", 1)[1] == local.split("\n---\n", 1)[1]
    assert "dataset_info:" in local and "dataset_info:" not in card_text and "configs:" not in card_text
    assert "pretty_name: sentiment-synth (synthgen)" in card_text
    assert dd["train"].num_rows + dd["test"].num_rows == 30
    assert "pushed to https://huggingface.co/datasets/alice/sentiment-synth (private)" in stdout
    assert token not in card_text + stdout + err
    assert not any(token in p.read_text(errors="ignore") for p in out.rglob("*") if p.is_file())


def not_found(repo_id: str):
    import httpx
    from huggingface_hub.errors import RepositoryNotFoundError

    url = f"https://huggingface.co/api/datasets/{repo_id}"
    return RepositoryNotFoundError(
        f"404 Client Error: Repository Not Found for url: {url}",
        response=httpx.Response(404, request=httpx.Request("GET", url)),
    )


def test_upload_sends_the_card_first_then_the_data_with_token_and_private_flag(monkeypatch):
    from datasets import Dataset, DatasetDict
    from huggingface_hub import HfApi

    order = []

    def repo_info(self, repo_id, **kw):
        order.append(("repo_info", repo_id, self.token, kw))
        raise not_found(repo_id)

    def create_repo(self, repo_id, **kw):
        order.append(("create_repo", repo_id, self.token, kw))

    def upload_file(self, **kw):
        order.append(("upload_file", kw["repo_id"], self.token, kw))

    def push_to_hub(self, repo_id, **kw):
        order.append(("push_to_hub", repo_id, kw["token"], kw))

    monkeypatch.setattr(HfApi, "repo_info", repo_info)
    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_file", upload_file)
    monkeypatch.setattr(DatasetDict, "push_to_hub", push_to_hub)
    dd = DatasetDict({"train": Dataset.from_dict({"text": ["a"]}), "test": Dataset.from_dict({"text": ["b"]})})
    pushed = export_module.upload(dd, "bob/data", "hf_tok", False, "---\nlicense: other\n---\n# card\n")

    assert pushed == export_module.Pushed("https://huggingface.co/datasets/bob/data", private=False)
    assert [step[0] for step in order] == ["repo_info", "create_repo", "upload_file", "push_to_hub"]
    assert all(step[1] == "bob/data" and step[2] == "hf_tok" for step in order)
    assert order[0][3]["repo_type"] == "dataset"
    assert order[1][3]["repo_type"] == "dataset" and order[1][3]["private"] is False
    assert order[2][3]["path_in_repo"] == "README.md" and order[2][3]["path_or_fileobj"].endswith(b"# card\n")
    assert order[3][3]["private"] is False


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


def test_an_out_folder_the_process_cannot_create_is_refused_before_the_dataset_is_built(db, capsys, monkeypatch):
    """/proc passes a permission check (for root too) but takes no new folder: the probe finds that out."""
    make_run(db, rounds=4).close()
    monkeypatch.setattr(export_module, "build_dataset", lambda splits: pytest.fail("built before --out was checked"))
    code, _, err = run_cli(["export", "--store", url(db), "--out", "/proc/synthgen-nope/data"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: --out /proc/synthgen-nope/data: cannot write to /proc (")


def test_a_folder_holding_other_files_is_not_overwritten(db, tmp_path, capsys):
    make_run(db, rounds=4).close()
    out = tmp_path / "project"
    out.mkdir()
    (out / "README.md").write_text("my project")
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(out)], capsys)
    assert code == 2 and "not empty" in err
    assert [p.name for p in out.iterdir()] == ["README.md"] and (out / "README.md").read_text() == "my project"


def test_the_working_directory_is_refused_as_out_since_an_export_replaces_its_folder(db, tmp_path, capsys, monkeypatch):
    make_run(db, rounds=4).close()
    here = tmp_path / "empty"
    here.mkdir()
    monkeypatch.chdir(here)
    code, _, err = run_cli(["export", "--store", url(db), "--out", "."], capsys)
    assert code == 2 and err.count("\n") == 1 and "is the working directory" in err and "--out data/" in err
    assert list(here.iterdir()) == []


def test_an_unknown_run_is_one_line_and_exit_2(db, tmp_path, capsys):
    make_run(db, rounds=4).close()
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(tmp_path / "o"), "--run", "nope"], capsys)
    assert code == 2 and "--run nope: no such run" in err


# --- what the card says each model received ------------------------------------------------------------------------


def run_with_real_bodies(path: Path, rounds: int = 4) -> SQLiteStore:
    """local-gemma (completion mode: a few-shot prompt built from the round), llama2 (the run's template inside
    `[INST] ... [/INST]`) and gpt-4 (the run's template as the user message), with the request bodies the real body
    builders make for each round."""
    from synthgen.adapters.base import build_body
    from synthgen.adapters.llama_cpp import build_local_body
    from synthgen.catalog import load_catalog
    from synthgen.prompt import load_template, plan_run

    catalog = load_catalog()
    template = load_template("sentiment")
    plans = plan_run(rounds, seed=3, template=template)
    models = ("local-gemma", "llama2", "gpt-4")
    store = SQLiteStore(path)
    info = RunInfo(
        run_id="run-p",
        created_at=utc_now(),
        seed=3,
        rounds=rounds,
        models=list(models),
        template=template.name,
        template_text=template.text,
        topics_source="sentiment",
        model_plans=plans_for(models, template.name, template.text),
    )
    cells = []
    for plan in plans:
        for alias in models:
            spec = catalog[alias]
            body = (
                build_local_body(spec, plan.prompt, round=plan)
                if spec.protocol == "llama-cpp"
                else build_body(spec, plan.prompt)
            )
            cells.append(
                Record(
                    run_id="run-p",
                    round=plan.index,
                    model=alias,
                    model_id=spec.model_id,
                    sentiment=plan.sentiment,
                    topics=plan.topics_json(),
                    prompt=plan.prompt,
                    request_body=body,
                )
            )
    store.create_run(info, cells)
    for cell in cells:
        cell.status, cell.text = "ok", f"{cell.model} sentence {cell.round}, {cell.sentiment}."
        store.put_record(cell)
    store.set_run_status("run-p", "done")
    return store


def test_card_states_per_model_the_template_each_model_actually_received(db, tmp_path):
    from synthgen.prompt import load_template

    run_with_real_bodies(db).close()
    card = export_dataset("last", tmp_path / "out", store=url(db)).card
    section = card.split("## Prompt templates")[1].split("\n## ")[0]
    assert "every model of a round got the same prompt" not in card
    rows = {line.split(" | ")[0].strip("| "): line for line in section.splitlines() if line.startswith("| ")}
    assert "`sentiment-fewshot`" in rows["local-gemma"] and "not the run's template" in rows["local-gemma"]
    assert "`sentiment`" in rows["gpt-4"] and "the run's template" in rows["gpt-4"]
    assert "`sentiment`" in rows["llama2"] and "`[INST] {prompt} [/INST]`" in rows["llama2"]
    # each distinct template shown once, naming the models that received it
    assert section.count(load_template("sentiment-fewshot").text) == 1
    assert section.count(load_template("sentiment").text) == 1
    assert "### `sentiment-fewshot` (local-gemma)" in section and "### `sentiment` (llama2, gpt-4)" in section


def test_the_card_states_the_runs_parameters_after_the_model_table_changed(
    provider_server, db, tmp_path, capsys, monkeypatch
):
    from synthgen.catalog import load_catalog
    from synthgen.generation import generate

    summary = generate(rounds=4, models=["gpt-4"], store=url(db), seed=1, params={"gpt-4": {"top_p": 0.5}})
    planned = summary.run.plan_of("gpt-4").params
    assert planned["temperature"] == 0.7 and planned["top_p"] == 0.5
    edited = tmp_path / "my-models"
    edited.mkdir()
    (edited / "openai.toml").write_text(
        '[models.gpt-4]\nprotocol = "openai-chat"\nmodel_id = "gpt-4"\n'
        "params = { temperature = 0.01, max_tokens = 7 }\n"
    )
    assert load_catalog(str(edited))["gpt-4"].merged_params(None)["temperature"] == 0.01  # the table did change
    monkeypatch.setenv("SYNTHGEN_CATALOG", str(edited))
    out = tmp_path / "out"
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(out), "--catalog", str(edited)], capsys)
    assert code == 0, err
    card = (out / "README.md").read_text()
    assert json.loads(card.split("```json\n")[1].split("```")[0]) == {"gpt-4": planned}


def test_a_run_stored_before_plans_says_what_each_model_was_sent_is_not_recorded(db, tmp_path):
    make_run(db, rounds=6, with_plans=False).close()
    card = export_dataset("last", tmp_path / "out", store=url(db)).card
    params = json.loads(card.split("```json\n")[1].split("```")[0])
    assert params == dict.fromkeys(MODEL_IDS, "not recorded for this run")
    section = card.split("## Prompt templates")[1].split("\n## ")[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert len(rows) == 3 and all("not recorded for this run" in line for line in rows)
    assert TEMPLATE in section  # the run's own template is still shown, as stored


def test_card_of_a_single_model_run_says_one_model(db, tmp_path):
    make_run(db, rounds=6, models=("gpt-4",)).close()
    card = export_dataset("last", tmp_path / "out", store=url(db)).card
    assert "written by 1 large language model from" in card


# --- features in the card: load_dataset reads what the DatasetDict has ---------------------------------------------


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "disk"])
def test_load_dataset_of_any_export_format_gives_classlabel_labels(db, tmp_path, fmt):
    import datasets
    from datasets import ClassLabel, Value

    make_run(db, rounds=20).close()
    out = tmp_path / "out"
    result = export_dataset("last", out, store=url(db), format=fmt)
    loaded = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "hf-cache"))
    assert set(loaded) == {"train", "test"}
    assert loaded["train"].num_rows == len(result.splits["train"])
    assert loaded["test"].num_rows == len(result.splits["test"])
    feats = loaded["train"].features
    assert isinstance(feats["labels"], ClassLabel) and feats["labels"].names == ["negative", "positive"]
    if fmt == "csv":  # no list type in CSV: a JSON array string, and the card says so
        assert feats["topics"] == Value("string")
        assert json.loads(loaded["train"][0]["topics"]) == list(result.splits["train"][0].topics)
        assert "string (JSON array)" in result.card and "json.loads" in result.card
    else:
        assert loaded["train"][0]["topics"] == list(result.splits["train"][0].topics)
        assert "| `topics` | list of strings |" in result.card


def test_card_lists_every_topic_used_most_used_first_with_counts(db, tmp_path):
    from synthgen.prompt import load_topics

    run_with_real_bodies(db, rounds=30).close()
    result = export_dataset("last", tmp_path / "out", store=url(db))
    section = result.card.split("## Topics")[1].split("\n## ")[0]
    table = [line.split(" | ") for line in section.splitlines() if line.startswith("| ") and "---" not in line][1:]
    counted = [(topic.strip("| "), category, int(n.strip(" |"))) for topic, category, n in table]
    expected = Counter(
        (t.split(": ", 1)[1], t.split(": ", 1)[0]) for rows in result.splits.values() for r in rows for t in r.topics
    )
    assert {(t, c): n for t, c, n in counted} == expected
    assert [n for *_, n in counted] == sorted((n for *_, n in counted), reverse=True)
    shipped = {(t, c) for c, topics in load_topics().items() for t in topics}
    assert {(t, c) for t, c, _ in counted} <= shipped
    assert f"{len(expected)} topics used, most used first" in section


# --- visibility on the Hub -------------------------------------------------------------------------------------------


def hub_that_records(monkeypatch, visibility: bool | None) -> list[str]:
    """The real `upload`, with the Hub's answers to the visibility question fixed and its writes recorded."""
    from datasets import DatasetDict
    from huggingface_hub import HfApi

    calls: list[str] = []
    monkeypatch.setattr(export_module.hub, "hub_visibility", lambda repo_id, token: visibility)
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(f"create_repo {kw['private']}"))
    monkeypatch.setattr(HfApi, "upload_file", lambda self, **kw: calls.append("upload_file"))
    monkeypatch.setattr(DatasetDict, "push_to_hub", lambda self, repo_id, **kw: calls.append("push_to_hub"))
    return calls


@pytest.mark.parametrize(
    ("existing", "flags", "fix"),
    [
        (False, ["--private"], "drop --private"),
        (True, [], "add --private"),
    ],
)
def test_pushing_to_an_existing_repo_of_the_other_visibility_is_refused_before_uploading(
    db, tmp_path, capsys, monkeypatch, existing, flags, fix
):
    make_run(db, rounds=4).close()
    monkeypatch.setenv("HF_TOKEN", "hf_visibility_token")
    calls = hub_that_records(monkeypatch, existing)
    code, out, err = run_cli(
        ["export", "--store", url(db), "--out", str(tmp_path / "o"), "--push", "alice/x", *flags], capsys
    )
    assert code == 2 and err.count("\n") == 1
    assert f"exists and is {'private' if existing else 'public'}" in err and fix in err and "Hub" in err
    assert calls == []  # nothing uploaded, no repository created
    assert "pushed to" not in out


@pytest.mark.parametrize(
    ("existing", "flags", "shown"),
    [
        (None, ["--private"], "(private)"),
        (None, [], "(public)"),
        (False, [], "(public)"),
        (True, ["--private"], "(private)"),
    ],
)
def test_push_reports_the_repositorys_real_visibility(db, tmp_path, capsys, monkeypatch, existing, flags, shown):
    make_run(db, rounds=4).close()
    monkeypatch.setenv("HF_TOKEN", "hf_visibility_token")
    calls = hub_that_records(monkeypatch, existing)
    code, out, err = run_cli(
        ["export", "--store", url(db), "--out", str(tmp_path / "o"), "--push", "alice/x", *flags], capsys
    )
    assert code == 0, err
    assert f"pushed to https://huggingface.co/datasets/alice/x {shown}" in out
    assert calls == [f"create_repo {bool(flags)}", "upload_file", "push_to_hub"]


def test_hub_visibility_reads_the_repository_and_a_missing_one_is_none(monkeypatch):
    from types import SimpleNamespace

    from huggingface_hub import HfApi

    repos = {"alice/secret": True, "alice/open": False}

    def repo_info(self, repo_id, **kw):
        assert kw["repo_type"] == "dataset" and self.token == "hf_t"
        if repo_id not in repos:
            raise not_found(repo_id)
        return SimpleNamespace(private=repos[repo_id])

    monkeypatch.setattr(HfApi, "repo_info", repo_info)
    assert export_module.hub_visibility("alice/secret", "hf_t") is True
    assert export_module.hub_visibility("alice/open", "hf_t") is False
    assert export_module.hub_visibility("alice/new", "hf_t") is None


# --- nothing to export: the hint fits the case -----------------------------------------------------------------------


def test_a_run_with_no_cells_is_refused_without_suggesting_resume(db, tmp_path, capsys):
    store = SQLiteStore(db)
    store.create_run(
        RunInfo(
            run_id="empty",
            created_at=utc_now(),
            seed=1,
            rounds=0,
            models=["gpt-4"],
            template="sentiment",
            template_text=TEMPLATE,
            topics_source="sentiment",
        ),
        [],
    )
    store.close()
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "has no cells" in err and "0 rounds x 1 model" in err and "--resume" not in err
    assert "synthgen generate --rounds" in err


def test_an_unfinished_run_without_answers_suggests_resume(db, tmp_path, capsys):
    store = SQLiteStore(db)
    info = RunInfo(
        run_id="waiting",
        created_at=utc_now(),
        seed=1,
        rounds=2,
        models=["gpt-4"],
        template="sentiment",
        template_text=TEMPLATE,
        topics_source="sentiment",
    )
    store.create_run(
        info,
        [
            Record(
                run_id="waiting",
                round=i,
                model="gpt-4",
                model_id="gpt-4",
                sentiment="positive",
                topics=TOPICS,
                prompt="p",
            )
            for i in range(2)
        ],
    )
    store.close()
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "2 planned" in err and "synthgen generate --resume waiting" in err


def test_a_failed_upload_scrubs_every_secret_not_only_the_hub_token(db, tmp_path, capsys, monkeypatch):
    make_run(db, rounds=4).close()
    monkeypatch.setenv("HF_TOKEN", "hf_leaky_token_0987")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-openai-secret-123456")

    def failing_upload(dataset_dict, repo_id, token, private, card_text):
        raise ConnectionError(f"proxy said:\n  token={token}\n  other=sk-openai-secret-123456")

    monkeypatch.setattr(export_module, "upload", failing_upload)
    code, _, err = run_cli(["export", "--store", url(db), "--out", str(tmp_path / "o"), "--push", "alice/x"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert "hf_leaky_token_0987" not in err and "sk-openai-secret-123456" not in err
    assert "upload failed (ConnectionError: proxy said: token=*** other=" in err


@pytest.mark.parametrize(
    ("protocol", "options", "few_shot"),
    [
        ("llama-cpp", {"few_shot_template": "sentiment-fewshot"}, True),  # no mode: completion (llama_cpp.mode_of)
        ("llama-cpp", {"few_shot_template": "sentiment-fewshot", "mode": "completion"}, True),
        ("llama-cpp", {"few_shot_template": "sentiment-fewshot", "mode": "chat"}, False),
        ("openai-chat", {"few_shot_template": "sentiment-fewshot", "endpoint": "completions"}, True),
        (
            "openai-chat",
            {"few_shot_template": "sentiment-fewshot"},
            False,
        ),  # the chat endpoint sends the run's template
        ("gemini", {"few_shot_template": "sentiment-fewshot", "endpoint": "completions"}, False),  # no such endpoint
        ("openai-chat", {"endpoint": "completions"}, False),  # no template: the prompt goes as it is
    ],
)
def test_the_card_names_the_few_shot_template_exactly_where_the_adapters_send_it(protocol, options, few_shot):
    """The plan a run stores decides (as the adapters do), and the card says what the plan says."""
    import dataclasses

    from synthgen.catalog import load_catalog
    from synthgen.export.card import prompt_used
    from synthgen.generation import plan_models
    from synthgen.prompt import load_template

    spec = dataclasses.replace(load_catalog()["local-gemma"], alias="m", protocol=protocol, options=options)
    template = load_template("sentiment")
    info = RunInfo(
        run_id="r",
        created_at=utc_now(),
        seed=1,
        rounds=1,
        models=["m"],
        template=template.name,
        template_text=template.text,
        topics_source="sentiment",
        model_plans=plan_models([spec], template, None),
    )
    used = prompt_used(info, "m")
    assert (used.template == "sentiment-fewshot") is few_shot
    assert ("a few-shot completion prompt" in used.how) is few_shot
