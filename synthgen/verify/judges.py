"""Judges: how each kind of model is asked which label a text has. They stand in for the engine's adapters, so a
verdict is sent, retried, rate-limited and journaled exactly as an answer is (see `sinks.py`).

- Chat models (`ChatJudge`): the judge prompt, with structured output where the protocol has it (the adapter's
  `judge_params`: OpenAI's JSON schema, Gemini's response schema, a Converse tool, the label an enum), a strict
  parse otherwise (`parse.py`).
- The in-process llama.cpp model in completion mode (`LlamaLogprobJudge`): each label's log-probability after a
  few-shot classification prompt built from the task's examples, calibrated on a content-free input
  (`logprob.py`).
- An OpenAI-compatible `/v1/completions` endpoint (`CompletionLogprobJudge`): the same prompt, one token, the
  top log-probabilities of the first token (a server's view of each label's first token), calibrated the same way.

A judge's answer is the verdict as JSON text (label, confidence, probabilities, method, the judge's model id);
what went wrong is a typed Failure, as for any call. A judge never raises.
"""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import Mapping
from typing import Any

from ..adapters import Adapter, Adapters, adapter_class
from ..adapters.base import error_result
from ..catalog import ModelSpec, deep_merge
from ..labels import TaskInfo
from ..results import CallResult, Failure, FailureKind
from .parse import NoVerdict, Reading, read_verdict
from .prompts import CONTENT_FREE, chat_prompt, fewshot_prompt, task_examples

TOP_LOGPROBS = 20  # what a completions judge asks for: enough to hold every label's first token, usually


def cell_payload(text: str, attempt: int, replace: bool = False) -> str:
    """What a judging cell carries in its `prompt`: the text to judge and which attempt of its cell it is."""
    return json.dumps({"text": text, "attempt": attempt, "replace": replace}, ensure_ascii=False)


def payload_of(prompt: str) -> dict[str, Any]:
    return json.loads(prompt)


def _verdict_text(reading: Reading, method: str, model_id: str) -> str:
    return json.dumps(
        {
            "label": reading.label,
            "confidence": reading.confidence,
            "probs": reading.probs,
            "method": method,
            "model_id": model_id,
        },
        ensure_ascii=False,
    )


def _result(spec: ModelSpec, body: dict[str, Any], latency: float, **kw: Any) -> CallResult:
    # model_id carries the judge's alias: the sink reads which judge a stored outcome came from (sinks.py)
    return CallResult(model=spec.alias, model_id=spec.alias, request_body=body, latency_s=latency, **kw)


class Judge:
    """One judge protocol, called by the engine as it calls an adapter."""

    def __init__(self, task: TaskInfo, adapter: Adapter | None, tasks_dir: str | None = None):
        self.task = task
        self.labels = task.names
        self.adapter = adapter
        self.examples = task_examples(task, tasks_dir)

    async def call(
        self,
        spec: ModelSpec,
        prompt: str,
        params: Mapping[str, Any] | None = None,
        *,
        round: Any = None,
        attempt: int = 0,
    ) -> CallResult:
        try:
            return await self._judge(spec, payload_of(prompt)["text"], params)
        except Exception as exc:  # noqa: BLE001 - one verdict's failure, never the run's end
            return error_result(spec, {}, exc)

    async def _judge(self, spec: ModelSpec, text: str, params: Mapping[str, Any] | None) -> CallResult:
        raise NotImplementedError


class ChatJudge(Judge):
    async def _judge(self, spec: ModelSpec, text: str, params: Mapping[str, Any] | None) -> CallResult:
        assert self.adapter is not None
        merged = deep_merge(params or {}, type(self.adapter).judge_params(spec, self.labels))
        result = await self.adapter.call(spec, chat_prompt(self.task, text), merged)
        if result.failure is not None and result.failure.kind is not FailureKind.ANSWER_MISSING:
            return _result(spec, result.request_body, result.latency_s, raw=result.raw, failure=result.failure)
        try:  # a Converse tool call has no text at the table's answer path: read from the raw response
            reading = read_verdict(result.text, result.raw, self.labels)
        except NoVerdict as exc:
            failure = Failure(FailureKind.ANSWER_MISSING, str(exc))
            return _result(spec, result.request_body, result.latency_s, raw=result.raw, failure=failure)
        structured = getattr(type(self.adapter).judge_params, "__func__", None) is not Adapter.judge_params.__func__
        method = "structured" if structured else "strict parse"
        return _result(
            spec,
            result.request_body,
            result.latency_s,
            text=_verdict_text(reading, f"chat {method}", result.model_id),
            raw=result.raw,
            usage=result.usage,
        )


def _calibrated(probs: list[float], content_free: list[float]) -> list[float]:
    scaled = [p / max(c, 1e-9) for p, c in zip(probs, content_free, strict=True)]
    total = sum(scaled)
    return [s / total for s in scaled]


def _reading(labels: tuple[str, ...], probs: list[float], calibrated: list[float]) -> Reading:
    best = max(range(len(labels)), key=lambda i: calibrated[i])
    shares = {k: round(p, 6) for k, p in zip(labels, calibrated, strict=True)}
    return Reading(labels[best], round(calibrated[best], 6), shares)


class LlamaLogprobJudge(Judge):
    async def _judge(self, spec: ModelSpec, text: str, params: Mapping[str, Any] | None) -> CallResult:
        from ..adapters import _llama_runtime as runtime
        from ..adapters.llama_cpp import effective_spec
        from . import logprob

        spec = effective_spec(spec)
        prompt = fewshot_prompt(self.task, text, self.examples)
        calibration = fewshot_prompt(self.task, CONTENT_FREE, self.examples)
        body = {"prompt": prompt, "score": list(self.labels), "calibration": CONTENT_FREE}
        loop = asyncio.get_running_loop()
        try:
            probs, calibrated, seconds = await loop.run_in_executor(
                runtime.WORKER, logprob.score, spec, prompt, calibration, self.labels
            )
        except (ValueError, RuntimeError) as exc:  # a prompt past the context, a model that will not load
            return _result(spec, body, 0.0, failure=Failure(FailureKind.INVALID_REQUEST, f"llama.cpp: {exc}"))
        reading = _reading(self.labels, probs.tolist(), calibrated.tolist())
        method = f"logprob fewshot={len(self.examples)} calibrated={CONTENT_FREE}"
        raw = {"probs": dict(zip(self.labels, probs.round(6).tolist(), strict=True)), "calibrated": reading.probs}
        return _result(spec, body, seconds, text=_verdict_text(reading, method, spec.model_id), raw=raw)


def _first_token_probs(raw: Any, labels: tuple[str, ...]) -> list[float] | None:
    """Each label's probability as its first token among the completion's top log-probabilities."""
    try:
        top = raw["choices"][0]["logprobs"]["top_logprobs"][0]
    except (KeyError, IndexError, TypeError):
        return None
    if not isinstance(top, Mapping) or not top:
        return None
    floor = min(float(v) for v in top.values()) - 1.0  # a label outside the top ones: less than the least
    out = []
    for label in labels:
        found = [float(v) for token, v in top.items() if (t := token.strip().lower()) and label.startswith(t)]
        out.append(math.exp(max(found) if found else floor))
    total = sum(out)
    return [p / total for p in out]


class CompletionLogprobJudge(Judge):
    def __init__(self, task: TaskInfo, adapter: Adapter | None, tasks_dir: str | None = None):
        super().__init__(task, adapter, tasks_dir)
        self._content_free: dict[str, list[float]] = {}
        self._calibrating: asyncio.Lock | None = None  # made in the engine's loop: one content-free request

    async def _probs(self, spec: ModelSpec, text: str, params: Mapping[str, Any] | None) -> tuple[Any, CallResult]:
        assert self.adapter is not None
        merged = deep_merge(params or {}, {"max_tokens": 1, "temperature": 0, "logprobs": TOP_LOGPROBS})
        merged.pop("stop", None)
        result = await self.adapter.call(spec, fewshot_prompt(self.task, text, self.examples), merged)
        return _first_token_probs(result.raw, self.labels), result

    async def _judge(self, spec: ModelSpec, text: str, params: Mapping[str, Any] | None) -> CallResult:
        self._calibrating = self._calibrating or asyncio.Lock()
        async with self._calibrating:
            if spec.alias not in self._content_free:
                content_free, result = await self._probs(spec, CONTENT_FREE, params)
                if content_free is None:
                    return self._failed(spec, result)
                self._content_free[spec.alias] = content_free
        probs, result = await self._probs(spec, text, params)
        if probs is None:
            return self._failed(spec, result)
        reading = _reading(self.labels, probs, _calibrated(probs, self._content_free[spec.alias]))
        method = f"first-token logprob fewshot={len(self.examples)} calibrated={CONTENT_FREE}"
        text_out = _verdict_text(reading, method, result.model_id)
        return _result(spec, result.request_body, result.latency_s, text=text_out, raw=result.raw, usage=result.usage)

    @staticmethod
    def _failed(spec: ModelSpec, result: CallResult) -> CallResult:
        failure = result.failure or Failure(FailureKind.ANSWER_MISSING, "no top log-probabilities in the answer")
        return _result(spec, result.request_body, result.latency_s, raw=result.raw, failure=failure)


def judge_kind(spec: ModelSpec) -> type[Judge]:
    """How this entry judges: by log-probabilities (base models in completion mode), else as a chat model."""
    if spec.protocol == "llama-cpp":
        from ..adapters.llama_cpp import mode_of

        return LlamaLogprobJudge if mode_of(spec) == "completion" else ChatJudge
    if spec.protocol == "openai-chat" and spec.options.get("endpoint") == "completions":
        return CompletionLogprobJudge
    return ChatJudge


class JudgeAdapters:
    """The engine's `adapters` for a judging run: one judge per judge entry, over the protocols' own adapters."""

    def __init__(self, task: TaskInfo, adapters: Adapters, tasks_dir: str | None = None):
        self.task, self.inner, self.tasks_dir = task, adapters, tasks_dir
        self._made: dict[str, Judge] = {}

    def for_spec(self, spec: ModelSpec) -> Judge:
        if spec.alias not in self._made:
            kind = judge_kind(spec)
            adapter_class(spec.protocol)  # the protocol's extra, checked: a missing one is one line
            adapter = None if kind is LlamaLogprobJudge else self.inner.for_spec(spec)
            self._made[spec.alias] = kind(self.task, adapter, self.tasks_dir)
        return self._made[spec.alias]

    async def aclose(self) -> None:
        await self.inner.aclose()
        self._made.clear()
