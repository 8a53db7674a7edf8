"""Keep API keys out of everything synthgen prints or stores."""

from __future__ import annotations

import os
import re

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

_KEY_PATTERNS = [
    re.compile(r"(?i)(key=)[^&\s\"']+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._\-]+"),
    re.compile(r"\b(sk-)[A-Za-z0-9_\-]{8,}"),
    re.compile(r"\b(AIza)[A-Za-z0-9_\-]{20,}"),
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
    for pattern in _KEY_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text
