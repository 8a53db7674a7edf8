"""The offline default: TF-IDF over word and character n-grams, reduced by a seeded TruncatedSVD (LSA).

No download, no torch, a few seconds for tens of thousands of lines. Unlike a neural model it is *fit on the
texts it is given*: vectors from one `embed` call are comparable with each other, not with another call's, so
it is never cached and should be given the whole corpus at once (the cleaner and the topic step do that).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import Embedder, unit_rows


class TfidfEmbedder(Embedder):
    cacheable = False

    def __init__(
        self,
        n_components: int = 128,
        seed: int = 0,
        char_ngrams: tuple[int, int] = (3, 5),
        word_ngrams: tuple[int, int] = (1, 2),
        char_weight: float = 1.0,
        **_: object,
    ):
        super().__init__(cache=False)
        self.n_components = int(n_components)
        self.seed = int(seed)
        self.char_ngrams = tuple(char_ngrams)
        self.word_ngrams = tuple(word_ngrams)
        self.char_weight = float(char_weight)
        self.name = (
            f"tfidf:word{self.word_ngrams[0]}-{self.word_ngrams[1]}+char{self.char_ngrams[0]}-"
            f"{self.char_ngrams[1]}-svd{self.n_components}-seed{self.seed}"
        )

    def _embed_batch(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - embed is overridden
        return self.embed(texts)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        from collections import Counter

        from scipy.sparse import diags, hstack
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = [str(t) for t in texts]
        self.stats["texts"] += len(texts)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        # The vocabulary and idf come from distinct texts, so a line repeated in thousands of answers weighs
        # like any other; each distinct text is vectorised once.
        counts = Counter(texts)
        unique = list(counts)
        index = {t: i for i, t in enumerate(unique)}
        self.stats["computed"] += len(unique)
        parts = []
        word = TfidfVectorizer(
            ngram_range=self.word_ngrams,
            sublinear_tf=True,
            lowercase=True,
            token_pattern=r"(?u)\b\w[\w']*\b",
            dtype=np.float32,
        )
        char = TfidfVectorizer(
            analyzer="char_wb",
            ngram_range=self.char_ngrams,
            sublinear_tf=True,
            lowercase=True,
            min_df=2 if len(unique) > 50 else 1,
            dtype=np.float32,
        )
        for vectorizer, weight in ((word, 1.0), (char, self.char_weight)):
            try:
                parts.append(vectorizer.fit_transform(unique) * weight)
            except ValueError:  # empty vocabulary: texts of punctuation only
                continue
        if not parts:
            return np.zeros((len(texts), 1), dtype=np.float32)
        x = hstack(parts).tocsr()
        dims = min(self.n_components, x.shape[0] - 1, x.shape[1] - 1)
        if dims < 2:
            dense = unit_rows(x.toarray())
        else:
            # The basis is fit on every text, repeats included (a row scaled by sqrt(count) adds to the fit
            # what its `count` copies would). Fit on distinct texts only, the targets (each one new) outgrow the
            # chatter (a few hundred lines, repeated) as a run grows: at 10,000 answers the basis kept 46% of a
            # chatter line's norm against 70% at 500, and "Sure, I'd be happy to help!" came out looking like
            # a target. With repeats the mix, and so the basis, is the same at any run size.
            svd = TruncatedSVD(n_components=dims, algorithm="randomized", n_iter=5, random_state=self.seed)
            weights = np.sqrt(np.array([counts[t] for t in unique], dtype=np.float32))
            svd.fit(diags(weights) @ x)
            dense = unit_rows(svd.transform(x))
        return dense[[index[t] for t in texts]]
