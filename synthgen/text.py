"""Two helpers for one line of output: a counted noun, and a text flattened and cut to a width."""

from __future__ import annotations


def plural(count: int, word: str, words: str | None = None) -> str:
    """`1 topic`, `3 topics`; `words` for a plural that is not `word + "s"`."""
    return f"{count} {word if count == 1 else words or word + 's'}"


def shorten(text: str | None, width: int) -> str:
    """`text` on one line (whitespace collapsed to single spaces), cut to `width` characters ending in `…`.

    Like `secrets.one_line`, but the cut drops the space before the `…`, so a cut word never dangles."""
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"
