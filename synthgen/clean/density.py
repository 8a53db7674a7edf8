"""Boilerplate density: how closely a line repeats lines of *other* answers.

Chatter ("How's this?", "Here's a sentence that fits the criteria:") recurs across answers nearly word for word;
each target sentence is new. Used by the target-cluster rule (to break near ties) and as a selector feature.
"""

from __future__ import annotations

import numpy as np


def answer_codes(answer_ids: list[str]) -> np.ndarray:
    """Integer code per line for its answer id."""
    _, codes = np.unique(np.array(answer_ids, dtype=object), return_inverse=True)
    return codes


def boilerplate_density(
    x: np.ndarray, answer_codes: np.ndarray, neighbours: int = 5, sample: int = 3000, seed: int = 0
) -> np.ndarray:
    """Mean cosine similarity of each row to its `neighbours` nearest rows from *other* answers.

    A seeded sample of at most `sample` rows stands in for all of them, which keeps 30,000 lines fast.
    """
    n = len(x)
    if n < 2:
        return np.zeros(n, dtype=np.float32)
    rng = np.random.default_rng(seed)
    ref = np.sort(rng.choice(n, size=sample, replace=False)) if n > sample else np.arange(n)
    xr = x[ref]
    codes_r = answer_codes[ref]
    out = np.zeros(n, dtype=np.float32)
    for start in range(0, n, 1024):
        sims = x[start : start + 1024] @ xr.T
        sims[answer_codes[start : start + 1024, None] == codes_r[None, :]] = -1.0
        m = min(neighbours, sims.shape[1])
        top = np.partition(sims, sims.shape[1] - m, axis=1)[:, -m:]
        out[start : start + 1024] = np.clip(top, -1.0, 1.0).mean(axis=1)
    return out
