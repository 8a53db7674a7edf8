"""Export: a run's answers (cleaned where a model was cleaned) -> deduplicated, stratified train/test `DatasetDict`.

    >>> from synthgen.api import export_dataset
    >>> result = export_dataset(run="last", out="data/", store="sqlite:///synthgen.db")
    >>> result.dataset["train"].features["labels"].names
    ['negative', 'positive']

Selection, deduplication and splitting are pure functions over `Row`s (`collect_rows`, `deduplicate`,
`split_rows`), so the figures they report are the figures the card states. Duplicates are dropped *before* the split,
so no text (nor a text that differs only in case, punctuation, quotes or spacing) is in both splits.

Columns: `text` (string), `labels` (`ClassLabel(names=["negative", "positive"])`), and provenance: `model` (the
catalog alias), `topics` (list of "Category: topic" strings, exactly as prompted; a JSON array string in CSV files,
which have no lists), `run` (run id), `record_id` (the store record, `RUN/ROUND/MODEL`).

The card's YAML carries `dataset_info.features` for the format written (`labels` a `class_label`; `topics` a list of
strings, or a string in CSV), so `datasets.load_dataset(out)` gives the same features as the `DatasetDict`.

The Hub is reached through one function, `upload` (which asks `hub_visibility` first), so tests (and callers with
their own transport) patch exactly it, or only the visibility question.
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
import re
import shutil
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .catalog import Catalog, ModelSpec, load_catalog
from .errors import UserError
from .paths import check_writable
from .secrets import redact
from .store import OK, CleanedText, Record, RunInfo, Store, open_store, utc_now
from .text import plural, shorten

if TYPE_CHECKING:  # datasets is imported only when a dataset is built: it takes seconds
    from datasets import DatasetDict

    from .prompt import Template

LABELS = ("negative", "positive")
FORMATS = ("disk", "parquet", "jsonl", "csv")
MANIFEST = "export.json"  # marks a folder as a synthgen export, so a later export may replace it
CARD = "README.md"
DROPPED_FILE = "dropped.jsonl"

# Why a text was left out, in the order the card lists them.
EMPTY, NONE_KEPT, EXACT_DUPLICATE, NEAR_DUPLICATE = "empty", "none_kept", "exact_duplicate", "near_duplicate"
DROP_REASONS = {
    EMPTY: "empty answer",
    NONE_KEPT: "cleaner kept no sentence",
    EXACT_DUPLICATE: "exact duplicate of an earlier text",
    NEAR_DUPLICATE: "near duplicate (same text after lowercasing and removing punctuation, quotes and spaces)",
}


@dataclass(frozen=True)
class Row:
    """One exported example."""

    text: str
    label: int  # index into LABELS
    model: str
    topics: tuple[str, ...]  # "Category: topic", as prompted
    run: str
    record_id: str
    cleaned: bool = False  # True when the text comes from the cleaned layer

    def to_dict(self) -> dict[str, Any]:
        return {"text": self.text, "labels": self.label, "model": self.model, "topics": list(self.topics),
                "run": self.run, "record_id": self.record_id}


@dataclass(frozen=True)
class Dropped:
    """A text left out of the export, and why."""

    record_id: str
    model: str
    reason: str  # one of DROP_REASONS
    text: str | None
    duplicate_of: str | None = None  # the record whose text was kept
    label_conflict: bool = False  # the kept duplicate carries the other label

    def to_dict(self) -> dict[str, Any]:
        return {"record_id": self.record_id, "model": self.model, "reason": self.reason, "text": self.text,
                "duplicate_of": self.duplicate_of, "label_conflict": self.label_conflict}


@dataclass
class CleaningFigures:
    """Per model: how many ok answers there were and which layer each exported text came from."""

    answers: int = 0
    cleaned: int = 0  # a cleaned sentence was used
    none_kept: int = 0  # the cleaner kept no sentence: dropped
    raw: int = 0  # no cleaned entry: the raw answer was used
    methods: list[str] = field(default_factory=list)  # cleaner configurations seen, e.g. "kmeans3+pca2 seed=0"


@dataclass
class ExportResult:
    """What an export made. `dataset` is the `DatasetDict`; `card` the dataset card (README.md) text."""

    run: RunInfo
    dataset: DatasetDict
    card: str
    splits: dict[str, list[Row]]
    dropped: list[Dropped]
    cleaning: dict[str, CleaningFigures]
    test_size: float
    seed: int
    format: str
    out: Path | None = None
    files: list[Path] = field(default_factory=list)
    pushed_to: str | None = None
    pushed_private: bool | None = None  # the Hub repository's visibility after the push

    @property
    def kept(self) -> int:
        return sum(len(rows) for rows in self.splits.values())

    def drop_counts(self) -> dict[str, int]:
        counts = Counter(d.reason for d in self.dropped)
        return {reason: counts[reason] for reason in DROP_REASONS if counts[reason]}

    def label_counts(self, split: str) -> dict[str, int]:
        counts = Counter(row.label for row in self.splits[split])
        return {name: counts[i] for i, name in enumerate(LABELS)}

    def model_label_counts(self) -> dict[str, dict[str, int]]:
        """model -> label name -> exported texts (both splits)."""
        out: dict[str, dict[str, int]] = {}
        for rows in self.splits.values():
            for row in rows:
                by = out.setdefault(row.model, dict.fromkeys(LABELS, 0))
                by[LABELS[row.label]] += 1
        return out


# --- selection -----------------------------------------------------------------------------------------------------

def _topic_strings(topics: Iterable[dict[str, str]]) -> tuple[str, ...]:
    return tuple(f"{t.get('category', '')}: {t.get('topic', '')}" for t in topics or ())


def collect_rows(records: Iterable[Record], cleaned: dict[str, CleanedText]
                 ) -> tuple[list[Row], list[Dropped], dict[str, CleaningFigures]]:
    """The ok answers as rows, the cleaned text replacing the raw answer where the record was cleaned.

    Answers that are empty, or where the cleaner kept no sentence, are returned as `Dropped`."""
    rows: list[Row] = []
    dropped: list[Dropped] = []
    figures: dict[str, CleaningFigures] = {}
    for rec in records:
        if rec.status != OK:
            continue
        if rec.sentiment not in LABELS:
            raise UserError(f"record {rec.id} has sentiment {rec.sentiment!r}; export labels are "
                            f"{' and '.join(LABELS)} only")
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
        rows.append(Row(text=text, label=LABELS.index(rec.sentiment), model=rec.model,
                        topics=_topic_strings(rec.topics), run=rec.run_id, record_id=rec.id,
                        cleaned=entry is not None))
    return rows, dropped, figures


def normalise(text: str) -> str:
    """The near-duplicate key: case-folded, without punctuation (quotes included), symbols' spacing or whitespace."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and not unicodedata.category(ch).startswith("P"))


def deduplicate(rows: Sequence[Row]) -> tuple[list[Row], list[Dropped]]:
    """Keep the first of each text (in store order: round, then model); drop exact and near duplicates."""
    kept: list[Row] = []
    dropped: list[Dropped] = []
    by_text: dict[str, Row] = {}
    by_key: dict[str, Row] = {}
    for row in rows:
        key = normalise(row.text)
        first = by_text.get(row.text)
        reason = EXACT_DUPLICATE
        if first is None:
            first, reason = by_key.get(key), NEAR_DUPLICATE
        if first is not None:
            dropped.append(Dropped(row.record_id, row.model, reason, row.text, duplicate_of=first.record_id,
                                   label_conflict=first.label != row.label))
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
            train.extend(group[model_quota[model]:])
    rng.shuffle(train)
    rng.shuffle(test)
    return {"train": train, "test": test}


# --- the dataset ---------------------------------------------------------------------------------------------------

def features(format: str = "disk"):
    """The columns' features; in CSV files (no list type) `topics` is a JSON array string."""
    from datasets import ClassLabel, Features, Sequence, Value

    topics = Value("string") if format == "csv" else Sequence(Value("string"))
    return Features({"text": Value("string"), "labels": ClassLabel(names=list(LABELS)), "model": Value("string"),
                     "topics": topics, "run": Value("string"), "record_id": Value("string")})


def build_dataset(splits: dict[str, list[Row]]) -> DatasetDict:
    from datasets import Dataset, DatasetDict

    feats = features()
    columns = list(feats)
    out = {}
    for name, rows in splits.items():
        dicts = [row.to_dict() for row in rows]
        out[name] = Dataset.from_dict({c: [d[c] for d in dicts] for c in columns}, features=feats)
    return DatasetDict(out)


# --- what each model was sent -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PromptUsed:
    """The template a model actually received, read from its stored request bodies (its catalog entry without one).

    A base model in completion mode gets a few-shot prompt built from the round instead of the run's template."""

    template: str  # the template's name
    text: str  # the template's text; "" when unknown
    how: str  # one phrase for the card


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def _few_shot_template(spec: ModelSpec | None) -> Template | None:
    """The few-shot template a catalog entry's prompt is built from, else None (also when it cannot be loaded):
    `local_model.sends_fewshot` decides, as it does for the adapters."""
    from .local_model import fewshot_template, sends_fewshot

    if spec is None or not sends_fewshot(spec):
        return None
    try:
        return fewshot_template(spec)
    except UserError:
        return None


def _wrapped(sent: str, prompt: str) -> str:
    wrapper = sent.replace(prompt, "{prompt}", 1)
    return "" if wrapper == "{prompt}" else f", inside the model's prompt format `{json.dumps(wrapper)[1:-1]}`"


def prompts_used(run: RunInfo, records: Sequence[Record], catalog: Catalog | None) -> dict[str, PromptUsed]:
    """Per model (in record order), the template it received: the run's own, or the few-shot template of its
    catalog entry, decided by which of the two, filled in for the round, is found in the stored request body."""
    from .prompt import Topic

    samples: dict[str, Record] = {}
    for rec in records:
        if rec.model not in samples or (samples[rec.model].request_body is None and rec.request_body is not None):
            samples[rec.model] = rec
    run_template = PromptUsed(run.template, run.template_text, "the run's template")
    out: dict[str, PromptUsed] = {}
    for model, rec in samples.items():
        spec = catalog.get(model) if catalog is not None else None
        few = _few_shot_template(spec)
        sent = list(_strings(rec.request_body)) if rec.request_body is not None else []
        if sent and rec.prompt:
            hit = next((x for x in sent if rec.prompt in x), None)
            if hit is not None:
                out[model] = PromptUsed(run.template, run.template_text,
                                        "the run's template" + _wrapped(hit, rec.prompt))
                continue
            if few is not None:
                topics = tuple(Topic(t.get("category", ""), t.get("topic", "")) for t in rec.topics or ())
                filled = few.render(rec.sentiment, topics)
                hit = next((x for x in sent if filled in x), None)
                if hit is not None:
                    out[model] = PromptUsed(few.name, few.text, "a few-shot completion prompt built from the round "
                                            f"(catalog: completion mode, few_shot_template `{few.name}`), "
                                            f"not the run's template{_wrapped(hit, filled)}")
                    continue
            out[model] = PromptUsed("(its own)", "", "a prompt that is neither the run's template nor a known "
                                    "few-shot template; see the records' `request_body`")
        elif few is not None:
            out[model] = PromptUsed(few.name, few.text, "a few-shot completion prompt built from the round (catalog: "
                                    f"completion mode, few_shot_template `{few.name}`), not the run's template")
        elif spec is not None and spec.prompt_format != "{prompt}":
            out[model] = PromptUsed(run.template, run.template_text,
                                    "the run's template" + _wrapped(spec.prompt_format, "{prompt}"))
        else:
            out[model] = run_template
    return out


# --- the card ------------------------------------------------------------------------------------------------------

def size_category(n: int) -> str:
    for bound, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                        (10_000_000, "1M<n<10M")):
        if n < bound:
            return name
    return "10M<n<100M"


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _cell(text: str | None, width: int = 120) -> str:
    """`text` shortened to one line, fit for a Markdown table cell."""
    return shorten(text, width).replace("|", "\\|")


def _fence(text: str) -> str:
    """A fenced block that survives backticks inside `text`."""
    ticks = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return f"{ticks}text\n{text}\n{ticks}"


def card_metadata(format: str, splits: Iterable[str]) -> dict[str, Any]:
    """`dataset_info` (the features of the files written) and `configs` (which file is which split) for the card's
    YAML, so `datasets.load_dataset(out)` reads ClassLabel labels from CSV and JSON Lines too. (No split sizes:
    `load_dataset` would verify them, and they are in export.json.)"""
    from datasets import DatasetInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    data = DatasetCardData()
    DatasetInfosDict({"default": DatasetInfo(features=features(format))}).to_dataset_card_data(data)
    files = [{"split": split, "path": f"{split}/*.arrow" if format == "disk" else f"{split}.{format}"}
             for split in splits]
    return {"configs": [{"config_name": "default", "data_files": files}], "dataset_info": data.dataset_info}


def render_card(*, run: RunInfo, splits: dict[str, list[Row]], dropped: Sequence[Dropped],
                cleaning: dict[str, CleaningFigures], model_ids: dict[str, str], model_params: dict[str, Any],
                categories: dict[str, int], test_size: float, seed: int, pretty_name: str,
                license: str = "other", format: str | None = "disk",
                prompts: dict[str, PromptUsed] | None = None) -> str:
    """The dataset card: YAML metadata the Hub reads, then what was made and how.

    `format` is the files' format, whose features and split files the YAML states; None for the card that goes to
    the Hub, where `push_to_hub` writes those for the Parquet files it uploads (and fails on a `dataset_info`
    without split sizes)."""
    from huggingface_hub import DatasetCardData

    total = sum(len(rows) for rows in splits.values())
    meta = DatasetCardData(
        language=["en"], license=license, task_categories=["text-classification"],
        task_ids=["sentiment-classification"], size_categories=[size_category(total)],
        tags=["synthetic", "sentiment", "synthgen"], pretty_name=pretty_name,
        **(card_metadata(format, splits) if format is not None else {}),
    )
    lines = ["---", meta.to_yaml().strip(), "---", "", f"# {pretty_name}", ""]
    lines += [f"Synthetic English sentences labelled with a sentiment (negative or positive), written by "
              f"{plural(len(model_ids), 'large language model')} from prompts that combine a sentiment with three "
              "topics. "
              f"Made with synthgen from run `{run.run_id}`: "
              f"{total} texts, {len(splits.get('train', []))} in `train` and {len(splits.get('test', []))} in "
              "`test`.", ""]
    lines += ["Every text was written by a model; nothing was written or checked by a person. The label is the "
              "sentiment the model was *asked* for, not a judgement of the text.", ""]

    lines += ["## Columns", "", "| column | type | meaning |", "|---|---|---|",
              "| `text` | string | the sentence (the cleaned sentence where the model's answers were cleaned) |",
              "| `labels` | ClassLabel | 0 = negative, 1 = positive |",
              "| `model` | string | the synthgen alias of the model that wrote it (see Models) |",
              ("| `topics` | string (JSON array) | the three prompted topics, as `Category: topic`; CSV has no list "
               "type, so each cell is a JSON array string: parse it with `json.loads` |" if format == "csv" else
               "| `topics` | list of strings | the three prompted topics, as `Category: topic` |"),
              "| `run` | string | the synthgen run id |",
              "| `record_id` | string | the stored record, `RUN/ROUND/MODEL` |", ""]

    lines += ["## Label balance", "", "| split | negative | positive | total |", "|---|---|---|---|"]
    every = [row for rows in splits.values() for row in rows]
    for name, part in [*splits.items(), ("all", every)]:
        counts = Counter(r.label for r in part)
        lines.append(f"| {name} | {counts[0]} ({_pct(counts[0], len(part))}) | {counts[1]} "
                     f"({_pct(counts[1], len(part))}) | {len(part)} |")
    lines += ["", f"Split: test share {test_size:g}, stratified by label and, within each label, by model; "
              f"shuffled with seed {seed}.", ""]

    lines += ["## Counts per model and label", "", "| model | negative | positive | total |", "|---|---|---|---|"]
    per_model: dict[str, Counter[int]] = {m: Counter() for m in model_ids}
    for rows in splits.values():
        for r in rows:
            per_model.setdefault(r.model, Counter())[r.label] += 1
    for model, counts in per_model.items():
        lines.append(f"| {model} | {counts[0]} | {counts[1]} | {counts[0] + counts[1]} |")
    lines.append("")

    lines += ["## Models", "", "| alias | model id |", "|---|---|"]
    lines += [f"| {alias} | `{model_id}` |" for alias, model_id in model_ids.items()]
    lines.append("")

    prompts = prompts or {alias: PromptUsed(run.template, run.template_text, "the run's template")
                          for alias in model_ids}
    lines += ["## Prompt templates", "", "Each round drew one sentiment and three topics, and every model of the round "
              "was asked about that same sentiment and those topics, filled into the template it received (read "
              "from the stored request bodies):", "", "| model | template | what the model received |",
              "|---|---|---|"]
    lines += [f"| {alias} | `{used.template}` | {used.how.replace('|', chr(92) + '|')} |"
              for alias, used in prompts.items()]
    lines.append("")
    shown: dict[tuple[str, str], list[str]] = {}
    for alias, used in prompts.items():
        if used.text:
            shown.setdefault((used.template, used.text), []).append(alias)
    for (name, text), aliases in shown.items():
        lines += [f"### `{name}` ({', '.join(aliases)})", "", _fence(text), ""]
    if run.template_text and (run.template, run.template_text) not in shown:
        lines += [f"The run's template `{run.template}` is stored in each record's `prompt` field; no model "
                  "received it as it is.", ""]

    topic_counts: Counter[tuple[str, str]] = Counter()
    for row in every:
        for item in row.topics:
            category, _, topic = item.partition(": ")
            topic_counts[(category, topic)] += 1
    texts_per_category: Counter[str] = Counter()
    for (category, _), n in topic_counts.items():
        texts_per_category[category] += n
    lines += ["## Topics", "", f"Topics source: `{run.topics_source}`. Each round drew three categories without "
              "repeats and one topic from each. Categories used (distinct topics used; texts in this dataset prompted "
              "with one of them):", ""]
    lines += [f"- {category} ({plural(n, 'topic')}; {plural(texts_per_category[category], 'text')})"
              for category, n in sorted(categories.items())] or ["- none recorded"]
    lines.append("")
    if topic_counts:
        lines += [f"{plural(len(topic_counts), 'topic')} used, most used first (texts in this dataset whose prompt "
                  "named the topic; each text had three):", "", "| topic | category | texts |", "|---|---|---|"]
        lines += [f"| {_cell(topic)} | {_cell(category)} | {n} |" for (category, topic), n in
                  sorted(topic_counts.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))]
        lines.append("")

    lines += ["## Cleaning", "", "Where a model's answers were cleaned (synthgen keeps exactly the target sentence "
              "of each answer), the cleaned sentence was exported instead of the raw answer.", "",
              "| model | ok answers | cleaned sentence used | cleaner kept none (dropped) | raw answer used | method |",
              "|---|---|---|---|---|---|"]
    for model, fig in cleaning.items():
        method = ", ".join(f"`{m}`" for m in fig.methods) or "-"
        lines.append(f"| {model} | {fig.answers} | {fig.cleaned} | {fig.none_kept} | {fig.raw} | {method} |")
    lines.append("")

    counts = Counter(d.reason for d in dropped)
    lines += ["## Dropped before the split", "",
              "Texts were deduplicated before splitting, so no text (nor a near copy of one) is in both splits; "
              "the first text in round order was kept.", "", "| reason | count |", "|---|---|"]
    lines += [f"| {DROP_REASONS[reason]} | {counts[reason]} |" for reason in DROP_REASONS]
    conflicts = sum(1 for d in dropped if d.label_conflict)
    if conflicts:
        lines += ["", f"{plural(conflicts, 'dropped duplicate')} carried the other label than the text kept."]
    examples = [d for reason in DROP_REASONS for d in [x for x in dropped if x.reason == reason][:2]]
    if examples:
        lines += ["", "Examples (all of them are in `dropped.jsonl` next to an exported card):", ""]
        lines += [f"- {DROP_REASONS[d.reason].split(' (')[0]}, `{d.record_id}`: \"{_cell(d.text)}\""
                  for d in examples]
    lines.append("")

    lines += ["## Generation parameters", "", f"- run: `{run.run_id}` (created {run.created_at}, status {run.status})",
              f"- seed: {run.seed}", f"- rounds: {run.rounds} (each round asks every model once)",
              f"- models: {', '.join(run.models)}", "", "Per-model request parameters (catalog defaults merged with "
              "the run's overrides):", "", "```json", json.dumps(model_params, indent=2, ensure_ascii=False,
                                                                  sort_keys=True), "```", ""]
    lines += ["## Use and limitations", "",
              "The texts come from the models listed above; their providers' terms of use apply to them. "
              "Expect the styles, clichés and biases of those models, and sentences that do not carry the "
              "requested sentiment. Good for bootstrapping or testing a classifier; measure on real data.", ""]
    return "\n".join(lines)


# --- writing -------------------------------------------------------------------------------------------------------

def check_out_dir(out: Path) -> None:
    """Refuse, before anything is written, a folder that cannot be written or that holds something else."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder; name a new or empty folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise UserError(f"--out {out}: folder is not empty and holds no earlier synthgen export; "
                        "name a new or empty folder")
    check_writable(out, "--out", folder=True)


def _remove_previous(out: Path) -> None:
    """Remove what an earlier export wrote here (and only that), so formats do not mix."""
    try:
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    for name in manifest.get("files", []):
        path = (out / name).resolve()
        if path.parent != out.resolve():
            continue  # only direct children of the folder
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


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
                writer = csv.DictWriter(fh, fieldnames=list(features()))
                writer.writeheader()
                for row in rows:
                    data = row.to_dict()
                    data["topics"] = json.dumps(data["topics"], ensure_ascii=False)
                    writer.writerow(data)
        names.append(path.name)
    return names


# --- the Hub -------------------------------------------------------------------------------------------------------

def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if repo_id.count("/") != 1:
        raise UserError(f"--push {repo_id}: write USER/NAME (or ORG/NAME)")
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise UserError(f"--push {repo_id}: not a valid repository id ({exc})") from None


def hub_token(token: str | None = None) -> str:
    """An explicit token, else HF_TOKEN, else the saved login (`hf auth login`)."""
    if token:
        return token
    if os.environ.get("HF_TOKEN"):
        return os.environ["HF_TOKEN"]
    from huggingface_hub import get_token

    saved = get_token()
    if not saved:
        raise UserError("--push: no Hugging Face token; set HF_TOKEN or run `hf auth login`")
    return saved


@dataclass(frozen=True)
class Pushed:
    """Where `upload` put the dataset, and the repository's visibility afterwards."""

    url: str
    private: bool


def hub_visibility(repo_id: str, token: str) -> bool | None:
    """Whether the dataset repository is private (True), public (False), or does not exist yet (None).
    Only `upload` calls it."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        info = HfApi(token=token).repo_info(repo_id, repo_type="dataset")
    except RepositoryNotFoundError:
        return None
    return bool(info.private)


def check_visibility(repo_id: str, private: bool, existing: bool | None) -> None:
    """`create_repo(exist_ok=True)` and `push_to_hub` leave an existing repository's visibility as it is, whatever
    `private` says: refuse, before anything is uploaded, rather than report a visibility the repository lacks."""
    if existing is None or existing == private:
        return
    if private:
        raise UserError(f"--push {repo_id}: the repository exists and is public, and pushing cannot make it private; "
                        "make it private on the Hub (Settings) first, or drop --private to push to it as public")
    raise UserError(f"--push {repo_id}: the repository exists and is private; add --private to push to it as "
                    "private, or make it public on the Hub (Settings) first")


def upload(dataset_dict: DatasetDict, repo_id: str, token: str, private: bool, card_text: str) -> Pushed:
    """The one place synthgen talks to the Hub. Returns the dataset's URL and its visibility.

    An existing repository whose visibility is not the one asked for is refused before anything is uploaded
    (`create_repo(exist_ok=True)` and `push_to_hub` would silently keep it). The card goes up first:
    `push_to_hub` then keeps its text and adds the data files' metadata (configs, dataset_info) to its YAML,
    instead of replacing it with a bare card."""
    from huggingface_hub import HfApi

    existing = hub_visibility(repo_id, token)
    check_visibility(repo_id, private, existing)
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_file(path_or_fileobj=card_text.encode("utf-8"), path_in_repo=CARD, repo_id=repo_id,
                    repo_type="dataset", commit_message="Dataset card (synthgen)")
    dataset_dict.push_to_hub(repo_id, token=token, private=private, commit_message="Data (synthgen)")
    return Pushed(f"https://huggingface.co/datasets/{repo_id}", private if existing is None else existing)


# --- the whole export ----------------------------------------------------------------------------------------------

def _model_params(run: RunInfo, catalog: Catalog | None, problem: str = "") -> dict[str, Any]:
    if catalog is None:
        return {alias: f"unknown: catalog unreadable ({problem})" for alias in run.models}
    out: dict[str, Any] = {}
    for alias in run.models:
        spec = catalog.get(alias)
        out[alias] = (spec.merged_params((run.params or {}).get(alias)) if spec is not None
                      else "unknown: not in the catalog")
    return out


def export_dataset(
    run: str | None = "last",
    out: str | os.PathLike[str] | None = None,
    *,
    store: str | Store | None = None,
    format: str = "disk",
    test_size: float = 0.1,
    seed: int | None = None,
    require_clean: Sequence[str] = (),
    push: str | None = None,
    private: bool = False,
    token: str | None = None,
    license: str = "other",
    pretty_name: str | None = None,
    catalog_dir: str | None = None,
) -> ExportResult:
    """Build the `DatasetDict` of a run, write it (and its card) to `out`, and push it to the Hub when `push` is set.

    `seed` defaults to the run's seed. `require_clean` names models whose answers must all be cleaned.
    Every check runs before anything is written; a problem is a `UserError` with a one-line message."""
    if not 0 < test_size < 1:
        raise UserError(f"--test-size {test_size:g}: must be between 0 and 1 (exclusive), e.g. 0.1")
    if format not in FORMATS:
        raise UserError(f"--format {format}: use one of {', '.join(FORMATS)}")
    out_path = Path(out).expanduser() if out is not None else None
    if out_path is not None:
        check_out_dir(out_path)
    hub = None
    if push:
        check_repo_id(push)
        hub = hub_token(token)

    owns_store = not isinstance(store, Store)
    handle = open_store(store, create=False) if owns_store else store
    try:
        info = handle.resolve_run(run)
        records = list(handle.records(info.run_id, status=OK))
        every_status = Counter(r.status for r in handle.records(info.run_id)) if not records else Counter()
        cleaned = handle.cleaned(info.run_id)
    finally:
        if owns_store:
            handle.close()
    if not records:
        raise UserError(_nothing_to_export(info, every_status))
    for alias in require_clean:
        answers = [r for r in records if r.model == alias]
        if alias not in info.models and not answers:
            raise UserError(f"--require-clean {alias}: run {info.run_id} has no model {alias} "
                            f"(models: {', '.join(info.models)})")
        missing = sum(1 for r in answers if r.id not in cleaned)
        if missing:
            raise UserError(f"--require-clean {alias}: {missing} of {len(answers)} answers of {alias} in run "
                            f"{info.run_id} are not cleaned; run `synthgen clean --model {alias}` first")

    # Within a round, the run's model order: it decides which of two duplicates is kept, and the card's order.
    order = {alias: i for i, alias in enumerate(info.models)}
    records.sort(key=lambda r: (r.round, order.get(r.model, len(order)), r.model))
    rows, dropped, cleaning = collect_rows(records, cleaned)
    rows, duplicates = deduplicate(rows)
    dropped += duplicates
    split_seed = info.seed if seed is None else seed
    splits = split_rows(rows, test_size, split_seed)
    dataset = build_dataset(splits)

    model_ids: dict[str, str] = {}
    categories: dict[str, set[str]] = {}
    for rec in records:
        model_ids.setdefault(rec.model, rec.model_id)
        for t in rec.topics or ():
            categories.setdefault(t.get("category", ""), set()).add(t.get("topic", ""))
    by_run_order = lambda kv: (order.get(kv[0], len(order)), kv[0])  # noqa: E731
    model_ids = dict(sorted(model_ids.items(), key=by_run_order))
    cleaning = dict(sorted(cleaning.items(), key=by_run_order))
    name = pretty_name or (f"{push.split('/')[1]} (synthgen)" if push else f"synthgen sentiment, run {info.run_id}")
    try:
        catalog, problem = load_catalog(catalog_dir), ""
    except UserError as exc:
        catalog, problem = None, str(exc)
    prompts = prompts_used(info, records, catalog)
    prompts = dict(sorted(prompts.items(), key=by_run_order))

    def card_for(fmt: str | None) -> str:
        return render_card(run=info, splits=splits, dropped=dropped, cleaning=cleaning, model_ids=model_ids,
                           model_params=_model_params(info, catalog, problem),
                           categories={c: len(t) for c, t in categories.items()}, test_size=test_size,
                           seed=split_seed, pretty_name=name, license=license, format=fmt, prompts=prompts)

    card = card_for(format)
    result = ExportResult(run=info, dataset=dataset, card=card, splits=splits, dropped=dropped, cleaning=cleaning,
                          test_size=test_size, seed=split_seed, format=format, out=out_path)

    if out_path is not None:
        try:
            out_path.mkdir(parents=True, exist_ok=True)
            _remove_previous(out_path)
            names = write_dataset(dataset, splits, out_path, format)
            (out_path / CARD).write_text(card, encoding="utf-8")
            with (out_path / DROPPED_FILE).open("w", encoding="utf-8") as fh:
                for item in dropped:
                    fh.write(json.dumps(item.to_dict(), ensure_ascii=False) + "\n")
            names += [CARD, DROPPED_FILE, MANIFEST]
            manifest = {"run": info.run_id, "format": format, "created_at": utc_now(), "test_size": test_size,
                        "seed": split_seed, "splits": {k: len(v) for k, v in splits.items()},
                        "dropped": result.drop_counts(), "files": names}
            (out_path / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
        except OSError as exc:
            raise UserError(f"--out {out_path}: cannot write ({exc.strerror or exc})") from None
        result.files = [out_path / n for n in names]

    if push and hub:
        # The Hub gets Parquet files, and push_to_hub adds their features and split files to the card's YAML.
        hub_card = card_for(None)
        saved = f"; the files in {out_path} are complete" if out_path is not None else ""
        try:
            pushed = upload(dataset, push, hub, private, hub_card)
        except UserError as exc:
            raise UserError(f"{exc}{saved}") from None
        except Exception as exc:  # the Hub's errors are many; the user needs the one line, never the token
            message = shorten(redact(f"{type(exc).__name__}: {exc}", (hub,)))
            raise UserError(f"--push {push}: upload failed ({message}){saved}") from None
        result.pushed_to, result.pushed_private = pushed.url, pushed.private
    return result


def _nothing_to_export(info: RunInfo, statuses: Counter[str]) -> str:
    """Why a run without ok answers has nothing to export, and the step that fits (resume only helps some)."""
    if not statuses:
        return (f"run {info.run_id} has no cells (it planned {plural(info.rounds, 'round')} x "
                f"{plural(len(info.models), 'model')}); nothing to export: generate a new run with "
                "`synthgen generate --rounds N`")
    found = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()))
    if statuses.get("planned"):
        return (f"run {info.run_id} has no ok answers yet ({found}); nothing to export: finish it with "
                f"`synthgen generate --resume {info.run_id}`")
    return (f"run {info.run_id} has no ok answers ({found}); nothing to export: see why with `synthgen stats --run "
            f"{info.run_id}` and fix the models' credentials or parameters, then retry its cells with "
            f"`synthgen generate --resume {info.run_id}`")
