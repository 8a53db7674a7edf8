"""The seed's task stays exact: `sentiment` plans, prompts and request bodies are the bytes synthgen sent before
tasks existed, for the same seed, for every shipped model (the few-shot local models included).

tests/data/sentiment_seed_prompts.json was written by tests/data/make_sentiment_seed.py with the code before
tasks (commit 836456b); here the same cells go through today's path: the task file, the planner over its labels,
each model bound to the task's few-shot prompt, each adapter's body. The end-to-end test sends a run through the
provider server and compares what the store recorded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from synthgen.adapters import adapter_class
from synthgen.catalog import load_catalog
from synthgen.generation import generate
from synthgen.planning import plan_cells, plan_models, task_models
from synthgen.prompt import RoundPlan, Topic
from synthgen.store import RunInfo, open_store
from synthgen.task import load_task

FIXTURE = json.loads((Path(__file__).parent / "data" / "sentiment_seed_prompts.json").read_text(encoding="utf-8"))
SEEDS = {entry["seed"]: entry for entry in FIXTURE["seeds"]}


def digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


# What a model's plan held when the fixture was written; fields added since (the prices a run was planned with)
# are new facts about the run, not a change to what it sends.
PLAN_FIELDS = ("model_id", "protocol", "params", "template", "template_text", "prompt_format", "few_shot")


def plan_digest(plan: dict) -> str:
    return digest({key: plan[key] for key in PLAN_FIELDS if key in plan})


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    import os

    saved = os.environ.pop("SYNTHGEN_CATALOG", None)
    try:
        yield load_catalog()
    finally:
        if saved is not None:
            os.environ["SYNTHGEN_CATALOG"] = saved


def test_every_model_the_fixture_knows_is_still_shipped(catalog):
    # models added since (claude-3-haiku) have no bytes from before to keep
    assert set(FIXTURE["models"]) <= set(catalog) and set(SEEDS) == {1, 7}


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_the_sentiment_task_plans_and_renders_the_seeds_bytes_for_every_model(catalog, seed):
    expected = SEEDS[seed]
    task = load_task("sentiment")
    specs = task_models([catalog[alias] for alias in FIXTURE["models"]], task.info(), task.fewshot())
    assert {a: plan_digest(p) for a, p in plan_models(specs, task.template, None).items()} == expected["plans"]
    run = RunInfo(
        run_id=f"seed-{seed}",
        created_at="2026-01-01T00:00:00+00:00",
        seed=seed,
        rounds=FIXTURE["rounds"],
        models=[s.alias for s in specs],
        template=task.template.name,
        template_text=task.template.text,
        topics_source=task.topics_source,
        task=task.info().to_dict(),
    )
    by_alias = {s.alias: s for s in specs}
    rounds, bodies, fewshot = [], {s.alias: [] for s in specs}, {}
    for cell in plan_cells(run, specs, task.template, task.categories, task.info(), task.topics_per_round):
        if cell.model == specs[0].alias:
            rounds.append({"label": cell.label, "topics": cell.topics, "prompt": cell.prompt})
        spec = by_alias[cell.model]
        topics = tuple(Topic(t["category"], t["topic"]) for t in cell.topics)
        plan = RoundPlan(index=cell.round, label=cell.label, topics=topics, prompt=cell.prompt)
        adapter = adapter_class(spec.protocol, check_extra=False)()
        made = [adapter.build_body(spec, cell.prompt, None, round=plan, attempt=a) for a in (0, 1)]
        bodies[cell.model].append([digest(b) for b in made])
        if cell.round == 0 and "prompt" in made[0] and cell.model in expected["fewshot_prompts_round_0"]:
            fewshot[cell.model] = made[0]["prompt"]
    assert rounds == expected["rounds"]
    assert fewshot == expected["fewshot_prompts_round_0"]
    assert bodies == expected["bodies"]


def test_a_run_resumed_from_its_stored_plan_sends_the_same_fewshot_prompt(catalog):
    task = load_task("sentiment")
    fresh = task_models([catalog["local-gemma"]], task.info(), task.fewshot())
    plans = plan_models(fresh, task.template, None)
    run = RunInfo("r", "t", 1, 2, ["local-gemma"], "sentiment", task.template.text, "sentiment", model_plans=plans)
    resumed = task_models([catalog["local-gemma"]], run.task_info(), None, run)  # stored before tasks: no task
    plan = RoundPlan(index=0, label="negative", topics=(Topic("C", "t"),) * 3, prompt="p")
    adapter = adapter_class("llama-cpp", check_extra=False)()
    assert adapter.build_body(resumed[0], "p", round=plan) == adapter.build_body(fresh[0], "p", round=plan)
    assert adapter.check_answer(resumed[0], task.examples[0].text, plan) is not None  # the echo check too


def test_generate_with_no_task_stores_the_seeds_prompts_and_bodies(provider_server, tmp_path, monkeypatch, catalog):
    monkeypatch.delenv("SYNTHGEN_CATALOG", raising=False)
    monkeypatch.setenv("SYNTHGEN_LOCAL_BASE_URL", f"{provider_server.url}/v1")
    aliases = [a for a in FIXTURE["models"] if catalog[a].protocol != "llama-cpp"]
    db = f"sqlite:///{tmp_path / 's.db'}"
    summary = generate(rounds=FIXTURE["rounds"], models=aliases, store=db, seed=1)
    assert summary.ok == FIXTURE["rounds"] * len(aliases)
    expected = SEEDS[1]
    with open_store(db, create=False) as store:
        records = list(store.records(summary.run_id))
        run = store.get_run(summary.run_id)
    assert run.template == "sentiment" and run.topics_source == "sentiment"
    assert run.task_info().names == ("negative", "positive")
    assert {a: plan_digest(p) for a, p in run.model_plans.items()} == {a: expected["plans"][a] for a in aliases}
    for rec in records:
        want = expected["rounds"][rec.round]
        assert (rec.label, rec.topics, rec.prompt) == (want["label"], want["topics"], want["prompt"])
        assert digest(rec.request_body) == expected["bodies"][rec.model][rec.round][0], rec.model
