"""In-process llama.cpp (llama-cpp-python) for GGUF files: no server, no keys, no network.

The model runs in one worker thread so generation never blocks the engine's event loop: one `Llama` instance
per (GGUF file, load settings), loaded once per process, and every request queued on that single thread
(llama.cpp contexts are not thread-safe, and on a small machine one generation at a time is also the fastest).
A call's latency is its generation time measured inside the worker, not its time in the queue. `--timeout`
counts from the start of generation and is checked at every sampled token: a generation past it is stopped and
becomes a transient failure, retried like an HTTP timeout.
The response is llama-cpp-python's OpenAI-shaped dict, so the protocol's table paths read text, finish reason
and usage from it.

Importing this module imports llama_cpp; `adapter_class("llama-cpp")` turns a failure into a one-line install
hint. Prompt and body building live in `synthgen.local_model`, which does not need llama_cpp.
"""

from __future__ import annotations

import asyncio
import atexit
import contextvars
import ctypes
import inspect
import os
import sys
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

try:
    import llama_cpp
except ImportError:
    raise
except Exception as exc:  # the package is there but its shared library fails to load
    raise ImportError(f"llama_cpp is installed but failed to load ({exc})") from exc

from ..catalog import ModelSpec
from ..errors import UserError
from ..local_model import Attempts, build_local_body, effective_spec, gguf_status, resolve_gguf
from ..results import CallResult, FailureKind
from .base import Adapter, ProviderError

if TYPE_CHECKING:
    from ..prompt import RoundPlan

_LOAD_OPTIONS = ("n_ctx", "n_threads", "n_batch", "chat_format")
_WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-cpp")
_MODELS: dict[tuple[Any, ...], Any] = {}
_MODELS_LOCK = threading.Lock()
_ACCEPTED = {
    "completion": set(inspect.signature(llama_cpp.Llama.create_completion).parameters) - {"self"},
    "chat": set(inspect.signature(llama_cpp.Llama.create_chat_completion).parameters) - {"self"},
}
_GGML_ERROR, _GGML_CONT = 4, 5  # ggml_log_level today: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5
_last_level = 0
_VERBOSE = os.environ.get("SYNTHGEN_LLAMA_VERBOSE", "") not in ("", "0")
# Seconds the last generation of *this* task took inside the worker: `call` reads what `_send` set (the same
# asyncio task, so concurrent calls do not see each other's value).
_GENERATION_S: contextvars.ContextVar[float | None] = contextvars.ContextVar("llama_generation_s", default=None)


@llama_cpp.llama_log_callback
def _log(level: int, text: bytes, user_data: Any) -> None:
    """llama.cpp's own log: errors only (llama-cpp-python's filter reads the older level numbers and lets
    warnings such as "using full-size SWA cache" through); SYNTHGEN_LLAMA_VERBOSE=1 shows everything."""
    global _last_level
    level = _last_level if level == _GGML_CONT else level
    _last_level = level
    if level >= _GGML_ERROR or _VERBOSE:
        sys.stderr.write(text.decode("utf-8", "replace"))


llama_cpp.llama_log_set(_log, ctypes.c_void_p(0))


@atexit.register
def _at_exit() -> None:
    """Free the models while this module (and its log callback) still exists, then hand llama.cpp's log back:
    freed at interpreter teardown instead, a model logs through a callback that is already gone."""
    with _MODELS_LOCK:
        for llm in _MODELS.values():
            llm.close()
        _MODELS.clear()
    from llama_cpp import _logger

    llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))


def load_settings(spec: ModelSpec) -> dict[str, Any]:
    """`Llama(...)` keyword arguments from the entry's options (n_ctx defaults to 2048, not 512)."""
    settings: dict[str, Any] = {"n_ctx": 2048}
    settings.update({key: spec.options[key] for key in _LOAD_OPTIONS if spec.options.get(key) is not None})
    return settings


def _load(spec: ModelSpec) -> Any:
    """In the worker thread: the cached `Llama` for this entry's file and settings, loaded the first time."""
    path = resolve_gguf(spec)  # may assemble a packaged model (seconds, once)
    settings = load_settings(spec)
    key = (str(path), *sorted(settings.items()))
    with _MODELS_LOCK:
        if key not in _MODELS:
            try:
                _MODELS[key] = llama_cpp.Llama(model_path=str(path), verbose=_VERBOSE, **settings)
            except (ValueError, RuntimeError) as exc:
                raise UserError(f"models.{spec.alias}: llama.cpp could not load {path} ({exc})") from None
        return _MODELS[key]


class GenerationTimeout(Exception):
    """Raised from inside llama.cpp's sampling loop when a generation runs past the adapter's timeout."""

    def __init__(self, tokens: int):
        super().__init__(tokens)
        self.tokens = tokens


class _Deadline:
    """Wraps one `Llama` instance's `sample` for one call: llama-cpp-python samples every token through it, in
    Python, for completion and chat calls alike, so raising here stops a generation that runs past its
    deadline. (A logits processor would not do: llama.cpp calls those from C, which swallows the exception.)"""

    def __init__(self, deadline: float, sample: Any):
        self.deadline = deadline
        self.sample = sample
        self.tokens = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if time.perf_counter() > self.deadline:
            raise GenerationTimeout(self.tokens)
        self.tokens += 1
        return self.sample(*args, **kwargs)


def _generate(spec: ModelSpec, body: dict[str, Any], timeout: float | None = None
              ) -> tuple[dict[str, Any], float]:
    """In the worker thread: the response and the seconds the generation itself took (not the time the request
    waited in the queue for the single worker). `timeout` counts from the start of generation."""
    llm = _load(spec)
    kwargs = dict(body)
    started = time.perf_counter()
    if timeout:
        llm.sample = _Deadline(started + timeout, llm.sample)  # this call only: removed below
    try:
        if "messages" in kwargs:
            raw = llm.create_chat_completion(**kwargs)
        else:
            raw = llm.create_completion(**kwargs)
    finally:
        if timeout:
            del llm.sample  # the class's own method again
    return raw, time.perf_counter() - started


def unload_models() -> None:
    """Free every loaded model (they stay cached for the life of the process otherwise)."""
    def _clear() -> None:
        with _MODELS_LOCK:
            for llm in _MODELS.values():
                llm.close()
            _MODELS.clear()
    _WORKER.submit(_clear).result()


class LlamaCppAdapter(Adapter):
    protocol = "llama-cpp"

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self._attempts = Attempts()

    def build_body(self, spec: ModelSpec, prompt: str, params: Mapping[str, Any] | None = None, *,
                   round: RoundPlan | None = None) -> dict[str, Any]:
        return build_local_body(spec, prompt, params, round=round, attempt=self._attempts.next(spec, round))

    async def prepare(self, spec: ModelSpec) -> ModelSpec:
        """The entry as this mode reads it, its model loaded (and on first use assembled) before the clock
        starts: latency is generation time. A file that will not load is this call's failure (Adapter.call)."""
        spec = effective_spec(spec)
        await asyncio.get_running_loop().run_in_executor(_WORKER, _load, spec)
        return spec

    async def call(self, spec: ModelSpec, prompt: str, params: Mapping[str, Any] | None = None, *,
                   round: RoundPlan | None = None) -> CallResult:
        _GENERATION_S.set(None)
        result = await super().call(spec, prompt, params, round=round)
        generation = _GENERATION_S.get()
        if generation is not None:
            # Latency (and so output tokens per second) is the generation itself: with several requests queued
            # on the one worker, the wall time around the call would count the waiting too.
            result.latency_s = generation
        if result.text is not None:  # never blank here: parse_answer made an empty answer a failure
            result.text = result.text.strip()
        return result

    async def _send(self, spec: ModelSpec, body: dict[str, Any]) -> tuple[Any, Mapping[str, str]]:
        mode = "chat" if "messages" in body else "completion"
        unknown = set(body) - _ACCEPTED[mode]
        if unknown:
            method = "create_chat_completion" if mode == "chat" else "create_completion"
            raise ProviderError(FailureKind.INVALID_REQUEST,
                                f"parameter(s) {sorted(unknown)} not accepted by llama_cpp.Llama.{method}")
        loop = asyncio.get_running_loop()
        try:
            raw, seconds = await loop.run_in_executor(_WORKER, _generate, spec, body, self.timeout)
            _GENERATION_S.set(seconds)
        except GenerationTimeout as exc:
            # The same kind as an HTTP timeout: retried with backoff (and, for a round, another seed).
            raise ProviderError(FailureKind.TRANSIENT,
                                f"llama.cpp: generation ran past the {self.timeout:g} s timeout "
                                f"({exc.tokens} tokens); stopped") from None
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

    async def aclose(self) -> None:
        self._attempts.clear()  # the loaded models stay cached for the process: see unload_models()


def _plain(raw: Any) -> Any:
    """The response as plain JSON-able data (llama-cpp-python returns dicts, possibly with tuples inside)."""
    if isinstance(raw, Mapping):
        return {str(k): _plain(v) for k, v in raw.items()}
    if isinstance(raw, list | tuple):
        return [_plain(v) for v in raw]
    return raw
