"""The texts evaluate reads: the user's real labelled file (CSV or JSON Lines, labels by name) and an export."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError


@dataclass
class LabelledTexts:
    texts: list[str]
    labels: list[str]  # label names

    def __len__(self) -> int:
        return len(self.texts)


def _rows(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            with path.open(encoding="utf-8", newline="") as fh:
                return list(csv.DictReader(fh))
        if suffix in (".jsonl", ".json", ".ndjson"):
            lines = path.read_text(encoding="utf-8").splitlines()
            rows = [json.loads(line) for line in lines if line.strip()]
            if len(rows) == 1 and isinstance(rows[0], list):  # a .json file holding one array
                rows = rows[0]
            return [r for r in rows if isinstance(r, dict)]
    except FileNotFoundError:
        raise UserError(f"--real {path}: no such file") from None
    except UnicodeDecodeError:
        raise UserError(f"--real {path}: not UTF-8 text") from None
    except (OSError, ValueError, csv.Error) as exc:
        raise UserError(f"--real {path}: cannot read it ({exc})") from None
    raise UserError(f"--real {path}: give a .csv or .jsonl file")


def read_real(
    path: str | Path, task_labels: Sequence[str], text_column: str = "text", label_column: str = "label"
) -> LabelledTexts:
    """The real file's texts and label names; UserError for a missing column, an empty file, or a label the
    task does not have (one line naming them)."""
    path = Path(path)
    rows = _rows(path)
    if not rows:
        raise UserError(f"--real {path}: no rows")
    for column, flag in ((text_column, "--text-column"), (label_column, "--label-column")):
        if column not in rows[0]:
            raise UserError(f"--real {path}: no column {column!r} ({flag}); columns: {', '.join(map(str, rows[0]))}")
    texts, labels = [], []
    for row in rows:
        text, label = row.get(text_column), row.get(label_column)
        if not isinstance(text, str) or not text.strip() or label is None:
            continue
        texts.append(text.strip())
        labels.append(str(label).strip().lower())
    unknown = sorted(set(labels) - set(task_labels))
    if unknown:
        raise UserError(
            f"--real {path}: label(s) {', '.join(unknown)} are not labels of the dataset's task "
            f"({', '.join(task_labels)}); relabel them or drop those rows"
        )
    if len(texts) < 4:
        raise UserError(f"--real {path}: {len(texts)} labelled texts; give at least 4")
    return LabelledTexts(texts, labels)


def read_export(folder: str | Path) -> tuple[list[str], dict[str, LabelledTexts]]:
    """An export folder (`synthgen export --out`, any format): its label names and its splits."""
    import datasets

    folder = Path(folder)
    manifest = folder / "export.json"
    if not manifest.is_file():
        raise UserError(f"--data {folder}: not a synthgen export (no export.json); write one with synthgen export")
    fmt = json.loads(manifest.read_text(encoding="utf-8")).get("format", "disk")
    quiet = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        data = datasets.load_from_disk(str(folder)) if fmt == "disk" else datasets.load_dataset(str(folder))
    except Exception as exc:  # noqa: BLE001 - any way the files fail to load is one line
        raise UserError(f"--data {folder}: cannot load the export ({type(exc).__name__}: {exc})") from None
    finally:
        if not quiet:
            datasets.enable_progress_bars()
    names = list(data["train"].features["labels"].names)
    splits = {
        split: LabelledTexts(list(part["text"]), [names[i] for i in part["labels"]]) for split, part in data.items()
    }
    return names, splits
