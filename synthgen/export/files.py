"""The files of an export: the splits in each format, the card, the dropped texts and the manifest.

Columns: `text` (string), `labels` (`ClassLabel` with the run's task's label names, in order), and provenance:
`model` (the catalog alias), `topics` (list of "Category: topic" strings, exactly as prompted; a JSON array
string in CSV files, which have no lists), `run` (run id), `record_id` (the store record, `RUN/ROUND/MODEL`).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..prompt import SENTIMENTS
from .rows import Dropped, Row

if TYPE_CHECKING:  # datasets is imported only when a dataset is built: it takes seconds
    from datasets import DatasetDict, Features

FORMATS = ("disk", "parquet", "jsonl", "csv")
MANIFEST = "export.json"  # marks a folder as a synthgen export, so a later export may replace it
CARD = "README.md"
DROPPED_FILE = "dropped.jsonl"


def features(format: str = "disk", labels: Sequence[str] = SENTIMENTS, judge: bool = False) -> Features:
    """The columns' features (`labels`: the task's label names, in order); in CSV files (no list type) `topics`
    is a JSON array string. `judge`: the optional `judge_label` and `judge_confidence` columns too."""
    from datasets import ClassLabel, Features, Sequence, Value

    topics = Value("string") if format == "csv" else Sequence(Value("string"))
    columns = {
        "text": Value("string"),
        "labels": ClassLabel(names=list(labels)),
        "model": Value("string"),
        "topics": topics,
        "run": Value("string"),
        "record_id": Value("string"),
    }
    if judge:
        columns.update(judge_label=Value("string"), judge_confidence=Value("float64"))
    return Features(columns)


def has_judge_columns(splits: dict[str, list[Row]]) -> bool:
    return any(row.judge_columns for rows in splits.values() for row in rows)


def build_dataset(splits: dict[str, list[Row]], labels: Sequence[str] = SENTIMENTS) -> DatasetDict:
    from datasets import Dataset, DatasetDict

    feats = features(labels=labels, judge=has_judge_columns(splits))
    columns = list(feats)
    out = {}
    for name, rows in splits.items():
        dicts = [row.to_dict() for row in rows]
        out[name] = Dataset.from_dict({c: [d[c] for d in dicts] for c in columns}, features=feats)
    return DatasetDict(out)


def write_export(
    folder: Path,
    dataset: DatasetDict,
    splits: dict[str, list[Row]],
    fmt: str,
    card: str,
    dropped: Sequence[Dropped],
    manifest: dict[str, Any],
) -> list[str]:
    """Write the whole export into `folder` (a new, empty one); returns the names written, the manifest last.

    The manifest lists every name, so a later export knows which entries of the folder are its own."""
    names = write_dataset(dataset, splits, folder, fmt)
    (folder / CARD).write_text(card, encoding="utf-8")
    write_dropped(folder / DROPPED_FILE, dropped)
    names += [CARD, DROPPED_FILE, MANIFEST]
    write_manifest(folder / MANIFEST, {**manifest, "files": names})
    return names


def write_dropped(path: Path, dropped: Sequence[Dropped]) -> None:
    with path.open("w", encoding="utf-8") as fh:
        for item in dropped:
            fh.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    """The manifest of an earlier export in `folder`, or None when there is none (or it cannot be read)."""
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_dataset(dataset: DatasetDict, splits: dict[str, list[Row]], out: Path, fmt: str) -> list[str]:
    """Write the splits in `fmt`; returns the names written under `out`."""
    import datasets

    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()  # the CLI reports what was written; restored for the caller below
    try:
        return _write(dataset, splits, out, fmt)
    finally:
        if not quiet:
            datasets.enable_progress_bars()


def _write(dataset: DatasetDict, splits: dict[str, list[Row]], out: Path, fmt: str) -> list[str]:
    if fmt == "disk":
        dataset.save_to_disk(str(out))
        return ["dataset_dict.json", *dataset.keys()]
    names = []
    for split, rows in splits.items():
        path = out / f"{split}.{fmt}"
        if fmt == "parquet":
            dataset[split].to_parquet(str(path))
        elif fmt == "jsonl":
            with path.open("w", encoding="utf-8") as fh:
                for row in rows:
                    fh.write(json.dumps(row.to_dict(), ensure_ascii=False) + "\n")
        else:  # csv: no list type, so topics is a JSON array string
            with path.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=dataset[split].column_names)
                writer.writeheader()
                for row in rows:
                    data = row.to_dict()
                    data["topics"] = json.dumps(data["topics"], ensure_ascii=False)
                    writer.writerow(data)
        names.append(path.name)
    return names
