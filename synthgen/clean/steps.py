"""Steps 3-5: reduce (PCA), cluster (KMeans), name the target cluster by a measured rule. Seeded, pure.

The seeded sklearn calls are `synthgen.numeric`'s, shared with the topic model; what each step does around them
differs on purpose: the cleaner clusters the raw 2-D PCA projection (the seed's steps, measured by
benchmarks/bench_clean_eval.py) and keeps sklearn's cluster ids, the topic model puts rows back on the unit sphere
and numbers topics by size.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..numeric import fit_kmeans, fit_pca
from .density import answer_codes, boilerplate_density
from .split import Segment, is_candidate


class PCAReducer:
    """PCA to `n_components` (the seed used 2). Inputs smaller than that pass through unchanged."""

    def __init__(self, n_components: int = 2, seed: int = 0):
        self.n_components = n_components
        self.seed = seed

    def fit_transform(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        dims = min(self.n_components, x.shape[1], max(x.shape[0] - 1, 1))
        if x.shape[0] < 3 or dims >= x.shape[1]:
            self.pca_ = None
            return x[:, :dims] if dims < x.shape[1] else x
        reduced, self.pca_ = fit_pca(x, dims, self.seed)
        return reduced


class KMeansClusterer:
    """KMeans with k clusters (the seed used 3); fewer when there are fewer distinct points."""

    def __init__(self, n_clusters: int = 3, seed: int = 0):
        self.n_clusters = n_clusters
        self.seed = seed

    def fit_predict(self, x: np.ndarray) -> np.ndarray:
        distinct = len(np.unique(np.round(x, 6), axis=0)) if len(x) else 0
        k = max(1, min(self.n_clusters, distinct))
        if k == 1:
            self.centers_ = x.mean(axis=0, keepdims=True) if len(x) else np.zeros((1, x.shape[1]))
            return np.zeros(len(x), dtype=int)
        km = fit_kmeans(x, k, self.seed)
        self.centers_ = km.cluster_centers_
        return km.labels_.astype(int)


@dataclass
class TargetChoice:
    """Which cluster holds the target sentences, by which rule, and every cluster's score under it."""

    rule: str
    cluster: int
    scores: dict[int, float]
    reason: str


def _per_cluster(segments: Sequence[Segment], labels: np.ndarray, k: int, value) -> dict[int, float]:
    return {c: float(value([s for s, lab in zip(segments, labels, strict=True) if lab == c])) for c in range(k)}


NEAR_TIE = 0.05  # clusters whose coverage is within 5% of the best are compared on novelty (see the benchmark)


def cluster_novelty(
    segments: Sequence[Segment], labels: np.ndarray, k: int, x: np.ndarray, seed: int = 0
) -> dict[int, float]:
    """Per cluster: mean boilerplate density of its candidate sentences (lower: its lines repeat less across
    answers, as target sentences do)."""
    density = boilerplate_density(x, answer_codes([s.answer_id for s in segments]), seed=seed)
    out = {}
    for c in range(k):
        members = [i for i, s in enumerate(segments) if labels[i] == c and is_candidate(s)]
        out[c] = float(np.mean(density[members])) if members else float("inf")
    return out


def coverage_rule(segments: Sequence[Segment], labels: np.ndarray, k: int, x: np.ndarray | None = None) -> TargetChoice:
    """The cluster whose *candidate sentences* come from the most distinct answers: every answer has exactly one
    target sentence, while each kind of chatter appears in only some answers.

    Lead-ins ("Here's a sentence...:"), the interjections before them ("Sure!") and text cut off by the token
    limit do not count: they are never the target, and Llama 2 puts one before almost every sentence, so counted
    they tie with the target cluster. Clusters within NEAR_TIE of the best are decided by novelty: the one whose
    lines repeat least across answers (lowest mean boilerplate density)."""
    n = len({s.answer_id for s in segments})
    scores = _per_cluster(segments, labels, k, lambda ss: len({s.answer_id for s in ss if is_candidate(s)}))
    best_value = max(scores.values()) if scores else 0.0
    near = sorted(c for c in scores if scores[c] >= best_value * (1 - NEAR_TIE) and scores[c] > 0)
    if len(near) <= 1 or x is None or len(x) != len(segments):
        best = min(scores, key=lambda c: (-scores[c], c))
        rivals = [c for c in scores if c != best and scores[c] == scores[best]]
        reason = f"coverage: cluster {best} holds candidate sentences of {scores[best]:.0f} of {n} answers"
        if rivals:
            reason += f", tied with cluster {', '.join(map(str, rivals))}; the lower id"
        elif len(scores) > 1:
            reason += ", more than any other cluster"
        return TargetChoice("coverage", best, scores, reason)
    novelty = cluster_novelty(segments, labels, k, x)
    best = min(near, key=lambda c: (novelty[c], c))
    others = ", ".join(f"{c} ({scores[c]:.0f}, {novelty[c]:.2f})" for c in near if c != best)
    reason = (
        f"coverage: cluster {best} holds candidate sentences of {scores[best]:.0f} of {n} answers and cluster "
        f"{others} come within {NEAR_TIE:.0%}; cluster {best}'s lines repeat least across answers (mean "
        f"similarity to other answers' nearest lines {novelty[best]:.2f})"
    )
    return TargetChoice("coverage", best, scores, reason)


def coverage_lines_rule(
    segments: Sequence[Segment], labels: np.ndarray, k: int, x: np.ndarray | None = None
) -> TargetChoice:
    """The rule before lead-ins were left out: every line counts, ties go to the lower cluster id. Kept to show
    in the benchmark why it was replaced."""
    scores = _per_cluster(segments, labels, k, lambda ss: len({s.answer_id for s in ss}))
    return _pick(
        "coverage-lines",
        scores,
        "holds lines of {v:.0f} of {n} answers",
        len({s.answer_id for s in segments}),
    )


def novelty_rule(segments: Sequence[Segment], labels: np.ndarray, k: int, x: np.ndarray | None = None) -> TargetChoice:
    """Among clusters with candidate sentences of at least half the answers, the one whose lines repeat least
    across answers (novelty alone, measured as the tie-breaker of `coverage`)."""
    n = len({s.answer_id for s in segments})
    cover = _per_cluster(segments, labels, k, lambda ss: len({s.answer_id for s in ss if is_candidate(s)}))
    if x is None:
        return _pick("novelty", cover, "holds candidate sentences of {v:.0f} of {n} answers", n)
    novelty = cluster_novelty(segments, labels, k, x)
    pool = [c for c in range(k) if cover[c] >= n / 2] or list(range(k))
    best = min(pool, key=lambda c: (novelty[c], c))
    scores = {c: -novelty[c] for c in range(k)}
    return TargetChoice("novelty", best, scores, f"novelty: cluster {best}'s lines repeat least ({novelty[best]:.2f})")


def first_line_rule(
    segments: Sequence[Segment], labels: np.ndarray, k: int, x: np.ndarray | None = None
) -> TargetChoice:
    """The cluster holding the most answers' first candidate sentence (not a lead-in or an interjection)."""
    firsts: dict[str, Segment] = {}
    for s in segments:
        if is_candidate(s) and s.answer_id not in firsts:
            firsts[s.answer_id] = s
    first_ids = {(s.answer_id, s.index) for s in firsts.values()}
    scores = _per_cluster(segments, labels, k, lambda ss: sum((s.answer_id, s.index) in first_ids for s in ss))
    return _pick("first-line", scores, "holds the first sentence of {v:.0f} of {n} answers", len(firsts))


def largest_rule(segments: Sequence[Segment], labels: np.ndarray, k: int, x: np.ndarray | None = None) -> TargetChoice:
    """The cluster with the most lines."""
    scores = {c: float(np.sum(labels == c)) for c in range(k)}
    return _pick("largest", scores, "has {v:.0f} of {n} lines", len(segments))


def one_per_answer_rule(
    segments: Sequence[Segment], labels: np.ndarray, k: int, x: np.ndarray | None = None
) -> TargetChoice:
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
    rivals = [c for c in scores if c != best and scores[c] == scores[best]]
    tail = f", tied with cluster {', '.join(map(str, rivals))}; the lower id" if rivals else ""
    return TargetChoice(rule, best, scores, f"{rule}: cluster {best} " + template.format(v=scores[best], n=n) + tail)


TargetRule = Callable[..., TargetChoice]  # (segments, labels, k, x=None) -> TargetChoice
TARGET_RULES: dict[str, TargetRule] = {
    "coverage": coverage_rule,
    "coverage-lines": coverage_lines_rule,
    "novelty": novelty_rule,
    "first-line": first_line_rule,
    "largest": largest_rule,
    "one-per-answer": one_per_answer_rule,
}
