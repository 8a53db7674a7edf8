"""Topic labels: a BERTopic-style prompt ([DOCUMENTS], [KEYWORDS], a worked example), one-line trimming, and the
top keywords as the fallback whenever the model's answer cannot be used."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .asker import Answer, fill, read_prompt

LABEL_PROMPT = "topic-label"
MAX_LABEL_CHARS = 80
MAX_LABEL_WORDS = 10
MAX_DOC_CHARS = 300  # per document in the prompt: enough to recognise a topic, short enough for small models

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_PREFIX = re.compile(r"^(?:topic\s+label|label|topic|title|category)\s*[:\-]\s*", re.IGNORECASE)
_BULLET = re.compile(r"^(?:[-*#>•]+|\d+[.)])\s*")
_QUOTES = "\"'`*_“”‘’«»"


def one_line(text: str, limit: int = MAX_DOC_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def build_label_prompt(documents: Sequence[str], keywords: Sequence[str], template: str | None = None) -> str:
    """The label prompt for one topic: its most representative documents and its c-TF-IDF keywords."""
    template = read_prompt(LABEL_PROMPT) if template is None else template
    docs = "\n".join(f"- {one_line(d)}" for d in documents)
    return fill(template, {"DOCUMENTS": docs, "KEYWORDS": ", ".join(keywords)})


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.casefold()).split())


def clean_label(answer: str | None, max_chars: int = MAX_LABEL_CHARS, max_words: int = MAX_LABEL_WORDS
                ) -> tuple[str | None, str]:
    """The label in a model's answer, trimmed to one line; (None, why) when there is none worth keeping."""
    if answer is None:
        return None, "no answer"
    text = _THINK.sub("", answer)
    line = next((ln for ln in text.splitlines() if any(ch.isalnum() for ch in ln)), "")
    line = _BULLET.sub("", line.strip())
    line = _PREFIX.sub("", line).strip().strip(_QUOTES).strip()
    line = _PREFIX.sub("", line).strip(_QUOTES + " ")  # "**Label:** X" has the prefix inside the emphasis
    line = " ".join(line.split()).rstrip(".").strip()
    if not line:
        return None, "empty answer"
    if len(line) > max_chars:
        return None, f"answer longer than {max_chars} characters"
    if len(line.split()) > max_words:
        return None, f"answer longer than {max_words} words"
    return line, ""


def fallback_label(keywords: Sequence[str], n: int = 3) -> str:
    return ", ".join(keywords[:n]) if keywords else "(no keywords)"


def pick_label(answer: Answer | None, keywords: Sequence[str], max_chars: int = MAX_LABEL_CHARS,
               documents: Sequence[str] = ()) -> tuple[str, str, str]:
    """(label, source, note): the model's trimmed label, or the top keywords and why the model's was not used.

    A label that only repeats one of the prompt's documents (small base models like to) is not a label.
    """
    if answer is None:
        return fallback_label(keywords), "keywords", ""
    if answer.text is None:
        return fallback_label(keywords), "keywords", f"label call failed: {answer.error}"
    label, why = clean_label(answer.text, max_chars)
    if label is None:
        return fallback_label(keywords), "keywords", why
    if any(_plain(label) == _plain(doc) for doc in documents):
        return fallback_label(keywords), "keywords", "answer repeats a document"
    return label, "llm", ""
