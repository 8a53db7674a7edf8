"""Near-duplicates: texts that say the same thing in nearly the same words, which exact and normalised-exact
deduplication miss ("I love this phone, the camera is amazing" / "I love this phone and the camera is amazing!").

Each text's word 3-shingles (case-folded, punctuation removed) go into a MinHash (datasketch); an LSH index finds
candidate earlier texts, and a candidate is a near-duplicate when the exact Jaccard similarity of the two shingle
sets is at least `threshold` (MinHash only proposes; the exact check decides, so no false positive stands). With
an embedder, a text whose unit embedding has cosine at least `cosine` with an earlier kept text is one too.

Texts are taken in the order given, and the first of a group is its representative: a later text is compared
with the representatives only, so a chain of small edits cannot drift far from the one kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from ..text import plain_words

if TYPE_CHECKING:
    from ..embed import Embedder

THRESHOLD = 0.8  # Jaccard of word 3-shingles
COSINE = 0.95
NUM_PERM = 128
SHINGLE = 3


@dataclass(frozen=True)
class NearDuplicate:
    index: int  # the text left out
    kept: int  # the earlier text it repeats (its group's representative)
    similarity: float  # exact Jaccard of the shingles, or the embedding cosine
    how: str  # "minhash" or "cosine"


def shingles(text: str, n: int = SHINGLE) -> set[str]:
    words = plain_words(text, keep_apostrophes=True).split()
    if len(words) <= n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + n]) for i in range(len(words) - n + 1)}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 0.0


def near_duplicates(
    texts: Sequence[str],
    *,
    threshold: float = THRESHOLD,
    embedder: Embedder | None = None,
    cosine: float = COSINE,
    num_perm: int = NUM_PERM,
    seed: int = 1,
) -> list[NearDuplicate]:
    """The texts that repeat an earlier one, each with the representative it repeats."""
    from datasketch import MinHash, MinHashLSH

    sets = [shingles(t) for t in texts]
    lsh = MinHashLSH(threshold=max(min(threshold - 0.1, 0.99), 0.05), num_perm=num_perm)
    found: dict[int, NearDuplicate] = {}
    for i, items in enumerate(sets):
        if not items:
            continue
        sketch = MinHash(num_perm=num_perm, seed=seed)
        sketch.update_batch([s.encode("utf-8") for s in items])
        best = None
        for key in lsh.query(sketch):
            similarity = _jaccard(items, sets[int(key)])
            if similarity >= threshold and (best is None or (similarity, -int(key)) > (best[1], -best[0])):
                best = (int(key), similarity)
        if best is not None:
            found[i] = NearDuplicate(i, best[0], round(best[1], 4), "minhash")
        else:
            lsh.insert(str(i), sketch)
    if embedder is not None and len(texts) > 1:
        vectors = np.asarray(embedder.embed(list(texts)), dtype=np.float64)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
        kept: list[int] = []
        for i in range(len(texts)):
            if i in found:
                continue
            if kept:
                sims = vectors[kept] @ vectors[i]
                j = int(np.argmax(sims))
                if sims[j] >= cosine:
                    found[i] = NearDuplicate(i, kept[j], round(float(sims[j]), 4), "cosine")
                    continue
            kept.append(i)
    return [found[i] for i in sorted(found)]
