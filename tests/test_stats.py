"""Stats of a known run: counts per model and sentiment, failures by kind, latency quantiles, tokens, cost, plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import run_cli_output as run_cli

from synthgen.stats import PLOTS, plot_file, plot_stats, run_stats
from synthgen.store import Record, RunInfo, utc_now
from synthgen.store.sqlite import SQLiteStore

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def known_store(path: Path) -> SQLiteStore:
    """20 rounds x (gpt-4, llama2).

    gpt-4: every round ok, latency (round + 1) s -> 1..20 s, 100 input and 10 output tokens each.
    llama2: rounds 0-3 throttled, 4 skipped, 5 left planned, the rest ok with latency 0.5 s and no usage reported.
    Sentiments alternate: even rounds negative, odd positive.
    """
    store = SQLiteStore(path)
    models = {"gpt-4": "gpt-4-1106-preview", "llama2": "meta.llama2-70b-chat-v1"}
    info = RunInfo(
        run_id="known",
        created_at=utc_now(),
        seed=1,
        rounds=20,
        models=list(models),
        template="sentiment",
        template_text="{sentiment}",
        topics_source="sentiment",
    )
    cells = [
        Record(
            run_id="known",
            round=i,
            model=m,
            model_id=mid,
            sentiment="positive" if i % 2 else "negative",
            topics=[],
            prompt="p",
        )
        for i in range(20)
        for m, mid in models.items()
    ]
    store.create_run(info, cells)
    for cell in cells:
        if cell.model == "gpt-4":
            cell.status, cell.text, cell.latency_s = "ok", f"a {cell.round}", float(cell.round + 1)
            cell.input_tokens, cell.output_tokens = 100, 10
        elif cell.round < 4:
            cell.status, cell.failure_kind = "failed", "throttled"
        elif cell.round == 4:
            cell.status, cell.failure_kind = "skipped", "skipped"
        elif cell.round == 5:
            continue
        else:
            cell.status, cell.text, cell.latency_s = "ok", f"b {cell.round}", 0.5
        store.put_record(cell)
    return store


@pytest.fixture
def db(tmp_path: Path) -> str:
    known_store(tmp_path / "s.db").close()
    return f"sqlite:///{tmp_path / 's.db'}"


def test_counts_failures_latency_tokens_and_cost_of_a_known_run(db):
    stats = run_stats("last", store=db)
    gpt, llama = stats.models["gpt-4"], stats.models["llama2"]

    assert (gpt.ok, gpt.sentiments, gpt.failed, gpt.not_run) == (20, {"negative": 10, "positive": 10}, 0, 0)
    assert (llama.ok, llama.sentiments) == (14, {"negative": 7, "positive": 7})
    assert llama.failures == {"skipped": 1, "throttled": 4} and llama.not_run == 1
    assert stats.sentiments == {"negative": 17, "positive": 17} and stats.ok == 34
    assert stats.failures == {"skipped": 1, "throttled": 4}

    assert gpt.latency_p50 == pytest.approx(10.5)
    assert gpt.latency_p95 == pytest.approx(19.05)  # inclusive quantiles of 1..20
    assert llama.latency_p50 == llama.latency_p95 == 0.5

    assert (gpt.input_tokens, gpt.output_tokens) == (2000, 200)
    assert gpt.cost_usd == pytest.approx((2000 * 30 + 200 * 60) / 1e6)  # catalog: $30 in, $60 out per 1M
    assert llama.cost_usd is None and llama.without_usage == 14
    assert stats.cost_usd == pytest.approx(gpt.cost_usd)


def test_stats_command_prints_the_tables(db, capsys):
    code, out, err = run_cli(["stats", "--store", db], capsys)
    assert code == 0, err
    assert "Answers per model and label" in out and "Failures by kind" in out
    assert "task sentiment:" in out and "sentiment split: negative 17 (50.0%)" in out
    rows = [cells[1:-1] for line in out.splitlines() if len(cells := [c.strip() for c in line.split("│")]) > 3]
    # model, model id, ok, negative, positive, failed, not run
    assert ["gpt-4", "gpt-4-1106-preview", "20", "10", "10", "0", "0"] in rows
    assert ["llama2", "meta.llama2-70b-chat-v1", "14", "7", "7", "5", "1"] in rows
    # model, p50, p95, tokens in, tokens out, cost: llama2 reported no usage and has no prices
    assert ["gpt-4", "10.50s", "19.05s", "2000", "200", "$0.0720"] in rows
    assert ["llama2", "0.50s", "0.50s", "-", "-", "-"] in rows
    assert ["llama2", "1", "4"] in rows  # failures by kind: skipped, throttled
    assert "negative 17 (50.0%), positive 17 (50.0%)" in out


def test_stats_json_is_one_object_with_the_same_figures(db, capsys):
    code, out, _ = run_cli(["stats", "--store", db, "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["run_id"] == "known" and data["ok"] == 34
    assert data["models"]["llama2"]["failures"] == {"skipped": 1, "throttled": 4}
    assert data["models"]["gpt-4"]["latency_p95"] == pytest.approx(19.05)
    assert data["models"]["llama2"]["cost_usd"] is None


def test_plots_are_written_as_non_empty_pngs(db, tmp_path, capsys):
    plots = tmp_path / "plots"
    code, out, err = run_cli(["stats", "--store", db, "--plots", str(plots)], capsys)
    assert code == 0, err
    written = sorted(p.name for p in plots.iterdir())
    assert (
        written
        == sorted(plot_file(name, "sentiment") for name in PLOTS)
        == ["answers_per_model.png", "diversity.png", "latency_per_model.png", "sentiment_split.png"]
    )
    for name in written:
        data = (plots / name).read_bytes()
        assert data.startswith(PNG_SIGNATURE) and len(data) > 5_000
        assert f"wrote {plots / name}" in out


def test_plots_of_a_run_without_answers_are_still_written(tmp_path):
    store = SQLiteStore(tmp_path / "e.db")
    info = RunInfo(
        run_id="empty",
        created_at=utc_now(),
        seed=1,
        rounds=1,
        models=["gpt-4"],
        template="t",
        template_text="t",
        topics_source="s",
    )
    store.create_run(
        info,
        [Record(run_id="empty", round=0, model="gpt-4", model_id="gpt-4", sentiment="positive", topics=[], prompt="p")],
    )
    stats = run_stats("empty", store=store)
    paths = plot_stats(stats, tmp_path / "plots")
    assert len(paths) == 3 and all(p.stat().st_size > 0 for p in paths)
    store.close()


def test_plotting_leaves_the_callers_matplotlib_backend_alone(db, tmp_path):
    import matplotlib

    before = matplotlib.get_backend()
    plot_stats(run_stats("last", store=db), tmp_path / "p")
    assert matplotlib.get_backend() == before


def test_an_unwritable_plots_folder_is_one_line_and_exit_2(db, tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, err = run_cli(["stats", "--store", db, "--plots", str(blocker / "plots")], capsys)
    assert code == 2 and err.startswith("error: --plots") and err.count("\n") == 1


def test_stats_of_an_unknown_run_or_store_is_one_line_and_exit_2(db, tmp_path, capsys):
    code, _, err = run_cli(["stats", "--store", db, "--run", "nope"], capsys)
    assert code == 2 and "--run nope: no such run" in err and err.count("\n") == 1
    code, _, err = run_cli(["stats", "--store", f"sqlite:///{tmp_path / 'missing.db'}"], capsys)
    assert code == 2 and "no such database" in err
    assert not (tmp_path / "missing.db").exists()


def test_the_all_cost_is_marked_partial_when_some_models_have_no_prices(db, capsys):
    code, out, err = run_cli(["stats", "--store", db], capsys)
    assert code == 0, err
    rows = [cells[1:-1] for line in out.splitlines() if len(cells := [c.strip() for c in line.split("│")]) > 3]
    all_cost = next(r for r in rows if r[0] == "all" and r[-1].startswith(("≥", "$", "-")))
    assert all_cost[-1] == "≥ $0.0720 (1 model without prices)"  # gpt-4 priced, llama2 not: a lower bound
    code, out, _ = run_cli(["stats", "--store", db, "--json"], capsys)
    data = json.loads(out)
    assert data["cost_partial"] is True and data["models_without_prices"] == ["llama2"]
    assert data["cost_usd"] == pytest.approx(0.072)


def test_the_all_cost_is_plain_when_every_model_has_prices(tmp_path, capsys):
    store = SQLiteStore(tmp_path / "p.db")
    info = RunInfo(
        run_id="priced",
        created_at=utc_now(),
        seed=1,
        rounds=2,
        models=["gpt-4"],
        template="sentiment",
        template_text="{sentiment}",
        topics_source="sentiment",
    )
    cells = [
        Record(run_id="priced", round=i, model="gpt-4", model_id="gpt-4", sentiment="positive", topics=[], prompt="p")
        for i in range(2)
    ]
    store.create_run(info, cells)
    for cell in cells:
        cell.status, cell.text, cell.latency_s, cell.input_tokens, cell.output_tokens = "ok", "t", 1.0, 100, 10
        store.put_record(cell)
    store.close()
    code, out, _ = run_cli(["stats", "--store", f"sqlite:///{tmp_path / 'p.db'}"], capsys)
    assert code == 0
    assert "≥" not in out and "without prices" not in out
    assert "2 rounds x 1 model, seed 1" in out  # one model, not "1 models"


def test_stats_read_the_runs_records_in_one_pass(tmp_path):
    """`summarize` and the per-record figures share one read of the records (a DynamoDB Query each, otherwise)."""

    class Counting(SQLiteStore):
        passes = 0

        def records(self, *args, **kwargs):
            Counting.passes += 1
            yield from super().records(*args, **kwargs)

    known_store(tmp_path / "s.db").close()
    store = Counting(tmp_path / "s.db")
    stats = run_stats("known", store=store)
    store.close()
    assert Counting.passes == 1
    gpt, llama = stats.models["gpt-4"], stats.models["llama2"]
    assert list(stats.models) == ["gpt-4", "llama2"]
    assert gpt.latencies == [float(i + 1) for i in range(20)] and llama.latencies == [0.5] * 14
    assert (llama.without_usage, gpt.without_usage) == (14, 0)
    assert (gpt.model_id, llama.model_id) == ("gpt-4-1106-preview", "meta.llama2-70b-chat-v1")
    assert (gpt.ok, llama.ok, llama.failures, llama.not_run) == (20, 14, {"skipped": 1, "throttled": 4}, 1)


def test_a_plots_folder_that_cannot_be_created_is_refused_before_the_store_is_read(db, capsys, monkeypatch):
    import synthgen.stats

    monkeypatch.setattr(synthgen.stats, "run_stats", lambda *a, **k: pytest.fail("store read before --plots check"))
    code, _, err = run_cli(["stats", "--store", db, "--plots", "/proc/synthgen-nope"], capsys)
    assert code == 2 and err.count("\n") == 1
    assert err.startswith("error: --plots /proc/synthgen-nope: cannot write to /proc (")
