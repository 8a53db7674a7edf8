"""What a topic run found, as dataclasses that serialise to JSON: topics, how k was chosen, the per-model and
per-label views."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Document:
    """One text to cluster. `model` is the alias that wrote it, when known (a generated run, a `model` column);
    `label` the label it was written for (a generated run, an exported dataset's `labels`)."""

    id: str
    text: str
    model: str | None = None
    label: str | None = None


@dataclass
class FoundTopic:
    """One topic the topic model found (not `synthgen.prompt.Topic`, a topic a prompt asks about)."""

    id: int  # 0 is the largest topic
    label: str
    size: int
    share: float
    keywords: list[str]
    examples: list[str]  # the texts nearest the topic's centre, nearest first
    label_source: str = "keywords"  # "llm" when a model wrote the label, else the top keywords
    label_note: str = ""  # why the model's label was not used, when it was not


@dataclass
class KScore:
    """One candidate number of clusters and the evidence for it."""

    k: int
    silhouette: float
    llm_agreement: float | None = None  # share of answered pair questions this partition agrees with
    llm_pairs: int = 0  # answered pair questions it was scored on


@dataclass
class KChoice:
    method: str  # "fixed", "silhouette" or "silhouette+llm"
    k: int
    reason: str
    candidates: list[KScore] = field(default_factory=list)
    questions: int = 0  # pair questions asked, controls included
    answered: int = 0  # of which the model answered a clear yes or no
    yes: int = 0
    controls: int = 0  # questions whose answer every candidate k agrees on: a check of the model, not of k
    controls_passed: int = 0


@dataclass
class ModelView:
    """How one model's texts spread over the topics, how many of them another model also wrote, and how many
    repeat the model's own earlier texts."""

    model: str
    n_texts: int
    topic_share: list[float]  # by topic id
    topic_entropy: float  # 0 = all in one topic, 1 = evenly over all topics
    near_duplicates: int  # texts with a near-duplicate written by another model
    near_duplicate_pairs: dict[str, int] = field(default_factory=dict)  # other model -> near-duplicate pairs
    self_duplicates: int = 0  # texts that nearly repeat an earlier text of the same model
    unique_texts: int | None = None  # texts that are neither; None in reports written before self_duplicates

    @property
    def unique_share(self) -> float:
        if not self.n_texts:
            return 0.0
        if self.unique_texts is None:
            return 1.0 - self.near_duplicates / self.n_texts
        return self.unique_texts / self.n_texts


@dataclass
class LabelView:
    """How the texts of one label spread over the topics: what a label's texts are about, and whether one label
    keeps to a few topics while another spreads."""

    label: str
    n_texts: int
    topic_share: list[float]  # by topic id
    topic_entropy: float  # 0 = all in one topic, 1 = evenly over all topics


@dataclass
class Assignment:
    id: str
    topic: int
    model: str | None = None
    label: str | None = None


@dataclass
class TopicReport:
    source: str
    embedder: str
    seed: int
    n_texts: int
    k_choice: KChoice
    topics: list[FoundTopic]
    labeler: str | None = None
    models: list[ModelView] = field(default_factory=list)
    labels: list[LabelView] = field(default_factory=list)  # per label, in the task's order
    duplicate_threshold: float = 0.95
    assignments: list[Assignment] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # one line each, e.g. weak cluster structure

    @property
    def k(self) -> int:
        return len(self.topics)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["k"] = self.k
        for view, out in zip(self.models, data["models"], strict=True):
            out["unique_share"] = round(view.unique_share, 4)
        return data

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=indent)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TopicReport:
        choice = dict(data["k_choice"])
        choice["candidates"] = [KScore(**c) for c in choice.get("candidates", [])]
        models = []
        for m in data.get("models", []):
            models.append(ModelView(**{k: v for k, v in m.items() if k != "unique_share"}))
        return cls(
            source=data["source"],
            embedder=data["embedder"],
            seed=data["seed"],
            n_texts=data["n_texts"],
            k_choice=KChoice(**choice),
            topics=[FoundTopic(**t) for t in data["topics"]],
            labeler=data.get("labeler"),
            models=models,
            labels=[LabelView(**v) for v in data.get("labels", [])],
            duplicate_threshold=data.get("duplicate_threshold", 0.95),
            assignments=[Assignment(**a) for a in data.get("assignments", [])],
            notes=list(data.get("notes", [])),
            warnings=list(data.get("warnings", [])),
        )
