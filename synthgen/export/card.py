"""The dataset card (README.md): YAML metadata the Hub reads, then what was made and how.

What each model was sent (its template, prompt format and resolved parameters) is read from the plans the run
stored when it was planned (`RunInfo.plan_of`), never rebuilt from today's model tables: a table edited after the
run cannot change what the card says the run did. A run stored before plans existed says so, per model.

The YAML carries `dataset_info.features` for the format written (`labels` a `class_label`; `topics` a list of
strings, or a string in CSV), so `datasets.load_dataset(out)` gives the same features as the `DatasetDict`.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ..labels import TaskInfo
from ..store import RunInfo
from ..text import plural, shorten
from .card_checks import JUDGE_COLUMNS, checks_section, verification_lead
from .card_checks import judge_columns_in as _judged
from .files import features
from .rows import DROP_REASONS, CleaningFigures, Dropped, Row

NOT_RECORDED = "not recorded for this run"


@dataclass(frozen=True)
class PromptUsed:
    """The template a model received, as its plan recorded it. A base model in completion mode gets a few-shot
    prompt built from the round instead of the run's template."""

    template: str  # the template's name
    text: str  # the template's text; "" when not recorded
    how: str  # one phrase for the card


def prompt_used(run: RunInfo, alias: str) -> PromptUsed:
    """What the run's plan for `alias` says the model received."""
    plan = run.plan_of(alias)
    if plan is None:
        return PromptUsed("-", "", f"{NOT_RECORDED} (it was stored before synthgen kept what each model is sent)")
    wrap = (
        ""
        if plan.prompt_format == "{prompt}"
        else f", inside the model's prompt format `{json.dumps(plan.prompt_format)[1:-1]}`"
    )
    if plan.few_shot:
        return PromptUsed(
            plan.template,
            plan.template_text,
            "a few-shot completion prompt built from the round "
            f"(few-shot template `{plan.template}`), not the run's template{wrap}",
        )
    same = (plan.template, plan.template_text) == (run.template, run.template_text)
    return PromptUsed(
        plan.template, plan.template_text, ("the run's template" if same else f"the template `{plan.template}`") + wrap
    )


def model_params(run: RunInfo) -> dict[str, Any]:
    """Per model, the request parameters its plan resolved (table defaults deep-merged with the run's overrides)."""
    out: dict[str, Any] = {}
    for alias in run.models:
        plan = run.plan_of(alias)
        out[alias] = plan.params if plan is not None else NOT_RECORDED
    return out


def size_category(n: int) -> str:
    for bound, name in (
        (1_000, "n<1K"),
        (10_000, "1K<n<10K"),
        (100_000, "10K<n<100K"),
        (1_000_000, "100K<n<1M"),
        (10_000_000, "1M<n<10M"),
    ):
        if n < bound:
            return name
    return "10M<n<100M"


def _number(n: int) -> str:
    words = ("one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten")
    return words[n - 1] if 1 <= n <= len(words) else str(n)


def _or(names: Sequence[str]) -> str:
    """`a, b or c`: the label names in order, in backticks."""
    shown = [f"`{n}`" for n in names]
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} or {shown[-1]}"


def _row(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _task_section(task: TaskInfo, every: list[Row]) -> list[str]:
    """The task's name, description and labels in ClassLabel order, each with what it means and its share."""
    counts = Counter(r.label for r in every)
    lines = ["## Task", "", f"`{task.name}`: {_cell(task.description, 400)}", ""]
    lines += ["| id | label | meaning | texts |", "|---|---|---|---|"]
    for i, label in enumerate(task.labels):
        meaning = _cell(label.description) or "-"
        weight = f" (weight {label.weight:g})" if label.weight != 1.0 else ""
        lines.append(f"| {i} | `{label.name}` | {meaning}{weight} | {counts[i]} ({_pct(counts[i], len(every))}) |")
    lines.append("")
    return lines


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def _cell(text: str | None, width: int = 120) -> str:
    """`text` shortened to one line, fit for a Markdown table cell."""
    return shorten(text, width).replace("|", "\\|")


def _fence(text: str) -> str:
    """A fenced block that survives backticks inside `text`."""
    ticks = "`" * max(3, max((len(m) for m in re.findall(r"`+", text)), default=0) + 1)
    return f"{ticks}text\n{text}\n{ticks}"


def card_metadata(
    format: str, splits: Iterable[str], labels: Sequence[str] | None = None, judge: bool = False
) -> dict[str, Any]:
    """`dataset_info` (the features of the files written) and `configs` (which file is which split) for the card's
    YAML, so `datasets.load_dataset(out)` reads ClassLabel labels from CSV and JSON Lines too. (No split sizes:
    `load_dataset` would verify them, and they are in export.json.)"""
    from datasets import DatasetInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCardData

    data = DatasetCardData()
    feats = features(format, judge=judge) if labels is None else features(format, labels, judge)
    DatasetInfosDict({"default": DatasetInfo(features=feats)}).to_dataset_card_data(data)
    files = [
        {"split": split, "path": f"{split}/*.arrow" if format == "disk" else f"{split}.{format}"} for split in splits
    ]
    return {"configs": [{"config_name": "default", "data_files": files}], "dataset_info": data.dataset_info}


def render_card(
    *,
    run: RunInfo,
    splits: dict[str, list[Row]],
    dropped: Sequence[Dropped],
    cleaning: dict[str, CleaningFigures],
    model_ids: dict[str, str],
    categories: dict[str, int],
    test_size: float,
    seed: int,
    pretty_name: str,
    license: str = "other",
    format: str | None = "disk",
    partial: str | None = None,
    checked: Any = None,
    diversity: Any = None,
    cost: Sequence[str] = (),
) -> str:
    """The dataset card: YAML metadata the Hub reads, then what was made and how.

    `format` is the files' format, whose features and split files the YAML states; None for the card that goes to
    the Hub, where `push_to_hub` writes those for the Parquet files it uploads (and fails on a `dataset_info`
    without split sizes). `partial` is the sentence saying how much of an unfinished run's plan the export holds."""
    from huggingface_hub import DatasetCardData

    task = run.task_info()
    names = task.names
    total = sum(len(rows) for rows in splits.values())
    every = [row for rows in splits.values() for row in rows]
    per_round = max((len(r.topics) for r in every), default=3)
    meta = DatasetCardData(
        language=["en"],
        license=license,
        task_categories=["text-classification"],
        task_ids=["sentiment-classification" if "sentiment" in task.name else "multi-class-classification"],
        size_categories=[size_category(total)],
        tags=list(dict.fromkeys(["synthetic", task.name, "synthgen"])),
        pretty_name=pretty_name,
        **(card_metadata(format, splits, names, _judged(splits)) if format is not None else {}),
    )
    lines = ["---", meta.to_yaml().strip(), "---", "", f"# {pretty_name}", ""]
    lines += [
        f"Synthetic English sentences for the task `{task.name}`, each labelled with one of "
        f"{_number(len(names))} labels ({_or(names)}), written by "
        f"{plural(len(model_ids), 'large language model')} from prompts that combine a label with "
        f"{_number(per_round)} topics. "
        f"Made with synthgen from run `{run.run_id}`: "
        f"{total} texts, {len(splits.get('train', []))} in `train` and {len(splits.get('test', []))} in "
        "`test`.",
        "",
    ]
    if partial:
        lines += [f"**Partial run.** {partial}", ""]
    lines += verification_lead(checked)
    lines += _task_section(task, every)

    lines += [
        "## Columns",
        "",
        "| column | type | meaning |",
        "|---|---|---|",
        "| `text` | string | the sentence (the cleaned sentence where the model's answers were cleaned) |",
        f"| `labels` | ClassLabel | {', '.join(f'{i} = {name}' for i, name in enumerate(names))} |",
        "| `model` | string | the synthgen alias of the model that wrote it (see Models) |",
        (
            f"| `topics` | string (JSON array) | the {_number(per_round)} prompted topics, as `Category: topic`; CSV "
            "has no list type, so each cell is a JSON array string: parse it with `json.loads` |"
            if format == "csv"
            else f"| `topics` | list of strings | the {_number(per_round)} prompted topics, as `Category: topic` |"
        ),
        "| `run` | string | the synthgen run id |",
        "| `record_id` | string | the stored record, `RUN/ROUND/MODEL` |",
        *(JUDGE_COLUMNS if _judged(splits) else []),
        "",
    ]

    lines += ["## Label balance", "", _row(["split", *names, "total"]), "|---" * (len(names) + 2) + "|"]
    for name, part in [*splits.items(), ("all", every)]:
        counts = Counter(r.label for r in part)
        shares = [f"{counts[i]} ({_pct(counts[i], len(part))})" for i in range(len(names))]
        lines.append(_row([name, *shares, str(len(part))]))
    lines += [
        "",
        f"Split: test share {test_size:g}, stratified by label and, within each label, by model; "
        f"shuffled with seed {seed}.",
        "",
    ]

    lines += ["## Counts per model and label", "", _row(["model", *names, "total"])]
    lines.append("|---" * (len(names) + 2) + "|")
    per_model: dict[str, Counter[int]] = {m: Counter() for m in model_ids}
    for rows in splits.values():
        for r in rows:
            per_model.setdefault(r.model, Counter())[r.label] += 1
    for model, counts in per_model.items():
        lines.append(_row([model, *(str(counts[i]) for i in range(len(names))), str(sum(counts.values()))]))
    lines.append("")

    lines += ["## Models", "", "| alias | model id |", "|---|---|"]
    lines += [f"| {alias} | `{model_id}` |" for alias, model_id in model_ids.items()]
    lines.append("")

    lines += _prompt_section(run, list(model_ids), per_round)
    lines += _topic_section(run, every, categories, per_round)
    lines += _cleaning_section(cleaning, dropped)
    lines += checks_section(checked, diversity, names)

    lines += list(cost)  # export/cost_section.py: what the outcomes cost
    lines += [
        "## Generation parameters",
        "",
        f"- run: `{run.run_id}` (created {run.created_at}, status {run.status})",
        f"- seed: {run.seed}",
        f"- rounds: {run.rounds} (each round asks every model once)",
        f"- models: {', '.join(run.models)}",
        "",
        "Per-model request parameters, as resolved when the run was "
        "planned (the model table's defaults merged with the run's overrides):",
        "",
        "```json",
        json.dumps(model_params(run), indent=2, ensure_ascii=False, sort_keys=True),
        "```",
        "",
    ]
    lines += [
        "## Use and limitations",
        "",
        "The texts come from the models listed above; their providers' terms of use apply to them. "
        "Expect the styles, clichés and biases of those models"
        + (
            ", and judges that err too (see Verification). "
            if checked is not None and checked.judged
            else ", and sentences that do not carry the requested label. "
        )
        + "Good for bootstrapping or testing a classifier; measure on real data (`synthgen evaluate`).",
        "",
    ]
    return "\n".join(lines)


def _prompt_section(run: RunInfo, aliases: list[str], per_round: int = 3) -> list[str]:
    prompts = {alias: prompt_used(run, alias) for alias in aliases}
    lines = [
        "## Prompt templates",
        "",
        f"Each round drew one label (balanced over the run) and {_number(per_round)} topics, and every model of "
        "the round was asked about that same label and those topics, filled into the template it received (as the "
        "run recorded it when it was planned):",
        "",
        "| model | template | what the model received |",
        "|---|---|---|",
    ]
    lines += [
        f"| {alias} | `{used.template}` | {used.how.replace('|', chr(92) + '|')} |" for alias, used in prompts.items()
    ]
    lines.append("")
    shown: dict[tuple[str, str], list[str]] = {}
    for alias, used in prompts.items():
        if used.text:
            shown.setdefault((used.template, used.text), []).append(alias)
    for (name, text), aliases_of in shown.items():
        lines += [f"### `{name}` ({', '.join(aliases_of)})", "", _fence(text), ""]
    if run.template_text and (run.template, run.template_text) not in shown:
        if any(not used.text for used in prompts.values()):  # not recorded: the run's own template, as stored
            lines += [f"### The run's template `{run.template}`", "", _fence(run.template_text), ""]
        else:
            lines += [
                f"The run's template `{run.template}` is stored in each record's `prompt` field; no model "
                "received it as it is.",
                "",
            ]
    return lines


def _topic_section(run: RunInfo, every: list[Row], categories: dict[str, int], per_round: int = 3) -> list[str]:
    topic_counts: Counter[tuple[str, str]] = Counter()
    for row in every:
        for item in row.topics:
            category, _, topic = item.partition(": ")
            topic_counts[(category, topic)] += 1
    texts_per_category: Counter[str] = Counter()
    for (category, _), n in topic_counts.items():
        texts_per_category[category] += n
    lines = [
        "## Topics",
        "",
        f"Topics source: `{run.topics_source}`. Each round drew {_number(per_round)} categories without "
        "repeats and one topic from each. Categories used (distinct topics used; texts in this dataset prompted "
        "with one of them):",
        "",
    ]
    lines += [
        f"- {category} ({plural(n, 'topic')}; {plural(texts_per_category[category], 'text')})"
        for category, n in sorted(categories.items())
    ] or ["- none recorded"]
    lines.append("")
    if topic_counts:
        lines += [
            f"{plural(len(topic_counts), 'topic')} used, most used first (texts in this dataset whose prompt "
            f"named the topic; each text had {_number(per_round)}):",
            "",
            "| topic | category | texts |",
            "|---|---|---|",
        ]
        lines += [
            f"| {_cell(topic)} | {_cell(category)} | {n} |"
            for (category, topic), n in sorted(topic_counts.items(), key=lambda kv: (-kv[1], kv[0][0], kv[0][1]))
        ]
        lines.append("")
    return lines


def _cleaning_section(cleaning: dict[str, CleaningFigures], dropped: Sequence[Dropped]) -> list[str]:
    lines = [
        "## Cleaning",
        "",
        "Where a model's answers were cleaned (synthgen keeps exactly the target sentence "
        "of each answer), the cleaned sentence was exported instead of the raw answer.",
        "",
        "| model | ok answers | cleaned sentence used | cleaner kept none (dropped) | raw answer used | method |",
        "|---|---|---|---|---|---|",
    ]
    for model, fig in cleaning.items():
        method = ", ".join(f"`{m}`" for m in fig.methods) or "-"
        lines.append(f"| {model} | {fig.answers} | {fig.cleaned} | {fig.none_kept} | {fig.raw} | {method} |")
    lines.append("")

    counts = Counter(d.reason for d in dropped)
    lines += [
        "## Dropped before the split",
        "",
        "Texts were deduplicated before splitting, so no text (nor a near copy of one) is in both splits; "
        "the first text in round order was kept.",
        "",
        "| reason | count |",
        "|---|---|",
    ]
    lines += [f"| {DROP_REASONS[reason]} | {counts[reason]} |" for reason in DROP_REASONS]
    conflicts = sum(1 for d in dropped if d.label_conflict)
    if conflicts:
        lines += ["", f"{plural(conflicts, 'dropped duplicate')} carried the other label than the text kept."]
    examples = [d for reason in DROP_REASONS for d in [x for x in dropped if x.reason == reason][:2]]
    if examples:
        lines += ["", "Examples (all of them are in `dropped.jsonl` next to an exported card):", ""]
        lines += [f'- {DROP_REASONS[d.reason].split(" (")[0]}, `{d.record_id}`: "{_cell(d.text)}"' for d in examples]
    lines.append("")
    return lines
