"""What a provider sent, made storable and safe to show: no store can hold a lone surrogate, and no key may be
kept or printed (answer text, finish reason, failure message, raw response, notes).

`storable_result` is how `Adapter.call` turns what it got into its CallResult; pure functions on decoded JSON.
"""

from __future__ import annotations

import dataclasses
import math
import re
from typing import TYPE_CHECKING, Any

from ..results import CallResult, Failure, Usage
from ..secrets import Redactor
from ..text import shorten

if TYPE_CHECKING:
    from ..catalog import ModelSpec

_SURROGATE = re.compile("[\\ud800-\\udfff]")
_NUMERIC = re.compile(r"[-+]?(?:[0-9.eE+-]{1,24}|nan|inf|infinity)", re.IGNORECASE)


def storable(text: str) -> tuple[str, int]:
    """`text` with every lone surrogate (a JSON `\\ud800` escape without its pair, which no UTF-8 can hold, so
    no store can take it) replaced by U+FFFD, and how many there were."""
    if text.isascii():
        return text, 0
    return _SURROGATE.subn("\ufffd", text)


def clean_tree(value: Any, redact: Redactor) -> tuple[Any, bool, int]:
    """Decoded JSON redacted and storable in one walk: every string (keys too) redacted, then free of lone
    surrogates; whether a credential was redacted, and how many surrogates were replaced. What needs neither is
    returned as it is (no copy)."""
    if isinstance(value, str):
        if not value:
            return value, False, 0
        redacted = redact.text(value)
        text, count = storable(redacted)
        return text, redacted is not value and redacted != value, count
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        changed, total = False, 0
        for key, item in value.items():
            if isinstance(key, str):
                new_key, found, count = clean_tree(key, redact)
                changed, total = changed or found, total + count
            else:
                new_key = key
            new_item, found, count = clean_tree(item, redact)
            changed, total = changed or found, total + count
            out[new_key] = new_item
        return (out, changed, total) if changed or total else (value, False, 0)
    if isinstance(value, list | tuple):
        triples = [clean_tree(item, redact) for item in value]
        changed = any(found for _, found, _ in triples)
        total = sum(count for _, _, count in triples)
        return ([item for item, _, _ in triples], changed, total) if changed or total else (value, False, 0)
    if isinstance(value, bytes):  # as redact_data reads bytes: as text
        return clean_tree(value.decode("utf-8", "replace"), redact)
    return value, False, 0


def surrogate_note(count: int, where: str) -> str:
    return f"{count} lone surrogate{'s' if count > 1 else ''} in the {where} replaced by U+FFFD"


def shown(value: Any) -> str:
    """A provider's value as a note may show it: a number as written (cut short), anything else by its type only
    (a string in a usage field could be anything, a key included)."""
    if value is None or isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int) and value.bit_length() > 64:
        return f"(an integer of {len(format(value, 'x'))} hex digits)"
    if isinstance(value, int | float):
        text = repr(value)
        return text if len(text) <= 24 else text[:21] + "..."
    if isinstance(value, str):
        return repr(value) if _NUMERIC.fullmatch(value) else f"(a string of {len(value)} characters)"
    return f"(a {type(value).__name__})"


def storable_result(
    spec: ModelSpec,
    secret: tuple[str, ...],
    *,
    body: dict[str, Any],
    latency: float,
    raw: Any,
    text: str | None,
    finish: str | None,
    usage: Usage,
    failure: Failure | None,
    notes: list[str],
) -> CallResult:
    """The call's result as it may be printed and stored: the answer, finish reason, failure message and every
    string of the raw response redacted (the model's own key included) and free of lone surrogates, the message
    on one line, and `notes` saying what was changed."""
    notes = list(notes)
    redact = Redactor(secret)
    if text is not None and (clean := redact.text(text)) != text:
        text = clean
        notes.append("a credential in the answer text was redacted")
    if finish is not None and (clean := redact.text(finish)) != finish:
        finish = clean
        notes.append("a credential in the finish reason was redacted")
    if failure is not None:
        message, count = storable(shorten(redact.text(failure.message)))
        if count:
            notes.append(surrogate_note(count, "failure message"))
        wait = failure.retry_after
        wait = wait if wait is not None and 0 <= wait < math.inf else None  # NaN compares false: None
        failure = dataclasses.replace(failure, message=message, retry_after=wait)
    try:
        redacted, found, count = clean_tree(raw, redact)
        if found:
            notes.append("a credential in the response was redacted")
        if count:
            notes.append(surrogate_note(count, "response"))
    except RecursionError:  # JSON nested deeper than Python recurses: the answer was read, the rest is not kept
        redacted = None
        notes.append("the response was nested too deeply to keep: not stored")
    return CallResult(
        model=spec.alias,
        model_id=spec.model_id,
        request_body=body,
        latency_s=latency,
        text=text,
        raw=redacted,
        usage=usage,
        finish_reason=finish,
        failure=failure,
        notes=notes,
    )
