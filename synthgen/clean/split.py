"""Step 1: answers -> candidate segments.

`LineSplitter` is the seed's step (one candidate per non-blank line). `SentenceSplitter`, the default, also
cuts a line where a lead-in ends (`Sure! Here's a sentence...:`), around a wrapped quotation, and between
sentences, so `"X" This sentence captures...` on one line yields `X` and the explanation as separate
candidates. Quotes *inside* a sentence (`my patient whispered "thank you," and...`) are never cut. A list item
stays whole, unless it is a marker and a wrapped quotation (`1. "X"`), which yields `X`.

Two shapes are marked, because they are never the target: a lead-in (ends with ':'), and an interjection: a
short unquoted piece ("Sure!", "Of course!", "Okay,") right before a lead-in.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

OPEN_QUOTES = '"\u201c'
CLOSE_QUOTES = '"\u201d'
_END = ".!?\u2026"
_EMPHASIS = re.compile(r"(\*\*|__)(.+?)\1")
_BULLET = re.compile(r"^\s*(?:[*\u2022-]|\d{1,2}[.)])\s+")
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "st", "vs", "jr", "sr", "prof", "e.g", "i.e", "etc", "no", "mt"}


@dataclass(frozen=True)
class Answer:
    """One model answer to clean. `finish_reason="length"` marks an answer cut off by the token limit."""

    id: str
    text: str | None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Segment:
    """A candidate: one line, or one piece of a line, of an answer."""

    answer_id: str
    index: int  # position among the answer's segments
    line: int  # which non-blank line of the answer it comes from
    piece: int  # position within that line
    text: str  # the candidate, wrapping quotes and whitespace removed
    raw: str  # the same span as it appears in the answer
    quoted: bool = False  # was wrapped in quotation marks
    lead_in: bool = False  # ends with a colon: it announces what follows
    bullet: bool = False  # starts with a list marker
    complete: bool = True  # does not stop on a word or a comma
    last: bool = False  # the answer's last segment
    truncated: bool = False  # the last segment of an answer that ends mid-sentence or hit the token limit
    interjection: bool = False  # a short unquoted piece right before a lead-in ("Sure! Here's one:")


def is_candidate(s: Segment) -> bool:
    """Could this segment be the target sentence at all? Not a lead-in, an interjection before one, or text the
    token limit cut off, and it has letters."""
    return not s.lead_in and not s.interjection and not s.truncated and any(ch.isalpha() for ch in s.text)


def without_emphasis(text: str) -> str:
    """Markdown emphasis (`**Sentence:** ...`) removed: it is formatting, not text."""
    return _EMPHASIS.sub(r"\2", text)


def strip_quotes(text: str) -> str:
    """Remove whitespace and matching wrapping quotation marks (straight or curly), repeatedly."""
    text = text.strip()
    while len(text) >= 2 and text[0] in OPEN_QUOTES + "'\u2018" and text[-1] in CLOSE_QUOTES + "'\u2019":
        pair = text[0] + text[-1]
        if pair not in ('""', "\u201c\u201d", "''", "\u2018\u2019"):
            break
        inner = text[1:-1]
        # `"a," he said, "b"` starts and ends with quotes but is not wrapped: its first inner quote closes the
        # opening one (it follows a word), where a nested quotation would open (follow a space).
        first = inner.find(text[0]) if pair in ('""', "''") else -1
        if first > 0 and not inner[first - 1].isspace():
            break
        text = inner.strip()
    return text


def _wrapped_close(line: str, start: int) -> int | None:
    """Index of the quote closing a quotation that opens at `start` and wraps whole sentences, or None.

    The closing mark follows sentence-ending punctuation and is followed by the end of the line or a new
    sentence; `"Welcome!" my boss said` is therefore not wrapped (the quote is part of a sentence).
    """
    for j in range(start + 1, len(line)):
        if line[j] not in CLOSE_QUOTES or j - start < 3:
            continue
        before = line[j - 1]
        if before not in _END + ")" and not (before in CLOSE_QUOTES + "'\u2019" and line[j - 2] in _END):
            continue
        rest = line[j + 1 :].lstrip()
        if not rest or rest[0].isupper() or rest[0] in OPEN_QUOTES + "(*-" or rest[0].isdigit():
            return j
    return None


def _sentence_ends(text: str) -> list[int]:
    """Cut positions between sentences of unquoted text (after . ! ? or a lead-in colon, before a capital)."""
    cuts = []
    depth_quote = False
    for m in re.finditer(r"[.!?\u2026:][\"\u201d'\u2019)]*\s+(?=[\"\u201c]?[A-Z0-9])|[\"\u201c\u201d]", text):
        token = m.group(0)
        if token in ('"', "\u201c", "\u201d"):
            depth_quote = (not depth_quote) if token == '"' else token == "\u201c"
            continue
        if depth_quote and not token.rstrip().endswith(tuple(CLOSE_QUOTES)):
            continue
        if token[0] == ":":
            head = text[: m.start()]
            if not head.strip() or any(q in head for q in OPEN_QUOTES):
                continue
        if token[0] == ".":
            word = re.search(r"([\w.]+)$", text[: m.start()])
            if word and (word.group(1).lower() in _ABBREVIATIONS or len(word.group(1)) == 1):
                continue
        depth_quote = False
        cuts.append(m.end())
    return cuts


def _pieces(line: str) -> list[tuple[str, bool]]:
    """(raw piece, quoted) in order; a wrapped quotation is one piece, other text is cut into sentences."""
    out: list[tuple[str, bool]] = []
    pos = 0
    n = len(line)
    while pos < n:
        while pos < n and line[pos].isspace():
            pos += 1
        if pos >= n:
            break
        if line[pos] in OPEN_QUOTES:
            close = _wrapped_close(line, pos)
            if close is not None:
                out.append((line[pos : close + 1], True))
                pos = close + 1
                continue
        # Unquoted run up to the next wrapped quotation that starts a sentence.
        end = n
        for m in re.finditer(r"(?<=[.!?:\u2026])\s+(?=[\"\u201c])", line[pos:]):
            q = pos + m.end()
            if _wrapped_close(line, q) is not None:
                end = q
                break
        chunk = line[pos:end]
        start = 0
        for cut in _sentence_ends(chunk):
            out.append((chunk[start:cut].strip(), False))
            start = cut
        if chunk[start:].strip():
            out.append((chunk[start:].strip(), False))
        pos = end
    return [(raw, quoted) for raw, quoted in out if raw.strip()]


class LineSplitter:
    """The seed's split: every non-blank line is one candidate, kept as written (minus surrounding spaces)."""

    name = "lines"

    def split(self, answer: Answer) -> list[Segment]:
        lines = [ln.strip() for ln in (answer.text or "").splitlines() if ln.strip()]
        parts = [(i, 0, ln, False, bool(_BULLET.match(ln))) for i, ln in enumerate(lines)]
        return _finish(answer, parts, unquote=False)


class SentenceSplitter:
    """Lines, cut further at lead-ins, wrapped quotations and sentence ends; wrapping quotes stripped."""

    name = "sentences"

    def split(self, answer: Answer) -> list[Segment]:
        lines = [without_emphasis(ln).strip() for ln in (answer.text or "").splitlines() if ln.strip()]
        parts = []
        for i, ln in enumerate(lines):
            marker = _BULLET.match(ln)
            if marker:
                # A list item stays whole (`* Sentiment: ...` is one point, not two sentences), unless it only
                # wraps a quotation: `1. "X"` offers the sentence X.
                body = ln[marker.end() :]
                if body[:1] in OPEN_QUOTES and _wrapped_close(body, 0) == len(body.rstrip()) - 1:
                    parts.append((i, 0, body.rstrip(), True, True))
                else:
                    parts.append((i, 0, ln, False, True))
                continue
            for j, (raw, quoted) in enumerate(_pieces(ln)):
                parts.append((i, j, raw, quoted, False))
        return _finish(answer, parts, unquote=True)


def _finish(answer: Answer, parts: list[tuple[int, int, str, bool, bool]], unquote: bool) -> list[Segment]:
    out = []
    reason = (answer.finish_reason or "").lower()
    cut_off = reason in ("length", "max_tokens", "max_gen_len", "max_output_tokens")
    if unquote:
        parts = [p for p in parts if strip_quotes(p[2])]
    for k, (line, piece, raw, quoted, bullet) in enumerate(parts):
        text = strip_quotes(raw) if unquote else raw.strip()
        tail = raw.rstrip()
        # A word, digit or comma at the very end means the text stops mid-sentence; an emoji or a bracket does
        # not.
        complete = bool(tail) and not (tail[-1].isalnum() or tail[-1] in ",;-\u2013\u2014(")
        last = k == len(parts) - 1
        # Without a finish reason, an unfinished last line of a longer answer is taken as cut off by the
        # limit.
        truncated = last and not complete and (cut_off or (not reason and len(parts) > 1))
        out.append(
            Segment(
                answer_id=answer.id,
                index=len(out),
                line=line,
                piece=piece,
                text=text,
                raw=raw,
                quoted=quoted or (text != raw.strip() and unquote),
                lead_in=tail.endswith(":"),
                bullet=bullet and piece == 0,
                complete=complete,
                last=last,
                truncated=truncated,
                interjection=_interjection(raw, quoted, parts, k),
            )
        )
    return out


def _interjection(raw: str, quoted: bool, parts: list[tuple[int, int, str, bool, bool]], k: int) -> bool:
    """ "Sure!" / "Of course," / "Okay." right before a lead-in: the model acknowledging, never the sentence."""
    tail = raw.rstrip()
    if quoted or tail.endswith(":") or len(tail.split()) > 3 or k + 1 >= len(parts):
        return False
    return parts[k + 1][2].rstrip().endswith(":")


def split_all(splitter: LineSplitter | SentenceSplitter, answers: Iterable[Answer]) -> list[Segment]:
    return [s for a in answers for s in splitter.split(a)]
