"""Issue 16: `--concurrency` is what a model gets unless its table sets a provider limit on purpose, or the user
sets one (`--model-concurrency ALIAS=N`); the caps are shown by `synthgen models` and at a run's start."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli_output

from synthgen.catalog import check_model_concurrency, concurrency_limit, limits_line, load_catalog
from synthgen.engine import EngineConfig, ModelLane
from synthgen.errors import UserError
from synthgen.generation import generate

CLOUD = ("openai-chat", "gemini", "bedrock-invoke", "bedrock-converse")


def test_cloud_models_have_no_cap_of_their_own_and_local_ones_keep_theirs():
    catalog = load_catalog()
    for spec in catalog.values():
        if spec.protocol in CLOUD and not spec.key_optional:
            assert spec.concurrency_cap is None, spec.alias  # providers document rates, not concurrency
    assert catalog["local"].concurrency_cap == 4 and catalog["local-completion"].concurrency_cap == 4
    assert catalog["local-gemma"].concurrency_cap == 1 and catalog["local-gguf"].concurrency_cap == 1


def test_a_models_limit_is_the_flag_else_its_table_else_concurrency():
    catalog = load_catalog()
    assert concurrency_limit(catalog["gpt-4"], 256) == (256, "--concurrency")
    assert concurrency_limit(catalog["local"], 256) == (4, "its table")
    assert concurrency_limit(catalog["local"], 256, 32) == (32, "--model-concurrency")
    assert concurrency_limit(catalog["local"], 2) == (2, "its table")  # --concurrency bounds every model
    assert concurrency_limit(catalog["gpt-4"], 64, 500) == (64, "--model-concurrency")


def test_a_tables_own_cap_is_raised_by_a_user_table(tmp_path):
    (tmp_path / "mine.toml").write_text(
        '[models.local]\nprotocol = "openai-chat"\nmodel_id = "m"\nmax_concurrency = 12\n'
    )
    assert load_catalog(tmp_path)["local"].concurrency_cap == 12


def test_the_engine_starts_each_model_at_its_limit():
    catalog = load_catalog()
    config = EngineConfig(concurrency=200, model_concurrency={"local": 8})
    assert ModelLane(catalog["gpt-4"], config).limiter.max_limit == 200
    assert ModelLane(catalog["gemini-pro"], config).limiter.max_limit == 200
    assert ModelLane(catalog["claude-haiku"], config).limiter.max_limit == 200
    assert ModelLane(catalog["local"], config).limiter.max_limit == 8
    assert ModelLane(catalog["local-completion"], config).limiter.max_limit == 4
    assert ModelLane(catalog["local-gemma"], EngineConfig()).limiter.max_limit == 1


def test_one_model_alone_gets_the_whole_concurrency(provider_server, tmp_path):
    """The 16 that capped every OpenAI entry whatever --concurrency said is gone."""
    provider_server.configure(model="*", latency=0.3)
    summary = generate(rounds=100, models=["gpt-4"], store=f"sqlite:///{tmp_path / 's.db'}", seed=1, concurrency=100)
    assert summary.ok == 100
    assert provider_server.peak_in_flight >= 90


def test_the_limiter_still_lowers_a_model_on_429s(provider_server):
    import asyncio

    from synthgen.adapters import Adapters
    from synthgen.engine import Engine
    from synthgen.store import open_store

    provider_server.configure(model="*", p429=0.5, latency=0.01)
    catalog = load_catalog()
    engine = Engine(open_store("sqlite:///:memory:"), {"gpt-4": catalog["gpt-4"]}, EngineConfig(concurrency=64))
    lane = engine.lanes["gpt-4"]
    assert lane.limiter.max_limit == 64
    asyncio.run(_throttled(lane, catalog["gpt-4"], Adapters()))
    assert lane.limiter.cuts >= 1 and lane.limiter.limit < 64


async def _throttled(lane, spec, adapters):
    adapter = adapters.for_spec(spec)
    try:
        for _ in range(20):
            sent = await lane.limiter.acquire()
            result = await adapter.call(spec, "hi")
            if result.failure is not None:
                lane.limiter.on_throttled(sent)
            await lane.limiter.release()
    finally:
        await adapters.aclose()


def test_the_run_start_line_names_the_limits():
    catalog = load_catalog()
    specs = [catalog["gpt-4"], catalog["local"], catalog["local-gemma"]]
    assert limits_line(specs[:1], 64) == "in flight: at most 64 (--concurrency), for each model too"
    assert limits_line(specs, 64, {"local": 8}) == (
        "in flight: at most 64 (--concurrency); local 8 (--model-concurrency), local-gemma 1 (its table)"
    )


def test_model_concurrency_for_a_model_outside_the_run_is_refused():
    catalog = load_catalog()
    with pytest.raises(UserError, match=r"--model-concurrency llama2=8: llama2 is not a model of this run"):
        check_model_concurrency({"llama2": 8}, [catalog["gpt-4"]])
    check_model_concurrency({"gpt-4": 8}, [catalog["gpt-4"]])


@pytest.mark.parametrize(
    "flag, message",
    [
        ("gpt-4", "--model-concurrency gpt-4: write ALIAS=N with N at least 1"),
        ("gpt-4=0", "--model-concurrency gpt-4=0: write ALIAS=N"),
        ("gpt-4=many", "--model-concurrency gpt-4=many: write ALIAS=N"),
        ("nope=3", "--model-concurrency nope=3: unknown model 'nope'"),
        ("llama2=3", "--model-concurrency llama2=3: llama2 is not among --models gpt-4"),
    ],
)
def test_a_bad_model_concurrency_is_one_line_exit_2_and_nothing_written(
    provider_server, tmp_path, capsys, flag, message
):
    db = tmp_path / "s.db"
    argv = ["generate", "--rounds", "2", "--models", "gpt-4", "--model-concurrency", flag, "--store", f"sqlite:///{db}"]
    code, _, err = run_cli_output(argv, capsys)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not db.exists() and provider_server.requests == []


def test_model_concurrency_sets_a_models_limit_on_the_wire(provider_server, tmp_path, capsys):
    provider_server.configure(model="*", latency=0.2)
    argv = ["generate", "--rounds", "40", "--models", "gpt-4,gemini-pro", "--concurrency", "64"]
    code, _, _ = run_cli_output(
        [*argv, "--model-concurrency", "gpt-4=4", "--store", f"sqlite:///{tmp_path / 's.db'}"], capsys
    )
    assert code == 0
    starts = sorted((r["time"], r["model"]) for r in provider_server.requests)
    assert len(starts) == 80
    # gpt-4 never had more than 4 requests waiting out their latency together; gemini-pro had its 40 at once
    gpt4 = [t for t, m in starts if m == "gpt-4"]
    assert max(sum(1 for u in gpt4 if t <= u < t + 0.15) for t in gpt4) <= 4
    gemini = [t for t, m in starts if m == "gemini-pro"]
    assert gemini[-1] - gemini[0] < 0.5 * (gpt4[-1] - gpt4[0])


def test_models_shows_each_cap(provider_server, capsys, monkeypatch):
    code, out, _ = run_cli_output(["models", "--json"], capsys)
    rows = {r["alias"]: r for r in map(json.loads, out.splitlines())}
    assert code == 0 and rows["gpt-4"]["max_concurrency"] is None and rows["local"]["max_concurrency"] == 4
    assert rows["local-gemma"]["max_concurrency"] == 1
    monkeypatch.setenv("COLUMNS", "200")
    code, out, _ = run_cli_output(["models"], capsys)
    header = next(line for line in out.splitlines() if line.split()[:1] == ["alias"])
    assert "limit" in header.split()
    local = next(line for line in out.splitlines() if line.split()[:1] == ["local"])
    gpt4 = next(line for line in out.splitlines() if line.split()[:1] == ["gpt-4"])
    assert local.split()[3] == "4" and gpt4.split()[3] == "-"
    assert "--model-concurrency ALIAS=N" in out


def test_the_runs_first_lines_say_how_many_requests_each_model_may_have_in_flight(provider_server, tmp_path):
    from rich.console import Console

    from synthgen.display import LiveProgress

    console = Console(record=True, width=200)
    display = LiveProgress(console)
    try:
        generate(
            rounds=2,
            models=["gpt-4", "gemini-pro"],
            store=f"sqlite:///{tmp_path / 's.db'}",
            seed=1,
            concurrency=32,
            model_concurrency={"gpt-4": 4},
            on_start=display.start,
            on_event=display,
        )
    finally:
        display.stop()
    text = console.export_text()
    assert "in flight: at most 32 (--concurrency); gpt-4 4 (--model-concurrency)" in text
