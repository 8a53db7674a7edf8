"""File mode: clean `{"id", "response"[, "finish_reason"]}` JSON lines into `{"id", "text", "dropped", "reason"}`
lines, in input order, each id keeping its JSON type. The input is never overwritten."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from ..embed import DEFAULT_EMBEDDER
from ..errors import UserError
from .pipeline import default_cleaner
from .result import CleanResult
from .split import Answer


@dataclass
class FileCleaning:
    """What `clean_file` did: which file went where, and the cleaner's result."""

    input_path: Path
    output_path: Path
    result: CleanResult

    @property
    def title(self) -> str:
        return f"{self.input_path} -> {self.output_path}"


def clean_file(
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    embedder: str = DEFAULT_EMBEDDER,
    seed: int = 0,
    embedder_opts: dict | None = None,
) -> FileCleaning:
    """Clean the answers of a JSONL file and write the cleaned lines to another file, whole or not at all."""
    source, target = Path(input_path), Path(output_path)
    check_not_the_input(source, target)
    answers, ids = read_answers(source)
    result = default_cleaner(embedder, seed=seed, embedder_opts=embedder_opts or {}).fit_transform(answers)
    write_whole(target, cleaned_lines(result, ids))
    return FileCleaning(source, target, result)


def check_not_the_input(input_path: Path, output_path: Path) -> None:
    """Refuse an output that is the input file: the same path, a link to it, or a hard link (same inode)."""
    source, target = input_path.expanduser(), output_path.expanduser()
    same = source.resolve() == target.resolve()
    if not same and source.exists() and target.exists():
        try:
            same = os.path.samefile(source, target)
        except OSError:
            same = False
    if same:
        raise UserError(f"--output {output_path}: is the input file; write the cleaned lines to another file")


def read_answers(path: Path) -> tuple[list[Answer], dict[str, object]]:
    """`{"id": ..., "response": ...}` lines, and each answer's id as written in the file (keyed by its string form,
    which is what the cleaner uses); a bad line stops everything with its line number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"--input {path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise UserError(f"--input {path}: not UTF-8 text") from None
    answers: list[Answer] = []
    ids: dict[str, object] = {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"--input {path} line {n}: not JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise UserError(f'--input {path} line {n}: expected an object like {{"id": ..., "response": ...}}')
        if "id" not in data or data["id"] is None or isinstance(data["id"], (dict, list)):
            raise UserError(f'--input {path} line {n}: no "id"')
        if "response" not in data:
            raise UserError(f'--input {path} line {n}: no "response" field')
        response = data["response"]
        if response is not None and not isinstance(response, str):
            raise UserError(f'--input {path} line {n}: "response" must be a string or null')
        answer_id = str(data["id"])
        if answer_id in ids:
            raise UserError(f"--input {path} line {n}: id {answer_id!r} appears twice")
        ids[answer_id] = data["id"]
        finish = data.get("finish_reason")
        answers.append(Answer(answer_id, response, finish if isinstance(finish, str) else None))
    if not answers:
        raise UserError(f"--input {path}: no answers in the file")
    return answers, ids


def cleaned_lines(result: CleanResult, ids: dict[str, object]) -> str:
    """The cleaned lines, each id as it was in the input (a number stays a number)."""
    lines = []
    for a in result.answers:
        row = a.to_json()
        row["id"] = ids.get(a.id, a.id)
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    return "".join(lines)


def write_whole(path: Path, text: str) -> None:
    """Write whole or not at all: a temporary file renamed into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"--output {path}: cannot write ({exc.strerror or exc})") from None
