"""Class-based TF-IDF (c-TF-IDF, as in BERTopic): the words that set one cluster's texts apart from others'.

All texts of a cluster are joined into one document; a term's weight is its frequency in that document (L1
normalised) times log(1 + A / f), where A is the average number of words per cluster and f the term's
frequency over all clusters. Ties break alphabetically, so the same clusters always get the same keywords.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

TOKEN_PATTERN = r"(?u)\b[^\W\d_][\w']*[^\W_]\b"  # words of two or more characters, starting with a letter


def ctfidf_keywords(
    texts: Sequence[str],
    labels: Sequence[int],
    top_n: int = 8,
    *,
    stop_words: str | Sequence[str] | None = "english",
    ngram_range: tuple[int, int] = (1, 1),
) -> dict[int, list[str]]:
    """Top `top_n` keywords per label (every label present gets a key, maybe with an empty list)."""
    from sklearn.feature_extraction.text import CountVectorizer

    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    classes = sorted({int(c) for c in labels})
    if not classes:
        return {}
    joined = {c: [] for c in classes}
    for text, label in zip(texts, labels, strict=True):
        joined[int(label)].append(str(text))
    docs = [" \n ".join(joined[c]) for c in classes]
    stop = stop_words if isinstance(stop_words, str) or stop_words is None else list(stop_words)
    vectorizer = CountVectorizer(stop_words=stop, ngram_range=ngram_range, token_pattern=TOKEN_PATTERN, lowercase=True)
    try:
        counts = vectorizer.fit_transform(docs).astype(np.float64).toarray()
    except ValueError:  # nothing but stop words and punctuation
        return {c: [] for c in classes}
    terms = vectorizer.get_feature_names_out()
    freq = counts.sum(axis=0)
    avg_words = counts.sum(axis=1).mean()
    idf = np.log(1.0 + avg_words / np.maximum(freq, 1e-12))
    row_sums = counts.sum(axis=1, keepdims=True)
    scores = counts / np.where(row_sums == 0, 1.0, row_sums) * idf
    out: dict[int, list[str]] = {}
    for row, c in enumerate(classes):
        present = np.flatnonzero(counts[row] > 0)
        ranked = sorted(present, key=lambda j: (-scores[row, j], terms[j]))
        out[c] = [str(terms[j]) for j in ranked[:top_n]]
    return out
