"""The `--out` folder: checked before any work, locked while an export writes it, and replaced whole.

An export is written into a new hidden folder beside `--out` (same parent, so the swap is a rename on one file
system), and only a complete export is swapped in: the old folder is renamed away, the new one renamed in, then the
old one deleted. A failure at any point before the swap leaves the previous export as it was, loadable, and the
next export accepts the folder again. Entries of the old folder that the earlier export did not write (listed in
its manifest) are the user's, and move over into the new one.

Two exports into one folder at once would mix their files: each holds an exclusive lock on `.NAME.lock` beside
the folder while it writes, and a second one refuses at once rather than waiting an unknown time.
"""

from __future__ import annotations

import os
import secrets
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from glob import escape
from pathlib import Path

from ..errors import UserError
from ..paths import check_writable
from .files import MANIFEST, read_manifest

try:
    import fcntl
except ImportError:  # Windows: no lock; the swap still keeps each export whole
    fcntl = None  # type: ignore[assignment]

NEW, OLD = "synthgen-new", "synthgen-old"  # hidden siblings: `.NAME.synthgen-new-HEX`, `.NAME.synthgen-old-HEX`


def check_out_dir(out: Path) -> None:
    """Refuse, before anything is written, a folder that cannot be written or that holds something else."""
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out}: exists and is not a folder; name a new or empty folder")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise UserError(
            f"--out {out}: folder is not empty and holds no earlier synthgen export; name a new or empty folder"
        )
    check_writable(out, "--out", folder=True)
    if out.is_dir():
        real, cwd = out.resolve(), Path.cwd().resolve()
        if real == cwd or real in cwd.parents:
            raise UserError(
                f"--out {out}: is the working directory (or holds it), and an export replaces its folder "
                "whole; name a folder inside it, e.g. --out data/"
            )
        check_writable(real.parent, "--out", folder=True)  # the new export is assembled beside it


def lock_path(out: Path) -> Path:
    real = out.resolve()
    return real.parent / f".{real.name}.lock"


@contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold the export lock of `out` (creating its parent folders); refuse at once when another export holds it.

    The holder deletes the lock file as it lets go, while it still holds it, so the lock file never outlives an
    export; whoever then locks a file that was deleted under it tries again on the new one."""
    path = lock_path(out)
    if fcntl is None:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield
        return
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UserError(
                f"--out {out}: cannot create its lock file {path} ({exc.strerror or exc}); "
                "choose a folder you can write to"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UserError(f"--out {out}: another export is writing {out}; wait for it, then export again") from None
        try:
            held, named = os.fstat(fd), os.stat(path)
            if (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino):
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)


@contextmanager
def replacing(out: Path) -> Iterator[Path]:
    """A new, empty hidden folder beside `out` to write the export into; when the block ends normally it replaces
    `out`, and when it raises it is deleted and `out` is left as it was. Hold `exclusive(out)` around it."""
    real = out.resolve()
    for stale in real.parent.glob(f".{escape(real.name)}.{NEW}-*"):  # of an export that was killed
        shutil.rmtree(stale, ignore_errors=True)
    new = real.parent / f".{real.name}.{NEW}-{secrets.token_hex(4)}"
    new.mkdir()
    try:
        yield new
        if real.is_dir():
            os.chmod(new, stat.S_IMODE(os.stat(real).st_mode))  # a shared folder stays shared
        _swap(new, real, out)
    except BaseException:
        shutil.rmtree(new, ignore_errors=True)
        raise


def _swap(new: Path, real: Path, out: Path) -> None:
    if not real.exists():
        os.rename(new, real)
        return
    manifest = read_manifest(real) or {}
    exported = set(manifest.get("files", [])) | {MANIFEST}
    theirs = [p.name for p in real.iterdir() if p.name not in exported and not (new / p.name).exists()]
    old = real.parent / f".{real.name}.{OLD}-{secrets.token_hex(4)}"
    os.rename(real, old)
    try:
        os.rename(new, real)
    except BaseException:
        os.rename(old, real)
        raise
    for name in theirs:
        try:
            os.rename(old / name, real / name)
        except OSError as exc:
            raise UserError(
                f"--out {out}: the new export is in place, but {name} (not part of the earlier export) "
                f"could not be moved into it ({exc.strerror or exc}); it is in {old}"
            ) from None
    shutil.rmtree(old, ignore_errors=True)
