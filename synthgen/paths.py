"""Where the shipped data (model tables, prompts, topics) lives, in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PKG = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """`llms`, `prompts` or `topics`: inside the package when installed from a wheel, else at the repository root."""
    inside = _PKG / name
    if inside.is_dir():
        return inside
    return _PKG.parent / name


def cache_dir() -> Path:
    """A directory synthgen owns for assembled models and embedding caches (SYNTHGEN_CACHE_DIR overrides)."""
    import os

    root = os.environ.get("SYNTHGEN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "synthgen"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path
