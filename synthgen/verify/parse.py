"""Reading a judge's answer: structured output where the protocol gave one, a strict parse of plain text otherwise.

Strict: the answer must name exactly one of the task's labels (as a whole word, in any case); an answer naming
none or several is no verdict (a failed `answer_missing`, retried like any missing answer), never a guess.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


class NoVerdict(ValueError):
    """The judge's answer names no label (or several, or one the task lacks)."""


@dataclass(frozen=True)
class Reading:
    label: str
    confidence: float | None = None
    probs: dict[str, float] | None = None


def _confidence(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    value = float(value)
    if value > 1.0 and value <= 100.0:  # a percentage
        value /= 100.0
    return min(max(value, 0.0), 1.0)


def _from_object(data: Mapping[str, Any], labels: Sequence[str]) -> Reading:
    label = data.get("label")
    if not isinstance(label, str):
        raise NoVerdict(f"the judge's JSON has no label: {json.dumps(data)[:120]}")
    found = strict_label(label, labels)
    return Reading(found, _confidence(data.get("confidence")))


def _tool_input(node: Any) -> Mapping[str, Any] | None:
    """The input of the first tool call in a Converse response (`content[].toolUse.input`)."""
    if isinstance(node, Mapping):
        use = node.get("toolUse")
        if isinstance(use, Mapping) and isinstance(use.get("input"), Mapping):
            return use["input"]
        for value in node.values():
            if (found := _tool_input(value)) is not None:
                return found
    elif isinstance(node, list):
        for value in node:
            if (found := _tool_input(value)) is not None:
                return found
    return None


def strict_label(text: str, labels: Sequence[str]) -> str:
    """The one label `text` names, as a whole word; NoVerdict for none or several."""
    words = set(re.findall(r"[a-z][a-z0-9_-]*", text.lower()))
    named = [label for label in labels if label in words]
    if len(named) == 1:
        return named[0]
    shown = text.strip()[:80]
    if not named:
        raise NoVerdict(f"the answer names none of the labels ({', '.join(labels)}): {shown!r}")
    raise NoVerdict(f"the answer names several labels ({', '.join(named)}): {shown!r}")


def read_verdict(text: str | None, raw: Any, labels: Sequence[str]) -> Reading:
    """The label (and confidence) a chat judge gave: its JSON answer, a tool call's input, or its plain text."""
    if text is not None:
        stripped = text.strip()
        if stripped.startswith("```"):
            stripped = stripped.strip("`").removeprefix("json").strip()
        if stripped.startswith("{"):
            try:
                data = json.loads(stripped)
            except ValueError:
                data = None
            if isinstance(data, Mapping):
                return _from_object(data, labels)
    tool = _tool_input(raw)
    if tool is not None:
        return _from_object(tool, labels)
    if text is None:
        raise NoVerdict("the judge sent no answer")
    return Reading(strict_label(text, labels))
