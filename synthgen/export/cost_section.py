"""The card's cost section: what the run's outcomes cost, per model, at the prices the run was planned with."""

from __future__ import annotations

from collections.abc import Iterable

from ..store import Record, RunInfo


def cost_lines(run: RunInfo, records: Iterable[Record], run_cost: tuple[float | None, int]) -> list[str]:
    """Markdown lines; none when no outcome of the run carries a cost."""
    total, unpriced = run_cost
    if total is None:
        return []
    per: dict[str, tuple[float, int, int]] = {}
    for rec in records:
        cost, n, batch = per.get(rec.model, (0.0, 0, 0))
        per[rec.model] = (cost + (rec.cost_usd or 0.0), n + 1, batch + (rec.batch_job is not None))
    lines = ["## Cost", "", "| model | texts | of them by batch job | cost of these texts (USD) | prices as of |"]
    lines.append("|---|---|---|---|---|")
    for model, (cost, n, batch) in per.items():
        as_of = ((run.model_plans.get(model) or {}).get("prices") or {}).get("as_of") or "-"
        lines.append(f"| {model} | {n} | {batch} | {cost:.4f} | {as_of} |")
    known = "" if not unpriced else f" ({unpriced} answers carry no cost: their price or token counts are unknown)"
    lines += [
        "",
        f"The whole run (failed requests included) cost ${total:.4f}{known}, at the providers' published prices "
        "per million tokens stored with the run (batch jobs at their batch prices).",
        "",
    ]
    return lines
