"""The quick classifiers evaluate trains, and their scores. Both are scikit-learn pipelines: seeded, fast."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import UserError

CLASSIFIERS = ("tfidf", "minilm")


class _Embedded:
    """MiniLM sentence embeddings in front of a logistic regression (fit / predict on texts)."""

    def __init__(self, seed: int):
        from sklearn.linear_model import LogisticRegression

        from ..embed import get_embedder

        self.embedder = get_embedder("minilm")
        self.model = LogisticRegression(max_iter=2000, C=4.0, random_state=seed)

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> _Embedded:
        self.model.fit(self.embedder.embed(list(texts)), list(labels))
        return self

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.predict(self.embedder.embed(list(texts)))


def make_classifier(name: str = "tfidf", seed: int = 0) -> Any:
    """`tfidf`: word 1-2-grams and character 2-5-grams (sublinear TF-IDF) + logistic regression; `minilm`:
    all-MiniLM-L6-v2 embeddings + logistic regression (the minilm extra)."""
    if name == "tfidf":
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline, make_union

        features = make_union(
            TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=1),
        )
        return make_pipeline(features, LogisticRegression(max_iter=2000, C=4.0, random_state=seed))
    if name == "minilm":
        return _Embedded(seed)
    raise UserError(f"--classifier {name}: use one of {', '.join(CLASSIFIERS)}")


def scores(truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str]) -> tuple[float, float]:
    """(accuracy, macro-F1 over the task's labels that occur in `truth`)."""
    from sklearn.metrics import accuracy_score, f1_score

    present = [label for label in labels if label in set(truth)]
    accuracy = float(accuracy_score(list(truth), list(predicted)))
    macro = float(f1_score(list(truth), list(predicted), labels=present, average="macro", zero_division=0))
    return accuracy, macro
