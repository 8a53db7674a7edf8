"""In-process llama.cpp (llama-cpp-python) for GGUF files: no server, no keys, no network.

`options.mode` says how the prompt reaches the model:
- `completion`: a base model. With a round, the few-shot template (`options.few_shot_template`) turns the
  round's sentiment and topics into a list-continuation prompt, and an answer copying a worked example is a
  failed answer (`adapters.fewshot`); without a round (`synthgen ask`), the prompt goes as it is.
- `chat`: an instruction-tuned model. The rendered prompt is the user message; llama-cpp-python formats it
  with the chat template stored in the GGUF's metadata.

Generation runs on one worker thread (`_llama_runtime`), so it never blocks the engine's event loop. A call's
latency is its generation time measured inside the worker, not its time in the queue. `--timeout` counts from
the start of generation and is checked at every sampled token: a generation past it is stopped and becomes a
transient failure, retried like an HTTP timeout. The response is llama-cpp-python's OpenAI-shaped dict, so the
protocol's table paths read text, finish reason and usage from it.

This module does not import llama_cpp (the runtime does, on first use), so body building, modes and the
few-shot hooks work, and are tested, without the `local` extra; the registry checks the extra before a run.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..catalog import ModelSpec
from ..errors import UserError
from ..results import CallResult, FailureKind
from .base import Adapter, ProviderError
from .fewshot import FewShotCompletion, completion_prompt, round_seed
from .gguf import gguf_status

if TYPE_CHECKING:
    from ..prompt import RoundPlan

MODES = ("completion", "chat")
# Seconds the last generation of *this* task took inside the worker: `call` reads what `_send` set (the same
# asyncio task, so concurrent calls do not see each other's value).
_GENERATION_S: contextvars.ContextVar[float | None] = contextvars.ContextVar("llama_generation_s", default=None)


def mode_of(spec: ModelSpec) -> str:
    """`options.mode`; without one, `completion` when the entry names a few-shot template, else `chat`."""
    mode = spec.options.get("mode") or ("completion" if spec.options.get("few_shot_template") else "chat")
    if mode not in MODES:
        raise UserError(f"{spec.source}: models.{spec.alias}.options.mode is {mode!r}; use one of {', '.join(MODES)}")
    return mode


def build_local_body(
    spec: ModelSpec,
    prompt: str,
    params: Mapping[str, Any] | None = None,
    *,
    round: RoundPlan | None = None,
    attempt: int = 0,
) -> dict[str, Any]:
    """Keyword arguments of `Llama.create_completion` (completion mode) or `create_chat_completion` (chat)."""
    merged = spec.merged_params(params)
    if "seed" in merged:
        merged["seed"] = round_seed(merged["seed"], round, attempt)
    if "stop" not in merged and spec.options.get("stop") is not None:
        merged["stop"] = list(spec.options["stop"])
    merged.pop("stream", None)  # one answer, whole
    if mode_of(spec) == "completion":
        return {"prompt": completion_prompt(spec, prompt, round), **merged}
    messages = [{"role": "user", "content": spec.prompt_format.replace("{prompt}", prompt)}]
    if spec.system:
        messages.insert(0, {"role": "system", "content": spec.system})
    return {"messages": messages, **merged}


def effective_spec(spec: ModelSpec) -> ModelSpec:
    """Chat answers live at `choices.0.message.content`; the protocol's default path is the completion one."""
    if mode_of(spec) == "chat" and spec.answer_path == "choices.0.text":
        return dataclasses.replace(spec, answer_path="choices.0.message.content")
    return spec


class LlamaCppAdapter(FewShotCompletion, Adapter):
    protocol = "llama-cpp"

    @classmethod
    def completes_fewshot(cls, spec: ModelSpec) -> bool:
        return bool(spec.options.get("few_shot_template")) and mode_of(spec) == "completion"

    def build_body(
        self,
        spec: ModelSpec,
        prompt: str,
        params: Mapping[str, Any] | None = None,
        *,
        round: RoundPlan | None = None,
        attempt: int = 0,
    ) -> dict[str, Any]:
        return build_local_body(spec, prompt, params, round=round, attempt=attempt)

    async def prepare(self, spec: ModelSpec) -> ModelSpec:
        """The entry as this mode reads it, its model loaded (and on first use assembled) before the clock
        starts: latency is generation time. A file that will not load is this call's failure (Adapter.call)."""
        from . import _llama_runtime as runtime

        spec = effective_spec(spec)
        await asyncio.get_running_loop().run_in_executor(runtime.WORKER, runtime.load, spec)
        return spec

    async def call(
        self,
        spec: ModelSpec,
        prompt: str,
        params: Mapping[str, Any] | None = None,
        *,
        round: RoundPlan | None = None,
        attempt: int = 0,
    ) -> CallResult:
        _GENERATION_S.set(None)
        result = await super().call(spec, prompt, params, round=round, attempt=attempt)
        generation = _GENERATION_S.get()
        if generation is not None:
            # Latency (and so output tokens per second) is the generation itself: with several requests queued
            # on the one worker, the wall time around the call would count the waiting too.
            result.latency_s = generation
        if result.text is not None:  # never blank here: parse_answer made an empty answer a failure
            result.text = result.text.strip()
        return result

    async def _send(self, spec: ModelSpec, body: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        from . import _llama_runtime as runtime

        mode = "chat" if "messages" in body else "completion"
        unknown = set(body) - runtime.ACCEPTED[mode]
        if unknown:
            method = "create_chat_completion" if mode == "chat" else "create_completion"
            raise ProviderError(
                FailureKind.INVALID_REQUEST, f"parameter(s) {sorted(unknown)} not accepted by llama_cpp.Llama.{method}"
            )
        loop = asyncio.get_running_loop()
        try:
            raw, seconds = await loop.run_in_executor(runtime.WORKER, runtime.generate, spec, body, self.timeout)
            _GENERATION_S.set(seconds)
        except runtime.GenerationTimeout as exc:
            # The same kind as an HTTP timeout: retried with backoff (and, for a round, another seed).
            raise ProviderError(
                FailureKind.TRANSIENT,
                f"llama.cpp: generation ran past the {self.timeout:g} s timeout ({exc.tokens} tokens); stopped",
            ) from None
        except UserError as exc:
            raise ProviderError(FailureKind.INVALID_REQUEST, str(exc)) from None
        except (ValueError, TypeError) as exc:  # prompt longer than the context, a parameter of a wrong type
            raise ProviderError(FailureKind.INVALID_REQUEST, f"llama.cpp: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - anything else the native code raises: retry once or twice
            raise ProviderError(FailureKind.TRANSIENT, f"llama.cpp: {type(exc).__name__}: {exc}") from None
        return _plain(raw), {}

    @classmethod
    def credentials_present(cls, spec: ModelSpec) -> bool:
        return gguf_status(spec)[0]

    @classmethod
    def credentials_hint(cls, spec: ModelSpec) -> str:
        return gguf_status(spec)[1]

    # aclose: nothing to close per run; the loaded models stay cached for the process (_llama_runtime.unload_models)


def _plain(raw: Any) -> Any:
    """The response as plain JSON-able data (llama-cpp-python returns dicts, possibly with tuples inside)."""
    if isinstance(raw, Mapping):
        return {str(k): _plain(v) for k, v in raw.items()}
    if isinstance(raw, list | tuple):
        return [_plain(v) for v in raw]
    return raw
