"""Selection, deduplication and splitting: pure functions over `Row`s, so the figures they report are the figures
the card states.

Duplicates are dropped *before* the split, so no text (nor a text that differs only in case, punctuation, quotes or
spacing: `synthgen.text.loose_key`) is in both splits.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError
from ..prompt import SENTIMENTS
from ..store import OK, CleanedText, Record
from ..text import loose_key

# Why a text was left out, in the order the card lists them.
EMPTY, NONE_KEPT, EXACT_DUPLICATE, NEAR_DUPLICATE = "empty", "none_kept", "exact_duplicate", "near_duplicate"
# the checks (export/checked.py): the judges' verdicts, near-duplicates by shingles, the balance after dropping
LABEL_REJECTED, FAILED_VERIFICATION = "label_rejected", "failed_verification"
SIMILAR, REBALANCED = "similar", "rebalanced"
DROP_REASONS = {
    EMPTY: "empty answer",
    NONE_KEPT: "cleaner kept no sentence",
    LABEL_REJECTED: "the judges gave it another label (or too little confidence)",
    FAILED_VERIFICATION: "no answer of the cell passed the judges, the regenerated ones included",
    EXACT_DUPLICATE: "exact duplicate of an earlier text",
    NEAR_DUPLICATE: "near duplicate (same text after lowercasing and removing punctuation, quotes and spaces)",
    SIMILAR: "similar to an earlier text (MinHash/LSH: Jaccard of word 3-shingles at least 0.8)",
    REBALANCED: "left out to keep every label within 2 points of its planned share",
}


@dataclass(frozen=True)
class Row:
    """One exported example."""

    text: str
    label: int  # index into the run's task's labels (the ClassLabel id)
    model: str
    topics: tuple[str, ...]  # "Category: topic", as prompted
    run: str
    record_id: str
    cleaned: bool = False  # True when the text comes from the cleaned layer
    judged: tuple[str | None, float | None] | None = None  # the panel's (label, confidence) where verified
    judge_columns: bool = False  # export them as `judge_label` and `judge_confidence`

    def to_dict(self) -> dict[str, Any]:
        data = {
            "text": self.text,
            "labels": self.label,
            "model": self.model,
            "topics": list(self.topics),
            "run": self.run,
            "record_id": self.record_id,
        }
        if self.judge_columns:
            data["judge_label"], data["judge_confidence"] = self.judged or (None, None)
        return data


@dataclass(frozen=True)
class Dropped:
    """A text left out of the export, and why."""

    record_id: str
    model: str
    reason: str  # one of DROP_REASONS
    text: str | None
    duplicate_of: str | None = None  # the record whose text was kept
    label_conflict: bool = False  # the kept duplicate carries the other label
    verdicts: list[dict[str, Any]] | None = None  # the judges' verdicts on each attempt, for a rejected text
    similarity: float | None = None  # a similar text: its Jaccard (or cosine) with the one kept

    @classmethod
    def duplicate(cls, row: Any, first: Any, reason: str, similarity: float | None = None) -> Dropped:
        """`row` left out as a repeat of `first`, the row that was kept."""
        conflict = first.label != row.label
        return cls(row.record_id, row.model, reason, row.text, first.record_id, conflict, similarity=similarity)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "record_id": self.record_id,
            "model": self.model,
            "reason": self.reason,
            "text": self.text,
            "duplicate_of": self.duplicate_of,
            "label_conflict": self.label_conflict,
        }
        if self.verdicts is not None:
            data["verdicts"] = self.verdicts
        if self.similarity is not None:
            data["similarity"] = self.similarity
        return data


@dataclass
class CleaningFigures:
    """Per model: how many ok answers there were and which layer each exported text came from."""

    answers: int = 0
    cleaned: int = 0  # a cleaned sentence was used
    none_kept: int = 0  # the cleaner kept no sentence: dropped
    raw: int = 0  # no cleaned entry: the raw answer was used
    methods: list[str] = field(default_factory=list)  # cleaner configurations seen, e.g. "kmeans3+pca2 seed=0"


# --- selection -----------------------------------------------------------------------------------------------------


def _topic_strings(topics: Iterable[dict[str, str]]) -> tuple[str, ...]:
    return tuple(f"{t.get('category', '')}: {t.get('topic', '')}" for t in topics or ())


def collect_rows(
    records: Iterable[Record], cleaned: dict[str, CleanedText], labels: Sequence[str] = SENTIMENTS
) -> tuple[list[Row], list[Dropped], dict[str, CleaningFigures]]:
    """The ok answers as rows, the cleaned text replacing the raw answer where the record was cleaned; `labels`
    are the run's task's label names in order (a row's label is its index there).

    Answers that are empty, or where the cleaner kept no sentence, are returned as `Dropped`."""
    index = {name: i for i, name in enumerate(labels)}
    rows: list[Row] = []
    dropped: list[Dropped] = []
    figures: dict[str, CleaningFigures] = {}
    for rec in records:
        if rec.status != OK:
            continue
        if rec.label not in index:
            raise UserError(
                f"record {rec.id} has label {rec.label!r}, which is not one of its run's labels "
                f"({', '.join(labels)}); the store was changed by hand or by other code"
            )
        fig = figures.setdefault(rec.model, CleaningFigures())
        fig.answers += 1
        entry = cleaned.get(rec.id)
        if entry is not None and entry.method and entry.method not in fig.methods:
            fig.methods.append(entry.method)
        if entry is not None and entry.text is None:
            fig.none_kept += 1
            dropped.append(Dropped(rec.id, rec.model, NONE_KEPT, rec.text))
            continue
        if entry is not None:
            fig.cleaned += 1
        else:
            fig.raw += 1
        text = (entry.text if entry is not None else rec.text) or ""
        text = text.strip()
        if not text:
            dropped.append(Dropped(rec.id, rec.model, EMPTY, text))
            continue
        rows.append(
            Row(
                text=text,
                label=index[rec.label],
                model=rec.model,
                topics=_topic_strings(rec.topics),
                run=rec.run_id,
                record_id=rec.id,
                cleaned=entry is not None,
            )
        )
    return rows, dropped, figures


def deduplicate(rows: Sequence[Row]) -> tuple[list[Row], list[Dropped]]:
    """Keep the first of each text (in store order: round, then model); drop exact and near duplicates."""
    kept: list[Row] = []
    dropped: list[Dropped] = []
    by_text: dict[str, Row] = {}
    by_key: dict[str, Row] = {}
    for row in rows:
        key = loose_key(row.text)
        first = by_text.get(row.text)
        reason = EXACT_DUPLICATE
        if first is None:
            first, reason = by_key.get(key), NEAR_DUPLICATE
        if first is not None:
            dropped.append(Dropped.duplicate(row, first, reason))
            continue
        by_text[row.text] = row
        by_key[key] = row
        kept.append(row)
    return kept, dropped


# --- splitting -----------------------------------------------------------------------------------------------------


def _apportion(sizes: dict[Any, int], total: int, rng: random.Random) -> dict[Any, int]:
    """Share `total` among groups in proportion to their sizes (largest remainder; ties broken by `rng`)."""
    whole = sum(sizes.values())
    if whole == 0:
        return dict.fromkeys(sizes, 0)
    ideal = {k: sizes[k] * total / whole for k in sizes}
    quota = {k: math.floor(ideal[k] + 1e-9) for k in sizes}
    ties = {k: rng.random() for k in sorted(sizes, key=str)}
    order = sorted(sizes, key=lambda k: (-(ideal[k] - quota[k]), ties[k]))
    for k in order[: total - sum(quota.values())]:
        quota[k] += 1
    return quota


def split_rows(rows: Sequence[Row], test_size: float, seed: int) -> dict[str, list[Row]]:
    """Train/test split stratified by label, and by model within each label; both splits shuffled.

    The test split gets ceil(test_size * n) rows (at least 1, and at most n - 1); each label gets its share of
    them by largest remainder, so a balanced run yields balanced splits."""
    if len(rows) < 2:
        raise UserError(f"only {len(rows)} text left to export; a train/test split needs at least 2")
    rng = random.Random(seed)
    n_test = min(max(math.ceil(test_size * len(rows) - 1e-9), 1), len(rows) - 1)
    by_label: dict[int, list[Row]] = {}
    for row in rows:
        by_label.setdefault(row.label, []).append(row)
    label_quota = _apportion({k: len(v) for k, v in by_label.items()}, n_test, rng)
    train: list[Row] = []
    test: list[Row] = []
    for label in sorted(by_label):
        by_model: dict[str, list[Row]] = {}
        for row in by_label[label]:
            by_model.setdefault(row.model, []).append(row)
        model_quota = _apportion({k: len(v) for k, v in by_model.items()}, label_quota[label], rng)
        for model in sorted(by_model):
            group = list(by_model[model])
            rng.shuffle(group)
            test.extend(group[: model_quota[model]])
            train.extend(group[model_quota[model] :])
    rng.shuffle(train)
    rng.shuffle(test)
    return {"train": train, "test": test}
