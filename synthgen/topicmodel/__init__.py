"""Named topics of any set of texts: embed, reduce, KMeans, describe each cluster, and let an LLM label it.

from synthgen.embed import get_embedder
from synthgen.topicmodel import TopicModel, read_file

loaded = read_file("answers.jsonl")
model = TopicModel(get_embedder("tfidf"), k="auto", seed=0)
report = model.fit(loaded.documents, source=loaded.source)
print(report.to_json()); model.plot("map.png")
"""

from .asker import Asker, ModelAsker, Reply
from .granularity import build_pair_prompt, control_pairs, llm_choice, parse_yes_no, sample_pairs, silhouette_choice
from .labels import build_label_prompt, clean_label, fallback_label, pick_label
from .permodel import label_views, model_views
from .pipeline import TopicModel
from .report import Assignment, Document, FoundTopic, KChoice, KScore, LabelView, ModelView, TopicReport
from .sources import Loaded, read_dataset, read_file, read_run

__all__ = [
    "TopicModel",
    "TopicReport",
    "FoundTopic",
    "KChoice",
    "KScore",
    "ModelView",
    "LabelView",
    "Assignment",
    "Document",
    "Reply",
    "Asker",
    "ModelAsker",
    "Loaded",
    "read_file",
    "read_dataset",
    "read_run",
    "build_label_prompt",
    "clean_label",
    "fallback_label",
    "pick_label",
    "build_pair_prompt",
    "parse_yes_no",
    "sample_pairs",
    "control_pairs",
    "llm_choice",
    "silhouette_choice",
    "model_views",
    "label_views",
]
