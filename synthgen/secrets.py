"""Keep API keys out of everything synthgen prints or stores."""

from __future__ import annotations

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
    "SYNTHGEN_EMBED_API_KEY",
)

# Shapes of keys, each with a literal it cannot match without (a cheap test first: redaction runs on every
# stored response, and a regex with \b is tried at every position of the text).
_KEY_PATTERNS = [
    (re.compile(r"(?i)(key=)[^&\s\"']+"), "key=", True),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+"), "bearer", True),
    (re.compile(r"\b(sk-)[A-Za-z0-9_\-]{8,}"), "sk-", False),
    (re.compile(r"\b(AIza)[A-Za-z0-9_\-]{20,}"), "AIza", False),
]


def _secret_values(extra: tuple[str, ...]) -> list[str]:
    """The values to replace: every set secret variable's and `extra`'s, each at least 4 characters long."""
    values = [os.environ.get(name) or "" for name in SECRET_VARS]
    return [v for v in (*values, *extra) if v and len(v) >= 4]


def _redact(text: str, secrets: list[str]) -> str:
    for value in secrets:
        if value in text:
            text = text.replace(value, "***")
    lowered = text.lower()
    for pattern, needle, any_case in _KEY_PATTERNS:
        if needle in (lowered if any_case else text):
            text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


def redact(text: str, extra: tuple[str, ...] = ()) -> str:
    """Replace every known secret value, and anything shaped like a key, with `***`."""
    if not text:
        return text
    return _redact(text, _secret_values(extra))


def redact_data(value: Any, extra: tuple[str, ...] = ()) -> Any:
    """`value` (decoded JSON: dicts, lists, strings) with `redact` applied to every string, keys included.

    Every string is checked as it is, never through a serialisation of the whole: JSON escaping would hide a
    match (`"ok\\nsk-..."` has no word boundary before `sk-`, `Bearer\\n` no whitespace, and a secret holding `"`
    or `\\` is spelt differently). Containers in which nothing changed are returned as they are (the common case
    costs a few substring tests per string and no copy)."""
    if value is None or isinstance(value, bool | int | float):
        return value
    return _redact_tree(value, _secret_values(extra))


def _redact_tree(value: Any, secrets: list[str]) -> Any:
    if isinstance(value, str):
        return _redact(value, secrets) if value else value
    if isinstance(value, dict):
        out = {}
        changed = False
        for key, item in value.items():
            new_key = _redact(key, secrets) if isinstance(key, str) and key else key
            new_item = _redact_tree(item, secrets)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else value
    if isinstance(value, list | tuple):
        items = [_redact_tree(item, secrets) for item in value]
        if all(new is old for new, old in zip(items, value, strict=True)):
            return value
        return items
    if isinstance(value, bytes):
        return _redact(value.decode("utf-8", "replace"), secrets)
    return value
