"""Where the shipped data (model tables, tasks, prompts, topics) lives, in a source checkout and in an installed
wheel; and whether a path the user names for output can be written, checked before any slow work."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from .errors import UserError

_PKG = Path(__file__).resolve().parent

# Image types matplotlib writes from an Agg figure without extra packages (pillow is one of its dependencies).
PLOT_FORMATS = ("png", "svg", "pdf", "svgz", "jpg", "jpeg", "webp", "tif", "tiff", "eps", "ps")


def data_dir(name: str) -> Path:
    """`llms`, `tasks`, `prompts` or `topics`: inside the package when installed from a wheel, else at the
    repository root."""
    inside = _PKG / name
    if inside.is_dir():
        return inside
    return _PKG.parent / name


def cache_dir() -> Path:
    """A directory synthgen owns for assembled models and embedding caches (SYNTHGEN_CACHE_DIR overrides)."""
    root = os.environ.get("SYNTHGEN_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "synthgen"
    )
    path = Path(root)
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_writable(path: str | os.PathLike[str], flag: str, *, folder: bool = False) -> Path:
    """Refuse, with a one-line error naming `flag`, an output file (or, with `folder`, an output folder) that
    cannot be created: a folder where a file is meant or the other way round, or a place whose nearest existing
    folder (missing folders are created) is not a folder or cannot be written to.

    Returns the path with `~` expanded."""
    path = Path(path).expanduser()
    if folder:
        if path.exists() and not path.is_dir():
            raise UserError(f"{flag} {path}: exists and is not a folder")
    elif path.is_dir():
        raise UserError(f"{flag} {path}: is a folder; name a file")
    probe = path if folder and path.is_dir() else path.parent
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{flag} {path}: cannot create it: {probe} is not a folder")
    try:  # the real test (permissions alone say yes to root, and no to nothing under /proc): make, then remove
        os.rmdir(tempfile.mkdtemp(prefix=".synthgen-", dir=probe))
    except OSError as exc:
        raise UserError(
            f"{flag} {path}: cannot write to {probe} ({exc.strerror or exc}); choose a folder you can write to"
        ) from None
    return path


def check_plot_path(path: str | os.PathLike[str], flag: str = "--plot") -> Path:
    """Refuse, before any slow work, a plot path matplotlib cannot write: a suffix that is not an image type it
    writes (PLOT_FORMATS), an existing file that is read-only (matplotlib writes in place), or a place where the
    file cannot be created (`check_writable`). Returns the path, `~` expanded."""
    path = Path(path).expanduser()
    if path.suffix.lower().lstrip(".") not in PLOT_FORMATS:
        raise UserError(
            f"{flag} {path}: unknown image type {path.suffix or '(no suffix)'!r}; end the name with "
            f".{', .'.join(PLOT_FORMATS[:3])} or another type matplotlib writes "
            f"(.{', .'.join(PLOT_FORMATS[3:])})"
        )
    if path.is_file() and not os.access(path, os.W_OK):
        raise UserError(f"{flag} {path}: the file is not writable")
    return check_writable(path, flag)
