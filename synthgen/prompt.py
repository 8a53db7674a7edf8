"""Topics, templates and the seeded round planner: pure functions from (seed, rounds) to exactly what is prompted."""

from __future__ import annotations

import random
import string
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .catalog import not_utf8
from .errors import UserError
from .paths import data_dir

SENTIMENTS = ("negative", "positive")
PLACEHOLDERS = {"sentiment", "topic_lines", "topics"}
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

    def render(self, sentiment: str, topics: tuple[Topic, ...]) -> str:
        return self.text.format(
            sentiment=sentiment,
            topic_lines="\n".join(f"- {t.category}: {t.topic}" for t in topics),
            topics=", ".join(t.topic for t in topics),
        )


@dataclass(frozen=True)
class RoundPlan:
    """One round: what every model is asked, recorded exactly as prompted."""

    index: int
    sentiment: str
    topics: tuple[Topic, ...]
    prompt: str

    def topics_json(self) -> list[dict[str, str]]:
        return [{"category": t.category, "topic": t.topic} for t in self.topics]


def _named_file(name_or_path: str, kind: str, folder: str, suffix: str) -> Path:
    path = Path(name_or_path).expanduser()
    if path.suffix == suffix or path.exists():
        return path
    return data_dir(folder) / f"{name_or_path}{suffix}"


def load_topics(name_or_path: str = DEFAULT_TOPICS) -> dict[str, tuple[str, ...]]:
    """Categories and their topics, from a shipped name (`sentiment`) or a TOML file with a [categories] table."""
    path = _named_file(name_or_path, "topics", "topics", ".toml")
    try:
        with path.open("rb") as fh:
            table = tomllib.load(fh)
    except OSError as exc:
        raise UserError(
            f"--topics {path}: cannot read topics file ({exc.strerror}); name a shipped set or a TOML file"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"--topics {path}: not valid TOML ({exc})") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"--topics {path}: {not_utf8(exc)}; save the topics file as UTF-8") from None
    categories = table.get("categories")
    if not isinstance(categories, dict) or not categories:
        raise UserError(f'--topics {path}: needs a [categories] table of `Category = ["topic", ...]`')
    out: dict[str, tuple[str, ...]] = {}
    for category, topics in categories.items():
        if not isinstance(topics, list) or not topics or not all(isinstance(t, str) and t for t in topics):
            raise UserError(f"--topics {path}: category '{category}' needs a non-empty list of topic strings")
        out[category] = tuple(topics)
    if len(out) < TOPICS_PER_ROUND:
        raise UserError(f"--topics {path}: needs at least {TOPICS_PER_ROUND} categories, found {len(out)}")
    return out


def load_template(name_or_path: str = DEFAULT_TEMPLATE) -> Template:
    """A prompt template by shipped name (`sentiment`, `sentiment-faithful`) or path; placeholders are checked."""
    path = _named_file(name_or_path, "template", "prompts", ".txt")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        shipped = ", ".join(sorted(p.stem for p in data_dir("prompts").glob("sentiment*.txt")))
        raise UserError(f"--template {name_or_path}: cannot read {path} ({exc.strerror}); shipped: {shipped}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"--template {path}: {not_utf8(exc)}; save the template as UTF-8") from None
    if text.endswith("\n"):
        text = text[:-1]
    if not text.strip():
        raise UserError(
            f"--template {path}: the template is empty; write the prompt, with placeholders such as "
            "{sentiment} and {topic_lines}"
        )
    try:
        fields = {f for _, f, _, _ in string.Formatter().parse(text) if f is not None}
    except ValueError as exc:
        raise UserError(f"--template {path}: {exc}; write {{{{ and }}}} for literal braces") from None
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise UserError(
            f"--template {path}: unknown placeholder(s) {', '.join('{' + f + '}' for f in sorted(unknown))}; "
            f"use {', '.join('{' + f + '}' for f in sorted(PLACEHOLDERS))}"
        )
    template = Template(name=path.stem, text=text, source=str(path))
    try:  # a format spec or conversion is only checked when rendered: render once now, not mid-run
        template.render(SENTIMENTS[0], (Topic("Category", "topic"),) * TOPICS_PER_ROUND)
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        raise UserError(
            f"--template {path}: cannot be filled in ({exc}); write plain placeholders such as "
            "{sentiment}, and {{ and }} for literal braces"
        ) from None
    return template


def balanced_sentiments(rounds: int, rng: random.Random) -> list[str]:
    """Half positive, half negative (within one), in a seeded order."""
    sequence = [SENTIMENTS[i % 2] for i in range(rounds)]
    if rounds % 2:
        sequence[-1] = rng.choice(SENTIMENTS)
    rng.shuffle(sequence)
    return sequence


def iter_plans(
    rounds: int,
    seed: int,
    template: Template | None = None,
    categories: dict[str, tuple[str, ...]] | None = None,
) -> Iterator[RoundPlan]:
    """Plan every round of a run, one round at a time (a large run is never held whole). Pure: the same arguments
    always give the same plans."""
    if rounds < 1:
        raise UserError(f"--rounds {rounds}: must be at least 1")
    template = template or load_template()
    categories = categories or load_topics()
    rng = random.Random(seed)
    sentiments = balanced_sentiments(rounds, rng)
    names = list(categories)
    for index, sentiment in enumerate(sentiments):
        picked = rng.sample(names, TOPICS_PER_ROUND)
        topics = tuple(Topic(c, rng.choice(categories[c])) for c in picked)
        yield RoundPlan(index=index, sentiment=sentiment, topics=topics, prompt=template.render(sentiment, topics))


def plan_run(
    rounds: int,
    seed: int,
    template: Template | None = None,
    categories: dict[str, tuple[str, ...]] | None = None,
) -> list[RoundPlan]:
    """Every round of a run, as a list (`iter_plans` for one at a time)."""
    return list(iter_plans(rounds, seed, template, categories))
