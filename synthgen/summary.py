"""What a run made, per model, read from the stored records (the source of truth), never from what was counted.

One type for the summary `generate` prints at the end and the figures `synthgen stats` shows: both call
`summarize`, so the two never disagree.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from .store import OK, PLANNED, SUBMITTED, Record, RunInfo


@dataclass
class ModelSummary:
    model: str  # alias
    model_id: str = ""
    ok: int = 0
    labels: dict[str, int] = field(default_factory=dict)  # ok answers per label, in the task's order
    failures: dict[str, int] = field(default_factory=dict)  # failure kind -> records (failed and skipped)
    planned: int = 0  # cells still without an outcome
    latencies: list[float] = field(default_factory=list)  # seconds, ok answers, store order
    latency_p50: float | None = None
    latency_p95: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    without_usage: int = 0  # ok answers whose provider reported no token counts
    tokens_per_s: float | None = None  # output tokens per second of answer latency
    price_input_per_1m: float | None = None
    price_output_per_1m: float | None = None
    stored_cost: float | None = None  # the records' own cost (stored with each outcome); None: none carries one
    unpriced_input: int = 0  # tokens of ok answers stored without a cost (before costs were stored)
    unpriced_output: int = 0

    @property
    def sentiments(self) -> dict[str, int]:
        """Deprecated: `labels` (its name before tasks)."""
        return self.labels

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def not_run(self) -> int:
        return self.planned

    @property
    def cost_usd(self) -> float | None:
        """What the model's outcomes cost: their stored costs (online or batch prices, as the run was planned),
        plus the ok answers stored without one at the catalog's prices, where it gives both; else None."""
        priced = self.price_input_per_1m is not None and self.price_output_per_1m is not None
        if self.stored_cost is None:
            if not priced:
                return None
            return (self.input_tokens * self.price_input_per_1m + self.output_tokens * self.price_output_per_1m) / 1e6
        if not priced or not (self.unpriced_input or self.unpriced_output):
            return self.stored_cost
        rest = self.unpriced_input * self.price_input_per_1m + self.unpriced_output * self.price_output_per_1m
        return self.stored_cost + rest / 1e6


def quantile(values: list[float], q: float) -> float | None:
    """The q-quantile of sorted `values` (inclusive method), None for none."""
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q * 100) - 1]


def summarize(run: RunInfo, records: Iterable[Record], labels: Iterable[str] | None = None) -> dict[str, ModelSummary]:
    """Per-model figures of `run` from its records, in one pass; models in the run's order, then any others.

    `labels` (default: the run's task's, in order) are counted as 0 when no ok answer carries them, so a table
    shows every label of the task."""
    labels = tuple(run.task_info().names if labels is None else labels)
    models = {alias: ModelSummary(alias, labels=dict.fromkeys(labels, 0)) for alias in run.models}
    for rec in records:
        summary = models.get(rec.model)
        if summary is None:
            summary = models[rec.model] = ModelSummary(rec.model, labels=dict.fromkeys(labels, 0))
        summary.model_id = summary.model_id or rec.model_id
        if rec.cost_usd is not None:
            summary.stored_cost = (summary.stored_cost or 0.0) + rec.cost_usd
        elif rec.status == OK:
            summary.unpriced_input += rec.input_tokens or 0
            summary.unpriced_output += rec.output_tokens or 0
        if rec.status == OK:
            summary.ok += 1
            summary.labels[rec.label] = summary.labels.get(rec.label, 0) + 1
            if rec.latency_s is not None:
                summary.latencies.append(rec.latency_s)
            if rec.input_tokens is None and rec.output_tokens is None:
                summary.without_usage += 1
            summary.input_tokens += rec.input_tokens or 0
            summary.output_tokens += rec.output_tokens or 0
        elif rec.status in (PLANNED, SUBMITTED):
            summary.planned += 1
        else:
            kind = rec.failure_kind or rec.status
            summary.failures[kind] = summary.failures.get(kind, 0) + 1
    for summary in models.values():
        summary.failures = dict(sorted(summary.failures.items()))
        values = sorted(summary.latencies)
        summary.latency_p50 = quantile(values, 0.50)
        summary.latency_p95 = quantile(values, 0.95)
        if values and summary.output_tokens:
            summary.tokens_per_s = summary.output_tokens / sum(values)
    return models
