"""A task's labels, and the form in which a run stores its task: small shared types.

A task file (`task.py`) says what one kind of dataset is; a run keeps what it was asked to label (`TaskInfo`:
the task's name, description, labels in order and its worked examples) in `RunInfo.task` when it is planned.
Everything downstream (stats, export, the card, topics) reads that, never today's task file, so a task edited
after the run cannot change what the run's dataset says. A run stored before tasks existed reads as the seed's
`sentiment` task (`SENTIMENT_TASK`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, fields
from typing import Any

# A label is a plain name: it becomes a ClassLabel name, a column header, a file name part.
LABEL_NAME = re.compile(r"[a-z][a-z0-9_-]*\Z")
LABEL_NAME_HINT = "lower-case letters, digits, '_' and '-', starting with a letter (e.g. very_positive)"


@dataclass(frozen=True)
class Label:
    name: str
    description: str = ""  # one line: what a text with this label is, for the prompt and the card
    weight: float = 1.0  # the planner gives the label rounds in proportion to its weight


@dataclass(frozen=True)
class TaskInfo:
    """What a run was asked to label, as stored with the run."""

    name: str
    description: str
    labels: tuple[Label, ...]
    examples: tuple[str, ...] = ()  # the few-shot worked examples' texts: an answer copying one is no new text

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    def description_of(self, name: str) -> str:
        return next((label.description for label in self.labels if label.name == name), "")

    def to_dict(self) -> dict[str, Any]:
        labels = []
        for label in self.labels:
            item: dict[str, Any] = {"name": label.name, "description": label.description}
            if label.weight != 1.0:
                item["weight"] = label.weight
            labels.append(item)
        return {
            "name": self.name,
            "description": self.description,
            "labels": labels,
            "examples": list(self.examples),
        }

    @classmethod
    def from_dict(cls, data: Any) -> TaskInfo | None:
        """The stored task; None for a run stored before tasks (or a damaged entry): reading never fails."""
        if not isinstance(data, dict) or not isinstance(data.get("labels"), list) or not data["labels"]:
            return None
        labels = []
        for item in data["labels"]:
            if isinstance(item, str):
                item = {"name": item}
            if not isinstance(item, dict) or not isinstance(item.get("name"), str):
                return None
            weight = item.get("weight", 1.0)
            labels.append(
                Label(
                    item["name"],
                    str(item.get("description") or ""),
                    float(weight) if isinstance(weight, int | float) and weight > 0 else 1.0,
                )
            )
        examples = data.get("examples") or []
        return cls(
            name=str(data.get("name") or "task"),
            description=str(data.get("description") or ""),
            labels=tuple(labels),
            examples=tuple(e for e in examples if isinstance(e, str)) if isinstance(examples, list) else (),
        )


# The seed's task. tasks/sentiment.toml says the same (tests/test_tasks.py checks it); this copy is what a run
# stored before tasks existed reads as, and what the planner uses when no task is named.
SENTIMENT_TASK = TaskInfo(
    name="sentiment",
    description="Binary sentiment: does a sentence express a negative or a positive feeling or outlook?",
    labels=(
        Label("negative", "expresses a negative feeling, opinion or outlook"),
        Label("positive", "expresses a positive feeling, opinion or outlook"),
    ),
)


def sentiment_alias(cls: type) -> type:
    """A dataclass with a `label` field that also takes `sentiment=` (the label's name before tasks) and reads
    `.sentiment` as `.label`. Deprecated, kept so code written for the sentiment-only synthgen keeps working;
    a `sentiment` that differs from a `label` given too is refused (they are one field)."""
    init = cls.__init__
    position = [f.name for f in fields(cls) if f.init].index("label") + 1  # after `self`

    @functools.wraps(init)
    def __init__(self, *args: Any, sentiment: str | None = None, **kwargs: Any) -> None:
        if sentiment is not None:
            given = args[position - 1] if len(args) >= position else kwargs.get("label")
            if given not in (None, "", sentiment):
                raise ValueError(f"label {given!r} and sentiment {sentiment!r} differ; they are one field: set label")
            if len(args) >= position:
                args = (*args[: position - 1], sentiment, *args[position:])
            else:
                kwargs["label"] = sentiment
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]
    cls.sentiment = property(lambda self: self.label, doc="Deprecated: the label (`sentiment` before tasks).")
    return cls
