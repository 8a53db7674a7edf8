"""Writes sentiment_seed_prompts.json: what the seed's sentiment task prompted, made by the code before tasks existed.

tests/test_tasks_seed.py checks that the `sentiment` task renders exactly this for the same seeds: every round's
label, topics and prompt, and every shipped model's request body (attempts 0 and 1) and its stored plan. The file is
the fixture, not this script: it was written once with the code of commit 836456b (before tasks), and the script
uses only the calls that code had (`plan_cells`, `plan_models`, `RoundPlan(sentiment=...)`, each adapter's
`build_body`), so it can be pointed at that code again to check the file:

    git archive 836456b | tar -x -C /tmp/before && python tests/data/make_sentiment_seed.py /tmp/before

Bodies are kept as the sha256 (first 16 hex digits) of their JSON in insertion order (the bytes a JSON transport
sends, keys in the order the body was built), the few-shot prompts of round 0 in full.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HERE.parents[1]
sys.path.insert(0, str(ROOT))
os.environ.pop("SYNTHGEN_CATALOG", None)

from synthgen.adapters import adapter_class  # noqa: E402
from synthgen.catalog import load_catalog  # noqa: E402
from synthgen.planning import plan_cells, plan_models  # noqa: E402
from synthgen.prompt import RoundPlan, Topic, load_template, load_topics  # noqa: E402
from synthgen.store import RunInfo  # noqa: E402

SEEDS = (1, 7)
ROUNDS = 12


def digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]


def seed_run(seed: int, catalog) -> dict:
    specs = [catalog[alias] for alias in catalog]
    template = load_template("sentiment")
    run = RunInfo(
        run_id=f"seed-{seed}",
        created_at="2026-01-01T00:00:00+00:00",
        seed=seed,
        rounds=ROUNDS,
        models=[s.alias for s in specs],
        template=template.name,
        template_text=template.text,
        topics_source="sentiment",
    )
    plans = plan_models(specs, template, None)
    rounds: list[dict] = []
    bodies: dict[str, list[list[str]]] = {s.alias: [] for s in specs}
    fewshot: dict[str, str] = {}
    for cell in plan_cells(run, specs, template, load_topics("sentiment")):
        if cell.model == specs[0].alias:
            rounds.append({"label": cell.sentiment, "topics": cell.topics, "prompt": cell.prompt})
        spec = catalog[cell.model]
        topics = tuple(Topic(t["category"], t["topic"]) for t in cell.topics)
        plan = RoundPlan(index=cell.round, sentiment=cell.sentiment, topics=topics, prompt=cell.prompt)
        adapter = adapter_class(spec.protocol, check_extra=False)()
        made = [adapter.build_body(spec, cell.prompt, None, round=plan, attempt=a) for a in (0, 1)]
        bodies[cell.model].append([digest(b) for b in made])
        if cell.round == 0 and plans[cell.model]["few_shot"]:
            fewshot[cell.model] = made[0]["prompt"]
    return {
        "seed": seed,
        "rounds": rounds,
        "bodies": bodies,
        "fewshot_prompts_round_0": fewshot,
        "plans": {alias: digest(p) for alias, p in plans.items()},
    }


def main() -> None:
    catalog = load_catalog()
    out = {
        "made_by": "tests/data/make_sentiment_seed.py with the code of commit 836456b (before tasks)",
        "rounds": ROUNDS,
        "models": list(catalog),
        "seeds": [seed_run(seed, catalog) for seed in SEEDS],
    }
    target = HERE / "sentiment_seed_prompts.json"
    if len(sys.argv) > 2 and sys.argv[2] == "--check":
        assert json.loads(target.read_text(encoding="utf-8")) == out, "differs from the committed fixture"
        print("same as", target)
        return
    target.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print("wrote", target)


if __name__ == "__main__":
    main()
