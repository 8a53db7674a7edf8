"""The topic pipeline: embed -> reduce -> KMeans -> describe (size, keywords, representative texts) -> label.

Every step is seeded; the same texts, embedder and seed give the same topics. Only the LLM's answers may vary,
and those only touch labels and the LLM-refined choice of k.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..embed import Embedder
from ..errors import UserError
from ..numeric import unit_rows
from ..text import fold
from . import cluster
from .asker import Asker
from .granularity import llm_choice, silhouette_choice
from .labels import MAX_LABEL_CHARS, build_label_prompt, pick_label, read_prompt
from .permodel import label_views, model_views
from .plot import map_coordinates, plot_map
from .report import Assignment, Document, FoundTopic, KChoice, KScore, TopicReport

KeywordFn = Callable[..., dict[int, list[str]]]
WEAK_SILHOUETTE = 0.1  # below this, even the best k splits texts that do not form separate groups


def weak_structure_warning(choice: KChoice) -> str | None:
    """One line when `--k auto` found no k whose clusters stand apart (every silhouette below WEAK_SILHOUETTE)."""
    if choice.method == "fixed" or not choice.candidates:
        return None
    best = max(c.silhouette for c in choice.candidates)
    if best >= WEAK_SILHOUETTE:
        return None
    low, high = choice.candidates[0].k, choice.candidates[-1].k
    tried = f"k={low}" if low == high else f"k={low}..{high}"
    return (
        f"weak cluster structure: the best silhouette over {tried} is {best:.3f} (below {WEAK_SILHOUETTE}); "
        "these texts do not fall into clearly separate topics, so read the topics as a rough partition"
    )


def _ctfidf(texts: Sequence[str], labels: Sequence[int], top_n: int = 8) -> dict[int, list[str]]:
    from ..keywords import ctfidf_keywords

    return ctfidf_keywords(texts, labels, top_n=top_n)


class TopicModel:
    """Find and name the topics of a set of texts.

    Parameters are set here; `fit` leaves the learned state in attributes with a trailing underscore
    (`embeddings_`, `reduced_`, `labels_`, `report_`) for plotting or a notebook.
    """

    def __init__(
        self,
        embedder: Embedder,
        *,
        k: int | str = "auto",
        seed: int = 0,
        labeler: Asker | None = None,
        n_components: int = 50,
        k_min: int = 2,
        k_max: int = 12,
        n_keywords: int = 8,
        n_examples: int = 3,
        n_prompt_docs: int = 5,
        pair_budget: int = 40,
        duplicate_threshold: float = 0.95,
        max_label_chars: int = MAX_LABEL_CHARS,
        keywords: KeywordFn | None = None,
    ):
        if k != "auto" and not isinstance(k, int):
            raise UserError(f"--k {k}: give a whole number or 'auto'")
        self.embedder = embedder
        self.k = k
        self.seed = seed
        self.labeler = labeler
        self.n_components = n_components
        self.k_min = k_min
        self.k_max = k_max
        self.n_keywords = n_keywords
        self.n_examples = n_examples
        self.n_prompt_docs = n_prompt_docs
        self.pair_budget = pair_budget
        self.duplicate_threshold = duplicate_threshold
        self.max_label_chars = max_label_chars
        self.keywords = keywords or _ctfidf

    # --- the steps ---
    def validate(self, texts: Sequence[str]) -> None:
        """Raise UserError when these texts cannot be clustered as asked (before anything slow happens)."""
        n = len(texts)
        distinct = len({fold(t) for t in texts})
        if n < 2:
            raise UserError(f"need at least 2 texts to find topics, got {n}")
        if self.k == "auto":
            if distinct < 3:
                raise UserError(f"--k auto needs at least 3 distinct texts, got {distinct}; give --k")
            return
        if self.k < 1:
            raise UserError(f"--k {self.k}: give at least 1")
        if self.k > n:
            raise UserError(f"--k {self.k} is larger than the number of texts ({n}); give a smaller k or --k auto")
        if self.k > distinct:
            raise UserError(f"--k {self.k} is larger than the number of distinct texts ({distinct}); give a smaller k")

    def _choose_k(self, x: np.ndarray, texts: Sequence[str]) -> tuple[KChoice, np.ndarray]:
        if self.k != "auto":
            labels, _ = cluster.kmeans(x, self.k, self.seed)
            sil = cluster.silhouette(x, labels, self.seed)
            return KChoice("fixed", self.k, f"given with --k {self.k}", [KScore(self.k, round(sil, 4))]), labels
        distinct = len({fold(t) for t in texts})
        ks = cluster.k_range(distinct, self.k_min, self.k_max) or [2]
        scanned = cluster.scan(x, ks, self.seed)
        silhouettes = {k: s for k, (_, _, s) in scanned.items()}
        partitions = {k: labels for k, (labels, _, _) in scanned.items()}
        if self.labeler is not None and len(ks) > 1:
            choice = llm_choice(partitions, silhouettes, texts, self.labeler, self.pair_budget, self.seed)
        else:
            choice = silhouette_choice(silhouettes)
        return choice, partitions[choice.k]

    def fit(self, documents: Sequence[Document], source: str = "", label_order: Sequence[str] = ()) -> TopicReport:
        """`label_order`: the task's labels, the order of the per-label view (a run's task's, when known)."""
        texts = [d.text for d in documents]
        self.validate(texts)
        embeddings = np.asarray(self.embedder.embed(texts), dtype=np.float32)
        if embeddings.ndim != 2 or embeddings.shape[0] != len(texts):
            raise ValueError(f"embedder {self.embedder.name} returned shape {embeddings.shape} for {len(texts)} texts")
        reduced = cluster.reduce(embeddings, self.n_components, self.seed)
        choice, labels = self._choose_k(reduced, texts)
        k = int(labels.max()) + 1
        keywords = self.keywords(texts, [int(v) for v in labels], top_n=self.n_keywords)
        n_reps = max(self.n_examples, self.n_prompt_docs)
        reps = {t: cluster.representatives(reduced, labels, t, texts, n_reps) for t in range(k)}
        shown = {t: [texts[i] for i in reps[t][: self.n_prompt_docs]] for t in range(k)}  # what the labeler sees
        answers: list[Any] = [None] * k
        template = None
        if self.labeler is not None:
            template = read_prompt("topic-label")
            answers = self.labeler.ask_many(
                [build_label_prompt(shown[t], keywords.get(t, []), template) for t in range(k)]
            )
        topics = []
        for t in range(k):
            words = list(keywords.get(t, []))
            label, label_source, note = pick_label(answers[t], words, self.max_label_chars, shown[t], template)
            size = int(np.sum(labels == t))
            topics.append(
                FoundTopic(
                    id=t,
                    label=label,
                    size=size,
                    share=round(size / len(texts), 4),
                    keywords=words,
                    examples=[texts[i] for i in reps[t][: self.n_examples]],
                    label_source=label_source,
                    label_note=note,
                )
            )
        models = [d.model for d in documents]
        views = model_views(models, labels, unit_rows(embeddings), k, self.duplicate_threshold)
        per_label = label_views([d.label for d in documents], labels, k, label_order)
        self.embeddings_, self.reduced_, self.labels_ = embeddings, reduced, labels
        self.report_ = TopicReport(
            source=source,
            embedder=self.embedder.name,
            seed=self.seed,
            n_texts=len(texts),
            k_choice=choice,
            topics=topics,
            labeler=getattr(self.labeler, "name", None),
            models=views,
            labels=per_label,
            duplicate_threshold=self.duplicate_threshold,
            assignments=[Assignment(d.id, int(t), d.model, d.label) for d, t in zip(documents, labels, strict=True)],
        )
        warning = weak_structure_warning(choice)
        if warning:
            self.report_.warnings.append(warning)
        return self.report_

    def plot(self, path: str | Path, figsize: tuple[float, float] = (10, 7.5)) -> Path:
        """The 2-D map of the last fit, coloured by topic, each label where its topic is densest."""
        if not hasattr(self, "report_"):
            raise RuntimeError("call fit() before plot()")
        report = self.report_
        coords = map_coordinates(self.reduced_, self.seed)
        title = f"{report.n_texts} texts, {report.k} topics ({report.k_choice.method}), embedder {report.embedder}" + (
            f", labels by {report.labeler}" if report.labeler else ""
        )
        return plot_map(coords, self.labels_, [t.label for t in report.topics], path, title, figsize)
