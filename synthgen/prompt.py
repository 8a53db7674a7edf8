"""Topics, templates and the seeded round planner: pure functions from (seed, rounds, labels) to exactly what is
prompted.

A round draws one label (balanced over the run: `balanced_labels`) and `topics_per_round` topics from as many
categories, and renders the template. Templates fill `{label}` (and `{sentiment}`, its name from before tasks),
`{label_description}`, `{labels}` (every label's name), `{topic_lines}` and `{topics}`.
"""

from __future__ import annotations

import math
import random
import string
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import not_utf8
from .errors import UserError
from .labels import SENTIMENT_TASK, Label, sentiment_alias
from .paths import data_dir

SENTIMENTS = SENTIMENT_TASK.names  # the seed's labels: ("negative", "positive")
PLACEHOLDERS = {"label", "label_description", "labels", "sentiment", "topic_lines", "topics"}
TOPICS_PER_ROUND = 3
DEFAULT_TEMPLATE = "sentiment"
DEFAULT_TOPICS = "sentiment"


@dataclass(frozen=True)
class Topic:
    category: str
    topic: str


@dataclass(frozen=True)
class Template:
    name: str
    text: str
    source: str

    def render(self, label: str, topics: tuple[Topic, ...], description: str = "", labels: Sequence[str] = ()) -> str:
        return self.text.format(
            label=label,
            sentiment=label,
            label_description=description,
            labels=", ".join(labels),
            topic_lines="\n".join(f"- {t.category}: {t.topic}" for t in topics),
            topics=", ".join(t.topic for t in topics),
        )


@sentiment_alias
@dataclass(frozen=True)
class RoundPlan:
    """One round: what every model is asked, recorded exactly as prompted. (`sentiment=` and `.sentiment` are
    the label's deprecated name from before tasks.)"""

    index: int
    label: str
    topics: tuple[Topic, ...]
    prompt: str

    def topics_json(self) -> list[dict[str, str]]:
        return [{"category": t.category, "topic": t.topic} for t in self.topics]


@dataclass(frozen=True)
class FewShot:
    """A base model's few-shot completion prompt: worked examples, then the round as the last, open item.

    `examples` are the worked examples' texts (an answer copying one is no new text); `labels` give the
    descriptions `{label_description}` is filled with."""

    template: Template
    examples: tuple[str, ...] = ()
    labels: tuple[Label, ...] = ()

    def render(self, plan: RoundPlan) -> str:
        description = next((lab.description for lab in self.labels if lab.name == plan.label), "")
        return self.template.render(plan.label, plan.topics, description, [lab.name for lab in self.labels])


def _named_file(name_or_path: str, kind: str, folder: str, suffix: str) -> Path:
    path = Path(name_or_path).expanduser()
    if path.suffix == suffix or path.exists():
        return path
    return data_dir(folder) / f"{name_or_path}{suffix}"


def load_topics(
    name_or_path: str = DEFAULT_TOPICS, *, flag: str = "--topics", at_least: int = TOPICS_PER_ROUND
) -> dict[str, tuple[str, ...]]:
    """Categories and their topics, from a shipped name (`sentiment`) or a TOML file with a [categories] table.

    `flag` starts every error line (a task file names itself and its field there)."""
    path = _named_file(name_or_path, "topics", "topics", ".toml")
    try:
        with path.open("rb") as fh:
            table = tomllib.load(fh)
    except OSError as exc:
        raise UserError(
            f"{flag} {path}: cannot read topics file ({exc.strerror}); name a shipped set or a TOML file"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{flag} {path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{flag} {path}: {not_utf8(exc)}; save the topics file as UTF-8") from None
    categories = table.get("categories")
    if not isinstance(categories, dict) or not categories:
        raise UserError(f'{flag} {path}: needs a [categories] table of `Category = ["topic", ...]`')
    out: dict[str, tuple[str, ...]] = {}
    for category, topics in categories.items():
        if not isinstance(topics, list) or not topics or not all(isinstance(t, str) and t for t in topics):
            raise UserError(f"{flag} {path}: category '{category}' needs a non-empty list of topic strings")
        out[category] = tuple(topics)
    if len(out) < at_least:
        raise UserError(f"{flag} {path}: needs at least {at_least} categories, found {len(out)}")
    return out


def template_fields(text: str) -> set[str]:
    """The placeholders of a template text; ValueError for a brace that is no placeholder."""
    return {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}


def shipped_templates() -> list[str]:
    return sorted(p.stem for p in data_dir("prompts").glob("*.txt") if not p.stem.startswith("topic-"))


def load_template(name_or_path: str = DEFAULT_TEMPLATE, *, flag: str = "--template") -> Template:
    """A prompt template by shipped name (`sentiment`, `sentiment-faithful`) or path; placeholders are checked.

    `flag` starts every error line (a task file names itself and its field there)."""
    path = _named_file(name_or_path, "template", "prompts", ".txt")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        shipped = ", ".join(shipped_templates())
        raise UserError(f"{flag} {name_or_path}: cannot read {path} ({exc.strerror}); shipped: {shipped}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{flag} {path}: {not_utf8(exc)}; save the template as UTF-8") from None
    if text.endswith("\n"):
        text = text[:-1]
    if not text.strip():
        raise UserError(
            f"{flag} {path}: the template is empty; write the prompt, with placeholders such as "
            "{label} and {topic_lines}"
        )
    return checked_template(Template(name=path.stem, text=text, source=str(path)), f"{flag} {path}")


def checked_template(template: Template, where: str) -> Template:
    """`template` when every placeholder is one synthgen fills and it renders; else one line starting `where`."""
    try:
        fields = template_fields(template.text)
    except ValueError as exc:
        raise UserError(f"{where}: {exc}; write {{{{ and }}}} for literal braces") from None
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise UserError(
            f"{where}: unknown placeholder(s) {', '.join('{' + f + '}' for f in sorted(unknown))}; "
            f"use {', '.join('{' + f + '}' for f in sorted(PLACEHOLDERS))}"
        )
    try:  # a format spec or conversion is only checked when rendered: render once now, not mid-run
        template.render(SENTIMENTS[0], (Topic("Category", "topic"),) * TOPICS_PER_ROUND, "a label", SENTIMENTS)
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        raise UserError(
            f"{where}: cannot be filled in ({exc}); write plain placeholders such as "
            "{label}, and {{ and }} for literal braces"
        ) from None
    return template


def _label_counts(rounds: int, weights: Sequence[float], rng: random.Random) -> list[int]:
    """Rounds per label: each within one of rounds x its share of the weights (largest remainder; the labels tied
    for the last extra rounds are drawn by `rng`)."""
    total = sum(weights)
    ideal = [rounds * w / total for w in weights]
    counts = [math.floor(v + 1e-9) for v in ideal]
    short = rounds - sum(counts)
    if short > 0:
        part = [v - c for v, c in zip(ideal, counts, strict=True)]
        cut = sorted(part, reverse=True)[short - 1]
        sure = [i for i, p in enumerate(part) if p > cut + 1e-9]
        tied = [i for i, p in enumerate(part) if abs(p - cut) <= 1e-9]
        need = short - len(sure)
        drawn = [rng.choice(tied)] if need == 1 else rng.sample(tied, need)
        for i in (*sure, *drawn):
            counts[i] += 1
    return counts


def balanced_labels(
    rounds: int, rng: random.Random, labels: Sequence[str] = SENTIMENTS, weights: Sequence[float] | None = None
) -> list[str]:
    """Every label its share of the rounds (rounds / N each, or in proportion to `weights`; within one), in a
    seeded order. For two labels of equal weight this is the draw synthgen made before tasks, to the byte."""
    labels = tuple(labels)
    counts = _label_counts(rounds, weights or [1.0] * len(labels), rng)
    sequence: list[str] = []
    left = list(counts)
    while len(sequence) < rounds:  # round-robin in label order: [a, b, a, b, ..., extras]; shuffled below
        for i, label in enumerate(labels):
            if left[i]:
                sequence.append(label)
                left[i] -= 1
    rng.shuffle(sequence)
    return sequence


def balanced_sentiments(rounds: int, rng: random.Random) -> list[str]:
    """Deprecated: `balanced_labels` over the seed's two labels."""
    return balanced_labels(rounds, rng)


def iter_plans(
    rounds: int,
    seed: int,
    template: Template | None = None,
    categories: dict[str, tuple[str, ...]] | None = None,
    labels: Sequence[Label] | None = None,
    topics_per_round: int = TOPICS_PER_ROUND,
) -> Iterator[RoundPlan]:
    """Plan every round of a run, one round at a time (a large run is never held whole). Pure: the same arguments
    always give the same plans. `labels` default to the seed's sentiment task."""
    if rounds < 1:
        raise UserError(f"--rounds {rounds}: must be at least 1")
    template = template or load_template()
    categories = categories or load_topics()
    labels = tuple(labels or SENTIMENT_TASK.labels)
    names = [lab.name for lab in labels]
    descriptions = {lab.name: lab.description for lab in labels}
    rng = random.Random(seed)
    weights = [lab.weight for lab in labels]
    drawn = balanced_labels(rounds, rng, names, None if len(set(weights)) == 1 else weights)
    categories_names = list(categories)
    for index, label in enumerate(drawn):
        picked = rng.sample(categories_names, topics_per_round)
        topics = tuple(Topic(c, rng.choice(categories[c])) for c in picked)
        prompt = template.render(label, topics, descriptions[label], names)
        yield RoundPlan(index=index, label=label, topics=topics, prompt=prompt)


def plan_run(rounds: int, seed: int, *args: Any, **kwargs: Any) -> list[RoundPlan]:
    """Every round of a run, as a list: `iter_plans`, which makes them one at a time, with the same arguments."""
    return list(iter_plans(rounds, seed, *args, **kwargs))
