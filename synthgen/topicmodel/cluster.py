"""Reduce, cluster, score: PCA then KMeans on unit vectors, silhouette over a range of k. Pure, seeded functions.

The seeded sklearn calls (PCA, KMeans with a fixed number of restarts) are `synthgen.numeric`'s, shared with the
cleaner."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from ..numeric import fit_kmeans, fit_pca, unit_rows
from ..text import fold

SILHOUETTE_SAMPLE = 2000  # silhouette is O(n^2): score a seeded sample above this many texts


def reduce(embeddings: np.ndarray, n_components: int = 50, seed: int = 0) -> np.ndarray:
    """PCA to at most `n_components` dimensions, rows back on the unit sphere so KMeans follows cosine distance.

    Embeddings already that small are only re-normalised.
    """
    x = np.asarray(embeddings, dtype=np.float64)
    n, d = x.shape
    dims = min(n_components, d, n - 1)
    if dims >= d or dims < 2:
        return unit_rows(x)
    reduced, _ = fit_pca(x, dims, seed)
    return unit_rows(reduced)


def kmeans(x: np.ndarray, k: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cluster labels and centres, renumbered so topic 0 is the largest (ties: the earlier first member)."""
    with warnings.catch_warnings():  # duplicate texts can leave fewer distinct points than k; labels stay valid
        warnings.simplefilter("ignore")
        model = fit_kmeans(x, k, seed)
    labels = model.labels_.astype(int)
    return renumber_by_size(labels, model.cluster_centers_)


def renumber_by_size(labels: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ids = np.unique(labels)
    first = {c: int(np.argmax(labels == c)) for c in ids}
    order = sorted(ids, key=lambda c: (-int(np.sum(labels == c)), first[c]))
    mapping = np.zeros(max(ids) + 1, dtype=int)
    for new, old in enumerate(order):
        mapping[old] = new
    return mapping[labels], centers[order]


def silhouette(x: np.ndarray, labels: np.ndarray, seed: int = 0) -> float:
    from sklearn.metrics import silhouette_score

    if len(np.unique(labels)) < 2 or len(np.unique(labels)) >= len(labels):
        return -1.0
    sample = SILHOUETTE_SAMPLE if len(labels) > SILHOUETTE_SAMPLE else None
    return float(silhouette_score(x, labels, sample_size=sample, random_state=seed))


def k_range(n_distinct: int, k_min: int = 2, k_max: int = 12) -> list[int]:
    """Candidate k for `--k auto`: k_min..k_max, capped so every cluster can hold two distinct texts' worth."""
    return list(range(k_min, min(k_max, n_distinct - 1) + 1))


def scan(x: np.ndarray, ks: Sequence[int], seed: int = 0) -> dict[int, tuple[np.ndarray, np.ndarray, float]]:
    """KMeans at every candidate k: k -> (labels, centres, silhouette)."""
    out = {}
    for k in ks:
        labels, centers = kmeans(x, k, seed)
        out[k] = (labels, centers, silhouette(x, labels, seed))
    return out


def representatives(x: np.ndarray, labels: np.ndarray, topic: int, texts: Sequence[str], n: int) -> list[int]:
    """Indices of up to `n` distinct texts nearest the topic's centre (cosine on the reduced unit vectors)."""
    members = np.flatnonzero(labels == topic)
    centre = unit_rows(x[members].mean(axis=0, keepdims=True))[0]
    sims = x[members] @ centre
    order = members[np.lexsort((members, -sims))]  # nearest first, ties by position: stable
    picked: list[int] = []
    seen: set[str] = set()
    for i in order:
        key = fold(texts[i])
        if key in seen:
            continue
        seen.add(key)
        picked.append(int(i))
        if len(picked) == n:
            break
    return picked
