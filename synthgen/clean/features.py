"""What the scorer sees of each candidate: its words, its shape within the answer, this run's chatter words.

Pure functions of the segments (and their embeddings); `scorer.SentenceScorer` puts them together.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..text import flat
from .split import Segment, is_candidate

# Lower-case ASCII words with their apostrophes: what the chatter lexicon counts. Not `text.plain_words`, which
# keeps digits and non-ASCII letters and splits "don't": the lexicon was measured with these words.
_WORD = re.compile(r"[a-z][a-z']*")
_QUOTED_BIT = re.compile(r"[\"\u201c\u2018']([^\"\u201d\u2019']{2,}?)[\"\u201d\u2019']")
N_STRUCTURE = 12  # columns of structure_features


def word_set(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def chatter_lexicon(
    word_sets: Sequence[set[str]], pos: Sequence[int], neg: Sequence[int], alpha: float = 0.5
) -> dict[str, float]:
    """Per word, the log-odds that a line holding it is chatter rather than a target sentence, learned from
    this run's cluster labels (`pos`: target sentences, `neg`: chatter). Words of the task ("sentence",
    "sentiment", "topics", "you", "let", "hope") come out high because the run's lead-ins, explanations and
    follow-ups use them; no word list is given."""
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


def lexicon_column(word_sets: Sequence[set[str]], pos: list[int], neg: list[int], folds: np.ndarray) -> np.ndarray:
    """Out-of-fold chatter-lexicon score of every segment (`word_sets`: each segment's words): each fold is scored
    with words learned from the other folds' labels, so a line's own words never vouch for it."""
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


def standardise(f: np.ndarray) -> np.ndarray:
    """Columns to mean 0 and standard deviation 1 (constant columns are only centred)."""
    mean, std = f.mean(axis=0), f.std(axis=0)
    return (f - mean) / np.where(std == 0, 1.0, std)


def structure_features(
    segments: Sequence[Segment], groups: dict[str, list[int]], x: np.ndarray | None = None
) -> np.ndarray:
    """Generic shape of each candidate within its answer; the classifier learns per run what they mean.

    Columns: quoted, list item, follows a lead-in, first candidate, last candidate, relative position among
    candidates, question, very short (<= 3 words), log word count, in parentheses, refers back (highest cosine
    similarity to an earlier candidate of the same answer: an explanation or a second version restates the
    sentence before it), quotes an earlier candidate (`The phrase "X" shows...`).
    """
    out = np.zeros((len(segments), N_STRUCTURE))
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
                not s.quoted and bool(earlier) and _quotes_earlier(s, [segments[j] for j in earlier]),
            )
    return out


def _quotes_earlier(s: Segment, earlier: Sequence[Segment]) -> bool:
    """Does `s` quote a piece of an earlier candidate (`The phrase "X" shows...`)? Compared lower-cased on one
    line (`str.lower`, not `text.fold`: as measured; the two differ only on letters like "ß")."""
    before = " ".join(flat(e.text).lower() for e in earlier)
    return any(flat(m.group(1)).lower().strip(" ,.;") in before for m in _QUOTED_BIT.finditer(s.text))
