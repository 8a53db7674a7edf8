"""Ask one catalog model many short questions at once: bounded concurrency, retried by the engine's policy
(`ratecontrol.RetryPolicy`: throttling, 5xx and timeouts; never a failed answer, which would come out the same)."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from ..adapters import Adapters, credentials_status
from ..aio import run_sync
from ..catalog import ModelSpec
from ..errors import UserError
from ..paths import data_dir
from ..ratecontrol import Backoff, RetryPolicy

T = TypeVar("T")


@dataclass(frozen=True)
class Reply:
    """A model's reply to one question: its text, or why there is none."""

    text: str | None
    error: str = ""  # why there is no text: "throttled (HTTP 429): ..." and the like


class Asker(Protocol):
    name: str

    def ask_many(self, prompts: Sequence[str]) -> list[Reply]: ...


def read_prompt(name: str) -> str:
    """A shipped prompt (`prompts/NAME.txt`) as text; these use [SLOT] placeholders, not the sentiment ones."""
    path = data_dir("prompts") / f"{name}.txt"
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read prompt template ({exc.strerror}); reinstall synthgen") from None


def fill(template: str, slots: Mapping[str, str]) -> str:
    """Replace each [SLOT] once, in one pass, so a slot's value that happens to contain '[X]' stays literal."""
    pattern = re.compile("|".join(re.escape(f"[{name}]") for name in slots))
    return pattern.sub(lambda m: slots[m.group(0)[1:-1]], template)


class ModelAsker:
    """Sends prompts to a catalog model through its wire-protocol adapter."""

    def __init__(
        self,
        spec: ModelSpec,
        params: Mapping[str, Any] | None = None,
        *,
        attempts: int = 3,
        timeout: float = 60.0,
        concurrency: int | None = None,
        seed: int = 0,
    ):
        present, hint = credentials_status(spec)
        if not present:
            raise UserError(f"--labeler {spec.alias}: credentials missing; {hint}")
        self.spec = spec
        self.name = spec.alias
        self.params = dict(params or {})
        self.attempts = max(1, attempts)
        self.timeout = timeout
        self.concurrency = max(1, min(concurrency or spec.concurrency_cap or 16, 16))
        self.seed = seed

    def ask_many(self, prompts: Sequence[str]) -> list[Reply]:
        if not prompts:
            return []
        return run_sync(lambda: self._ask_all(list(prompts)))

    async def _ask_all(self, prompts: list[str]) -> list[Reply]:
        adapters = Adapters(max_connections=self.concurrency, timeout=self.timeout)
        gate = asyncio.Semaphore(self.concurrency)
        # A failed answer is not retried: these prompts have no round, so the next draw uses the same seed.
        retry = RetryPolicy(self.attempts, answer_missing_attempts=1, backoff=Backoff(rng=random.Random(self.seed)))
        adapter = adapters.for_spec(self.spec)

        async def one(prompt: str) -> Reply:
            attempt = 1
            while True:
                async with gate:
                    result = await adapter.call(self.spec, prompt, self.params, attempt=attempt - 1)
                if result.ok:
                    return Reply(result.text)
                failure = result.failure
                if not retry.should_retry(failure, attempt):
                    status = f" (HTTP {failure.status})" if failure.status else ""
                    return Reply(None, f"{failure.kind}{status}: {failure.message}")
                await asyncio.sleep(retry.delay(attempt, failure))
                attempt += 1

        try:
            return list(await asyncio.gather(*(one(p) for p in prompts)))
        finally:
            await adapters.aclose()
