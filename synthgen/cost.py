"""What a request costs: prices per million tokens (online and batch), token estimates, and the budget meter.

Prices come from the model tables and are fixed with the run when it is planned (`ModelPlan.prices`), so a table
edited later never changes what a stored outcome cost. A price the table does not give is unknown (None), never
zero: the cost of an outcome with an unknown price, or without token counts, is unknown too.

Token estimate (no tokenizer of the cloud families is available offline): a text is `ceil(characters / 4)`
tokens, the providers' own rule of thumb for English; a request's prompt is its system text plus the prompt as
the family's template wraps it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from .catalog import ModelSpec
from .errors import UserError

CHARS_PER_TOKEN = 4
# the parameters that cap an answer's length, by family (OpenAI, Converse, Titan, Claude text, Llama, Gemini, AI21)
_MAX_OUTPUT_KEYS = (
    "max_completion_tokens",
    "max_tokens",
    "maxTokens",
    "maxTokenCount",
    "max_tokens_to_sample",
    "max_gen_len",
    "maxOutputTokens",
    "max_new_tokens",
)


@dataclass(frozen=True)
class Prices:
    """USD per million tokens; None: unknown."""

    input: float | None = None
    output: float | None = None
    batch_input: float | None = None
    batch_output: float | None = None
    as_of: str | None = None

    @classmethod
    def of_spec(cls, spec: ModelSpec) -> Prices:
        return cls(
            spec.price_input_per_1m,
            spec.price_output_per_1m,
            spec.batch_price_input_per_1m,
            spec.batch_price_output_per_1m,
            spec.prices_as_of,
        )

    @classmethod
    def of_plan(cls, data: Mapping[str, Any] | None, spec: ModelSpec | None = None) -> Prices:
        """The prices a run stored for a model; a run planned before prices were stored reads today's table."""
        if not data:
            return cls.of_spec(spec) if spec is not None else cls()
        return cls(**{k: data.get(k) for k in ("input", "output", "batch_input", "batch_output", "as_of")})

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def pair(self, batch: bool) -> tuple[float | None, float | None]:
        return (self.batch_input, self.batch_output) if batch else (self.input, self.output)

    def known(self, batch: bool) -> bool:
        return None not in self.pair(batch)


def cost_usd(prices: Prices, input_tokens: int | None, output_tokens: int | None, batch: bool) -> float | None:
    """What these tokens cost, or None when a price or a count is unknown."""
    p_in, p_out = prices.pair(batch)
    if p_in is None or p_out is None or input_tokens is None or output_tokens is None:
        return None
    return round((input_tokens * p_in + output_tokens * p_out) / 1e6, 12)


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def prompt_tokens(spec: ModelSpec, prompt: str) -> int:
    """The estimated input tokens of one request: the system text and the prompt in the family's template."""
    return estimate_tokens(spec.system or "") + estimate_tokens(spec.prompt_format.replace("{prompt}", prompt))


def max_output_tokens(params: Mapping[str, Any]) -> int | None:
    """The answer-length cap in a model's resolved parameters (searched in nested tables too), or None."""
    for key in _MAX_OUTPUT_KEYS:
        value = params.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    for value in params.values():
        if isinstance(value, Mapping) and (found := max_output_tokens(value)) is not None:
            return found
    return None


def worst_case(prices: Prices, spec: ModelSpec, prompt: str, cap: int, batch: bool) -> float:
    """A request's cost at its worst: the prompt's tokens and every token of the answer cap (prices known)."""
    p_in, p_out = prices.pair(batch)
    return (prompt_tokens(spec, prompt) * (p_in or 0.0) + cap * (p_out or 0.0)) / 1e6


def check_budget(budget: float | None, specs: Iterable[ModelSpec], params: Mapping[str, Any], batch: set[str]) -> None:
    """Before anything is stored: a budget must be a positive amount, and every model it covers needs prices (the
    ones it is sent at: batch for batch models) and an answer-length cap, or no worst case can be known."""
    if budget is None:
        return
    if not (budget > 0 and math.isfinite(budget)):
        raise UserError(f"--budget {budget:g}: must be a positive amount of USD")
    for spec in specs:
        on_batch = spec.alias in batch
        if not Prices.of_spec(spec).known(on_batch) or (on_batch and not Prices.of_spec(spec).known(False)):
            which = "batch and online prices" if on_batch else "prices"
            fields = "price_input_per_1m / price_output_per_1m" + (
                " and batch_price_input_per_1m / batch_price_output_per_1m" if on_batch else ""
            )
            raise UserError(
                f"--budget: {spec.alias} has no {which} in its table ({spec.source}), so no cost of it can be "
                f"capped; set {fields} in your own table (--catalog), or leave the model out"
            )
        if max_output_tokens(spec.merged_params((params or {}).get(spec.alias))) is None:
            raise UserError(
                f"--budget: {spec.alias} sets no answer-length cap (max_tokens or its family's name for it), so "
                "a request's worst case is unbounded; set one with its params"
            )


class Meter:
    """The run's budget: spent (stored outcomes) plus in flight (reserved at their worst case) never passes it.

    `reserve` before a request or job is sent; `settle` when its outcome is stored (the reservation is released,
    the real cost, or the worst case when the cost is unknown, is spent). Once a reservation is refused the meter
    is `stopped`: nothing more is sent in this process."""

    def __init__(self, budget: float, spent: float = 0.0, in_flight: float = 0.0):
        self.budget = budget
        self.spent = spent
        self.in_flight = in_flight
        self.stopped = False
        self.refused = 0  # requests or cells not sent for the budget
        self._lock = threading.Lock()

    def reserve(self, usd: float) -> bool:
        with self._lock:
            if self.stopped or self.spent + self.in_flight + usd > self.budget + 1e-12:
                self.stopped = True
                self.refused += 1
                return False
            self.in_flight += usd
            return True

    def settle(self, reserved: float, actual: float | None) -> None:
        with self._lock:
            self.in_flight = max(0.0, self.in_flight - reserved)
            self.spent += reserved if actual is None else actual

    def release(self, reserved: float) -> None:
        with self._lock:
            self.in_flight = max(0.0, self.in_flight - reserved)

    def line(self, run_id: str, store_flag: str = "") -> str:
        return (
            f"budget reached: ${self.spent:.4f} spent of ${self.budget:.4f} (worst case of the next request or "
            f"job would pass it); outcomes so far are stored; resume with synthgen generate --resume {run_id}"
            f"{store_flag} --budget MORE"
        )


class Charger:
    """Each outcome's cost at the run's prices, and the budget's check before each request (online: the engine;
    batch jobs: synthgen.batch). `meter` None: costs are still worked out and stored, nothing is capped."""

    def __init__(
        self,
        specs: Mapping[str, ModelSpec],
        prices: Mapping[str, Prices],
        params: Mapping[str, Any] | None = None,
        meter: Meter | None = None,
        *,
        batch: bool = False,
    ):
        self.specs = dict(specs)
        self.prices = dict(prices)
        self.meter = meter
        self.batch = batch
        self.caps = {
            alias: max_output_tokens(spec.merged_params((params or {}).get(alias))) or 0
            for alias, spec in self.specs.items()
        }

    @property
    def stopped(self) -> bool:
        return self.meter is not None and self.meter.stopped

    def worst(self, spec: ModelSpec, prompt: str) -> float:
        return worst_case(self.prices.get(spec.alias, Prices()), spec, prompt, self.caps.get(spec.alias, 0), self.batch)

    def reserve(self, spec: ModelSpec, prompt: str) -> float | None:
        """The amount held for one request (0.0 without a budget), or None: it could pass the budget, do not send."""
        if self.meter is None:
            return 0.0
        worst = self.worst(spec, prompt)
        return worst if self.meter.reserve(worst) else None

    def cost(self, alias: str, input_tokens: int | None, output_tokens: int | None) -> float | None:
        return cost_usd(self.prices.get(alias, Prices()), input_tokens, output_tokens, self.batch)

    def settle(self, spec: ModelSpec, reserved: float, result: Any) -> float | None:
        """The cost of one call's result (a CallResult), spent against the budget: an answer without token counts
        spends its worst case; a failure without them (a 429, a timeout) spends nothing, as providers bill."""
        usage = result.usage
        cost = self.cost(spec.alias, usage.input_tokens, usage.output_tokens)
        if self.meter is not None:
            self.meter.settle(reserved, cost if cost is not None else (reserved if result.failure is None else 0.0))
        return cost
