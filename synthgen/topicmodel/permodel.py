"""Per-model view of a generated run: which topics each model writes about, how often another model wrote nearly
the same text and how often a model repeats itself (cosine above a threshold), so a user sees which model adds
diversity. And the per-label view: which topics each label's texts are about."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .report import LabelView, ModelView

MAX_BLOCK_CELLS = 50_000_000  # similarity cells held at once (200 MB of float32)


def topic_entropy(counts: np.ndarray) -> float:
    """Shannon entropy of a topic histogram, divided by its maximum: 0 = one topic, 1 = all topics evenly."""
    total = counts.sum()
    if total == 0 or len(counts) < 2:
        return 0.0
    p = counts[counts > 0] / total
    return max(0.0, float(-(p * np.log(p)).sum() / math.log(len(counts))))  # never -0.0


def model_views(
    models: Sequence[str | None], labels: np.ndarray, embeddings: np.ndarray, k: int, threshold: float = 0.95
) -> list[ModelView]:
    """One view per model (texts without a model are left out); empty when no text names a model.

    Two kinds of near-duplicate (cosine above `threshold`): a text another model also wrote (both texts count),
    and a text that repeats an earlier text of the same model (the first one stays unique). `unique` is the share
    of a model's texts that are neither. `embeddings` are the unit vectors from the embedder, so a dot product is
    the cosine.
    """
    names = sorted({m for m in models if m is not None})
    if not names:
        return []
    index = {name: i for i, name in enumerate(names)}
    model_idx = np.array([index[m] if m is not None else -1 for m in models])
    x = np.asarray(embeddings, dtype=np.float32)
    has_dup = np.zeros(len(models), dtype=bool)  # another model wrote nearly the same text
    repeats = np.zeros(len(models), dtype=bool)  # nearly repeats an earlier text of its own model
    pair_counts = np.zeros((len(names), len(names)), dtype=np.int64)
    keep = np.flatnonzero(model_idx >= 0)
    onehot = np.eye(len(names), dtype=np.float32)[model_idx[keep]]  # text -> its model (float: BLAS counts)
    block = max(1, min(1024, MAX_BLOCK_CELLS // keep.size))
    for start in range(0, keep.size, block):
        rows = keep[start : start + block]
        near = x[rows] @ x[keep].T > threshold
        same = model_idx[rows][:, None] == model_idx[keep][None, :]
        repeats[rows] = (near & same & (keep[None, :] < rows[:, None])).any(axis=1)
        if len(names) > 1:
            close = near & ~same
            has_dup[rows] = close.any(axis=1)
            per_row = close.astype(np.float32) @ onehot  # exact: whole numbers far below 2**24
            pair_counts += np.rint(onehot[start : start + block].T.astype(np.float64) @ per_row).astype(np.int64)
    views = []
    for m, name in enumerate(names):
        mine = model_idx == m
        counts = np.bincount(labels[mine], minlength=k).astype(float)
        n = int(mine.sum())
        views.append(
            ModelView(
                model=name,
                **_spread(counts, n),
                near_duplicates=int(has_dup[mine].sum()),
                near_duplicate_pairs={
                    names[o]: int(pair_counts[m, o]) for o in range(len(names)) if o != m and pair_counts[m, o]
                },
                self_duplicates=int(repeats[mine].sum()),
                unique_texts=int((mine & ~has_dup & ~repeats).sum()),
            )
        )
    return views


def _spread(counts: np.ndarray, n: int) -> dict[str, Any]:
    """How n texts spread over the topics: their count, each topic's share and the entropy of the shares."""
    return {
        "n_texts": n,
        "topic_share": [round(float(c) / n, 4) for c in counts],
        "topic_entropy": round(topic_entropy(counts), 4),
    }


def label_views(
    labels_of: Sequence[str | None], topics: np.ndarray, k: int, order: Sequence[str] = ()
) -> list[LabelView]:
    """One view per label (texts without a label are left out), labels in `order` (a task's) and then as they
    first appear; empty when no text has a label."""
    names = list(dict.fromkeys([*order, *(label for label in labels_of if label is not None)]))
    views = []
    for name in names:
        mine = np.array([label == name for label in labels_of], dtype=bool)
        n = int(mine.sum())
        if not n:
            continue
        counts = np.bincount(topics[mine], minlength=k).astype(float)
        views.append(
            LabelView(
                label=name,
                **_spread(counts, n),
            )
        )
    return views
