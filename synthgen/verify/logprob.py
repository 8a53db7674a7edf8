"""Log-probability judging on the in-process llama.cpp model: score each label after a few-shot prompt.

Each label's probability is that of its whole token sequence after the prompt (llama.cpp's logits, read after
evaluating the prompt once and each label's tokens after it), normalised over the task's labels. Contextual
calibration (Zhao et al., 2021): the same prompt with a content-free text ("N/A") shows the prompt's own lean
towards some labels; each label's probability is divided by its content-free probability and normalised again.
Greedy and deterministic: nothing is sampled.

Everything here runs on the adapter's one worker thread (`_llama_runtime.WORKER`), on the same loaded model, so
judging and generating never touch llama.cpp at the same time. The prompt's prefix stays in the model's KV cache:
consecutive texts share the few-shot examples, and only the text and the labels are evaluated anew.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import numpy as np

from ..catalog import ModelSpec

_CALIBRATION: dict[tuple[int, str, tuple[str, ...]], np.ndarray] = {}
_LOCK = threading.Lock()


def _logits_after(llm: Any, tokens: list[int]) -> np.ndarray:
    """The next-token logits after `tokens`, evaluating only what the KV cache does not hold already."""
    held = llm.input_ids[: llm.n_tokens].tolist()
    common = min(llm.longest_token_prefix(held, tokens), len(tokens) - 1)  # at least one token to evaluate
    llm.n_tokens = common
    llm.eval(tokens[common:])
    return np.ctypeslib.as_array(llm._ctx.get_logits(), shape=(llm.n_vocab(),)).copy()


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    top = logits.max()
    return logits - (top + np.log(np.exp(logits - top).sum()))


def label_logprobs(llm: Any, prompt: str, labels: tuple[str, ...]) -> np.ndarray:
    """log P(label | prompt) for each label's full token sequence (" " + label)."""
    tokens = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
    out = []
    for label in labels:
        continuation = llm.tokenize((" " + label).encode("utf-8"), add_bos=False, special=False)
        total, seen = 0.0, list(tokens)
        for token in continuation:
            total += float(_log_softmax(_logits_after(llm, seen))[token])
            seen.append(token)
        out.append(total)
    llm.n_tokens = min(llm.n_tokens, len(tokens))  # the cache keeps the prompt, not the last label
    return np.array(out)


def _normalised(logprobs: np.ndarray) -> np.ndarray:
    probs = np.exp(logprobs - logprobs.max())
    return probs / probs.sum()


def score(
    spec: ModelSpec, prompt: str, calibration_prompt: str, labels: tuple[str, ...]
) -> tuple[np.ndarray, np.ndarray, float]:
    """In the worker thread: (the labels' probabilities, calibrated probabilities, seconds the scoring took)."""
    from ..adapters import _llama_runtime as runtime

    llm = runtime.load(spec)
    started = time.perf_counter()
    key = (id(llm), calibration_prompt, labels)
    with _LOCK:
        content_free = _CALIBRATION.get(key)
    if content_free is None:
        content_free = _normalised(label_logprobs(llm, calibration_prompt, labels))
        with _LOCK:
            _CALIBRATION[key] = content_free
    probs = _normalised(label_logprobs(llm, prompt, labels))
    calibrated = probs / np.maximum(content_free, 1e-9)
    return probs, calibrated / calibrated.sum(), time.perf_counter() - started
