"""The seed article's selection steps A/B/C, as written: the baseline `bench_clean_eval.py` measures against."""

from __future__ import annotations

import numpy as np

from .choice import Choice, ClusteredRun, empty_choice
from .cues import SEED_B_PATTERN


class SeedSelector:
    """The seed's steps, as written: A) a line alone in the target cluster for its answer is kept; B) where
    several remain, drop lines matching "this response|this sentence"; C) still several: keep the one nearest
    its cluster centre (in the reduced space). An answer with no line in the target cluster is lost, as it
    would have been."""

    name = "seed-ABC"

    def select(self, run: ClusteredRun) -> list[Choice]:
        return [self._choose(run, answer_id, idx) for answer_id, idx in run.groups().items()]

    @staticmethod
    def _choose(run: ClusteredRun, answer_id: str, idx: list[int]) -> Choice:
        if not idx:
            return empty_choice(answer_id)
        inside = [i for i in idx if run.labels[i] == run.target]
        if not inside:
            return Choice(answer_id, [], "lost", "lost: no line of this answer is in the target cluster")
        if len(inside) == 1:
            return Choice(answer_id, inside, "seed-A", "A: the answer's only line in the target cluster")
        remaining = [i for i in inside if not SEED_B_PATTERN.search(run.segments[i].text)]
        if len(remaining) == 1:
            why = "B: the only target-cluster line not matching 'this response|this sentence'"
            return Choice(answer_id, remaining, "seed-B", why)
        pool = remaining or inside
        centre = run.centers[run.target]
        dist = {i: float(np.linalg.norm(run.reduced[i] - centre)) for i in pool}
        best = min(pool, key=lambda i: (dist[i], i))
        why = f"C: nearest the target cluster's centre of {len(pool)} lines"
        return Choice(answer_id, [best], "seed-C", why, -dist[best])
