"""What every wire-protocol adapter shares: building the body from the table, reading answers by path, timing."""

from __future__ import annotations

import dataclasses
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from ..catalog import ModelSpec, deep_merge
from ..errors import UserError
from ..results import CallResult, Failure, FailureKind, Usage, kind_for_status
from ..secrets import redact, redact_data
from ..text import shorten

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
        if isinstance(node, Mapping):
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
    merged = spec.merged_params(params)
    if spec.params_at:
        target = body
        for key in spec.params_at.split("."):
            target = target.setdefault(key, {})
        target.update(deep_merge(target, merged))
    else:
        body = deep_merge(body, merged)
    return body


def _as_int(value: Any) -> int | None:
    if value is _MISSING or value is None:
        return None
    if isinstance(value, list):  # Jurassic-2 reports its tokens as a list
        return len(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def parse_answer(
    spec: ModelSpec, raw: Any, headers: Mapping[str, str] | None = None
) -> tuple[str | None, str | None, Usage, Failure | None]:
    """Text, finish reason and usage by the table's paths; a missing or non-text answer is a failure, never text."""
    usage = Usage(
        input_tokens=_as_int(get_path(raw, spec.usage_input, headers)) if spec.usage_input else None,
        output_tokens=_as_int(get_path(raw, spec.usage_output, headers)) if spec.usage_output else None,
    )
    finish = get_path(raw, spec.finish_path, headers) if spec.finish_path else None
    finish = None if finish is _MISSING or finish is None else str(finish)
    text = get_path(raw, spec.answer_path, headers)
    if text is _MISSING or not isinstance(text, str):
        shape = sorted(raw)[:8] if isinstance(raw, Mapping) else type(raw).__name__
        failure = Failure(
            FailureKind.ANSWER_MISSING,
            f"answer path '{spec.answer_path}' not found in the response (top-level keys: {shape})",
        )
        return None, finish, usage, failure
    if not text.strip():  # an empty answer is no sentence: never stored as one
        return None, finish, usage, Failure(FailureKind.ANSWER_MISSING, f"empty answer (finish reason: {finish})")
    return text, finish, usage, None


class Adapter(ABC):
    """One wire protocol. Subclasses implement `_send`; everything else is table-driven and shared."""

    protocol: ClassVar[str]

    def __init__(self, *, max_connections: int = 64, timeout: float = 120.0):
        self.max_connections = max_connections
        self.timeout = timeout

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
        url = spec.resolved_base_url()
        if url is None:
            return
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not one
        except ValueError:
            parts = None
        if parts is not None and parts.scheme in ("http", "https") and parts.hostname and " " not in url:
            return
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
        try:
            spec = await self.prepare(spec)
            body = self.build_body(spec, prompt, params, round=round, attempt=attempt)
            started = time.perf_counter()
            raw, headers = await self._send(spec, body)
            latency = time.perf_counter() - started
            text, finish, usage, failure = parse_answer(spec, raw, headers)
            if failure is None and (failure := self.check_answer(spec, text, round)) is not None:
                text = None
        except ProviderError as exc:
            latency, raw, failure = time.perf_counter() - started, exc.raw, exc.failure
        except UserError as exc:  # configuration only this call could find out about (a GGUF that won't load)
            latency, failure = 0.0, Failure(FailureKind.INVALID_REQUEST, str(exc))
        except Exception as exc:  # noqa: BLE001 - a surprise in one call is that cell's failure, not the run's
            return error_result(spec, body, exc, time.perf_counter() - started)
        if failure is not None:
            failure = dataclasses.replace(failure, message=shorten(redact(failure.message, secret)))
        return CallResult(
            model=spec.alias,
            model_id=spec.model_id,
            request_body=body,
            latency_s=latency,
            text=text,
            raw=redact_data(raw, secret),
            usage=usage,
            finish_reason=finish,
            failure=failure,
        )

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
