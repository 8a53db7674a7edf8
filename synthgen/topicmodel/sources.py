"""Where the texts come from: a generated run in the store, a JSONL/CSV/Parquet file, or a saved HF dataset."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from ..text import plural
from .report import Document

FILE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".csv", ".parquet")
ID_COLUMNS = ("id", "record_id")  # the first one present names each text in the report; else its row number


@dataclass
class Loaded:
    source: str
    documents: list[Document]
    notes: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)  # the label names in order, when the source knows them


def _documents(rows: Iterable[tuple[Any, ...]], where: str, text_column: str) -> Loaded:
    """Documents from (id, text, model[, label]) rows."""
    docs: list[Document] = []
    rows_seen = empty = 0
    for doc_id, text, model, *label in rows:
        rows_seen += 1
        if not isinstance(text, str) or not text.strip():
            empty += 1
            continue
        named = None if not label or label[0] is None else str(label[0])
        docs.append(Document(str(doc_id), text.strip(), None if model is None else str(model), named))
    if rows_seen == 0:
        raise UserError(f"{where}: no rows; give a file with at least two texts")
    if not docs:
        raise UserError(f"{where}: column '{text_column}' has no non-empty text in {rows_seen} rows")
    notes = [f"{plural(empty, 'row')} without text in '{text_column}' skipped"] if empty else []
    return Loaded(where, docs, notes)


def _missing(where: str, column: str, columns: Iterable[str], flag: str) -> UserError:
    have = ", ".join(sorted(map(str, columns))) or "none"
    return UserError(f"{where}: no column '{column}' (columns: {have}); choose one with {flag}")


def read_file(path: str | Path, text_column: str = "text", model_column: str | None = None) -> Loaded:
    """Texts from a .jsonl/.json/.csv/.parquet file; `model_column`, when the file has it, names each text's model."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"--input {path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise UserError(f"--input {path}: unknown file type '{suffix}'; use {', '.join(FILE_SUFFIXES)}")
    if suffix == ".parquet":
        records, columns = _parquet(path, text_column, model_column)
    elif suffix == ".csv":
        records, columns = _csv(path)
    else:
        records, columns = _json(path, suffix)
    if records and text_column not in columns:
        raise _missing(str(path), text_column, columns, "--text-column")
    use_model = model_column if model_column and model_column in columns else None
    id_column = next((c for c in ID_COLUMNS if c in columns), None)
    rows = (
        (r.get(id_column, i) if id_column else i, r.get(text_column), r.get(use_model) if use_model else None)
        for i, r in enumerate(records)
    )
    return _documents(rows, str(path), text_column)


def _json(path: Path, suffix: str) -> tuple[list[dict], set[str]]:
    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"--input {path}: cannot read ({exc})") from None
    if suffix == ".json" and raw.lstrip().startswith("["):
        try:
            records = json.loads(raw)
        except ValueError as exc:
            raise UserError(f"--input {path}: not valid JSON ({exc})") from None
        numbered = list(enumerate(records, 1))
    else:
        numbered = []
        for n, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                numbered.append((n, json.loads(line)))
            except ValueError as exc:
                raise UserError(f"--input {path}: line {n} is not valid JSON ({exc.args[0]})") from None
    columns: set[str] = set()
    for n, record in numbered:
        if not isinstance(record, dict):
            raise UserError(f"--input {path}: record {n} is not a JSON object; write one object per line")
        columns.update(record)
    return [r for _, r in numbered], columns


def _csv(path: Path) -> tuple[list[dict], set[str]]:
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            records = list(reader)
            columns = set(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"--input {path}: cannot read CSV ({exc})") from None
    return records, columns


def _parquet(path: Path, text_column: str, model_column: str | None) -> tuple[list[dict], set[str]]:
    import pyarrow.parquet as pq

    try:
        schema = pq.read_schema(path)
        columns = set(schema.names)
        if text_column not in columns:
            raise _missing(str(path), text_column, columns, "--text-column")
        wanted = [c for c in (*ID_COLUMNS, text_column, model_column) if c and c in columns]
        table = pq.read_table(path, columns=list(dict.fromkeys(wanted)))
    except UserError:
        raise
    except Exception as exc:  # pyarrow raises several types for a damaged or non-parquet file
        raise UserError(f"--input {path}: cannot read Parquet ({exc})") from None
    return table.to_pylist(), columns


def read_dataset(directory: str | Path, text_column: str = "text", model_column: str | None = None) -> Loaded:
    """Every split of a `datasets.save_to_disk` directory (a DatasetDict or a single Dataset)."""
    path = Path(directory)
    if not path.is_dir():
        raise UserError(f"--dataset {path}: no such directory; give a folder written by save_to_disk")
    import datasets

    try:
        loaded = datasets.load_from_disk(str(path))
    except (FileNotFoundError, ValueError) as exc:
        raise UserError(f"--dataset {path}: not a saved Hugging Face dataset ({exc})") from None
    splits = dict(loaded) if isinstance(loaded, datasets.DatasetDict) else {"": loaded}
    names: list[str] = []
    for ds in splits.values():  # an export's `labels` ClassLabel: its names, in order
        feature = ds.features.get("labels")
        names = list(getattr(feature, "names", None) or names)

    def rows() -> Iterator[tuple[Any, ...]]:
        for split, ds in splits.items():
            if text_column not in ds.column_names:
                where = f"--dataset {path}" + (f" split '{split}'" if split else "")
                raise _missing(where, text_column, ds.column_names, "--text-column")
            has_model = bool(model_column) and model_column in ds.column_names
            id_column = next((c for c in ID_COLUMNS if c in ds.column_names), None)
            label_of = getattr(ds.features.get("labels"), "int2str", None)
            for i, row in enumerate(ds):
                doc_id = row[id_column] if id_column else (f"{split}/{i}" if split else i)
                label = label_of(row["labels"]) if label_of is not None and row["labels"] is not None else None
                yield doc_id, row[text_column], row[model_column] if has_model else None, label

    loaded = _documents(rows(), f"--dataset {path}", text_column)
    loaded.labels = names
    return loaded


def read_run(store_url: str | None, run_id: str | None) -> Loaded:
    """A run's ok answers, with each record's cleaned text in place of the raw answer where the cleaner wrote one.

    Answers the cleaner rejected (a cleaned entry without text) are left out: nothing in them was worth keeping.
    """
    from ..store import open_store

    with open_store(store_url, create=False) as store:
        run = store.resolve_run(run_id)
        cleaned = store.cleaned(run.run_id)
        docs: list[Document] = []
        rejected = empty = used_clean = 0
        for rec in store.records(run.run_id, status="ok"):
            text = rec.text
            if rec.id in cleaned:
                text = cleaned[rec.id].text
                if text is None:
                    rejected += 1
                    continue
                used_clean += 1
            if not text or not text.strip():
                empty += 1
                continue
            docs.append(Document(rec.id, text.strip(), rec.model, rec.label))
        where = f"run {run.run_id}"
        names = list(run.task_info().names)
    if not docs:
        raise UserError(f"{where}: no ok answers with text to cluster; see `synthgen runs`")
    notes = []
    if used_clean:
        notes.append(f"cleaned texts used for {plural(used_clean, 'answer')}")
    if rejected:
        notes.append(f"{plural(rejected, 'answer')} the cleaner rejected left out")
    if empty:
        notes.append(f"{plural(empty, 'empty answer')} left out")
    return Loaded(where, docs, notes, names)
