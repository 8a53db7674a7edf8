"""Which line of an answer to keep, once every candidate is scored: a sequence of paths, the first that applies
decides (`PATHS`).

No text: `empty` (no text at all), `no-sentence` (only a lead-in or a cut-off piece), `refusal` (the model
declined, and offers no quoted or announced sentence instead). Then `only` (a one-line answer, still scored: a lone
chatter line ends as `no-target`), `fallback` when nothing scored as a target (the best non-chatter line of the
target cluster, else `no-target` or `no-sentence`), `revision` (the model replaced its first version; the last is
kept), `duplicate` (the same sentence twice: the first copy), `single` (one target-like sentence; a follow-up that
out-scored the sentence before it gives way to that sentence), `tie` (the earliest of equal scores) and
`best-score` (the earliest within `margin` of the best: chat models put the sentence first).

The run's own evidence (`SentenceScorer.chatter_evidence`) keeps chatter out where the score alone would let it
in; a line the answer quotes or announces is always vouched for. Word lists (`cues.py`) are the last guard.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..text import fold
from .choice import Choice, empty_choice
from .cues import ALTERNATIVE_PATTERN, REFUSAL_PATTERN, REVISION_PATTERN, STRONG_REVISION
from .scorer import SentenceScorer
from .split import Segment, is_candidate


@dataclass(frozen=True)
class Rules:
    """The decision's settings (`ScoredSelector`'s parameters)."""

    margin: float = 0.25  # scores this close to the best count as equal; the earliest wins
    revisions: bool = True  # a version the model announced as a replacement wins over the first
    merge: bool = True  # a sentence the splitter cut in two is joined back
    refusal_words: bool = True  # False: only the learned evidence guards against refusals


@dataclass(frozen=True)
class Case:
    """One answer as the decision sees it: its segments, its candidates, and what the run learned."""

    answer_id: str
    idx: list[int]  # the answer's segments
    cand: list[int]  # its candidates (split.is_candidate)
    refusals: list[int]  # its segments that decline the task (cues.REFUSAL_PATTERN)
    offered: list[int]  # the candidates left to choose from: all, or with refusals only quoted or announced ones
    segments: Sequence[Segment]
    labels: np.ndarray
    target: int
    scorer: SentenceScorer
    rules: Rules

    @classmethod
    def of(
        cls,
        answer_id: str,
        idx: list[int],
        segments: Sequence[Segment],
        labels: np.ndarray,
        target: int,
        scorer: SentenceScorer,
        rules: Rules,
    ) -> Case:
        cand = [i for i in idx if is_candidate(segments[i])]
        refusals = [i for i in idx if rules.refusal_words and REFUSAL_PATTERN.search(segments[i].text)]
        offered = cand
        if refusals:
            # A declining answer may still offer a sentence, quoted or announced ("Instead, here's one:").
            offered = [i for i in cand if i not in refusals and _vouched(i, idx, segments)]
        return cls(answer_id, idx, cand, refusals, offered, segments, labels, target, scorer, rules)

    @property
    def p(self) -> np.ndarray:
        return self.scorer.scores_

    @property
    def threshold(self) -> float:
        return self.scorer.threshold

    @property
    def like(self) -> list[int]:
        """Offered candidates that score as targets."""
        return [i for i in self.offered if self.p[i] >= self.threshold]

    def evidence(self, i: int, strong: bool = False) -> str | None:
        return self.scorer.chatter_evidence(i, self.segments[i], first=i == self.offered[0], strong=strong)

    def vouched(self, i: int) -> bool:
        return _vouched(i, self.idx, self.segments)

    def acceptable(self) -> list[int]:
        """Offered candidates of the target cluster the answer's structure vouches for (quoted, or announced by
        a lead-in) or that nothing marks as chatter."""
        return [i for i in self.offered if self.labels[i] == self.target and (self.vouched(i) or not self.evidence(i))]

    def keep(self, kept: list[int], path: str, reason: str) -> Choice:
        if self.rules.merge and len(kept) == 1:
            kept = _merge(kept[0], self.segments, self.p, self.threshold)
            if len(kept) > 1:
                reason += f"; joined with {len(kept) - 1} adjacent target-like piece(s) of the same line"
        return Choice(self.answer_id, kept, path, reason, float(min(self.p[i] for i in kept)))

    def best(self, pool: list[int]) -> int:
        """The highest-scoring of `pool`; equal scores: the earliest."""
        return max(pool, key=lambda i: (self.p[i], -i))


# --- the paths, in the order they are tried ---


def _empty(case: Case) -> Choice | None:
    return empty_choice(case.answer_id) if not case.idx else None


def _no_sentence(case: Case) -> Choice | None:
    if case.cand:
        return None
    cut = any(case.segments[i].truncated for i in case.idx)
    what = "text cut off mid-sentence" if cut else "a lead-in"
    return Choice(case.answer_id, [], "no-sentence", f"no complete sentence: only {what}")


def _refusal(case: Case) -> Choice | None:
    if not case.refusals or case.offered:
        return None
    declined = case.segments[case.refusals[0]].text[:60]
    return Choice(case.answer_id, [], "refusal", f"the model declined the task ({declined!r})")


def _only(case: Case) -> Choice | None:
    """A one-line answer is scored too: a lone follow-up or refusal is not a sentence of the dataset. Its score
    alone keeps it unless strong evidence says chatter; a low score needs any evidence."""
    if len(case.offered) != 1 or len(case.idx) != 1:
        return None
    i = case.offered[0]
    p = case.p[i]
    high = p >= case.threshold
    why = None if case.segments[i].quoted else case.evidence(i, strong=high)
    if high and not why:
        return case.keep([i], "only", "the answer's only sentence")
    if why:
        text = case.segments[i].text[:60]
        reason = f"the answer's only line does not look like a target (p={p:.2f}; {why}): {text!r}"
        return Choice(case.answer_id, [], "no-target", reason, float(p))
    return case.keep([i], "only", f"the answer's only sentence (p={p:.2f}, no chatter evidence)")


def _fallback(case: Case) -> Choice | None:
    """No candidate scored as a target: keep the best candidate of the target cluster that nothing marks as
    chatter, else no text."""
    if case.like:
        return None
    pool = case.acceptable()
    if pool:
        reason = f"no sentence scored >= {case.threshold}; the best one of the target cluster that is not chatter"
        return case.keep([case.best(pool)], "fallback", reason)
    best = case.best(case.offered)
    p = float(case.p[best])
    cut = [i for i in case.idx if case.segments[i].truncated]
    if cut:
        piece = case.segments[cut[0]].text[:50]
        reason = f"no complete target sentence: the answer was cut off mid-sentence ({piece!r}...)"
        return Choice(case.answer_id, [], "no-sentence", reason, p)
    why = case.evidence(best)
    detail = f"; {why}" if why else ("" if case.labels[best] == case.target else "; not in the target cluster")
    text = case.segments[best].text[:60]
    reason = f"no sentence looks like a target (best p={p:.2f}{detail}: {text!r})"
    return Choice(case.answer_id, [], "no-target", reason, p)


def _revision(case: Case) -> Choice | None:
    if not case.rules.revisions:
        return None
    revised = _revised_version(case)
    if revised is None:
        return None
    i, cue = revised
    return case.keep([i], "revision", f"the model's revised version (after {cue[:50]!r})")


def _duplicate(case: Case) -> Choice | None:
    like = {fold(case.segments[j].text) for j in case.like}
    copies = [i for i in case.offered if fold(case.segments[i].text) in like]
    if len(like) != 1 or len(copies) < 2:
        return None
    return case.keep([copies[0]], "duplicate", f"the same sentence {len(copies)} times; the first copy")


def _single(case: Case) -> Choice | None:
    like = case.like
    if len(like) != 1:
        return None
    i = like[0]
    why = case.evidence(i)
    if why and not case.vouched(i):
        # e.g. a follow-up question that out-scored the sentence before it: an earlier candidate of the target
        # cluster that nothing marks as chatter is the better pick
        earlier = [j for j in case.acceptable() if j < i]
        if earlier:
            reason = (
                f"the only line scoring >= {case.threshold} is chatter ({why}); the best earlier line of the "
                "target cluster"
            )
            return case.keep([case.best(earlier)], "fallback", reason)
    return case.keep(like, "single", f"the only target-like sentence of {len(case.offered)}")


def _tie(case: Case) -> Choice | None:
    top = max(case.p[i] for i in case.like)
    tied = [i for i in case.like if top - case.p[i] <= 1e-9]
    if len(tied) < 2:
        return None
    return case.keep([tied[0]], "tie", f"{len(tied)} sentences scored alike; the earliest")


def _best_score(case: Case) -> Choice | None:
    # Chat models put the sentence first and the chatter after it: among near-equal scores the earliest wins.
    like, margin = case.like, case.rules.margin
    top = max(case.p[i] for i in like)
    best = next(i for i in like if top - case.p[i] <= margin)
    why = "highest score" if case.p[best] >= top else f"earliest within {margin} of the highest score"
    return case.keep([best], "best-score", f"{why} of {len(like)} target-like sentences")


PATHS: tuple[Callable[[Case], Choice | None], ...] = (
    _empty,
    _no_sentence,
    _refusal,
    _only,
    _fallback,
    _revision,
    _duplicate,
    _single,
    _tie,
    _best_score,
)


def decide(case: Case) -> Choice:
    """The first path that applies decides (`best-score` always does)."""
    for path in PATHS:
        choice = path(case)
        if choice is not None:
            return choice
    raise AssertionError("best-score decides every answer that reaches it")


# --- helpers ---


def _revised_version(case: Case) -> tuple[int, str] | None:
    """A later version the model announced as a replacement: the latest candidate that scores as a target or
    sits in the target cluster, comes after a target-like one, and whose in-between text has a revision cue
    and no alternative cue (a strong cue, "revised", "scratch that", wins over an alternative cue)."""
    like, segments, p = case.like, case.segments, case.p
    found = None
    # versions: the first target-like sentence, and any later one the answer quotes or announces
    versions = sorted({like[0], *(v for v in like if case.vouched(v))})
    for i in case.offered:
        if i <= like[0]:
            continue
        if not (p[i] >= case.threshold or case.labels[i] == case.target) or not case.vouched(i):
            continue
        earlier = [v for v in versions if v < i]
        if not earlier:
            continue
        between = " ".join(segments[j].text for j in case.idx if earlier[-1] < j < i)
        if not between or fold(segments[i].text) == fold(segments[earlier[-1]].text):
            continue
        revision = REVISION_PATTERN.search(between)
        alternative = ALTERNATIVE_PATTERN.search(between)
        if revision and (not alternative or STRONG_REVISION.search(between)):
            found = (i, between)
        if i not in versions:
            versions.append(i)
            versions.sort()
    return found


def _vouched(i: int, idx: list[int], segments: Sequence[Segment]) -> bool:
    """The answer quotes candidate i, or announces it with a lead-in right before it."""
    if segments[i].quoted:
        return True
    prev = [j for j in idx if j < i]
    return bool(prev) and segments[prev[-1]].lead_in


def _merge(i: int, segments: Sequence[Segment], p: np.ndarray, threshold: float) -> list[int]:
    """A sentence the splitter cut in two (`My goal is simple: run.`) is joined back when the neighbouring
    pieces of the same line also score as targets. Every joined piece must be a candidate itself, except a
    colon that only splits the line (its sentence goes on, unquoted, on the same line); quoted pieces are
    already whole, an interjection or a lead-in that ends its line never joins, nor does a second copy."""
    s = segments[i]
    if s.quoted:
        return [i]
    seen = {fold(s.text)}

    def joins(j: int) -> bool:
        seg = segments[j]
        if not _same_line(seg, s) or seg.quoted or seg.interjection or p[j] < threshold:
            return False
        if fold(seg.text) in seen:
            return False
        if seg.lead_in:
            nxt = segments[j + 1] if j + 1 < len(segments) else None
            return nxt is not None and _same_line(nxt, seg) and not nxt.quoted
        return is_candidate(seg)

    kept = [i]
    j = i - 1
    while j >= 0 and joins(j):
        kept.insert(0, j)
        seen.add(fold(segments[j].text))
        j -= 1
    j = i + 1
    while j < len(segments) and not segments[j - 1].lead_in and joins(j):
        kept.append(j)
        seen.add(fold(segments[j].text))
        j += 1
    return kept


def _same_line(a: Segment, b: Segment) -> bool:
    return a.answer_id == b.answer_id and a.line == b.line
