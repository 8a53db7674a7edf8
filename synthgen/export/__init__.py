"""Export: a run's answers (cleaned where a model was cleaned) -> deduplicated, stratified train/test `DatasetDict`.

    >>> from synthgen.api import export_dataset
    >>> result = export_dataset(run="last", out="data/", store="sqlite:///synthgen.db")
    >>> result.dataset["train"].features["labels"].names      # the run's task's labels, in its order
    ['negative', 'positive']

The steps, one module each: `rows` (select, deduplicate, split: pure functions over `Row`s), `files` (the formats,
the manifest), `card` (the dataset card, from what the run stored when it was planned), `outdir` (the `--out`
folder: checked, locked, replaced whole) and `hub` (the one `upload`). This module runs them in order, every check
before anything is written. It calls `upload` and `build_dataset` by their names here, so a test (or a caller
with its own transport) patches `synthgen.export.upload`; the visibility question alone is
`synthgen.export.hub.hub_visibility`.

An unfinished run (still `running`, `interrupted`, or with cells still `planned`) is refused unless
`allow_partial`: its dataset would silently miss part of the plan. With it, the card says how much it holds.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import UserError
from ..labels import TaskInfo
from ..secrets import redact
from ..store import DEFAULT_STORE, FAILED, OK, PLANNED, SKIPPED, RunInfo, Store, reading, utc_now
from ..text import plural, shorten
from .card import render_card
from .checked import SIMILARITY, Checked, apply_verdicts, drop_similar, export_diversity, rebalance
from .cost_section import cost_lines
from .files import CARD, DROPPED_FILE, FORMATS, MANIFEST, build_dataset, features, write_export
from .hub import Pushed, check_repo_id, hub_token, hub_visibility, upload
from .outdir import check_out_dir, exclusive, replacing
from .rows import DROP_REASONS, CleaningFigures, Dropped, Row, collect_rows, deduplicate, split_rows

if TYPE_CHECKING:  # datasets is imported only when a dataset is built: it takes seconds
    from datasets import DatasetDict

__all__ = [
    "export_dataset",
    "ExportResult",
    "Row",
    "Dropped",
    "CleaningFigures",
    "DROP_REASONS",
    "FORMATS",
    "MANIFEST",
    "CARD",
    "DROPPED_FILE",
    "Pushed",
    "upload",
    "hub_visibility",
    "collect_rows",
    "deduplicate",
    "split_rows",
    "build_dataset",
    "features",
    "render_card",
]

UNFINISHED = ("running", "interrupted")


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
    partial: str | None = None  # for an unfinished run exported with allow_partial: how much of its plan it holds
    checked: Checked | None = None  # what the judges and the near-duplicate check did (export/checked.py)

    @property
    def task(self) -> TaskInfo:
        """The run's task, as it stored it: its labels are the ClassLabel names, in order."""
        return self.run.task_info()

    @property
    def kept(self) -> int:
        return sum(len(rows) for rows in self.splits.values())

    def drop_counts(self) -> dict[str, int]:
        counts = Counter(d.reason for d in self.dropped)
        return {reason: counts[reason] for reason in DROP_REASONS if counts[reason]}

    def label_counts(self, split: str) -> dict[str, int]:
        counts = Counter(row.label for row in self.splits[split])
        return {name: counts[i] for i, name in enumerate(self.task.names)}

    def model_label_counts(self) -> dict[str, dict[str, int]]:
        """model -> label name -> exported texts (both splits)."""
        names = self.task.names
        out: dict[str, dict[str, int]] = {}
        for rows in self.splits.values():
            for row in rows:
                by = out.setdefault(row.model, dict.fromkeys(names, 0))
                by[names[row.label]] += 1
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
    allow_partial: bool = False,
    catalog_dir: str | None = None,
    keep_unverified: bool = False,
    judge_columns: bool = False,
    similarity: float | None = SIMILARITY,
    dedup_embedder: str | None = None,
) -> ExportResult:
    """Build the `DatasetDict` of a run, write it (and its card) to `out`, and push it to the Hub when `push` is set.

    `seed` defaults to the run's seed. `require_clean` names models whose answers must all be cleaned.
    `allow_partial` exports a run that is not finished (the card then says how much of its plan it holds).
    `catalog_dir` is accepted and unused, so calls that pass it keep working: what each model was sent comes from
    the run's stored plans, never from today's model tables.
    Where the run was verified, texts the judges rejected are dropped (kept with `keep_unverified`) and the labels
    rebalanced; `judge_columns` adds `judge_label` / `judge_confidence`. `similarity` is the Jaccard threshold of
    near-duplicates (None: off); `dedup_embedder` adds an embedding-cosine check (export/checked.py).
    Every check runs before anything is written; a problem is a `UserError` with a one-line message."""
    del catalog_dir
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

    with reading(store) as handle:
        info = handle.resolve_run(run)
        statuses: Counter[str] = Counter()
        for by_status in handle.counts(info.run_id).values():
            statuses.update(by_status)
        store_flag = "" if handle.url == DEFAULT_STORE else f" --store {handle.url}"
        if not statuses:
            raise UserError(_nothing_to_export(info, statuses, store_flag))
        unfinished = info.status in UNFINISHED or statuses[PLANNED] > 0
        if unfinished and not allow_partial:
            raise UserError(_unfinished(info, statuses, store_flag))
        run_cost = handle.run_cost(info.run_id)
        records = list(handle.records(info.run_id, status=OK))
        cleaned = handle.cleaned(info.run_id)
        from ..verify import read_checks

        checks = read_checks(handle, info.run_id, records)
    if not records:
        raise UserError(_nothing_to_export(info, statuses, store_flag))
    for alias in require_clean:
        answers = [r for r in records if r.model == alias]
        if alias not in info.models and not answers:
            raise UserError(
                f"--require-clean {alias}: run {info.run_id} has no model {alias} (models: {', '.join(info.models)})"
            )
        missing = sum(1 for r in answers if r.id not in cleaned)
        if missing:
            raise UserError(
                f"--require-clean {alias}: {missing} of {len(answers)} answers of {alias} in run "
                f"{info.run_id} are not cleaned; run `synthgen clean --model {alias}` first"
            )

    # Within a round, the run's model order: it decides which of two duplicates is kept, and the card's order.
    order = {alias: i for i, alias in enumerate(info.models)}
    records.sort(key=lambda r: (r.round, order.get(r.model, len(order)), r.model))
    labels = info.task_info().names
    rows, dropped, cleaning = collect_rows(records, cleaned, labels)
    # the judges first, so a rejected text never stands for its duplicates; the balance after every drop
    rows, rejected, checked = apply_verdicts(rows, checks, keep_unverified=keep_unverified, judge_columns=judge_columns)
    dropped += rejected
    rows, duplicates = deduplicate(rows)
    dropped += duplicates
    if similarity is not None:
        from ..embed import get_embedder

        embedder = get_embedder(dedup_embedder) if dedup_embedder else None
        rows, similar = drop_similar(rows, checked, embedder, threshold=similarity)
        dropped += similar
    if rejected:
        rows, cut = rebalance(rows, info.task_info())
        dropped += cut
    split_seed = info.seed if seed is None else seed
    splits = split_rows(rows, test_size, split_seed)

    model_ids: dict[str, str] = {}
    categories: dict[str, set[str]] = {}
    for rec in records:
        model_ids.setdefault(rec.model, rec.model_id)
        for t in rec.topics or ():
            categories.setdefault(t.get("category", ""), set()).add(t.get("topic", ""))
    by_run_order = lambda kv: (order.get(kv[0], len(order)), kv[0])  # noqa: E731
    model_ids = dict(sorted(model_ids.items(), key=by_run_order))
    cleaning = dict(sorted(cleaning.items(), key=by_run_order))
    task_name = info.task_info().name
    name = pretty_name or (f"{push.split('/')[1]} (synthgen)" if push else f"synthgen {task_name}, run {info.run_id}")
    partial = _partial(info, statuses) if unfinished else None
    diversity = export_diversity(splits, labels)

    def card_for(fmt: str | None) -> str:
        return render_card(
            run=info,
            splits=splits,
            dropped=dropped,
            cleaning=cleaning,
            model_ids=model_ids,
            categories={c: len(t) for c, t in categories.items()},
            test_size=test_size,
            seed=split_seed,
            pretty_name=name,
            license=license,
            format=fmt,
            partial=partial,
            checked=checked,
            diversity=diversity,
            cost=cost_lines(info, records, run_cost),
        )

    with exclusive(out_path) if out_path is not None else nullcontext():
        if out_path is not None:
            check_out_dir(out_path)  # again: another export may have written it while this one read the store
        dataset = build_dataset(splits, labels)
        card = card_for(format)
        result = ExportResult(
            checked=checked,
            run=info,
            dataset=dataset,
            card=card,
            splits=splits,
            dropped=dropped,
            cleaning=cleaning,
            test_size=test_size,
            seed=split_seed,
            format=format,
            out=out_path,
            partial=partial,
        )
        if out_path is not None:
            manifest = {
                "run": info.run_id,
                "format": format,
                "created_at": utc_now(),
                "test_size": test_size,
                "seed": split_seed,
                "splits": {k: len(v) for k, v in splits.items()},
                "dropped": result.drop_counts(),
            }
            try:
                with replacing(out_path) as folder:
                    names = write_export(folder, dataset, splits, format, card, dropped, manifest)
            except OSError as exc:
                raise UserError(
                    f"--out {out_path}: cannot write ({exc.strerror or exc}); the folder is as it "
                    "was before this export"
                ) from None
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


def _cell_counts(statuses: Counter[str]) -> str:
    """`80 planned, 110 ok, 10 failed` (skipped only when there are some)."""
    shown = [PLANNED, OK, FAILED] + ([SKIPPED] if statuses[SKIPPED] else [])
    return ", ".join(f"{statuses[s]} {s}" for s in shown)


def _unfinished(info: RunInfo, statuses: Counter[str], store_flag: str) -> str:
    total = sum(statuses.values())
    return (
        f"run {info.run_id} is not finished (status {info.status}; {_cell_counts(statuses)} of {total} cells): "
        f"finish it with `synthgen generate --resume {info.run_id}{store_flag}` (or wait, if it is still "
        f"generating), or add --allow-partial to export the {statuses[OK]} ok cells it holds"
    )


def _partial(info: RunInfo, statuses: Counter[str]) -> str:
    """The card's sentence on how much of an unfinished run's plan the export holds."""
    total, ok = sum(statuses.values()), statuses[OK]
    why = {
        "interrupted": "the run was interrupted",
        "running": "the run had not finished (its status was `running`)",
    }.get(info.status, f"{plural(statuses[PLANNED], 'cell was', 'cells were')} never answered")
    return (
        f"This export holds {ok} of the {total} planned cells ({100 * ok / total:.0f}%): {why} "
        f"({_cell_counts(statuses)})."
    )


def _nothing_to_export(info: RunInfo, statuses: Counter[str], store_flag: str) -> str:
    """Why a run without ok answers has nothing to export, and the step that fits (resume only helps some)."""
    if not statuses:
        return (
            f"run {info.run_id} has no cells (it planned {plural(info.rounds, 'round')} x "
            f"{plural(len(info.models), 'model')}); nothing to export: generate a new run with "
            "`synthgen generate --rounds N`"
        )
    found = ", ".join(f"{n} {status}" for status, n in sorted(statuses.items()) if n)
    if statuses.get(PLANNED):
        return (
            f"run {info.run_id} has no ok answers yet ({found}); nothing to export: finish it with "
            f"`synthgen generate --resume {info.run_id}{store_flag}`"
        )
    return (
        f"run {info.run_id} has no ok answers ({found}); nothing to export: see why with `synthgen stats --run "
        f"{info.run_id}{store_flag}` and fix the models' credentials or parameters, then retry its cells with "
        f"`synthgen generate --resume {info.run_id}{store_flag}`"
    )
