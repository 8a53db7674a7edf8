"""How varied a dataset's texts are, per model and per label, and overall.

- distinct-1/2/3: distinct word n-grams over all n-grams of the group (Li et al., 2016): 1.0 when no n-gram
  repeats, low when the texts reuse the same phrases;
- mean pairwise similarity: the mean cosine of every pair of the group's texts, embedded together (TF-IDF by
  default, fit on all the texts compared): high when the texts say the same thing;
- lengths in words: mean and the 10th, 50th and 90th percentiles;
- topic mention: of the topics each text was prompted with, the share its words mention (a topic counts as
  mentioned when one of its content words, or a word sharing its first five letters, is in the text);
- vocabulary: distinct words of the group.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..text import plain_words

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from ..embed import Embedder

_STOP = frozenset(
    "a an and the of in on at to for with from by or vs as is are be its it this that into over under new "
    "one some any".split()
)


@dataclass
class GroupDiversity:
    texts: int
    distinct_1: float
    distinct_2: float
    distinct_3: float
    mean_similarity: float | None  # None for fewer than two texts
    length_mean: float
    length_p10: float
    length_p50: float
    length_p90: float
    topic_mention: float | None  # None when no text had topics
    vocabulary: int


@dataclass
class DiversityReport:
    embedder: str
    overall: GroupDiversity
    per_model: dict[str, GroupDiversity] = field(default_factory=dict)
    per_label: dict[str, GroupDiversity] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "embedder": self.embedder,
            "overall": asdict(self.overall),
            "per_model": {k: asdict(v) for k, v in self.per_model.items()},
            "per_label": {k: asdict(v) for k, v in self.per_label.items()},
        }


def _distinct(tokens: list[list[str]], n: int) -> float:
    grams = [tuple(words[i : i + n]) for words in tokens for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def _topic_words(topic: str) -> list[str]:
    topic = topic.partition(": ")[2] or topic  # "Category: topic" as exported, or the topic alone
    return [w for w in plain_words(topic).split() if len(w) >= 3 and w not in _STOP]


def mentions(text_words: set[str], topic: str) -> bool:
    prefixes = {w[:5] for w in text_words if len(w) >= 5}
    for word in _topic_words(topic):
        if word in text_words or (len(word) >= 5 and word[:5] in prefixes):
            return True
    return False


def _mean_similarity(vectors: np.ndarray) -> float | None:
    n = len(vectors)
    if n < 2:
        return None
    total = vectors.sum(axis=0)
    return float((total @ total - (vectors * vectors).sum()) / (n * (n - 1)))


def group_diversity(
    texts: Sequence[str], topics: Sequence[Sequence[str]], vectors: np.ndarray | None = None
) -> GroupDiversity:
    tokens = [plain_words(t, keep_apostrophes=True).split() for t in texts]
    lengths = np.array([len(words) for words in tokens] or [0], dtype=float)
    asked = mentioned = 0
    for words, wanted in zip(tokens, topics, strict=True):
        seen = set(words)
        for topic in wanted:
            asked += 1
            mentioned += mentions(seen, topic)
    p10, p50, p90 = np.percentile(lengths, [10, 50, 90])
    return GroupDiversity(
        texts=len(texts),
        distinct_1=round(_distinct(tokens, 1), 4),
        distinct_2=round(_distinct(tokens, 2), 4),
        distinct_3=round(_distinct(tokens, 3), 4),
        mean_similarity=None if vectors is None else _round(_mean_similarity(vectors)),
        length_mean=round(float(lengths.mean()), 2),
        length_p10=float(p10),
        length_p50=float(p50),
        length_p90=float(p90),
        topic_mention=round(mentioned / asked, 4) if asked else None,
        vocabulary=len({w for words in tokens for w in words}),
    )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def diversity_report(
    texts: Sequence[str],
    models: Sequence[str],
    labels: Sequence[str],
    topics: Sequence[Sequence[str]],
    *,
    embedder: Embedder | None = None,
    label_order: Sequence[str] = (),
) -> DiversityReport:
    """Diversity of these texts (each with its model, label and prompted topics): overall, per model, per label.
    The texts are embedded once, together (`embedder`, default TF-IDF)."""
    from ..embed import get_embedder

    embedder = embedder or get_embedder("tfidf", seed=0)
    vectors = None
    if len(texts) >= 2:
        vectors = np.asarray(embedder.embed(list(texts)), dtype=np.float64)
        vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def group(indexes: list[int]) -> GroupDiversity:
        part = vectors[indexes] if vectors is not None else None
        return group_diversity([texts[i] for i in indexes], [topics[i] for i in indexes], part)

    report = DiversityReport(re.sub(r"-seed\d+$", "", embedder.name), group(list(range(len(texts)))))
    for key, values, out in ((models, models, report.per_model), (labels, labels, report.per_label)):
        order = list(dict.fromkeys([*(label_order if key is labels else ()), *values]))
        for name in order:
            indexes = [i for i, v in enumerate(values) if v == name]
            if indexes:
                out[name] = group(indexes)
    return report


def diversity_figure(report: DiversityReport, title: str = "") -> Figure:
    """One plot: distinct-2, topic mention and mean pairwise similarity, per model and per label."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups = [(f"model {k}", v) for k, v in report.per_model.items()]
    groups += [(f"label {k}", v) for k, v in report.per_label.items()]
    fig = Figure(figsize=(max(5.0, 0.9 * len(groups) + 2.5), 4.4), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    measures = (
        ("distinct-2", "distinct_2", "#4c72b0"),
        ("topic mention", "topic_mention", "#55a868"),
        (f"mean similarity ({report.embedder.split(':')[0]})", "mean_similarity", "#c44e52"),
    )
    width = 0.8 / len(measures)
    for i, (name, attr, colour) in enumerate(measures):
        xs = [j + (i - 1) * width for j in range(len(groups))]
        heights = [getattr(g, attr) or 0.0 for _, g in groups]
        bars = ax.bar(xs, heights, width, label=name, color=colour)
        ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([name for name, _ in groups], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.set_title("Diversity per model and label")
    ax.spines[["top", "right"]].set_visible(False)
    fig.legend(loc="outside lower center", ncols=3, frameon=False, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=8, color="grey")
    return fig
