"""Step 6: keep exactly one sentence per answer.

`SeedSelector` is the seed article's steps A/B/C, kept as the baseline. `ScoredSelector` is the default: it
learns, from the clusters of *this* run, what a target sentence looks like, then picks one per answer.

How `ScoredSelector` learns (no labelled data; it is fit on the run being cleaned):
1. Seed labels from the clusters: an answer with exactly one candidate in the target cluster gives a positive
   (the seed's step A, which is reliable); the candidates outside the target cluster of answers that have one
   inside it are negatives.
2. Fit a logistic regression on the embedding, a *boilerplate* feature (how close a candidate is to its
   nearest candidates in *other* answers: chatter such as "How's this?" repeats across answers nearly word for
   word, each target sentence is new) and a few generic shape features (quoted, follows a lead-in, position,
   question, length, talk-about-the-task words).
3. Every answer has exactly one target: relabel each answer's best candidate positive and its other candidates
   negative, and refit (two rounds). Explanations that paraphrase the sentence sit in the target cluster; this
   is what teaches the model to tell them apart. Scores are out-of-fold (3 folds by answer), so a candidate
   labelled negative is not merely remembered as negative.

Then per answer, among complete candidates (not a lead-in ending in ':', not text cut off by the token limit):
one target-like candidate (p >= 0.5) is kept; several are resolved by a revision lead-in ("Here's a revised
version:" makes the later one win), by duplicates (the first copy), or by score (the earliest of those within
0.25 of the best, as chat models put the sentence first). Two word lists act only as guards after the scores:
revision lead-ins, and refusals ("I cannot fulfill your request"), which end an answer with a reason instead
of a sentence unless it still offers a quoted or announced one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .split import Segment

SEED_B_PATTERN = re.compile(r"this response|this sentence", re.IGNORECASE)
REVISION_PATTERN = re.compile(
    r"\b(revis\w*|correct\w*|updat\w*|improv\w*|shorter|longer|better|rewrit\w*|rephras\w*|reword\w*|"
    r"another (version|try|attempt)|new version|try (that|this|it) again|instead|modif\w*|adjust\w*|"
    r"tweak\w*)\b",
    re.IGNORECASE,
)

# A model declining the task, in the words chat models use. Checked only at the end, after the learned scores,
# so it guards against keeping a refusal; it never decides between two sentences.
REFUSAL_PATTERN = re.compile(
    r"\bI(?:'m| am) (?:just )?an? (?:AI|artificial intelligence|(?:large )?language model)\b|"
    r"\bas an? (?:responsible |helpful |ethical )?(?:AI|language model|assistant)\b|"
    r"\bI(?: cannot| can't| can not| won't|(?: am|'m) (?:unable|not able) to) (?:fulfill|complete|comply|"
    r"provide|create|generate|write|produce|help with|assist with)\b|"
    r"\b(?:your|this) request\b|\bethical (?:guidelines|principles|standards)\b",
    re.IGNORECASE,
)


@dataclass
class Choice:
    """What a selector decided for one answer."""

    answer_id: str
    kept: list[int]  # segment indices joined into the kept text (usually one); empty: nothing kept
    path: str  # only | single | revision | duplicate | best-score | tie | fallback | seed-A | ... | empty
    reason: str  # one line a person can read
    score: float | None = None


def group_by_answer(segments: Sequence[Segment], answer_ids: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {a: [] for a in answer_ids}
    for i, s in enumerate(segments):
        groups[s.answer_id].append(i)
    return groups


def _empty_choice(answer_id: str, idx: list[int], segments: Sequence[Segment]) -> Choice | None:
    if not idx:
        return Choice(answer_id, [], "empty", "empty answer: no text")
    return None


class SeedSelector:
    """The seed's steps, as written: A) a line alone in the target cluster for its answer is kept; B) where
    several remain, drop lines matching "this response|this sentence"; C) still several: keep the one nearest
    its cluster centre (in the reduced space). An answer with no line in the target cluster is lost, as it
    would have been."""

    name = "seed-ABC"

    def select(
        self,
        segments: Sequence[Segment],
        answer_ids: Sequence[str],
        x: np.ndarray,
        reduced: np.ndarray,
        labels: np.ndarray,
        centers: np.ndarray,
        target: int,
    ) -> list[Choice]:
        out = []
        for answer_id, idx in group_by_answer(segments, answer_ids).items():
            empty = _empty_choice(answer_id, idx, segments)
            if empty:
                out.append(empty)
                continue
            inside = [i for i in idx if labels[i] == target]
            if not inside:
                out.append(
                    Choice(answer_id, [], "lost", "lost: no line of this answer is in the target cluster")
                )
                continue
            if len(inside) == 1:
                out.append(
                    Choice(answer_id, inside, "seed-A", "A: the answer's only line in the target cluster")
                )
                continue
            remaining = [i for i in inside if not SEED_B_PATTERN.search(segments[i].text)]
            if len(remaining) == 1:
                out.append(
                    Choice(
                        answer_id,
                        remaining,
                        "seed-B",
                        "B: the only target-cluster line not matching 'this response|this sentence'",
                    )
                )
                continue
            pool = remaining or inside
            dist = {i: float(np.linalg.norm(reduced[i] - centers[target])) for i in pool}
            best = min(pool, key=lambda i: (dist[i], i))
            out.append(
                Choice(
                    answer_id,
                    [best],
                    "seed-C",
                    f"C: nearest the target cluster's centre of {len(pool)} lines",
                    -dist[best],
                )
            )
        return out


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


META_WORDS = re.compile(
    r"\b(sentence|response|request|criteria|requirements?|topics?|sentiment|captures?|conveys?|encapsulates?|"
    r"highlights?|reflects?|incorporat\w*|version|assist\w*|help|hope|let me know|feel free|apologi[sz]e|AI|"
    r"language model|here's|here is|I've|I have included|as requested|you requested|you described)\b",
    re.IGNORECASE,
)


def structure_features(segments: Sequence[Segment], groups: dict[str, list[int]]) -> np.ndarray:
    """Generic shape of each candidate within its answer; the classifier learns per run what they mean.

    Columns: quoted, list item, follows a lead-in, first candidate, last candidate, relative position,
    question, very short (<= 3 words), log word count, talk-about-the-task words per sqrt(word) (the seed's B
    rule, widened and made one signal among many rather than a filter).
    """
    out = np.zeros((len(segments), 10))
    for idx in groups.values():
        for rank, i in enumerate(idx):
            s = segments[i]
            words = max(1, len(s.text.split()))
            prev = segments[idx[rank - 1]] if rank else None
            out[i] = (
                s.quoted,
                s.bullet,
                bool(prev and prev.lead_in),
                rank == 0,
                rank == len(idx) - 1,
                rank / max(1, len(idx) - 1),
                s.text.rstrip().endswith("?"),
                words <= 3,
                np.log(words),
                len(META_WORDS.findall(s.text)) / np.sqrt(words),
            )
    return out


class ScoredSelector:
    """The default selection: a per-run classifier learned from the clusters (see the module docstring)."""

    name = "scored"

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
        revisions: bool = True,
        merge: bool = True,
        margin: float = 0.25,
        seed: int = 0,
    ):
        self.threshold = threshold
        self.margin = margin
        self.rounds = rounds
        self.folds = folds
        self.structure = structure
        self.C = C
        self.neighbours = neighbours
        self.density_sample = density_sample
        self.density = density
        self.revisions = revisions
        self.merge = merge
        self.seed = seed

    # --- learning ---
    def _features(
        self, segments: Sequence[Segment], groups: dict[str, list[int]], x: np.ndarray, codes: np.ndarray
    ) -> np.ndarray:
        cols = [np.asarray(x, dtype=np.float64)]
        if self.density:
            self.density_ = boilerplate_density(x, codes, self.neighbours, self.density_sample, self.seed)
            cols.append(self.density_[:, None].astype(np.float64))
        if self.structure:
            cols.append(structure_features(segments, groups))
        f = np.hstack(cols)
        mean, std = f.mean(axis=0), f.std(axis=0)
        return (f - mean) / np.where(std == 0, 1.0, std)

    def _fit_predict(
        self, f: np.ndarray, pos: list[int], neg: list[int], folds: np.ndarray
    ) -> np.ndarray | None:
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

    def scores(
        self,
        segments: Sequence[Segment],
        groups: dict[str, list[int]],
        x: np.ndarray,
        labels: np.ndarray,
        target: int,
    ) -> np.ndarray:
        """Probability that each candidate is its answer's target sentence, learned from this run alone."""
        n = len(segments)
        codes = np.array([s.answer_id for s in segments], dtype=object)
        _, codes = np.unique(codes, return_inverse=True)
        f = self._features(segments, groups, x, codes)
        n_answers = int(codes.max()) + 1 if n else 0
        order = np.random.default_rng(self.seed).permutation(n_answers)
        folds = (order % self.folds)[codes] if n_answers >= 2 * self.folds else np.zeros(n, dtype=int)
        ok = np.array([self._eligible(s) for s in segments], dtype=bool)
        inside = labels == target
        pos, neg = [], []
        for g in groups.values():
            seeds = [i for i in g if inside[i] and ok[i]]
            if len(seeds) == 1:
                pos.append(seeds[0])
            if seeds:  # this answer's target is in the target cluster, so its lines outside it are chatter
                neg.extend(i for i in g if not inside[i])
        p = self._fit_predict(f, pos, neg, folds)
        if p is None:  # one cluster or no clear seeds: fall back to closeness to the target cluster's mean
            centre = x[inside].mean(axis=0) if inside.any() else x.mean(axis=0)
            self.rounds_ = 0
            return (x @ centre / max(float(np.linalg.norm(centre)), 1e-9) + 1) / 2
        self.rounds_ = 1
        for _ in range(self.rounds):
            pos, neg = [], [i for i in range(n) if not ok[i]]
            for g in groups.values():
                cand = [i for i in g if ok[i]]
                if not cand:
                    continue
                best = max(cand, key=lambda i: (p[i], -i))
                if inside[best] or p[best] >= self.threshold:
                    pos.append(best)
                    neg.extend(i for i in cand if i != best)
                # else: no candidate looks like a target; the answer teaches nothing either way
            new = self._fit_predict(f, pos, neg, folds)
            if new is None:
                break
            p = new
            self.rounds_ += 1
        return p

    @staticmethod
    def _eligible(s: Segment) -> bool:
        return not s.lead_in and not s.truncated and any(ch.isalpha() for ch in s.text)

    # --- choosing ---
    def select(
        self,
        segments: Sequence[Segment],
        answer_ids: Sequence[str],
        x: np.ndarray,
        reduced: np.ndarray,
        labels: np.ndarray,
        centers: np.ndarray,
        target: int,
    ) -> list[Choice]:
        groups = group_by_answer(segments, answer_ids)
        p = self.scores(segments, groups, x, labels, target) if segments else np.zeros(0)
        self.scores_ = p
        return [self._choose(a, idx, segments, p, labels, target) for a, idx in groups.items()]

    def _choose(
        self,
        answer_id: str,
        idx: list[int],
        segments: Sequence[Segment],
        p: np.ndarray,
        labels: np.ndarray,
        target: int,
    ) -> Choice:
        empty = _empty_choice(answer_id, idx, segments)
        if empty:
            return empty
        cand = [i for i in idx if self._eligible(segments[i])]
        if not cand:
            what = "text cut off mid-sentence" if any(segments[i].truncated for i in idx) else "a lead-in"
            return Choice(answer_id, [], "no-sentence", f"no complete sentence: only {what}")
        refusals = [i for i in idx if REFUSAL_PATTERN.search(segments[i].text)]
        if refusals:
            # A declining answer may still offer a sentence, quoted or announced ("Instead, here's one:").
            cand = [
                i
                for i in cand
                if i not in refusals and (segments[i].quoted or self._announced(i, idx, segments))
            ]
            if not cand:
                return Choice(
                    answer_id,
                    [],
                    "refusal",
                    f"the model declined the task ({segments[refusals[0]].text[:60]!r})",
                )
        if len(idx) == 1:
            return self._keep(answer_id, [idx[0]], "only", "the answer's only sentence", p, segments)
        like = [i for i in cand if p[i] >= self.threshold]
        if not like:
            best = max(cand, key=lambda i: (p[i], -i))
            if labels[best] == target:
                return self._keep(
                    answer_id,
                    [best],
                    "fallback",
                    f"no sentence scored >= {self.threshold}; best one, in the target cluster",
                    p,
                    segments,
                )
            cut = [i for i in idx if segments[i].truncated]
            if cut:
                return Choice(
                    answer_id,
                    [],
                    "no-sentence",
                    "no complete target sentence: the answer was cut off "
                    f"mid-sentence ({segments[cut[0]].text[:50]!r}...)",
                    float(p[best]),
                )
            return Choice(
                answer_id,
                [],
                "no-target",
                f"no sentence looks like a target (best p={p[best]:.2f}: {segments[best].text[:60]!r})",
                float(p[best]),
            )
        if self.revisions:
            # A revision announced as such wins even when it scored a little lower than the version it
            # replaces.
            revised = [
                i
                for i in cand
                if i > like[0]
                and self._announced_revision(i, idx, segments)
                and (p[i] >= self.threshold or labels[i] == target)
            ]
            if revised:
                lead = segments[revised[-1] - 1].text
                return self._keep(
                    answer_id,
                    [revised[-1]],
                    "revision",
                    f"the model's revised version (after {lead[:50]!r})",
                    p,
                    segments,
                )
        if len(like) == 1:
            return self._keep(
                answer_id, like, "single", f"the only target-like sentence of {len(cand)}", p, segments
            )
        texts = {_norm(segments[i].text) for i in like}
        if len(texts) == 1:
            return self._keep(
                answer_id,
                [like[0]],
                "duplicate",
                f"the same sentence {len(like)} times; the first copy",
                p,
                segments,
            )
        top = max(p[i] for i in like)
        tied = [i for i in like if top - p[i] <= 1e-9]
        if len(tied) > 1:
            return self._keep(
                answer_id, [tied[0]], "tie", f"{len(tied)} sentences scored alike; the earliest", p, segments
            )
        # Chat models put the sentence first and the chatter after it: among near-equal scores the earliest
        # wins.
        close = [i for i in like if top - p[i] <= self.margin]
        best = close[0]
        why = "highest score" if p[best] >= top else f"earliest within {self.margin} of the highest score"
        return self._keep(
            answer_id, [best], "best-score", f"{why} of {len(like)} target-like sentences", p, segments
        )

    @staticmethod
    def _announced(i: int, idx: list[int], segments: Sequence[Segment]) -> bool:
        prev = [j for j in idx if j < i]
        return bool(prev) and segments[prev[-1]].lead_in

    def _announced_revision(self, i: int, idx: list[int], segments: Sequence[Segment]) -> bool:
        prev = [j for j in idx if j < i]
        return self._announced(i, idx, segments) and bool(REVISION_PATTERN.search(segments[prev[-1]].text))

    def _keep(
        self,
        answer_id: str,
        kept: list[int],
        path: str,
        reason: str,
        p: np.ndarray,
        segments: Sequence[Segment],
    ) -> Choice:
        if self.merge and len(kept) == 1:
            kept = self._merge(kept[0], segments, p)
            if len(kept) > 1:
                reason += f"; joined with {len(kept) - 1} adjacent target-like piece(s) of the same line"
        return Choice(answer_id, kept, path, reason, float(min(p[i] for i in kept)))

    def _merge(self, i: int, segments: Sequence[Segment], p: np.ndarray) -> list[int]:
        """A sentence the splitter cut in two (`My goal is simple: run.`) is joined back when the neighbouring
        pieces of the same line also score as targets; quoted pieces are already whole."""
        s = segments[i]
        if s.quoted:
            return [i]
        kept = [i]
        j = i - 1
        while j >= 0 and _same_line(segments[j], s) and not segments[j].quoted and p[j] >= self.threshold:
            kept.insert(0, j)
            j -= 1
        j = i + 1
        while (
            j < len(segments)
            and _same_line(segments[j], s)
            and not segments[j].quoted
            and not segments[j].truncated
            and not segments[j - 1].lead_in
            and p[j] >= self.threshold
        ):
            kept.append(j)
            j += 1
        return kept


def _same_line(a: Segment, b: Segment) -> bool:
    return a.answer_id == b.answer_id and a.line == b.line


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()
