"""Keep API keys out of everything synthgen prints or stores."""

from __future__ import annotations

import json
import os
import re
from typing import Any

# Variables whose values are secrets wherever they turn up.
SECRET_VARS = (
    "OPENAI_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "HF_TOKEN",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "SYNTHGEN_LOCAL_API_KEY",
)

# Shapes of keys, each with a literal it cannot match without (a cheap test first: redaction runs on every
# stored response, and a regex with \b is tried at every position of the text).
_KEY_PATTERNS = [
    (re.compile(r"(?i)(key=)[^&\s\"']+"), "key=", True),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+"), "bearer", True),
    (re.compile(r"\b(sk-)[A-Za-z0-9_\-]{8,}"), "sk-", False),
    (re.compile(r"\b(AIza)[A-Za-z0-9_\-]{20,}"), "AIza", False),
]


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """Replace every known secret value, and anything shaped like a key, with `***`."""
    if not text:
        return text
    for name in SECRET_VARS:
        value = os.environ.get(name)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    for value in extra:
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    lowered = text.lower()
    for pattern, needle, any_case in _KEY_PATTERNS:
        if needle in (lowered if any_case else text):
            text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


def redact_data(value: Any, extra: tuple[str, ...] = ()) -> Any:
    """`value` (decoded JSON: dicts, lists, strings) with `redact` applied to every string, keys included.

    Returns `value` itself when nothing in it needs redacting (the common case, checked on its JSON text once)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):  # not JSON-shaped (a cycle): walk it
        text = None
    if text is not None and redact(text, extra) == text:
        return value
    return _redact_tree(value, extra)


def _redact_tree(value: Any, extra: tuple[str, ...]) -> Any:
    if isinstance(value, str):
        return redact(value, extra)
    if isinstance(value, dict):
        return {(redact(k, extra) if isinstance(k, str) else k): _redact_tree(v, extra) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_tree(v, extra) for v in value]
    if isinstance(value, bytes):
        return redact(value.decode("utf-8", "replace"), extra)
    return value


def one_line(text: str, limit: int = 500) -> str:
    """Whitespace collapsed to single spaces, cut to `limit` characters: fit for one line of output."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"
