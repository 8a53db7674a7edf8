"""Choosing k: silhouette alone, or refined by an LLM's "same category?" answers (the ClusterLLM granularity idea).

ClusterLLM asks about pairs that sit where two granularities of a hierarchy disagree, then keeps the granularity
most consistent with the answers. Here the granularities are the KMeans partitions of the candidate k: for each
neighbouring pair (k, k+1) we sample text pairs that one partition puts together and the other splits, so every
question separates at least two candidates; each k is then scored by the share of answers its partition agrees with.
A few control pairs, on which every candidate agrees, check the model first: small models that answer "yes" to
everything would otherwise always pick the smallest k.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np

from ..text import fold, shorten
from .asker import Asker, Reply, fill, read_prompt
from .labels import MAX_DOC_CHARS
from .report import KChoice, KScore

PAIR_PROMPT = "topic-pair"
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


def silhouette_choice(silhouettes: Mapping[int, float]) -> KChoice:
    """The k with the highest silhouette; ties go to the smaller k."""
    best = max(silhouettes, key=lambda k: (silhouettes[k], -k))
    candidates = [KScore(k, round(s, 4)) for k, s in sorted(silhouettes.items())]
    return KChoice("silhouette", best, f"highest silhouette {silhouettes[best]:.3f} at k={best}", candidates)


def sample_pairs(
    partitions: Mapping[int, np.ndarray], texts: Sequence[str], budget: int = 40, seed: int = 0
) -> list[tuple[int, int]]:
    """Up to `budget` distinct text pairs on which neighbouring candidate partitions disagree, spread evenly."""
    ks = sorted(partitions)
    steps = list(zip(ks, ks[1:], strict=False))
    if not steps or budget < 1:
        return []
    rng = np.random.default_rng(seed)
    per_step = [budget // len(steps) + (1 if i < budget % len(steps) else 0) for i in range(len(steps))]
    norm = [fold(t) for t in texts]
    chosen: list[tuple[int, int]] = []
    seen: set[tuple[int, int]] = set()
    n = len(texts)
    for (k_a, k_b), want in zip(steps, per_step, strict=True):
        a, b = partitions[k_a], partitions[k_b]
        got = 0
        for _ in range(50 * max(want, 1)):
            if got == want:
                break
            i = int(rng.integers(n))
            split = (a == a[i]) != (b == b[i])
            split[i] = False
            pair = _new_pair(rng, i, np.flatnonzero(split), norm, seen)
            if pair is None:
                continue
            chosen.append(pair)
            got += 1
    return chosen


def _new_pair(
    rng: np.random.Generator, i: int, options: np.ndarray, norm: Sequence[str], seen: set[tuple[int, int]]
) -> tuple[int, int] | None:
    """Text i and one of `options` drawn at random, as a sorted pair; None when there is no option, the pair was
    drawn before or the two are the same text. A new pair is added to `seen`."""
    if options.size == 0:
        return None
    j = int(options[rng.integers(options.size)])
    pair = (min(i, j), max(i, j))
    if pair in seen or norm[i] == norm[j]:
        return None
    seen.add(pair)
    return pair


def build_pair_prompt(text_a: str, text_b: str, template: str | None = None) -> str:
    template = read_prompt(PAIR_PROMPT) if template is None else template
    return fill(template, {"TEXT_A": shorten(text_a, MAX_DOC_CHARS), "TEXT_B": shorten(text_b, MAX_DOC_CHARS)})


def parse_yes_no(answer: str | None) -> bool | None:
    """True for yes, False for no, None when the answer says neither first."""
    if not answer:
        return None
    match = _YES_NO.search(answer)
    return None if match is None else match.group(1).lower() == "yes"


def agreement(partition: np.ndarray, pairs: Sequence[tuple[int, int]], same: Sequence[bool]) -> float:
    if not pairs:
        return 0.0
    hits = sum(bool(partition[i] == partition[j]) == s for (i, j), s in zip(pairs, same, strict=True))
    return hits / len(pairs)


def control_pairs(
    partitions: Mapping[int, np.ndarray],
    texts: Sequence[str],
    n: int = 4,
    seed: int = 0,
    exclude: Sequence[tuple[int, int]] = (),
) -> tuple[list[tuple[int, int]], list[bool]]:
    """Up to `n` pairs every candidate partition puts apart (a careful model says no) and up to `n` that every one
    keeps together (yes). They cannot tell the candidates apart; they tell whether the model's answers mean anything:
    a model that says yes to everything fails the first kind."""
    stack = np.stack([partitions[k] for k in sorted(partitions)])
    rng = np.random.default_rng(seed + 7919)
    norm = [fold(t) for t in texts]
    seen = set(exclude)
    found: dict[bool, list[tuple[int, int]]] = {False: [], True: []}
    for attempt in range(200 * max(n, 1)):
        together = bool(attempt % 2)  # alternate the two kinds
        if len(found[together]) >= n:
            if all(len(v) >= n for v in found.values()):
                break
            continue
        i = int(rng.integers(len(texts)))
        member = stack == stack[:, [i]]
        options = np.flatnonzero(member.all(axis=0) if together else (~member).all(axis=0))
        pair = _new_pair(rng, i, options[options != i], norm, seen)
        if pair is None:
            continue
        found[together].append(pair)
    pairs = found[False] + found[True]
    return pairs, [False] * len(found[False]) + [True] * len(found[True])


def llm_choice(
    partitions: Mapping[int, np.ndarray],
    silhouettes: Mapping[int, float],
    texts: Sequence[str],
    asker: Asker,
    budget: int = 40,
    seed: int = 0,
    min_control_accuracy: float = 0.75,
) -> KChoice:
    """Ask the model about sampled pairs; keep the k whose partition agrees with most answers.

    A fifth of the budget goes to control pairs (see `control_pairs`); a model that gets fewer than
    `min_control_accuracy` of those right is not trusted, and the silhouette choice stands. Ties go to the higher
    silhouette, then the smaller k. With no usable answer the silhouette choice stands too.
    """
    base = silhouette_choice(silhouettes)
    n_controls = min(4, budget // 10)
    pairs = sample_pairs(partitions, texts, budget - 2 * n_controls, seed)
    controls, expected = control_pairs(partitions, texts, n_controls, seed, exclude=pairs)
    template = read_prompt(PAIR_PROMPT)
    prompts = [build_pair_prompt(texts[i], texts[j], template) for i, j in pairs + controls]
    answers: list[Reply] = asker.ask_many(prompts)
    said = [parse_yes_no(a.text) for a in answers]
    answered = [(pair, s) for pair, s in zip(pairs, said, strict=False) if s is not None]
    checked = [(s, e) for s, e in zip(said[len(pairs) :], expected, strict=True) if s is not None]
    passed = sum(1 for s, e in checked if s == e)
    asked = dict(
        questions=len(prompts),
        answered=len(answered) + len(checked),
        yes=sum(1 for s in said if s),
        controls=len(controls),
        controls_passed=passed,
    )
    if not answered:
        errors = sorted({a.error for a in answers if a.error})
        why = f"; first error: {errors[0]}" if errors else ""
        reason = f"{base.reason} (the model gave no clear yes/no to {len(prompts)} pair questions{why})"
        return replace(base, reason=reason, **asked)
    kept_pairs = [p for p, _ in answered]
    kept_same = [s for _, s in answered]
    scores = {k: agreement(partitions[k], kept_pairs, kept_same) for k in partitions}
    candidates = [KScore(k, round(silhouettes[k], 4), round(scores[k], 4), len(answered)) for k in sorted(scores)]
    if checked and passed < min_control_accuracy * len(checked):
        reason = (
            f"{base.reason}; {asker.name}'s answers were not used: it got {passed} of {len(checked)} control "
            f"pairs right (pairs every candidate k agrees on), {asked['yes']} of {len(prompts)} answers yes"
        )
        return KChoice("silhouette", base.k, reason, candidates, **asked)
    best = max(scores, key=lambda k: (round(scores[k], 9), silhouettes[k], -k))
    hits = round(scores[best] * len(answered))
    reason = (
        f"{asker.name} agreed with k={best} on {hits} of {len(answered)} pair questions "
        f"({scores[best]:.2f}) and got {passed} of {len(checked)} control pairs right; "
        f"silhouette alone picks k={base.k}"
    )
    return KChoice("silhouette+llm", best, reason, candidates, **asked)
