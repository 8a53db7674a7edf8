"""How likely each candidate is its answer's target sentence, learned from the clusters of *this* run.

No labelled data: `SentenceScorer` is fit on the run being cleaned.

1. Seed labels from the clusters: an answer with exactly one candidate in the target cluster gives a positive
   (the seed's step A, which is reliable); its candidates outside the target cluster, and every lead-in and
   interjection, are negatives.
2. Fit a logistic regression on the embedding, a *boilerplate* feature (how close a candidate is to its nearest
   lines in *other* answers: chatter repeats across answers nearly word for word, each target sentence is new),
   a *chatter-word* feature (per word, the log-odds that a line holding it is chatter, learned from this run's
   labels: nobody lists the words) and generic shape features (`features.structure_features`).
3. Every answer has exactly one target: relabel each answer's best candidate positive and its other candidates
   negative, relearn the chatter words and refit (two rounds). Scores are out-of-fold (3 folds by answer), so a
   candidate labelled negative is not merely remembered as negative.

Besides the scores, the fit learns the run's *evidence* of chatter (`chatter_evidence`): chatter words above the
95th percentile of the seed targets', repetition above theirs, a question after the first sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .density import answer_codes, boilerplate_density
from .features import lexicon_column, standardise, structure_features, word_set
from .split import Segment, is_candidate


class SentenceScorer:
    """Scores candidates like a scikit-learn estimator: parameters here, learning in `fit`, learned state in
    attributes with a trailing underscore (`scores_`, `lexicon_`, `density_`, `seed_pos_`, `rounds_`,
    `learned_`, `lexicon_cut_`, `density_cut_`), then `predict` and `chatter_evidence`."""

    def __init__(
        self,
        threshold: float = 0.5,
        rounds: int = 2,
        folds: int = 3,
        C: float = 0.1,
        neighbours: int = 5,
        density_sample: int = 3000,
        density: bool = True,
        structure: bool = True,
        lexicon: bool = True,
        seed: int = 0,
    ):
        self.threshold = threshold  # a score at least this high is target-like
        self.rounds = rounds
        self.folds = folds
        self.C = C
        self.neighbours = neighbours
        self.density_sample = density_sample
        self.density = density
        self.structure = structure
        self.lexicon = lexicon
        self.seed = seed

    def fit(
        self,
        segments: Sequence[Segment],
        groups: dict[str, list[int]],
        x: np.ndarray,
        labels: np.ndarray,
        target: int,
    ) -> SentenceScorer:
        """Learn this run's scores (`scores_`: the probability that each segment is its answer's target) and its
        evidence of chatter. `groups`: answer id -> its segments' indices."""
        n = len(segments)
        self.lexicon_ = np.zeros(n)
        self.density_ = np.zeros(n, dtype=np.float32)
        self.seed_pos_: list[int] = []
        self.seed_neg_: list[int] = []
        self.rounds_ = 0
        self.scores_ = self._learn(segments, groups, x, labels == target) if n else np.zeros(0)
        self._set_cuts()
        return self

    def predict(self) -> np.ndarray:
        """Which segments are target-like (score >= threshold)."""
        return self.scores_ >= self.threshold

    # --- learning the scores ---
    def _learn(
        self, segments: Sequence[Segment], groups: dict[str, list[int]], x: np.ndarray, inside: np.ndarray
    ) -> np.ndarray:
        """The scores; `inside`: which segments sit in the target cluster."""
        n = len(segments)
        codes = answer_codes([s.answer_id for s in segments])
        raw = self._features(segments, groups, x, codes)
        n_answers = int(codes.max()) + 1 if n else 0
        order = np.random.default_rng(self.seed).permutation(n_answers)
        folds = (order % self.folds)[codes] if n_answers >= 2 * self.folds else np.zeros(n, dtype=int)
        ok = np.array([is_candidate(s) for s in segments], dtype=bool)
        pos, neg = self._seed_labels(groups, ok, inside)
        word_sets = [word_set(s.text) for s in segments] if self.lexicon else []  # the same in every round

        def features(pos: list[int], neg: list[int]) -> np.ndarray:
            # The chatter lexicon is relearned from each round's labels: the seeds only know the lines outside
            # the target cluster, the later rounds also the follow-ups and explanations inside it.
            if self.lexicon and pos and neg:
                self.lexicon_ = lexicon_column(word_sets, pos, neg, folds)
                return standardise(np.hstack([raw, self.lexicon_[:, None]]))
            return standardise(raw)

        self.seed_pos_, self.seed_neg_ = pos, neg
        p = self._fit_predict(features(pos, neg), pos, neg, folds)
        if p is None:  # one cluster or no clear seeds: fall back to closeness to the target cluster's mean
            centre = x[inside].mean(axis=0) if inside.any() else x.mean(axis=0)
            self.rounds_ = 0
            return (x @ centre / max(float(np.linalg.norm(centre)), 1e-9) + 1) / 2
        self.rounds_ = 1
        for _ in range(self.rounds):
            pos, neg = self._relabel(groups, ok, inside, p)
            lexicon_before = self.lexicon_
            new = self._fit_predict(features(pos, neg), pos, neg, folds)
            if new is None:
                self.lexicon_ = lexicon_before
                break
            p = new
            self.seed_pos_, self.seed_neg_ = pos, neg
            self.rounds_ += 1
        return p

    @staticmethod
    def _seed_labels(groups: dict[str, list[int]], ok: np.ndarray, inside: np.ndarray) -> tuple[list[int], list[int]]:
        """Step 1: labels from the clusters alone."""
        pos, neg = [], [i for i in range(len(ok)) if not ok[i]]
        for g in groups.values():
            seeds = [i for i in g if inside[i] and ok[i]]
            if len(seeds) == 1:
                pos.append(seeds[0])
            if seeds:  # this answer's target is in the target cluster, so its lines outside it are chatter
                neg.extend(i for i in g if not inside[i] and ok[i])
        return pos, neg

    def _relabel(
        self, groups: dict[str, list[int]], ok: np.ndarray, inside: np.ndarray, p: np.ndarray
    ) -> tuple[list[int], list[int]]:
        """Step 3: each answer's best candidate is its target, its other candidates are chatter."""
        pos, neg = [], [i for i in range(len(ok)) if not ok[i]]
        for g in groups.values():
            cand = [i for i in g if ok[i]]
            if not cand:
                continue
            best = max(cand, key=lambda i: (p[i], -i))
            if inside[best] or p[best] >= self.threshold:
                pos.append(best)
                neg.extend(i for i in cand if i != best)
            # else: no candidate looks like a target; the answer teaches nothing either way
        return pos, neg

    def _features(
        self, segments: Sequence[Segment], groups: dict[str, list[int]], x: np.ndarray, codes: np.ndarray
    ) -> np.ndarray:
        cols = [np.asarray(x, dtype=np.float64)]
        self.density_ = boilerplate_density(x, codes, self.neighbours, self.density_sample, self.seed)
        if self.density:
            cols.append(self.density_[:, None].astype(np.float64))
        if self.structure:
            cols.append(structure_features(segments, groups, np.asarray(x, dtype=np.float64)))
        return np.hstack(cols)

    def _fit_predict(self, f: np.ndarray, pos: list[int], neg: list[int], folds: np.ndarray) -> np.ndarray | None:
        """Out-of-fold probabilities: each answer is scored by a model that never saw its candidates, so a
        candidate labelled negative in one round is not simply remembered as negative in the next."""
        from sklearn.linear_model import LogisticRegression

        if not pos or not neg:
            return None
        rows = np.array(pos + neg)
        y = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
        p = np.zeros(len(f))
        k = int(folds.max()) + 1 if len(folds) else 1
        for fold in range(k):
            train = folds[rows] != fold
            if k == 1:
                train[:] = True
            if len(np.unique(y[train])) < 2:
                return None
            clf = LogisticRegression(C=self.C, max_iter=1000, class_weight="balanced")
            clf.fit(f[rows[train]], y[train])
            target_rows = folds == fold if k > 1 else np.ones(len(f), dtype=bool)
            p[target_rows] = clf.predict_proba(f[target_rows])[:, 1]
        return p

    # --- the run's evidence of chatter ---
    def _set_cuts(self) -> None:
        """What this run's target sentences look like, from the answers whose target the clusters settle (one
        candidate in the target cluster): a line whose chatter-word score or repetition across answers lies
        above nearly all of theirs (the 95th percentile) is chatter evidence."""
        pos = self.seed_pos_
        self.learned_ = self.rounds_ > 0 and len(pos) >= 5
        if self.learned_:
            self.lexicon_cut_ = float(np.quantile(self.lexicon_[pos], 0.95)) if self.lexicon else np.inf
            self.density_cut_ = float(np.quantile(self.density_[pos], 0.95))
        else:
            self.lexicon_cut_ = self.density_cut_ = np.inf

    def chatter_evidence(self, i: int, segment: Segment, first: bool, strong: bool = False) -> str | None:
        """Why candidate i looks like chatter by the run's own evidence (None: it does not): its words are the
        run's chatter words, it repeats lines of other answers, or it is a question after the answer's first
        sentence (a follow-up). `strong` asks for more, to overrule a score: both of the first two, or a
        repetition closer to a verbatim copy than to the most repeated target sentences."""
        if not self.learned_:
            return None
        words = self.lexicon_[i] > self.lexicon_cut_
        repeats = self.density_[i] > self.density_cut_
        why = []
        if words:
            why.append(f"its words are this run's chatter words ({self.lexicon_[i]:.2f} > {self.lexicon_cut_:.2f})")
        if repeats:
            why.append(
                f"it repeats lines of other answers (similarity {self.density_[i]:.2f} > {self.density_cut_:.2f})"
            )
        if strong:
            copy = self.density_[i] > (self.density_cut_ + 1) / 2
            return "; ".join(why) if (words and repeats) or copy else None
        if not why and not first and not segment.quoted and segment.text.rstrip().endswith("?"):
            why.append("a question after the answer's first sentence")
        return "; ".join(why) or None
