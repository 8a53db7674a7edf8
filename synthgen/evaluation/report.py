"""Train on the synthetic train split; score on its test split and on real data, beside a baseline and a ceiling."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from .classify import make_classifier, scores
from .data import LabelledTexts

if TYPE_CHECKING:
    from matplotlib.figure import Figure


@dataclass
class Score:
    name: str  # what was trained on -> what was scored
    trained: int
    tested: int
    accuracy: float
    macro_f1: float


@dataclass
class EvaluationReport:
    classifier: str
    labels: list[str]
    source: str  # the run or the export folder
    real_file: str
    scores: list[Score] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)  # real file: rows truth, columns predicted
    notes: list[str] = field(default_factory=list)

    def score(self, prefix: str) -> Score | None:
        return next((s for s in self.scores if s.name.startswith(prefix)), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "classifier": self.classifier,
            "labels": self.labels,
            "source": self.source,
            "real_file": self.real_file,
            "scores": [asdict(s) for s in self.scores],
            "confusion": {"labels": self.labels, "rows_truth_columns_predicted": self.confusion},
            "notes": self.notes,
        }


def _halves(data: LabelledTexts, seed: int) -> tuple[LabelledTexts, LabelledTexts]:
    """A stratified half split of the real file (seeded)."""
    import random

    rng = random.Random(seed)
    by_label: dict[str, list[int]] = {}
    for i, label in enumerate(data.labels):
        by_label.setdefault(label, []).append(i)
    first: list[int] = []
    for label in sorted(by_label):
        indexes = by_label[label]
        rng.shuffle(indexes)
        first += indexes[: (len(indexes) + rng.randrange(2)) // 2]
    chosen = set(first)
    a = LabelledTexts([data.texts[i] for i in sorted(chosen)], [data.labels[i] for i in sorted(chosen)])
    rest = [i for i in range(len(data)) if i not in chosen]
    b = LabelledTexts([data.texts[i] for i in rest], [data.labels[i] for i in rest])
    return a, b


def evaluate_splits(
    train: LabelledTexts,
    test: LabelledTexts | None,
    real: LabelledTexts,
    labels: Sequence[str],
    *,
    classifier: str = "tfidf",
    seed: int = 0,
    source: str = "",
    real_file: str = "",
) -> EvaluationReport:
    if len(set(train.labels)) < 2:
        raise UserError(f"{source}: the train split holds {len(set(train.labels))} label; a classifier needs two")
    report = EvaluationReport(classifier, list(labels), source, real_file)
    model = make_classifier(classifier, seed).fit(train.texts, train.labels)
    if test is not None and len(test):
        synthetic = _score(model, test, labels)
        report.scores.append(Score("synthetic train -> synthetic test", len(train), len(test), *synthetic))
    predicted = list(model.predict(real.texts))
    accuracy, macro = scores(real.labels, predicted, labels)
    report.scores.append(Score("synthetic train -> real file", len(train), len(real), accuracy, macro))
    majority = Counter(real.labels).most_common(1)[0][0]
    baseline = scores(real.labels, [majority] * len(real), labels)
    report.scores.append(Score(f"majority baseline (always {majority}) -> real file", 0, len(real), *baseline))
    a, b = _halves(real, seed)
    if len(set(a.labels)) > 1 and len(set(b.labels)) > 1:
        there = _score(make_classifier(classifier, seed).fit(a.texts, a.labels), b, labels)
        back = _score(make_classifier(classifier, seed).fit(b.texts, b.labels), a, labels)
        report.scores.append(
            Score(
                "in-domain ceiling: half the real file -> the other half (both ways, mean)",
                (len(a) + len(b)) // 2,
                (len(a) + len(b)) // 2,
                (there[0] + back[0]) / 2,
                (there[1] + back[1]) / 2,
            )
        )
    index = {label: i for i, label in enumerate(labels)}
    report.confusion = [[0] * len(labels) for _ in labels]
    for truth, guess in zip(real.labels, predicted, strict=True):
        report.confusion[index[truth]][index[guess]] += 1
    return report


def _score(model: Any, data: LabelledTexts, labels: Sequence[str]) -> tuple[float, float]:
    return scores(data.labels, list(model.predict(data.texts)), labels)


def confusion_figure(report: EvaluationReport) -> Figure:
    """The real file's confusion matrix for the classifier trained on the synthetic data."""
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    matrix = np.array(report.confusion)
    size = 1.0 + 0.7 * len(report.labels)
    fig = Figure(figsize=(size + 1.5, size + 0.8), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.imshow(matrix, cmap="Blues")
    for (i, j), n in np.ndenumerate(matrix):
        ax.text(j, i, str(n), ha="center", va="center", color="white" if n > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(report.labels)), report.labels, rotation=30, ha="right")
    ax.set_yticks(range(len(report.labels)), report.labels)
    ax.set_xlabel("predicted (trained on the synthetic train split)")
    ax.set_ylabel("real label")
    real = report.score("synthetic train -> real")
    accuracy = f": accuracy {real.accuracy:.3f}, macro-F1 {real.macro_f1:.3f}" if real else ""
    ax.set_title(f"{report.classifier} on {report.real_file}{accuracy}", fontsize=8)
    return fig
