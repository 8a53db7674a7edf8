"""Step 6's contract: what a selector is given (the clustered run) and what it decides (one Choice per answer).

Every selector (`ScoredSelector`, the default; `SeedSelector`, the seed article's steps) satisfies `Selector`, so
`Cleaner(selector=...)` takes either, or one of your own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .split import Segment


@dataclass(frozen=True)
class ClusteredRun:
    """A run after steps 1-5: its segments, their embeddings, the 2-D projection KMeans clustered, the clusters
    and which one holds the target sentences."""

    segments: Sequence[Segment]
    answer_ids: Sequence[str]  # every answer of the run, in input order (an empty answer has no segment)
    x: np.ndarray | None  # embeddings, one unit row per segment
    reduced: np.ndarray  # the projection KMeans clustered
    labels: np.ndarray  # cluster of each segment
    centers: np.ndarray  # cluster centres, in the reduced space
    target: int  # the target cluster

    def groups(self) -> dict[str, list[int]]:
        """Answer id -> indices of its segments, for every answer in input order."""
        return group_by_answer(self.segments, self.answer_ids)


@dataclass
class Choice:
    """What a selector decided for one answer."""

    answer_id: str
    kept: list[int]  # segment indices joined into the kept text (usually one); empty: nothing kept
    path: str  # only | single | revision | duplicate | best-score | tie | fallback | seed-A | ... | empty
    reason: str  # one line a person can read
    score: float | None = None


class Selector(Protocol):
    """Keeps at most one sentence per answer of a clustered run: one Choice per answer id, in input order."""

    name: str

    def select(self, run: ClusteredRun) -> list[Choice]: ...


def group_by_answer(segments: Sequence[Segment], answer_ids: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {a: [] for a in answer_ids}
    for i, s in enumerate(segments):
        groups[s.answer_id].append(i)
    return groups


def empty_choice(answer_id: str) -> Choice:
    """An answer without any text: every selector ends it this way."""
    return Choice(answer_id, [], "empty", "empty answer: no text")
