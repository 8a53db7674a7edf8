"""What export does with a run's checks: the judges' verdicts, near-duplicates, and the balance after dropping.

- **Verdicts** (`apply_verdicts`): a cell the panel accepted exports its accepted answer (a regenerated one where
  the first was rejected); a rejected cell is dropped (`label_rejected`, or `failed_verification` when it was
  asked again and never passed), with its verdicts in dropped.jsonl, unless `keep_unverified`; a cell with no
  decision (not judged, or judged on a text that changed since) is exported as it is, and counted.
- **Balance** (`rebalance`): dropping can leave one label short. Where verification dropped texts, the larger
  labels are cut, least confident verdicts first, until every label's share is within 2 points of its planned
  share (1/N, or its weight's share), so the dataset stays as balanced as the run was planned.
- **Near-duplicates** (`drop_similar`): MinHash/LSH on word shingles (and an embedding cosine, with an embedder);
  the first text of a group is kept, the rest dropped before the split, so no near-duplicate pair straddles
  train and test.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .rows import FAILED_VERIFICATION, LABEL_REJECTED, REBALANCED, SIMILAR, Dropped, Row

if TYPE_CHECKING:
    from ..embed import Embedder
    from ..labels import TaskInfo
    from ..verify import CellCheck

BALANCE_TOLERANCE = 0.02
SIMILARITY = 0.8  # Jaccard of word 3-shingles at or above which a text is a near-duplicate (check/neardup.py)


@dataclass
class Checked:
    """What verification did to an export, for the card and the command's lines."""

    judged: bool = False  # the run has verdicts at all
    accepted: int = 0
    regenerated_kept: int = 0  # exported texts that are a regenerated answer
    rejected: int = 0
    kept_unverified: int = 0  # rejected, kept because of keep_unverified
    unverified: int = 0  # no decision: exported as they are
    judges: list[str] = field(default_factory=list)
    settings: str = ""
    similar_within: int = 0  # near-duplicates of a text by the same model
    similar_across: int = 0  # ... by another model
    similar_how: str = ""
    agreement: Any = None  # verify.Agreement: per model, label and judge


def _verdicts_of(check: CellCheck) -> list[dict[str, Any]]:
    out = []
    for attempt in sorted(set(check.verdicts) | set(check.panels)):
        panel = [check.panels[attempt]] if attempt in check.panels else []
        for verdict in [*check.verdicts.get(attempt, []), *panel]:
            out.append(
                {
                    "attempt": attempt,
                    "judge": verdict.judge,
                    "label": verdict.label,
                    "confidence": verdict.confidence,
                    "accepted": verdict.accepted,
                    "reason": verdict.reason,
                    "text": check.texts.get(attempt),
                }
            )
    return out


def apply_verdicts(
    rows: Sequence[Row],
    checks: Mapping[str, CellCheck],
    *,
    keep_unverified: bool = False,
    judge_columns: bool = False,
) -> tuple[list[Row], list[Dropped], Checked]:
    from ..verify import agreement

    figures = Checked(judged=any(c.panels for c in checks.values()))
    figures.agreement = agreement(checks, sorted({c.label for c in checks.values()}))
    kept: list[Row] = []
    dropped: list[Dropped] = []
    judges: dict[str, None] = {}
    for row in rows:
        check = checks.get(row.record_id)
        if check is None or not check.panels:
            figures.unverified += bool(figures.judged)
            kept.append(dataclasses.replace(row, judge_columns=True) if judge_columns else row)
            continue
        for verdicts in check.verdicts.values():
            judges.update(dict.fromkeys(v.judge for v in verdicts))
        figures.settings = figures.settings or check.panels[min(check.panels)].method
        chosen = check.chosen
        if chosen is not None:
            panel = check.panels[chosen]
            figures.accepted += 1
            if chosen:
                figures.regenerated_kept += 1
                row = dataclasses.replace(row, text=check.texts[chosen], cleaned=False)
        else:
            panel = check.panels[min(check.panels)]
            figures.rejected += 1
            if not keep_unverified:
                reason = FAILED_VERIFICATION if check.attempts else LABEL_REJECTED
                dropped.append(Dropped(row.record_id, row.model, reason, row.text, verdicts=_verdicts_of(check)))
                continue
            figures.kept_unverified += 1
        judged = (panel.label, panel.confidence)
        kept.append(dataclasses.replace(row, judged=judged, judge_columns=judge_columns))
    figures.judges = list(judges)
    return kept, dropped, figures


def _shares(task: TaskInfo) -> list[float]:
    total = sum(label.weight for label in task.labels)
    return [label.weight / total for label in task.labels]


def balanced_counts(counts: Sequence[int], shares: Sequence[float], tolerance: float) -> list[int]:
    """The most texts per label, at most `counts`, whose shares are each within `tolerance` of `shares`."""
    for total in range(sum(counts), 0, -1):
        lo = [max(0, math.ceil((s - tolerance) * total - 1e-9)) for s in shares]
        hi = [min(n, math.floor((s + tolerance) * total + 1e-9)) for n, s in zip(counts, shares, strict=True)]
        if any(low > high for low, high in zip(lo, hi, strict=True)) or sum(lo) > total or sum(hi) < total:
            continue
        out = list(lo)
        room = total - sum(out)
        while room:  # the rest to the labels furthest below their share, within their caps
            i = min((i for i in range(len(out)) if out[i] < hi[i]), key=lambda i: (out[i] / total - shares[i], i))
            out[i] += 1
            room -= 1
        return out
    return [0] * len(counts)


def rebalance(
    rows: Sequence[Row], task: TaskInfo, tolerance: float = BALANCE_TOLERANCE
) -> tuple[list[Row], list[Dropped]]:
    """Cut the larger labels, least confident first (then later rounds), to shares within `tolerance`."""
    names = task.names
    by_label = [[r for r in rows if r.label == i] for i in range(len(names))]
    target = balanced_counts([len(g) for g in by_label], _shares(task), tolerance)
    keep: set[str] = set()
    dropped: list[Dropped] = []
    for group, n in zip(by_label, target, strict=True):
        order = sorted(group, key=lambda r: (-(_confidence(r)), r.record_id))
        keep.update(r.record_id for r in order[:n])
        dropped += [Dropped(r.record_id, r.model, REBALANCED, r.text) for r in order[n:]]
    return [r for r in rows if r.record_id in keep], dropped


def _confidence(row: Row) -> float:
    return row.judged[1] if row.judged and row.judged[1] is not None else 0.0


def drop_similar(
    rows: Sequence[Row], figures: Checked, embedder: Embedder | None = None, **options: Any
) -> tuple[list[Row], list[Dropped]]:
    from ..check import near_duplicates

    found = near_duplicates([r.text for r in rows], embedder=embedder, **options)
    gone = {d.index for d in found}
    dropped = []
    for dup in found:
        row, first = rows[dup.index], rows[dup.kept]
        if row.model == first.model:
            figures.similar_within += 1
        else:
            figures.similar_across += 1
        dropped.append(Dropped.duplicate(row, first, SIMILAR, dup.similarity))
    figures.similar_how = "MinHash/LSH, Jaccard of word 3-shingles" + (" and embedding cosine" if embedder else "")
    return [r for i, r in enumerate(rows) if i not in gone], dropped


def export_diversity(splits: Mapping[str, Sequence[Row]], labels: Sequence[str]) -> Any:
    """The diversity of the exported texts (every split), per model and per label, for the card."""
    from ..check import diversity_report

    rows = [row for part in splits.values() for row in part]
    if not rows:
        return None
    return diversity_report(
        [r.text for r in rows],
        [r.model for r in rows],
        [labels[r.label] for r in rows],
        [r.topics for r in rows],
        label_order=labels,
    )
