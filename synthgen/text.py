"""Text helpers every step shares: one line of output, and the normal forms texts are compared in.

One of each, so that "the same text" means the same thing to the cleaner, the exporter and the topic model:
- `flat`: whitespace collapsed to single spaces (what a reader sees on one line);
- `fold`: `flat` and case-folded: the key for "the same text, whatever its spacing and case";
- `plain_words`: case-folded words only, punctuation gone: the key for "the same words";
- `loose_key`: NFKC, case-folded, with no punctuation and no whitespace at all: the near-duplicate key.
"""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[^\w\s]")
_NOT_WORD_KEEP_APOSTROPHE = re.compile(r"[^\w\s']")


def plural(count: int, word: str, words: str | None = None) -> str:
    """`1 topic`, `3 topics`; `words` for a plural that is not `word + "s"`."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def flat(text: str | None) -> str:
    """`text` on one line: runs of whitespace (newlines included) become one space, ends stripped."""
    return " ".join((text or "").split())


def fold(text: str | None) -> str:
    """`flat(text)`, case-folded."""
    return flat(text).casefold()


def plain_words(text: str | None, *, keep_apostrophes: bool = False) -> str:
    """The words of `text`, case-folded, punctuation replaced by spaces (`don't` kept whole when asked)."""
    pattern = _NOT_WORD_KEEP_APOSTROPHE if keep_apostrophes else _NOT_WORD
    return " ".join(pattern.sub(" ", (text or "").casefold()).split())


def loose_key(text: str) -> str:
    """The near-duplicate key: NFKC, case-folded, without punctuation (quotes included) or any whitespace."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if not ch.isspace() and not unicodedata.category(ch).startswith("P"))


def shorten(text: str | None, width: int = 500) -> str:
    """`text` on one line, cut to `width` characters ending in `…` (the space before a cut is dropped, so a cut
    word never dangles): fit for one line of output or an error message."""
    line = flat(str(text) if text is not None else "")
    return line if len(line) <= width else line[: width - 1].rstrip() + "…"
