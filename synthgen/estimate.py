"""`generate --estimate`: what a run would send and cost, per model, online and batch, before anything is sent.

Input tokens are counted from the rendered prompts of the planned run (the same seed plans the same prompts),
with cost.py's documented estimate (`ceil(characters / 4)` of the system text and of the prompt in the family's
template, per request). Output tokens are the mean of the model's earlier ok answers in the store when it has
some, else its answer-length cap (`max_tokens` and its kin): an upper bound. Nothing is stored; a store that does
not exist is not created.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .catalog import load_catalog
from .cost import Prices, cost_usd, max_output_tokens, prompt_tokens
from .errors import UserError
from .planning import new_run
from .store import OK, open_store

EARLIER = 20_000  # earlier answers read at most per model for the mean


@dataclass
class ModelEstimate:
    model: str
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    output_source: str = ""  # "earlier runs (N answers)" or "max_tokens cap"
    online_usd: float | None = None
    batch_usd: float | None = None
    batch: bool = False
    prices_as_of: str | None = None


@dataclass
class Estimate:
    rounds: int
    seed: int
    models: list[ModelEstimate] = field(default_factory=list)

    def total(self, which: str) -> float | None:
        values = [getattr(m, which) for m in self.models]
        return None if not values or None in values else round(sum(values), 6)

    def to_dict(self) -> dict[str, Any]:
        return {
            "rounds": self.rounds,
            "seed": self.seed,
            "models": [asdict(m) for m in self.models],
            "online_usd": self.total("online_usd"),
            "batch_usd": self.total("batch_usd"),
        }


def estimate_run(
    rounds: int | None,
    models: Sequence[str] | None = None,
    *,
    store: str | None = None,
    seed: int | None = None,
    task: str | None = None,
    tasks_dir: str | None = None,
    template: str | None = None,
    topics: str | None = None,
    catalog_dir: str | None = None,
    params: dict[str, dict[str, Any]] | None = None,
) -> Estimate:
    new = new_run(load_catalog(catalog_dir), rounds, models, task, tasks_dir, template, topics)
    specs = new.specs
    run = new.run_info("estimate", seed, params)
    found = {s.alias: ModelEstimate(s.alias) for s in specs}
    by_alias = {s.alias: s for s in specs}
    for cell in new.cells(run):
        item = found[cell.model]
        item.requests += 1
        item.input_tokens += prompt_tokens(by_alias[cell.model], cell.prompt)
    earlier = _earlier_output(store, list(found))
    for alias, item in found.items():
        spec = by_alias[alias]
        mean = earlier.get(alias)
        cap = max_output_tokens(spec.merged_params((params or {}).get(alias))) or 0
        if mean is not None:
            item.output_tokens = round(mean[0] * item.requests)
            item.output_source = f"earlier runs ({mean[1]} answers)"
        else:
            item.output_tokens = cap * item.requests
            item.output_source = "answer-length cap" if cap else "unknown (no cap)"
        prices = Prices.of_spec(spec)
        item.online_usd = cost_usd(prices, item.input_tokens, item.output_tokens, False)
        item.batch = spec.batch
        item.batch_usd = cost_usd(prices, item.input_tokens, item.output_tokens, True) if spec.batch else None
        item.prices_as_of = spec.prices_as_of
    return Estimate(rounds=rounds, seed=run.seed, models=list(found.values()))


def _earlier_output(store: str | None, aliases: list[str]) -> dict[str, tuple[float, int]]:
    """Mean output tokens of each model's earlier ok answers, from an existing store (never created)."""
    try:
        handle = open_store(store, create=False)
    except UserError:
        return {}
    out: dict[str, tuple[float, int]] = {}
    try:
        for alias in aliases:
            total = n = 0
            for rec in handle.records(model=alias, status=OK):
                if rec.output_tokens is not None:
                    total, n = total + rec.output_tokens, n + 1
                    if n >= EARLIER:
                        break
            if n:
                out[alias] = (total / n, n)
    finally:
        handle.close()
    return out


def print_estimate(estimate: Estimate, as_json: bool = False) -> None:
    import click

    if as_json:
        click.echo(json.dumps(estimate.to_dict()))
        return

    def usd(value: float | None) -> str:
        return "unknown" if value is None else f"${value:,.4f}"

    click.echo(f"estimate for {estimate.rounds} rounds (seed {estimate.seed}); nothing was sent or stored")
    click.echo("model | requests | input tokens | output tokens (from) | online | batch | prices as of")
    for m in estimate.models:
        batch = usd(m.batch_usd) if m.batch else "no batch"
        click.echo(
            f"{m.model} | {m.requests} | {m.input_tokens} | {m.output_tokens} ({m.output_source}) | "
            f"{usd(m.online_usd)} | {batch} | {m.prices_as_of or '-'}"
        )
    with_batch = [(m.model, m.batch_usd if m.batch else m.online_usd) for m in estimate.models]
    click.echo(f"total online: {_total_line([(m.model, m.online_usd) for m in estimate.models], usd)}")
    click.echo(f"total with --batch (batch where offered, online otherwise): {_total_line(with_batch, usd)}")
    click.echo("input tokens: ceil(characters / 4) of each request's system text and prompt (no offline tokenizer)")


def _total_line(costs: list[tuple[str, float | None]], usd: Any) -> str:
    """The sum of the known costs, naming the models whose cost is unknown (no price in their table)."""
    known = [cost for _, cost in costs if cost is not None]
    unknown = [model for model, cost in costs if cost is None]
    if not unknown:
        return usd(round(sum(known), 6))
    if not known:
        return "unknown (no prices in the models' tables)"
    return f"{usd(round(sum(known), 6))} + unknown for {', '.join(unknown)} (no price in their tables)"
