"""Steps 3-5: reduce (PCA), cluster (KMeans), name the target cluster by a measured rule. Seeded, pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .split import Segment

N_INIT = 10  # fixed, not sklearn's "auto", so results do not move between sklearn versions


class PCAReducer:
    """PCA to `n_components` (the seed used 2). Inputs smaller than that pass through unchanged."""

    def __init__(self, n_components: int = 2, seed: int = 0):
        self.n_components = n_components
        self.seed = seed

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        from sklearn.decomposition import PCA

        x = np.asarray(x, dtype=np.float64)
        dims = min(self.n_components, x.shape[1], max(x.shape[0] - 1, 1))
        if x.shape[0] < 3 or dims >= x.shape[1]:
            self.pca_ = None
            return x[:, :dims] if dims < x.shape[1] else x
        self.pca_ = PCA(n_components=dims, random_state=self.seed)
        return self.pca_.fit_transform(x)


class KMeansClusterer:
    """KMeans with k clusters (the seed used 3); fewer when there are fewer distinct points."""

    def __init__(self, n_clusters: int = 3, seed: int = 0):
        self.n_clusters = n_clusters
        self.seed = seed

    def fit_predict(self, x: np.ndarray) -> np.ndarray:
        from sklearn.cluster import KMeans

        distinct = len(np.unique(np.round(x, 6), axis=0)) if len(x) else 0
        k = max(1, min(self.n_clusters, distinct))
        if k == 1:
            self.centers_ = x.mean(axis=0, keepdims=True) if len(x) else np.zeros((1, x.shape[1]))
            return np.zeros(len(x), dtype=int)
        km = KMeans(n_clusters=k, n_init=N_INIT, random_state=self.seed)
        labels = km.fit_predict(x)
        self.centers_ = km.cluster_centers_
        return labels.astype(int)


@dataclass
class TargetChoice:
    """Which cluster holds the target sentences, by which rule, and every cluster's score under it."""

    rule: str
    cluster: int
    scores: dict[int, float]
    reason: str


def _per_cluster(segments: Sequence[Segment], labels: np.ndarray, k: int, value) -> dict[int, float]:
    return {
        c: float(value([s for s, lab in zip(segments, labels, strict=True) if lab == c])) for c in range(k)
    }


def coverage_rule(segments: Sequence[Segment], labels: np.ndarray, k: int) -> TargetChoice:
    """The cluster whose members come from the most distinct answers: every answer has exactly one target
    sentence, while each kind of chatter appears in only some answers."""
    scores = _per_cluster(segments, labels, k, lambda ss: len({s.answer_id for s in ss}))
    return _pick(
        "coverage",
        scores,
        "holds lines of {v:.0f} of {n} answers, more than any other cluster",
        len({s.answer_id for s in segments}),
    )


def first_line_rule(segments: Sequence[Segment], labels: np.ndarray, k: int) -> TargetChoice:
    """The cluster holding the most answers' first candidate that is not a lead-in."""
    firsts: dict[str, Segment] = {}
    for s in segments:
        if not s.lead_in and s.answer_id not in firsts:
            firsts[s.answer_id] = s
    first_ids = {(s.answer_id, s.index) for s in firsts.values()}
    scores = _per_cluster(
        segments, labels, k, lambda ss: sum((s.answer_id, s.index) in first_ids for s in ss)
    )
    return _pick("first-line", scores, "holds the first sentence of {v:.0f} of {n} answers", len(firsts))


def largest_rule(segments: Sequence[Segment], labels: np.ndarray, k: int) -> TargetChoice:
    """The cluster with the most lines."""
    scores = {c: float(np.sum(labels == c)) for c in range(k)}
    return _pick("largest", scores, "has {v:.0f} of {n} lines", len(segments))


def one_per_answer_rule(segments: Sequence[Segment], labels: np.ndarray, k: int) -> TargetChoice:
    """The cluster with the most answers that have exactly one line in it."""

    def value(ss):
        return sum(1 for n in Counter(s.answer_id for s in ss).values() if n == 1)

    scores = _per_cluster(segments, labels, k, value)
    return _pick(
        "one-per-answer",
        scores,
        "has exactly one line of {v:.0f} of {n} answers",
        len({s.answer_id for s in segments}),
    )


def _pick(rule: str, scores: dict[int, float], template: str, n: int) -> TargetChoice:
    best = min(scores, key=lambda c: (-scores[c], c))  # ties: the lower cluster id, deterministically
    return TargetChoice(rule, best, scores, f"{rule}: cluster {best} " + template.format(v=scores[best], n=n))


TargetRule = Callable[[Sequence[Segment], np.ndarray, int], TargetChoice]
TARGET_RULES: dict[str, TargetRule] = {
    "coverage": coverage_rule,
    "first-line": first_line_rule,
    "largest": largest_rule,
    "one-per-answer": one_per_answer_rule,
}
