"""`synthgen evaluate`: does a synthetic dataset teach a classifier anything that holds on real data?

A quick classifier (TF-IDF + logistic regression; MiniLM embeddings + logistic regression with the minilm extra)
is trained on the export's train split and scored (accuracy, macro-F1) on its test split and on the user's real
labelled file, beside the majority baseline and the in-domain ceiling: the same classifier trained on half of
the real file and tested on the other half (both ways, averaged).
"""

from __future__ import annotations

from .classify import CLASSIFIERS, make_classifier, scores
from .data import LabelledTexts, read_export, read_real
from .report import EvaluationReport, Score, confusion_figure, evaluate_splits

__all__ = [
    "CLASSIFIERS",
    "make_classifier",
    "scores",
    "LabelledTexts",
    "read_export",
    "read_real",
    "EvaluationReport",
    "Score",
    "evaluate_splits",
    "confusion_figure",
]
