"""`synthgen clean` through the CLI: the store's cleaned layer (round trip), file mode, bad input (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli

from synthgen.clean import Answer, clean, clean_run
from synthgen.store import OK, Record, RunInfo, open_store, utc_now

DATA = Path(__file__).parent / "data" / "llama2_padded.jsonl"
ROWS = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines()]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("SYNTHGEN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SYNTHGEN_STORE", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env, no synthgen.db of the checkout


def _store_with_run(tmp_path: Path, run_id: str = "run-1", llama_rows=ROWS, failed_model: str | None = None) -> str:
    url = f"sqlite:///{tmp_path / 's.db'}"
    models = ["llama2", "gpt-4"] + ([failed_model] if failed_model else [])
    cells = []
    for rnd in range(len(llama_rows)):
        for model in models:
            cells.append(
                Record(
                    run_id=run_id,
                    round=rnd,
                    model=model,
                    model_id=f"id-{model}",
                    sentiment="positive",
                    topics=[{"category": "c", "topic": "t"}],
                    prompt="p",
                )
            )
    run = RunInfo(
        run_id=run_id,
        created_at=utc_now(),
        seed=0,
        rounds=len(llama_rows),
        models=models,
        template="sentiment",
        template_text="...",
        topics_source="sentiment",
    )
    with open_store(url) as store:
        store.create_run(run, cells)
        for cell, rnd in zip(cells, [c.round for c in cells], strict=True):
            row = llama_rows[rnd]
            if cell.model == failed_model:
                cell.status, cell.failure_kind = "failed", "throttled"
            else:
                cell.status = OK
                cell.text = row["response"] if cell.model == "llama2" else (row["target"] or "A plain sentence.")
                cell.finish_reason = row["finish_reason"]
            store.put_record(cell)
    return url


def _library_result(answers):
    """What `synthgen.clean.clean` decides for these answers, the same cleaner the command runs."""
    return clean(answers, "tfidf", seed=0)


def test_clean_writes_one_cleaned_text_per_answer_and_leaves_raw_answers_alone(tmp_path, capsys):
    url = _store_with_run(tmp_path)
    with open_store(url, create=False) as store:
        before = {r.id: r.text for r in store.records("run-1")}
    assert run_cli("clean", "--model", "llama2", "--store", url, "--json", "--plot", str(tmp_path / "c.png")) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["answers"] == len(ROWS) and sum(summary["paths"].values()) == len(ROWS)
    assert (tmp_path / "c.png").stat().st_size > 10_000
    with open_store(url, create=False) as store:
        cleaned = store.cleaned("run-1", model="llama2")
        assert store.cleaned("run-1", model="gpt-4") == {}
        after = {r.id: r.text for r in store.records("run-1")}
        ids = [r.id for r in store.records("run-1", model="llama2")]
    assert after == before
    assert sorted(cleaned) == sorted(ids)
    # the layer holds what the cleaner decided for these answers (how well it decides: the benchmark)
    expected = _library_result(
        [Answer(rid, r["response"], r["finish_reason"]) for rid, r in zip(ids, ROWS, strict=True)]
    )
    assert {rid: (c.text, c.dropped, c.reason) for rid, c in cleaned.items()} == {
        a.id: (a.text, a.dropped, a.reason) for a in expected.answers
    }
    for c in cleaned.values():
        assert c.run_id == "run-1" and c.model == "llama2" and c.reason and "seed=0" in c.method
        assert c.text is not None or c.reason.split(":")[0] in (
            "empty",
            "refusal",
            "no-sentence",
            "no-target",
        )


def test_cleaning_again_replaces_the_layer_and_gives_the_same_texts(tmp_path, capsys):
    url = _store_with_run(tmp_path)
    assert run_cli("clean", "--model", "llama2", "--store", url, "--run", "run-1") == 0
    report = capsys.readouterr().out
    assert "clusters" in report and "selection paths" in report and "target" in report
    with open_store(url, create=False) as store:
        first = {k: (v.text, v.reason) for k, v in store.cleaned("run-1").items()}
    assert run_cli("clean", "--model", "llama2", "--store", url, "--run", "last", "--json") == 0
    with open_store(url, create=False) as store:
        second = {k: (v.text, v.reason) for k, v in store.cleaned("run-1").items()}
    assert first == second and len(second) == len(ROWS)


def test_a_generated_llama2_run_is_cleaned_to_the_server_sentences(provider_server, tmp_path, capsys):
    """End to end: generate against the local provider server, whose llama2 wraps each sentence in chatter."""
    from provider_server import make_answer

    from synthgen.generation import generate

    url = f"sqlite:///{tmp_path / 'g.db'}"
    generate(rounds=60, models=["llama2", "gpt-4"], store=url, seed=11)
    assert run_cli("clean", "--model", "llama2", "--store", url, "--json") == 0
    with open_store(url, create=False) as store:
        run = store.resolve_run("last")
        records = {r.id: r for r in store.records(run.run_id, model="llama2", status="ok")}
        cleaned = store.cleaned(run.run_id, model="llama2")
    assert len(records) == 60 and sorted(cleaned) == sorted(records)
    padded = 0
    for rid, rec in records.items():
        # the catalog sends llama2 its prompt as "[INST] {prompt} [/INST]"; the server's sentence depends on
        # it
        want = make_answer(f"[INST] {rec.prompt} [/INST]", rec.model_id, chatter=False)
        padded += rec.text.strip() != want
        assert cleaned[rid].text == want, (rec.text, cleaned[rid].reason)
    assert padded > 30


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--model", "mistral"], "--model mistral: not in run run-1 (its models: llama2, gpt-4, titan)"),
        (["--model", "titan"], "--model titan: no successful answers in run run-1"),
        (["--model", "llama2", "--run", "nope"], "--run nope: no such run"),
        (["--model", "llama2", "--output", "x.jsonl"], "--output needs --input"),
        ([], "--model ALIAS is required"),
        (["--model", "llama2", "--embedder", "openai-compatible"], "SYNTHGEN_EMBED_BASE_URL"),
    ],
)
def test_bad_store_input_is_one_clear_line_exit_2_and_nothing_written(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.delenv("SYNTHGEN_EMBED_BASE_URL", raising=False)
    url = _store_with_run(tmp_path, llama_rows=ROWS[:30], failed_model="titan")
    assert run_cli("clean", "--store", url, *argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    with open_store(url, create=False) as store:
        assert store.cleaned("run-1") == {}


def test_a_missing_store_is_refused_without_creating_one(tmp_path, capsys):
    assert run_cli("clean", "--model", "llama2", "--store", f"sqlite:///{tmp_path / 'none.db'}") == 2
    assert "no such database" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def _write(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8")
    return path


def test_file_mode_writes_one_line_per_input_line_in_order(tmp_path, capsys):
    src = _write(tmp_path / "in.jsonl", [{"id": r["id"], "response": r["response"]} for r in ROWS])
    out = tmp_path / "out" / "cleaned.jsonl"
    assert run_cli("clean", "--input", str(src), "--output", str(out)) == 0
    assert "selection paths" in capsys.readouterr().out
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [x["id"] for x in lines] == [r["id"] for r in ROWS]
    assert all(set(x) == {"id", "text", "dropped", "reason"} for x in lines)
    expected = _library_result([Answer(r["id"], r["response"]) for r in ROWS])
    assert lines == [a.to_json() for a in expected.answers]
    empty = next(x for x, r in zip(lines, ROWS, strict=True) if r["kind"] == "empty")
    assert empty["text"] is None and empty["reason"].startswith("empty")


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"id": 1, "response": "ok."}, "{not json"], "line 2: not JSON"),
        ([{"id": 1, "response": "ok."}, "", "[1, 2]"], "line 3: expected an object"),
        ([{"response": "ok."}], 'line 1: no "id"'),
        ([{"id": "a", "text": "ok."}], 'line 1: no "response" field'),
        ([{"id": "a", "response": 5}], 'line 1: "response" must be a string or null'),
        ([{"id": "a", "response": "x."}, {"id": "a", "response": "y."}], "line 2: id 'a' appears twice"),
        ([], "no answers in the file"),
    ],
)
def test_a_malformed_input_file_names_the_line_exits_2_and_writes_nothing(tmp_path, capsys, rows, message):
    src = _write(tmp_path / "in.jsonl", rows)
    out = tmp_path / "out.jsonl"
    assert run_cli("clean", "--input", str(src), "--output", str(out)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --input") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_file_mode_needs_both_paths_and_a_readable_file(tmp_path, capsys):
    assert run_cli("clean", "--input", str(tmp_path / "in.jsonl")) == 2
    assert "--input needs --output" in capsys.readouterr().err
    assert run_cli("clean", "--input", str(tmp_path / "missing.jsonl"), "--output", str(tmp_path / "o.jsonl")) == 2
    assert "cannot read" in capsys.readouterr().err


@pytest.mark.parametrize(
    "plot, message",
    [
        ("clusters.xyz", "--plot clusters.xyz: unknown image type '.xyz'"),
        ("/proc/nope/c.png", "--plot /proc/nope/c.png: cannot write to /proc"),
        ("plots", "unknown image type '(no suffix)'"),
    ],
)
def test_a_bad_plot_path_is_one_line_exit_2_before_anything_is_stored(tmp_path, capsys, plot, message):
    url = _store_with_run(tmp_path, llama_rows=ROWS[:30])
    assert run_cli("clean", "--model", "llama2", "--store", url, "--plot", plot) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    with open_store(url, create=False) as store:
        assert store.cleaned("run-1") == {}


def test_file_mode_keeps_each_ids_json_type(tmp_path):
    ids = [1, "two", 3.5, 4, "5"]
    src = _write(
        tmp_path / "in.jsonl",
        [{"id": i, "response": r["response"]} for i, r in zip(ids, ROWS, strict=False)]
        + [{"id": f"x{r['id']}", "response": r["response"]} for r in ROWS[5:40]],
    )
    out = tmp_path / "out.jsonl"
    assert run_cli("clean", "--input", str(src), "--output", str(out), "--plot", str(tmp_path / "p" / "c.svg")) == 0
    got = [json.loads(line)["id"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert got[:5] == ids and [type(i) for i in got[:5]] == [int, str, float, int, str]
    assert (tmp_path / "p" / "c.svg").stat().st_size > 1000


def test_clean_run_without_a_store_reads_and_writes_the_synthgen_store_of_the_environment(tmp_path, monkeypatch):
    url = _store_with_run(tmp_path, llama_rows=ROWS[:30])
    monkeypatch.setenv("SYNTHGEN_STORE", url)
    done = clean_run("llama2")
    assert done.store_url == url and done.run_id == "run-1" and len(done.result.answers) == 30
    with open_store(url, create=False) as store:
        assert len(store.cleaned("run-1", model="llama2")) == 30
    assert not (tmp_path / "synthgen.db").exists()  # the default store was never opened


def test_clean_run_takes_an_open_store_and_leaves_it_open(tmp_path):
    url = _store_with_run(tmp_path, llama_rows=ROWS[:30])
    with open_store(url, create=False) as store:
        done = clean_run("llama2", "run-1", store=store)
        assert done.store_url == store.url
        assert len(store.cleaned("run-1", model="llama2")) == 30  # still open, and the layer is in it


def _same_file_cases(tmp_path: Path) -> dict[str, Path]:
    src = _write(tmp_path / "in.jsonl", [{"id": r["id"], "response": r["response"]} for r in ROWS[:10]])
    (tmp_path / "sub").mkdir()
    linked = tmp_path / "linked.jsonl"
    linked.symlink_to(src)
    hard = tmp_path / "hard.jsonl"
    hard.hardlink_to(src)
    return {
        "same path": src,
        "another spelling": tmp_path / "sub" / ".." / "in.jsonl",
        "symlink": linked,
        "hard link": hard,
    }


@pytest.mark.parametrize("case", ["same path", "another spelling", "symlink", "hard link"])
def test_an_output_that_is_the_input_file_is_refused_before_anything_runs(tmp_path, capsys, monkeypatch, case):
    from synthgen.clean import pipeline

    def no_fit(self, answers):
        raise AssertionError("the cleaner ran before the paths were checked")

    monkeypatch.setattr(pipeline.Cleaner, "fit", no_fit)
    output = _same_file_cases(tmp_path)[case]
    before = (tmp_path / "in.jsonl").read_bytes()
    assert (
        run_cli(
            "clean", "--input", str(tmp_path / "in.jsonl"), "--output", str(output), "--plot", str(tmp_path / "c.png")
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error: --output ") and "is the input file" in err and err.count("\n") == 1
    assert (tmp_path / "in.jsonl").read_bytes() == before and not (tmp_path / "c.png").exists()


def test_plotting_leaves_the_callers_matplotlib_backend_alone(tmp_path):
    import matplotlib

    from synthgen.clean.report import plot_clusters

    before = matplotlib.get_backend()
    matplotlib.use("svg")  # a notebook user's choice (any backend but Agg)
    try:
        result = clean([Answer(r["id"], r["response"]) for r in ROWS[:30]], "tfidf")
        path = plot_clusters(result, tmp_path / "c.png")
        assert path.read_bytes()[:4] == b"\x89PNG"
        assert matplotlib.get_backend() == "svg"
    finally:
        matplotlib.use(before)
