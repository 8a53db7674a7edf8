"""Step 6: keep exactly one sentence per answer, or say why none.

`ScoredSelector`, the default, puts the two halves together: a `SentenceScorer` learns from the clusters of *this*
run what a target sentence looks like (`scorer.py`), then `decide` picks one line per answer (`decide.py`).
`SeedSelector` (`seed.py`) is the seed article's steps A/B/C, kept as the baseline. Both satisfy
`choice.Selector`.

Candidates: every segment except lead-ins ("Here's a sentence...:"), the interjection before one ("Sure!"),
and text the token limit cut off (`split.is_candidate`).
"""

from __future__ import annotations

from .choice import Choice, ClusteredRun
from .decide import Case, Rules, decide
from .scorer import SentenceScorer


class ScoredSelector:
    """The default selection: a per-run scorer learned from the clusters, then the decision's paths.

    `scorer`: the `SentenceScorer` to fit (default: one with its default parameters and `seed`); the rest are
    the decision's `Rules`. `select` leaves the fitted scorer in `scorer_`.
    """

    name = "scored"

    def __init__(
        self,
        scorer: SentenceScorer | None = None,
        *,
        margin: float = 0.25,
        revisions: bool = True,
        merge: bool = True,
        refusal_words: bool = True,
        seed: int = 0,
    ):
        self.scorer = scorer
        self.margin = margin
        self.revisions = revisions
        self.merge = merge
        self.refusal_words = refusal_words  # False: only the learned evidence guards against refusals
        self.seed = seed

    def select(self, run: ClusteredRun) -> list[Choice]:
        groups = run.groups()
        scorer = self.scorer if self.scorer is not None else SentenceScorer(seed=self.seed)
        self.scorer_ = scorer.fit(run.segments, groups, run.x, run.labels, run.target)
        rules = Rules(self.margin, self.revisions, self.merge, self.refusal_words)
        return [
            decide(Case.of(answer_id, idx, run.segments, run.labels, run.target, self.scorer_, rules))
            for answer_id, idx in groups.items()
        ]
