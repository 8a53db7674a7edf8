"""The llama-cpp-python side of the in-process adapter: loaded models, the one worker thread, generation.

One `Llama` instance per (GGUF file, load settings), loaded once per process, and every request queued on a
single worker thread: llama.cpp contexts are not thread-safe, and on a small machine one generation at a time is
also the fastest. Importing this module imports llama_cpp, so the adapter (`synthgen.adapters.llama_cpp`) imports
it only when it loads or runs a model; the registry has checked the `local` extra by then.
"""

from __future__ import annotations

import atexit
import ctypes
import inspect
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

try:
    import llama_cpp
except ImportError:
    raise
except Exception as exc:  # the package is there but its shared library fails to load
    raise ImportError(f"llama_cpp is installed but failed to load ({exc})") from exc

from ..catalog import ModelSpec
from ..errors import UserError
from .gguf import resolve_gguf

_LOAD_OPTIONS = ("n_ctx", "n_threads", "n_batch", "chat_format")
WORKER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llama-cpp")
_MODELS: dict[tuple[Any, ...], Any] = {}
_MODELS_LOCK = threading.Lock()
ACCEPTED = {
    "completion": set(inspect.signature(llama_cpp.Llama.create_completion).parameters) - {"self"},
    "chat": set(inspect.signature(llama_cpp.Llama.create_chat_completion).parameters) - {"self"},
}
_GGML_ERROR, _GGML_CONT = 4, 5  # ggml_log_level today: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5
_last_level = 0
_VERBOSE = os.environ.get("SYNTHGEN_LLAMA_VERBOSE", "") not in ("", "0")


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


def load(spec: ModelSpec) -> Any:
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


def generate(spec: ModelSpec, body: dict[str, Any], timeout: float | None = None) -> tuple[dict[str, Any], float]:
    """In the worker thread: the response and the seconds the generation itself took (not the time the request
    waited in the queue for the single worker). `timeout` counts from the start of generation."""
    llm = load(spec)
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

    WORKER.submit(_clear).result()
