"""Topic labels: a BERTopic-style prompt ([DOCUMENTS], [KEYWORDS], a worked example), one-line trimming, and the
top keywords as the fallback whenever the model's answer cannot be used.

Small base models rarely answer with a label: they continue the prompt (its next line, another document, the worked
example's label, a first-person sentence). `pick_label` rejects those answers, and says why, rather than show them
as topic names."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ..text import flat, plain_words, shorten
from .asker import Reply, fill, read_prompt

LABEL_PROMPT = "topic-label"
MAX_LABEL_CHARS = 80
MAX_LABEL_WORDS = 10
MAX_DOC_CHARS = 300  # per document in the prompt: enough to recognise a topic, short enough for small models

_THINK = re.compile(r"<think>.*?(</think>|$)", re.DOTALL | re.IGNORECASE)
_PREFIX = re.compile(r"^(?:topic\s+label|label|topic|title|category)\s*[:\-]\s*", re.IGNORECASE)
_BULLET = re.compile(r"^(?:[-*#>•]+|\d+[.)])\s*")
_QUOTES = "\"'`*_“”‘’«»"
_SLOT = re.compile(r"\[[A-Z_]+\]")
_EXAMPLE_LABEL = re.compile(r"^\s*label\s*:\s*(?P<label>\S.*)$", re.IGNORECASE)
# Answers that only talk about the task ("Here is the label", "Sure") or carry no name at all.
_NOT_A_LABEL = {
    "label",
    "labels",
    "topic",
    "topics",
    "topic label",
    "the label",
    "the topic",
    "a label",
    "title",
    "category",
    "none",
    "n a",
    "na",
    "unknown",
    "no label",
    "documents",
    "document",
    "keywords",
    "sure",
    "yes",
    "no",
    "ok",
    "okay",
    "answer",
}
_TALK = re.compile(
    r"^(?:here\s+(?:is|are|'s)|sure\b|certainly\b|based on\b|the (?:label|topic) (?:is|of)\b|"
    r"this topic\b|i (?:have|think|would|can)\b)",
    re.IGNORECASE,
)
# A label names a theme; a sentence about oneself or the reader is a document the model made up.
_SENTENCE_START = re.compile(r"^(?:i|i'm|i've|i'd|i'll|im|we|we're|we've|you|you're)\s", re.IGNORECASE)
MIN_COPIED_WORDS = 3  # a run of this many words from the prompt's fixed text is a copy, not a label


def build_label_prompt(documents: Sequence[str], keywords: Sequence[str], template: str | None = None) -> str:
    """The label prompt for one topic: its most representative documents and its c-TF-IDF keywords."""
    template = read_prompt(LABEL_PROMPT) if template is None else template
    docs = "\n".join(f"- {shorten(d, MAX_DOC_CHARS)}" for d in documents)
    return fill(template, {"DOCUMENTS": docs, "KEYWORDS": ", ".join(keywords)})


def clean_label(
    answer: str | None, max_chars: int = MAX_LABEL_CHARS, max_words: int = MAX_LABEL_WORDS
) -> tuple[str | None, str]:
    """The label in a model's answer, trimmed to one line; (None, why) when there is none worth keeping."""
    if answer is None:
        return None, "no answer"
    text = _THINK.sub("", answer)
    line = next((ln for ln in text.splitlines() if any(ch.isalnum() for ch in ln)), "")
    line = _BULLET.sub("", line.strip())
    line = _PREFIX.sub("", line).strip().strip(_QUOTES).strip()
    line = _PREFIX.sub("", line).strip(_QUOTES + " ")  # "**Label:** X" has the prefix inside the emphasis
    line = flat(line).rstrip(".").strip()
    if not line:
        return None, "empty answer"
    if len(line) > max_chars:
        return None, f"answer longer than {max_chars} characters"
    if len(line.split()) > max_words:
        return None, f"answer longer than {max_words} words"
    return line, ""


def fallback_label(keywords: Sequence[str], n: int = 3) -> str:
    return ", ".join(keywords[:n]) if keywords else "(no keywords)"


def template_phrases(template: str) -> tuple[list[str], list[str]]:
    """The fixed text of a label template, as plain phrases: (its lines and the pieces between slots, the worked
    examples' labels). A model's answer found there was copied from the prompt, not written for the topic."""
    lines: list[str] = []
    examples: list[str] = []
    for raw in template.splitlines():
        match = _EXAMPLE_LABEL.match(raw)
        if match and not _SLOT.search(raw):
            examples.append(plain_words(match.group("label")))
        for piece in _SLOT.split(_BULLET.sub("", raw.strip())):
            plain = plain_words(piece)
            if plain:
                lines.append(plain)
    return lines, [e for e in examples if e]


def _within(phrase: str, text: str) -> bool:
    """`phrase` occurs in `text` on word boundaries (both already plain)."""
    return f" {phrase} " in f" {text} "


def reject_reason(
    label: str, keywords: Sequence[str] = (), documents: Sequence[str] = (), template: str | None = None
) -> str:
    """Why a trimmed answer is not a label ("" when it is one): it copies the prompt (a line of the template, the
    worked example's label, a document, the keyword list), ends like a heading or a cut-off sentence, talks about
    the task, or reads as a first-person sentence."""
    plain = plain_words(label)
    if not plain:
        return "answer has no words"
    if template is not None:
        lines, examples = template_phrases(template)
        if plain in examples:
            return "answer copies the worked example's label"
        if any(plain == line or (len(plain.split()) >= MIN_COPIED_WORDS and _within(plain, line)) for line in lines):
            return "answer copies the prompt's text"
    if any(plain == plain_words(doc) for doc in documents):
        return "answer repeats a document"
    if keywords and plain == plain_words(", ".join(keywords)):
        return "answer repeats the keyword list"
    if label.endswith(":"):
        return "answer ends with ':' (a heading, not a label)"
    if label.endswith((",", ";", "-", "…")):
        return "answer is cut off"
    if label.endswith(("?", "!")):
        return "answer is a sentence, not a label"
    if plain in _NOT_A_LABEL or _TALK.match(label):
        return "answer talks about the task instead of naming the topic"
    if _SENTENCE_START.match(label):
        return "answer is a first-person sentence, not a label"
    if not any(ch.isalpha() for ch in label):
        return "answer has no words"
    return ""


def pick_label(
    answer: Reply | None,
    keywords: Sequence[str],
    max_chars: int = MAX_LABEL_CHARS,
    documents: Sequence[str] = (),
    template: str | None = None,
) -> tuple[str, str, str]:
    """(label, source, note): the model's trimmed label, or the top keywords and why the model's was not used.

    `documents` and `template` are what the prompt showed (the topic's documents; the label template with its
    worked example): an answer that copies them, or is plainly not a label (see `reject_reason`), is not kept.
    """
    if answer is None:
        return fallback_label(keywords), "keywords", ""
    if answer.text is None:
        return fallback_label(keywords), "keywords", f"label call failed: {answer.error}"
    label, why = clean_label(answer.text, max_chars)
    if label is None:
        return fallback_label(keywords), "keywords", why
    why = reject_reason(label, keywords, documents, template)
    if why:
        return fallback_label(keywords), "keywords", why
    return label, "llm", ""
