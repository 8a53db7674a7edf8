"""The card's account of the checks: who judged the labels and how often they agreed, what was dropped for it,
how similar and how varied the texts are. Figures only: every number is measured on the exported data."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .rows import Row

JUDGE_COLUMNS = [
    "| `judge_label` | string | the label the judges gave the text (empty where it was not judged) |",
    "| `judge_confidence` | float | the judges' probability (or stated confidence) of that label |",
]


def judge_columns_in(splits: dict[str, list[Row]]) -> bool:
    return any(row.judge_columns for rows in splits.values() for row in rows)


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def verification_lead(checked: Any) -> list[str]:
    """The sentence after the card's first paragraph: what a label means in this dataset."""
    if checked is None or not checked.judged:
        return [
            "Every text was written by a model; nothing was written or checked by a person. No judge checked this "
            "dataset: a text's label is the one the model was *asked* for, not a judgement of the text "
            "(`synthgen verify` checks it).",
            "",
        ]
    figures = checked.agreement
    share = f" {100 * figures.overall:.1f}% of the first answers agreed with their label;" if figures.overall else ""
    return [
        "Every text was written by a model; nothing was written or checked by a person. Each label was checked by "
        f"a judge model ({', '.join(checked.judges)}):{share} texts whose label the judges rejected were "
        f"dropped ({checked.rejected - checked.kept_unverified} of them) or replaced by a regenerated answer that "
        f"passed ({checked.regenerated_kept}). See Verification for the figures and how far the judges are "
        "to be trusted.",
        "",
    ]


def _agreement_rows(title: str, counts: dict[str, tuple[int, int]]) -> list[str]:
    return [f"| {title} {key} | {a} of {n} | {_pct(a, n)} |" for key, (a, n) in counts.items() if n]


def _verification(checked: Any) -> list[str]:
    figures = checked.agreement
    lines = [
        "## Verification",
        "",
        f"Judges: {', '.join(checked.judges)}; panel: {checked.settings}. Each judge classified every kept text "
        "into the task's labels (a model does not judge its own texts when other judges exist). Agreement: the "
        "share of each cell's first answer whose judged label is the one the model was asked for.",
        "",
        "| first answers of | agree | share |",
        "|---|---|---|",
        *_agreement_rows("model", figures.per_model),
        *_agreement_rows("label", figures.per_label),
        *_agreement_rows("judge", figures.per_judge),
        "",
        f"Exported: {checked.accepted} texts the judges accepted ({checked.regenerated_kept} of them regenerated "
        f"answers: the cell was asked again with a new seed after its answer was rejected), "
        f"{checked.kept_unverified} rejected but kept (`--keep-unverified`), {checked.unverified} never judged. "
        f"Answers asked for per accepted cell: {figures.answers_per_kept or 0:.2f}.",
        "",
    ]
    return lines


def _diversity(report: Any, names: Sequence[str]) -> list[str]:
    head = (
        "| group | texts | distinct-1 | distinct-2 | distinct-3 | mean similarity | words (p10-p90) | topic mention "
        "| vocabulary |"
    )
    lines = [
        "## Diversity",
        "",
        "Distinct-n: distinct word n-grams over all n-grams. Mean similarity: the mean cosine of every pair of "
        f"texts ({report.embedder}, fit on all the texts). Topic mention: of the topics each text was prompted "
        "with, the share it mentions.",
        "",
        head,
        "|---" * 9 + "|",
    ]
    groups = [("all", report.overall)] + [(f"model {k}", v) for k, v in report.per_model.items()]
    groups += [(f"label {k}", v) for k, v in report.per_label.items()]
    for name, g in groups:
        similarity = "-" if g.mean_similarity is None else f"{g.mean_similarity:.3f}"
        mention = "-" if g.topic_mention is None else f"{100 * g.topic_mention:.1f}%"
        lines.append(
            f"| {name} | {g.texts} | {g.distinct_1:.3f} | {g.distinct_2:.3f} | {g.distinct_3:.3f} | {similarity} | "
            f"{g.length_mean:.1f} ({g.length_p10:g}-{g.length_p90:g}) | {mention} | {g.vocabulary} |"
        )
    lines.append("")
    return lines


def checks_section(checked: Any, diversity: Any, names: Sequence[str]) -> list[str]:
    lines: list[str] = []
    if checked is not None and checked.judged:
        lines += _verification(checked)
    if checked is not None and checked.similar_how:
        total = checked.similar_within + checked.similar_across
        lines += [
            "## Near-duplicates",
            "",
            f"{checked.similar_how}: {total} texts repeated an earlier one closely and were dropped before the "
            f"split ({checked.similar_within} by the same model, {checked.similar_across} by another model), so no "
            "near-duplicate pair straddles train and test.",
            "",
        ]
    if diversity is not None:
        lines += _diversity(diversity, names)
    return lines
