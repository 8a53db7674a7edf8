"""What a cleaning run decided, explaining itself: per answer, per cluster, per selection path.

Pure types: writing them to the store is `run.py`'s job, writing a file `files.py`'s.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..keywords import ctfidf_keywords
from .split import Segment
from .steps import TargetChoice


@dataclass
class AnswerResult:
    """Exactly one per input answer: the kept sentence, or None and the reason why none was kept."""

    id: str
    text: str | None
    dropped: list[str]  # the answer's other candidates, as they appear in the answer
    path: str  # how it was kept (only, single, revision, ...) or why not (empty, refusal, ...)
    reason: str  # "<path>: <why>"
    cluster: int | None = None  # cluster of the kept candidate
    score: float | None = None  # the selector's confidence in the kept candidate, where it has one

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "text": self.text, "dropped": self.dropped, "reason": self.reason}


@dataclass
class ClusterSummary:
    id: int
    size: int  # candidates
    answers: int  # distinct answers with a candidate here
    kept: int  # kept sentences that come from this cluster
    keywords: list[str]  # c-TF-IDF
    examples: list[str]  # candidates nearest the cluster centre
    target: bool


@dataclass
class CleanResult:
    method: str  # e.g. "sentences+tfidf:...+pca2+kmeans3+coverage+scored seed=0"
    embedder: str
    seed: int
    answers: list[AnswerResult]
    clusters: list[ClusterSummary]
    target: TargetChoice
    segments: list[Segment] = field(repr=False, default_factory=list)
    labels: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, dtype=int))
    coords: np.ndarray = field(repr=False, default_factory=lambda: np.zeros((0, 2)))  # 2-D PCA, for the plot
    kept_mask: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, dtype=bool))
    seconds: dict[str, float] = field(default_factory=dict)

    def by_id(self) -> dict[str, AnswerResult]:
        return {a.id: a for a in self.answers}

    def __getitem__(self, answer_id: str) -> AnswerResult:
        return self.by_id()[answer_id]

    @property
    def kept(self) -> int:
        return sum(a.text is not None for a in self.answers)

    def path_counts(self) -> dict[str, int]:
        counts = Counter(a.path for a in self.answers)
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    def dropped_count(self) -> int:
        return sum(len(a.dropped) for a in self.answers)

    def explain(self, answer_id: str) -> str:
        a = self[answer_id]
        lines = [f"{a.id}: {a.reason}", f"  kept: {a.text!r}"]
        lines += [f"  dropped: {d!r}" for d in a.dropped]
        return "\n".join(lines)

    def dropped_keywords(self, top_n: int = 10) -> dict[str, list[str]]:
        """c-TF-IDF of kept against dropped lines: what the kept sentences and the chatter are about."""
        if not self.segments:
            return {"kept": [], "dropped": []}
        words = ctfidf_keywords([s.text for s in self.segments], [int(k) for k in self.kept_mask], top_n=top_n)
        return {"kept": words.get(1, []), "dropped": words.get(0, [])}

    def summary(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "embedder": self.embedder,
            "seed": self.seed,
            "answers": len(self.answers),
            "kept": self.kept,
            "without_text": len(self.answers) - self.kept,
            "dropped_lines": self.dropped_count(),
            "paths": self.path_counts(),
            "keywords": self.dropped_keywords(),
            "target": asdict(self.target),
            "clusters": [asdict(c) for c in self.clusters],
            "seconds": self.seconds,
        }

    def to_jsonl(self) -> str:
        return "".join(json.dumps(a.to_json(), ensure_ascii=False) + "\n" for a in self.answers)
