"""What every wire-protocol adapter shares: building the body from the table, reading answers by path, timing."""

from __future__ import annotations

import asyncio
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from ..catalog import ModelSpec, deep_merge, is_http_url
from ..errors import UserError
from ..results import CallResult, Failure, FailureKind, Usage, kind_for_status
from ..secrets import redact
from ..text import shorten
from .storable import shown, storable, storable_result, surrogate_note

if TYPE_CHECKING:
    from ..prompt import RoundPlan, Template

_MISSING = object()


class ProviderError(Exception):
    """Raised inside an adapter's `_send` when the provider answered with an error or could not be reached."""

    def __init__(
        self,
        kind: FailureKind,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        raw: Any = None,
    ):
        super().__init__(message)
        # not redacted here: Adapter.call, the only place that catches it, redacts it (the model's key too)
        self.failure = Failure(kind=kind, message=message, status=status, retry_after=retry_after)
        self.raw = raw

    @classmethod
    def from_status(cls, status: int | None, message: str, **kw: Any) -> ProviderError:
        return cls(kind_for_status(status), message, status=status, **kw)


def get_path(data: Any, path: str, headers: Mapping[str, str] | None = None) -> Any:
    """Follow a dotted path (`choices.0.message.content`) or read `header:NAME`; `_MISSING` when absent."""
    if path.startswith("header:"):
        value = (headers or {}).get(path[7:].lower(), _MISSING)
        return value
    node = data
    for part in path.split("."):
        if isinstance(node, dict) or isinstance(node, Mapping):  # dict first: an ABC's check costs ten times more
            node = node.get(part, _MISSING)
        elif isinstance(node, list) and part.lstrip("-").isdigit():
            index = int(part)
            node = node[index] if -len(node) <= index < len(node) else _MISSING
        else:
            return _MISSING
        if node is _MISSING:
            return _MISSING
    return node


def _fill_prompt(node: Any, prompt: str) -> Any:
    if isinstance(node, str):
        return node.replace("{prompt}", prompt)
    if isinstance(node, list):
        return [_fill_prompt(item, prompt) for item in node]
    if isinstance(node, dict):
        return {key: _fill_prompt(value, prompt) for key, value in node.items()}
    return node


def build_body(spec: ModelSpec, prompt: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The request body the provider receives: the table's body with the templated prompt, plus merged params."""
    formatted = spec.prompt_format.replace("{prompt}", prompt)
    body = _fill_prompt(spec.body, formatted)  # builds new containers: the table is never mutated
    merged = spec.merged_params(params)  # a copy too
    if spec.params_at:
        target = body
        for key in spec.params_at.split("."):
            target = target.setdefault(key, {})
        target.update(deep_merge(target, merged))
    else:
        _merge_into(body, merged)
    return body


def _merge_into(base: dict[str, Any], override: Mapping[str, Any]) -> None:
    """deep_merge in place, for two trees built for this request alone (neither is the table's): no copies."""
    for key, value in override.items():
        below = base.get(key)
        if isinstance(value, Mapping) and isinstance(below, dict):
            _merge_into(below, value)
        else:
            base[key] = value


# A token count past this is no count but a provider's bug (or worse): one request never nears a billion tokens.
MAX_TOKENS = 10**9


def _as_int(value: Any, *, header: bool = False) -> int | None:
    """A token count as reported, or None when absent or no sane count. Sane is a non-negative integer below
    MAX_TOKENS; an integral float (12.0) counts, a bool, NaN, an infinity or a fraction does not, nor does a string
    in a body (a header's value is text, so there digits count). Jurassic-2 reports its tokens as a list."""
    if isinstance(value, bool):
        return None
    if isinstance(value, list):
        count = len(value)
    elif isinstance(value, int):
        count = value
    elif isinstance(value, float):
        if not value.is_integer():  # NaN and the infinities are no integers either
            return None
        count = int(value)
    elif header and isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        digits = value.strip()
        count = int(digits) if len(digits) <= 12 else MAX_TOKENS
    else:
        return None
    return count if 0 <= count < MAX_TOKENS else None


def _token_count(
    which: str, path: str | None, raw: Any, headers: Mapping[str, str] | None, notes: list[str]
) -> int | None:
    if not path:
        return None
    value = get_path(raw, path, headers)
    if value is _MISSING or value is None:
        return None
    count = _as_int(value, header=path.startswith("header:"))
    if count is None:
        notes.append(f"{which} token count {shown(value)} is not a count: stored as unknown")
    return count


def label_schema(labels: tuple[str, ...]) -> dict[str, Any]:
    """The JSON schema of a judge's answer: one of the task's labels, and how sure the judge is (0 to 1)."""
    return {
        "type": "object",
        "properties": {"label": {"type": "string", "enum": list(labels)}, "confidence": {"type": "number"}},
        "required": ["label", "confidence"],
        "additionalProperties": False,
    }


class Answer(NamedTuple):
    """What the table's paths found in a response, storable: the text (None with a failure), finish reason and
    usage, and notes saying what was changed to make them so."""

    text: str | None
    finish_reason: str | None
    usage: Usage
    failure: Failure | None
    notes: list[str]


def parse_answer(spec: ModelSpec, raw: Any, headers: Mapping[str, str] | None = None) -> Answer:
    """Text, finish reason and usage by the table's paths; a missing or non-text answer is a failure, never text.

    What a provider sends is data, never a reason for the call to fail: a token count that is no count is
    unknown (None), a lone surrogate in the text or finish reason becomes U+FFFD; each change is a note."""
    notes: list[str] = []
    usage = Usage(
        input_tokens=_token_count("input", spec.usage_input, raw, headers, notes),
        output_tokens=_token_count("output", spec.usage_output, raw, headers, notes),
    )
    finish = get_path(raw, spec.finish_path, headers) if spec.finish_path else None
    if finish is _MISSING or finish is None:
        finish = None
    else:
        finish, count = storable(finish if isinstance(finish, str) else str(finish))
        if count:
            notes.append(surrogate_note(count, "finish reason"))
    text = get_path(raw, spec.answer_path, headers)
    if text is _MISSING or not isinstance(text, str):
        shape = sorted(raw)[:8] if isinstance(raw, Mapping) else type(raw).__name__
        failure = Failure(
            FailureKind.ANSWER_MISSING,
            f"answer path '{spec.answer_path}' not found in the response (top-level keys: {shape})",
        )
        return Answer(None, finish, usage, failure, notes)
    text, count = storable(text)
    if count:
        notes.append(surrogate_note(count, "answer"))
    if not text.strip():  # an empty answer is no sentence: never stored as one
        failure = Failure(FailureKind.ANSWER_MISSING, f"empty answer (finish reason: {finish})")
        return Answer(None, finish, usage, failure, notes)
    return Answer(text, finish, usage, None, notes)


class Adapter(ABC):
    """One wire protocol. Subclasses implement `_send`; everything else is table-driven and shared."""

    protocol: ClassVar[str]

    def __init__(self, *, max_connections: int = 64, timeout: float = 120.0):
        self.max_connections = max_connections
        self.timeout = timeout
        # Seconds `call` gives `_send`, from send to decoded answer (network adapters: `timeout`, see
        # transport.HTTPAdapter). None: the adapter bounds its own work, as llama.cpp does at every sampled token
        # (cancelling the wait would not stop its worker thread).
        self.deadline: float | None = None

    def build_body(
        self,
        spec: ModelSpec,
        prompt: str,
        params: Mapping[str, Any] | None = None,
        *,
        round: RoundPlan | None = None,
        attempt: int = 0,
    ) -> dict[str, Any]:
        """The request body. `round` is the round the prompt was rendered from (None for a one-off prompt): an
        adapter that must build its own prompt from the round's sentiment and topics (a base model's few-shot
        completion) reads it; the others ignore it. `attempt` counts the cell's earlier tries (from the journal,
        so across resumes): an adapter that seeds its draws offsets the seed by it, so a retry is another draw."""
        return build_body(spec, prompt, params)

    @classmethod
    def received_template(cls, spec: ModelSpec) -> Template | None:
        """The template this entry's prompt is built from when it is not the run's own (a base model's few-shot
        template), else None: the run's template, inside the entry's `prompt_format`. What the run records as the
        template each model received, and what a dataset card names."""
        return None

    def check_answer(self, spec: ModelSpec, text: str | None, round: RoundPlan | None) -> Failure | None:
        """A protocol's own test of an answer the table's paths found: a Failure makes it a failed answer (never
        stored as text), which the engine retries like any answer_missing. None by default."""
        return None

    @classmethod
    def judge_params(cls, spec: ModelSpec, labels: tuple[str, ...]) -> dict[str, Any]:
        """Parameters (deep-merged over the entry's) that make this entry answer as a judge (`synthgen verify`):
        greedy, and structured output where the protocol has it, the label an enum of `labels`. By default
        temperature 0 and a plain-text answer, which the judge parses strictly."""
        return {"temperature": 0}

    @abstractmethod
    async def _send(self, spec: ModelSpec, body: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        """Send the body; return (decoded response, lower-cased headers) or raise ProviderError."""

    @classmethod
    @abstractmethod
    def credentials_present(cls, spec: ModelSpec) -> bool: ...

    @classmethod
    @abstractmethod
    def credentials_hint(cls, spec: ModelSpec) -> str: ...

    @classmethod
    def check_config(cls, spec: ModelSpec) -> None:
        """Raise UserError for configuration no request can succeed with (a base URL that is not one).

        Called before a run starts, so such a mistake is one line, not a run of failed cells."""
        for url in spec.resolved_base_urls():
            if is_http_url(url):
                continue
            if spec.base_url_env and os.environ.get(spec.base_url_env):
                where = spec.base_url_env
            else:
                where = f"{spec.source}: models.{spec.alias}.base_url"
            raise UserError(
                f"{where} is {url!r}, not an http(s) URL; set it to e.g. http://127.0.0.1:8080/v1, "
                "or unset it for the provider's own endpoint"
            )

    async def prepare(self, spec: ModelSpec) -> ModelSpec:
        """Before a body is built: whatever this protocol must do first (load a model), and the spec to use.

        Runs inside `call`'s error handling, so what it raises becomes this call's typed failure."""
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
        """One request, as a typed result; never raises for what the provider, the SDK or the adapter did.

        This is where a call's raw response and failure message are redacted (the model's own key included)
        and the message is cut to one line, once, whichever way the call ended."""
        started = time.perf_counter()
        body: dict[str, Any] = {}
        secret = (spec.api_key() or "",)
        raw: Any = None
        text = finish = None
        usage = Usage()
        notes: list[str] = []
        try:
            spec = await self.prepare(spec)
            body = self.build_body(spec, prompt, params, round=round, attempt=attempt)
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.deadline) as window:
                    raw, headers = await self._send(spec, body)
            except TimeoutError:
                if not window.expired():
                    raise
                raise ProviderError(
                    FailureKind.TRANSIENT, f"no answer within {self.deadline:g} s (--timeout)"
                ) from None
            latency = time.perf_counter() - started
            text, finish, usage, failure, notes = parse_answer(spec, raw, headers)
            if failure is None and (failure := self.check_answer(spec, text, round)) is not None:
                text = None
        except ProviderError as exc:
            latency, raw, failure = time.perf_counter() - started, exc.raw, exc.failure
        except UserError as exc:  # configuration only this call could find out about (a GGUF that won't load)
            latency, failure = 0.0, Failure(FailureKind.INVALID_REQUEST, str(exc))
        except Exception as exc:  # noqa: BLE001 - a surprise in one call is that cell's failure, not the run's
            return error_result(spec, body, exc, time.perf_counter() - started)
        try:
            return storable_result(
                spec,
                secret,
                body=body,
                latency=latency,
                raw=raw,
                text=text,
                finish=finish,
                usage=usage,
                failure=failure,
                notes=notes,
            )
        except Exception as exc:  # noqa: BLE001 - the same promise: one cell's failure, never the run's end
            return error_result(spec, body, exc, latency)

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        pass


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    value = (headers or {}).get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def error_result(spec: ModelSpec, body: dict[str, Any], exc: BaseException, latency_s: float = 0.0) -> CallResult:
    """The typed failure for an exception nobody expected: kind `error`, one redacted line naming its type."""
    message = shorten(redact(f"{type(exc).__name__}: {exc}", (spec.api_key() or "",)))
    return CallResult(
        model=spec.alias,
        model_id=spec.model_id,
        request_body=body,
        latency_s=latency_s,
        failure=Failure(FailureKind.ERROR, message),
    )
