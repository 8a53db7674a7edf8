"""Step 6: keep exactly one sentence per answer.

`SeedSelector` is the seed article's steps A/B/C, kept as the baseline. `ScoredSelector` is the default: it
learns, from the clusters of *this* run, what a target sentence looks like, then picks one per answer.

Candidates: every segment except lead-ins ("Here's a sentence...:"), the interjection before one ("Sure!"),
and text the token limit cut off (`split.is_candidate`).

How `ScoredSelector` learns (no labelled data; it is fit on the run being cleaned):
1. Seed labels from the clusters: an answer with exactly one candidate in the target cluster gives a positive
   (the seed's step A, which is reliable); its candidates outside the target cluster, and every lead-in and
   interjection, are negatives.
2. Fit a logistic regression on the embedding, a *boilerplate* feature (how close a candidate is to its nearest
   lines in *other* answers: chatter repeats across answers nearly word for word, each target sentence is new),
   a *chatter-word* feature (per word, the log-odds that a line holding it is chatter, learned from this run's
   labels: nobody lists the words) and generic shape features (quoted, follows a lead-in, position among the
   candidates, question, length, in parentheses, restates an earlier candidate, quotes a piece of one).
3. Every answer has exactly one target: relabel each answer's best candidate positive and its other candidates
   negative, relearn the chatter words and refit (two rounds). Scores are out-of-fold (3 folds by answer), so a
   candidate labelled negative is not merely remembered as negative.

Choosing, per answer: one target-like candidate (p >= 0.5) is kept; several are resolved by what the model
says between two versions (a revision replaces, an alternative only adds; without a cue the earlier wins), by
duplicates (the first copy), or by score (the earliest of those within 0.25 of the best, as chat models put the
sentence first). One-line answers are scored too. The run's own *evidence* (chatter words above the 95th
percentile of the seed targets', repetition above theirs, a question after the first sentence) keeps chatter
out where the score alone would let it in: a lone line with strong evidence, a fallback (nothing scored >= 0.5)
that would keep a follow-up or an explanation, a follow-up question that out-scored the sentence before it. A
line the answer quotes or announces is always vouched for. Word lists are the last guard, not the only one: a
refusal list ("I cannot fulfill your request", "I must decline") ends an answer with a reason unless it still
offers a quoted or announced sentence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from .density import answer_codes, boilerplate_density
from .split import Segment, is_candidate

SEED_B_PATTERN = re.compile(r"this response|this sentence", re.IGNORECASE)
# What the model says *between* two versions of its sentence decides which one it meant: a revision replaces the
# first ("Scratch that, here's a stronger one:", "Hmm, that feels flat. Let me rewrite it:"), an alternative
# only adds one ("Or, if you'd like something shorter:", "Option 2:"). That is a matter of wording, so these are
# word lists (drawn from the generator's pools, the held-out set and the dev set, never the test set); they only
# ever choose between two sentences that both scored as targets or sit in the target cluster, and without a cue
# the earlier sentence is kept.
REVISION_PATTERN = re.compile(
    r"\b(revis\w*|correct\w*|updat\w*|improv\w*|rewrit\w*|rephras\w*|reword\w*|modif\w*|adjust\w*|tweak\w*|"
    r"fix|scratch that|on second thought|on reflection|oops|actually|wait|hmm|instead|"
    r"another (?:version|try|attempt)|new version|try (?:that|this|it) again|let me (?:try|make|give|fix)|"
    r"(?:too|a bit|a little) (?:plain|flat|long)|undersell\w*|does(?:n't| not) quite work|"
    r"better|stronger|shorter|longer|more (?:vivid|concise))\b",
    re.IGNORECASE,
)
ALTERNATIVE_PATTERN = re.compile(
    r"(?:^|[\s(])(?:or|alternatively)\b|\banother option\b|\bif you(?:'d| would)? (?:prefer|like)\b|"
    r"\boptions? ?\d\b|\btwo options\b",
    re.IGNORECASE,
)
STRONG_REVISION = re.compile(r"\b(revis\w*|correct\w*|rewrit\w*|fix|scratch that|on second thought|oops)\b",
                             re.IGNORECASE)

# A model declining the task (the seed's refusals, the audit's and the dev set's wordings). The first line of
# defence against keeping a refusal; the learned scores are the second: a line that does not score as a target
# and whose words are this run's chatter words is not kept when nothing else in the answer vouches for it.
REFUSAL_PATTERN = re.compile(
    r"\bI(?:'m| am) (?:just )?an? (?:AI|artificial intelligence|(?:large )?language model)\b|"
    r"\bas an? (?:responsible |helpful |ethical )?(?:AI|language model|assistant)\b|"
    r"\bI(?: cannot| can't| can not| won't|(?: am|'m) (?:unable|not able) to) (?:fulfill|complete|comply|"
    r"provide|create|generate|write|produce|help with|assist with)\b|"
    r"\bI(?:'d| would) (?:prefer|rather) not\b|\bI'd rather (?:steer|stay) away\b|"
    r"\bI(?:'m| am) not comfortable\b|\bI don't feel right\b|\b(?:must|have to) (?:respectfully )?decline\b|"
    r"\bpass on this\b|\bappropriate for me to\b|\bdoesn't sit right\b|"
    r"\bagainst my (?:guidelines|programming|principles)\b|"
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


_WORD = re.compile(r"[a-z][a-z']*")
_QUOTED_BIT = re.compile(r"[\"\u201c\u2018']([^\"\u201d\u2019']{2,}?)[\"\u201d\u2019']")


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def chatter_lexicon(
    word_sets: Sequence[set[str]], pos: Sequence[int], neg: Sequence[int], alpha: float = 0.5
) -> dict[str, float]:
    """Per word, the log-odds that a line holding it is chatter rather than a target sentence, learned from
    this run's cluster labels (`pos`: target sentences, `neg`: chatter). Words of the task ("sentence",
    "sentiment", "topics", "you", "let", "hope") come out high because the run's lead-ins, explanations and
    follow-ups use them; no word list is given."""
    from collections import Counter

    cp: Counter[str] = Counter()
    cn: Counter[str] = Counter()
    for i in pos:
        cp.update(word_sets[i])
    for i in neg:
        cn.update(word_sets[i])
    n_pos, n_neg = max(1, len(pos)), max(1, len(neg))
    return {
        w: float(np.log((cn[w] + alpha) / (n_neg + 2 * alpha)) - np.log((cp[w] + alpha) / (n_pos + 2 * alpha)))
        for w in set(cp) | set(cn)
    }


def lexicon_score(words: set[str], lexicon: dict[str, float]) -> float:
    """How much of a line is chatter words: the mean over its words of their chatter log-odds, where only words
    that lean to chatter count (clipped to 0..3; words leaning to target sentences and unknown words count 0)."""
    if not words:
        return 0.0
    return sum(min(max(lexicon.get(w, 0.0), 0.0), 3.0) for w in words) / len(words)


def structure_features(
    segments: Sequence[Segment], groups: dict[str, list[int]], x: np.ndarray | None = None
) -> np.ndarray:
    """Generic shape of each candidate within its answer; the classifier learns per run what they mean.

    Columns: quoted, list item, follows a lead-in, first candidate, last candidate, relative position among
    candidates, question, very short (<= 3 words), log word count, in parentheses, refers back (highest cosine
    similarity to an earlier candidate of the same answer: an explanation or a second version restates the
    sentence before it), quotes an earlier candidate (`The phrase "X" shows...`).
    """
    out = np.zeros((len(segments), 12))
    for idx in groups.values():
        cands = [i for i in idx if is_candidate(segments[i])]
        rank_of = {i: r for r, i in enumerate(cands)}
        for pos, i in enumerate(idx):
            s = segments[i]
            words = max(1, len(s.text.split()))
            prev = segments[idx[pos - 1]] if pos else None
            rank = rank_of.get(i, len(cands))
            earlier = [j for j in cands if j < i]
            back = 0.0
            if x is not None and earlier:
                back = float(np.max(x[earlier] @ x[i]))
            quotes = False
            if not s.quoted and earlier:
                before = " ".join(" ".join(segments[j].text.lower().split()) for j in earlier)
                quotes = any(
                    " ".join(m.group(1).lower().split()).strip(" ,.;") in before
                    for m in _QUOTED_BIT.finditer(s.text)
                )
            out[i] = (
                s.quoted,
                s.bullet,
                bool(prev and prev.lead_in),
                rank == 0,
                bool(cands) and rank == len(cands) - 1,
                rank / max(1, len(cands) - 1),
                s.text.rstrip().rstrip(")").endswith("?"),
                words <= 3,
                np.log(words),
                s.text.lstrip().startswith("("),
                back,
                quotes,
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
        lexicon: bool = True,
        revisions: bool = True,
        merge: bool = True,
        margin: float = 0.25,
        refusal_words: bool = True,
        seed: int = 0,
    ):
        self.refusal_words = refusal_words  # False: only the learned evidence guards against refusals
        self.threshold = threshold
        self.margin = margin
        self.rounds = rounds
        self.folds = folds
        self.structure = structure
        self.lexicon = lexicon
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
        self.density_ = boilerplate_density(x, codes, self.neighbours, self.density_sample, self.seed)
        if self.density:
            cols.append(self.density_[:, None].astype(np.float64))
        if self.structure:
            cols.append(structure_features(segments, groups, np.asarray(x, dtype=np.float64)))
        return np.hstack(cols)

    @staticmethod
    def _standardise(f: np.ndarray) -> np.ndarray:
        mean, std = f.mean(axis=0), f.std(axis=0)
        return (f - mean) / np.where(std == 0, 1.0, std)

    def _lexicon_column(
        self, word_sets: Sequence[set[str]], pos: list[int], neg: list[int], folds: np.ndarray
    ) -> np.ndarray:
        """Out-of-fold chatter-lexicon score of every candidate (`word_sets`: each segment's words): each fold is
        scored with words learned from the other folds' cluster labels, so a line's own words never vouch for it."""
        out = np.zeros(len(word_sets))
        k = int(folds.max()) + 1 if len(folds) else 1
        for fold in range(k):
            inside = folds == fold
            lex = chatter_lexicon(
                word_sets,
                [i for i in pos if k == 1 or not inside[i]],
                [i for i in neg if k == 1 or not inside[i]],
            )
            for i in np.flatnonzero(inside):
                out[i] = lexicon_score(word_sets[i], lex)
        return out

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
        codes = answer_codes([s.answer_id for s in segments])
        raw = self._features(segments, groups, x, codes)
        n_answers = int(codes.max()) + 1 if n else 0
        order = np.random.default_rng(self.seed).permutation(n_answers)
        folds = (order % self.folds)[codes] if n_answers >= 2 * self.folds else np.zeros(n, dtype=int)
        ok = np.array([is_candidate(s) for s in segments], dtype=bool)
        inside = labels == target
        pos, neg = [], [i for i in range(n) if not ok[i]]
        for g in groups.values():
            seeds = [i for i in g if inside[i] and ok[i]]
            if len(seeds) == 1:
                pos.append(seeds[0])
            if seeds:  # this answer's target is in the target cluster, so its lines outside it are chatter
                neg.extend(i for i in g if not inside[i] and ok[i])
        self.lexicon_ = np.zeros(n)
        word_sets = [_words(s.text) for s in segments] if self.lexicon else []  # the same in every round

        def features(pos: list[int], neg: list[int]) -> np.ndarray:
            # The chatter lexicon is relearned from each round's labels: the seeds only know the lines outside
            # the target cluster, the later rounds also the follow-ups and explanations inside it.
            if self.lexicon and pos and neg:
                self.lexicon_ = self._lexicon_column(word_sets, pos, neg, folds)
                return self._standardise(np.hstack([raw, self.lexicon_[:, None]]))
            return self._standardise(raw)

        self.seed_pos_, self.seed_neg_ = pos, neg
        p = self._fit_predict(features(pos, neg), pos, neg, folds)
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
            lexicon_before = self.lexicon_
            new = self._fit_predict(features(pos, neg), pos, neg, folds)
            if new is None:
                self.lexicon_ = lexicon_before
                break
            p = new
            self.seed_pos_, self.seed_neg_ = pos, neg
            self.rounds_ += 1
        return p

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
        self.lexicon_ = np.zeros(len(segments))
        self.density_ = np.zeros(len(segments), dtype=np.float32)
        self.seed_pos_, self.seed_neg_ = [], []
        self.rounds_ = 0
        p = self.scores(segments, groups, x, labels, target) if segments else np.zeros(0)
        self.scores_ = p
        self._set_cuts()
        return [self._choose(a, idx, segments, p, labels, target) for a, idx in groups.items()]

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

    def _chatter_evidence(
        self, i: int, segments: Sequence[Segment], first: bool, strong: bool = False
    ) -> str | None:
        """Why candidate i looks like chatter by the run's own evidence (None: it does not): its words are the
        run's chatter words, it repeats lines of other answers, or it is a question after the answer's first
        sentence (a follow-up). `strong` asks for more, to overrule a score: both of the first two, or a
        repetition closer to a verbatim copy than to the most repeated target sentences."""
        s = segments[i]
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
        if not why and not first and not s.quoted and s.text.rstrip().endswith("?"):
            why.append("a question after the answer's first sentence")
        return "; ".join(why) or None

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
        cand = [i for i in idx if is_candidate(segments[i])]
        if not cand:
            what = "text cut off mid-sentence" if any(segments[i].truncated for i in idx) else "a lead-in"
            return Choice(answer_id, [], "no-sentence", f"no complete sentence: only {what}")
        refusals = [i for i in idx if self.refusal_words and REFUSAL_PATTERN.search(segments[i].text)]
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
        like = [i for i in cand if p[i] >= self.threshold]
        if len(cand) == 1 and len(idx) == 1:
            # A one-line answer is scored too: a lone follow-up or refusal is not a sentence of the dataset.
            # Its score alone keeps it unless strong evidence says chatter; a low score needs any evidence.
            i = cand[0]
            high = p[i] >= self.threshold
            why = None if segments[i].quoted else self._chatter_evidence(i, segments, first=True, strong=high)
            if high and not why:
                return self._keep(answer_id, [i], "only", "the answer's only sentence", p, segments)
            if why:
                return Choice(
                    answer_id,
                    [],
                    "no-target",
                    f"the answer's only line does not look like a target (p={p[i]:.2f}; {why}): "
                    f"{segments[i].text[:60]!r}",
                    float(p[i]),
                )
            return self._keep(
                answer_id, [i], "only", f"the answer's only sentence (p={p[i]:.2f}, no chatter evidence)",
                p, segments,
            )
        if not like:
            return self._fallback(answer_id, idx, cand, segments, p, labels, target)
        if self.revisions:
            revised = self._revision(like, cand, idx, segments, p, labels, target)
            if revised is not None:
                i, cue = revised
                return self._keep(
                    answer_id, [i], "revision", f"the model's revised version (after {cue[:50]!r})", p, segments
                )
        copies = [i for i in cand if _norm(segments[i].text) in {_norm(segments[j].text) for j in like}]
        if len({_norm(segments[i].text) for i in like}) == 1 and len(copies) > 1:
            return self._keep(
                answer_id,
                [copies[0]],
                "duplicate",
                f"the same sentence {len(copies)} times; the first copy",
                p,
                segments,
            )
        if len(like) == 1:
            i = like[0]
            why = self._chatter_evidence(i, segments, first=i == cand[0])
            if why and not self._vouched(i, idx, segments):
                # e.g. a follow-up question that out-scored the sentence before it: an earlier candidate of the
                # target cluster that nothing marks as chatter is the better pick
                earlier = [j for j in self._acceptable(cand, idx, segments, labels, target) if j < i]
                if earlier:
                    best = max(earlier, key=lambda j: (p[j], -j))
                    return self._keep(
                        answer_id, [best], "fallback",
                        f"the only line scoring >= {self.threshold} is chatter ({why}); the best earlier line "
                        "of the target cluster", p, segments,
                    )
            return self._keep(
                answer_id, like, "single", f"the only target-like sentence of {len(cand)}", p, segments
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

    def _fallback(
        self,
        answer_id: str,
        idx: list[int],
        cand: list[int],
        segments: Sequence[Segment],
        p: np.ndarray,
        labels: np.ndarray,
        target: int,
    ) -> Choice:
        """No candidate scored as a target (or the only one that did is chatter by the run's evidence): keep the
        best candidate of the target cluster that nothing marks as chatter, else no text."""
        pool = self._acceptable(cand, idx, segments, labels, target)
        if pool:
            best = max(pool, key=lambda i: (p[i], -i))
            return self._keep(
                answer_id,
                [best],
                "fallback",
                f"no sentence scored >= {self.threshold}; the best one of the target cluster that is not chatter",
                p,
                segments,
            )
        best = max(cand, key=lambda i: (p[i], -i))
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
        why = self._chatter_evidence(best, segments, first=best == cand[0])
        detail = f"; {why}" if why else ("" if labels[best] == target else "; not in the target cluster")
        return Choice(
            answer_id,
            [],
            "no-target",
            f"no sentence looks like a target (best p={p[best]:.2f}{detail}: {segments[best].text[:60]!r})",
            float(p[best]),
        )

    def _revision(
        self,
        like: list[int],
        cand: list[int],
        idx: list[int],
        segments: Sequence[Segment],
        p: np.ndarray,
        labels: np.ndarray,
        target: int,
    ) -> tuple[int, str] | None:
        """A later version the model announced as a replacement: the latest candidate that scores as a target or
        sits in the target cluster, comes after a target-like one, and whose in-between text has a revision cue
        and no alternative cue (a strong cue, "revised", "scratch that", wins over an alternative cue)."""
        found = None
        # versions: the first target-like sentence, and any later one the answer quotes or announces
        versions = sorted({like[0], *(v for v in like if self._vouched(v, idx, segments))})
        for i in cand:
            if i <= like[0] or i in like[:1]:
                continue
            if not (p[i] >= self.threshold or labels[i] == target):
                continue
            if not (segments[i].quoted or self._announced(i, idx, segments)):
                continue
            earlier = [v for v in versions if v < i]
            if not earlier:
                continue
            between = " ".join(segments[j].text for j in idx if earlier[-1] < j < i)
            if not between or _norm(segments[i].text) == _norm(segments[earlier[-1]].text):
                continue
            revision = REVISION_PATTERN.search(between)
            alternative = ALTERNATIVE_PATTERN.search(between)
            if revision and (not alternative or STRONG_REVISION.search(between)):
                found = (i, between)
            if i not in versions:
                versions.append(i)
                versions.sort()
        return found

    def _acceptable(
        self, cand: list[int], idx: list[int], segments: Sequence[Segment], labels: np.ndarray, target: int
    ) -> list[int]:
        """Candidates of the target cluster the answer's structure vouches for (quoted, or announced by a
        lead-in) or that nothing marks as chatter."""
        return [
            i
            for i in cand
            if labels[i] == target
            and (self._vouched(i, idx, segments) or not self._chatter_evidence(i, segments, i == cand[0]))
        ]

    def _vouched(self, i: int, idx: list[int], segments: Sequence[Segment]) -> bool:
        return segments[i].quoted or self._announced(i, idx, segments)

    @staticmethod
    def _announced(i: int, idx: list[int], segments: Sequence[Segment]) -> bool:
        prev = [j for j in idx if j < i]
        return bool(prev) and segments[prev[-1]].lead_in

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
        pieces of the same line also score as targets. Every joined piece must be a candidate itself, except a
        colon that only splits the line (its sentence goes on, unquoted, on the same line); quoted pieces are
        already whole, an interjection or a lead-in that ends its line never joins, nor does a second copy."""
        s = segments[i]
        if s.quoted:
            return [i]
        seen = {_norm(s.text)}

        def joins(j: int) -> bool:
            seg = segments[j]
            if not _same_line(seg, s) or seg.quoted or seg.interjection or p[j] < self.threshold:
                return False
            if _norm(seg.text) in seen:
                return False
            if seg.lead_in:
                nxt = segments[j + 1] if j + 1 < len(segments) else None
                return bool(nxt) and _same_line(nxt, seg) and not nxt.quoted
            return is_candidate(seg)

        kept = [i]
        j = i - 1
        while j >= 0 and joins(j):
            kept.insert(0, j)
            seen.add(_norm(segments[j].text))
            j -= 1
        j = i + 1
        while j < len(segments) and not segments[j - 1].lead_in and joins(j):
            kept.append(j)
            seen.add(_norm(segments[j].text))
            j += 1
        return kept


def _same_line(a: Segment, b: Segment) -> bool:
    return a.answer_id == b.answer_id and a.line == b.line


def _norm(text: str) -> str:
    return " ".join(text.split()).casefold()
