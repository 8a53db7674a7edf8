"""Tasks as data: a task file (TOML) names everything that makes one kind of labelled dataset.

    name = "emotion"                      # optional: the file's name without .toml, which it must match
    description = "..."
    template = "emotion"                  # a shipped name in prompts/, or a path (relative to the task file)
    topics = "emotion"                    # a shipped name in topics/, or a path
    topics_per_round = 3                  # optional, default 3
    [[labels]]                            # two or more, in order: ClassLabel ids follow this order
    name = "anger"                        # a plain name: [a-z][a-z0-9_-]*
    description = "..."                   # one line
    weight = 1.0                          # optional: rounds in proportion to the weights
    [fewshot]                             # optional: how a base model in completion mode sees the examples
    intro = "..."                         # the first line of its prompt
    example = "Emotion: {label}\nTopics: {topics}\nSentence: {text}"
    [[examples]]                          # worked examples for base models, in the order shown
    label = "anger"
    topics = ["Work environment", "Mild annoyance", "Recent events"]
    text = "..."

Shipped tasks live in `tasks/` (inside the package when installed); a user's directory (`--tasks DIR` or
`SYNTHGEN_TASKS`) is searched first, so a file there overrides a shipped task of the same name. A task is found
by its file name; a topics file (a `[categories]` table) may sit beside the task files that name it. Every
problem in a task file is one line naming the file and the field.
"""

from __future__ import annotations

import os
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .catalog import read_toml
from .errors import UserError
from .labels import LABEL_NAME, LABEL_NAME_HINT, Label, TaskInfo
from .paths import data_dir
from .prompt import (
    TOPICS_PER_ROUND,
    FewShot,
    Template,
    checked_template,
    load_template,
    load_topics,
)

DEFAULT_TASK = "sentiment"
TASKS_ENV = "SYNTHGEN_TASKS"
_FIELDS = {"name", "description", "template", "topics", "topics_per_round", "labels", "fewshot", "examples"}
_LABEL_FIELDS = {"name", "description", "weight"}
_FEWSHOT_FIELDS = {"intro", "example"}
_EXAMPLE_FIELDS = {"label", "topics", "text"}
_EXAMPLE_PLACEHOLDERS = {"label", "sentiment", "label_description", "topics", "text"}
DEFAULT_EXAMPLE = "Label: {label}\nTopics: {topics}\nSentence: {text}"


@dataclass(frozen=True)
class Example:
    """One worked example for a base model: a text written for `label` about `topics`."""

    label: str
    topics: tuple[str, ...]
    text: str


@dataclass(frozen=True)
class Task:
    name: str
    description: str
    labels: tuple[Label, ...]
    template: Template  # the task's own prompt template (`--template` overrides it for a run)
    topics_source: str  # the topics as the file names them
    categories: dict[str, tuple[str, ...]]
    topics_per_round: int
    examples: tuple[Example, ...]
    fewshot_intro: str
    fewshot_example: str
    source: str  # the task file

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(label.name for label in self.labels)

    def info(self) -> TaskInfo:
        """What a run stores of its task."""
        return TaskInfo(self.name, self.description, self.labels, tuple(e.text for e in self.examples))

    def fewshot(self) -> FewShot | None:
        """The base models' few-shot prompt built from the worked examples; None when the task has none (a base
        model then gets its table's `few_shot_template`)."""
        if not self.examples:
            return None
        return FewShot(fewshot_template(self), tuple(e.text for e in self.examples), self.labels)


def _escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


def fewshot_template(task: Task) -> Template:
    """The intro, every worked example filled in, then the round's open item: `{label}` and `{topics}` stay
    placeholders, and the text is left for the model to write."""
    descriptions = {label.name: label.description for label in task.labels}
    blocks = [
        task.fewshot_example.format(
            label=_escape(e.label),
            sentiment=_escape(e.label),
            label_description=_escape(descriptions[e.label]),
            topics=_escape(", ".join(e.topics)),
            text=_escape(e.text),
        )
        for e in task.examples
    ]
    placeholders = {name: "{" + name + "}" for name in _EXAMPLE_PLACEHOLDERS}
    query = task.fewshot_example.format(**{**placeholders, "text": ""}).rstrip()
    text = "\n\n".join([_escape(task.fewshot_intro), *blocks, query])
    return Template(name=f"{task.name}-fewshot", text=text, source=task.source)


def task_dirs(user_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where tasks are looked up, first match wins: the user's directories (`user_dir`, else SYNTHGEN_TASKS,
    separated by the path separator), then the shipped `tasks/`."""
    extra = [user_dir] if user_dir else [p for p in os.environ.get(TASKS_ENV, "").split(os.pathsep) if p]
    dirs = [Path(p).expanduser() for p in extra]
    for directory in dirs:
        if not directory.is_dir():
            raise UserError(f"--tasks {directory}: not a directory; name a directory of *.toml task files")
    return [*dirs, data_dir("tasks")]


def task_files(user_dir: str | os.PathLike[str] | None = None) -> dict[str, Path]:
    """Every task file by name (the file name without .toml); a user's file hides a shipped one of that name."""
    found: dict[str, Path] = {}
    for directory in task_dirs(user_dir):
        for path in sorted(directory.glob("*.toml")):
            found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def find_task(name_or_path: str | None = None, user_dir: str | os.PathLike[str] | None = None) -> Path:
    value = name_or_path or DEFAULT_TASK
    path = Path(value).expanduser()
    if path.suffix == ".toml" or os.sep in value or "/" in value:
        if not path.is_file():
            raise UserError(f"--task {value}: no such task file; name a shipped task or a .toml file")
        return path
    files = task_files(user_dir)
    if value not in files:
        raise UserError(f"--task {value}: no such task; known: {', '.join(files)} (see `synthgen tasks`)")
    return files[value]


def load_task(name_or_path: str | None = None, user_dir: str | os.PathLike[str] | None = None) -> Task:
    """A task by name (looked up as `task_dirs` says) or path, checked whole: labels, examples, and that its
    template and topics exist and fill in."""
    path = find_task(name_or_path, user_dir)
    task = read_task(path)
    if path.stem != (name_or_path or DEFAULT_TASK):  # named by its path: any file name will do
        return task
    return _named_as_file(task, path)


def _named_as_file(task: Task, path: Path) -> Task:
    if task.name != path.stem:
        raise UserError(f"{path}: name {task.name!r} differs from the file name; name the file {task.name}.toml")
    return task


def list_tasks(user_dir: str | os.PathLike[str] | None = None) -> list[Task]:
    """Every task, checked. A topics file (a `[categories]` table, no labels) may sit beside the task files that
    name it: it is no task, and is left out."""
    tasks = []
    for path in task_files(user_dir).values():
        table = _read(path)
        if "categories" in table and "labels" not in table:
            continue
        tasks.append(_named_as_file(read_task(path, table), path))
    return tasks


def _read(path: Path) -> dict[str, Any]:
    return read_toml(path, "task file")


def _unknown(table: Mapping[str, Any], allowed: set[str], where: str) -> None:
    unknown = set(table) - allowed
    if unknown:
        raise UserError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(allowed)}")


def _line(table: Mapping[str, Any], key: str, where: str, *, required: bool = True) -> str:
    value = table.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip() or "\n" in value.strip():
        field = f"{where} {key}" if where.endswith(":") else f"{where}.{key}"
        raise UserError(f"{field} must be one line of text" + ("" if key in table else ", and is missing"))
    return value.strip()


def _labels(raw: Any, where: str) -> tuple[Label, ...]:
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise UserError(f'{where}: labels must be [[labels]] tables, each with name = "..." and description = "..."')
    if len(raw) < 2:
        raise UserError(f"{where}: labels: a task needs at least two labels, found {len(raw)}")
    labels: list[Label] = []
    for i, item in enumerate(raw):
        at = f"{where}: labels[{i}]"
        _unknown(item, _LABEL_FIELDS, at)
        name = item.get("name")
        if not isinstance(name, str) or not LABEL_NAME.match(name):
            raise UserError(f"{at}.name {name!r} is not a plain name; use {LABEL_NAME_HINT}")
        if name in (label.name for label in labels):
            raise UserError(f"{at}.name {name!r} is repeated; name each label once")
        weight = item.get("weight", 1.0)
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 < weight < float("inf"):
            raise UserError(f"{at}.weight is {weight!r}; it must be a positive number")
        labels.append(Label(name, _line(item, "description", at), float(weight)))
    return tuple(labels)


def _examples(raw: Any, labels: tuple[Label, ...], where: str) -> Iterator[Example]:
    if not isinstance(raw, list) or not all(isinstance(item, dict) for item in raw):
        raise UserError(f"{where}: examples must be [[examples]] tables with label, topics and text")
    names = [label.name for label in labels]
    for i, item in enumerate(raw):
        at = f"{where}: examples[{i}]"
        _unknown(item, _EXAMPLE_FIELDS, at)
        label = item.get("label")
        if label not in names:
            raise UserError(f"{at}.label {label!r} is not a label of this task (labels: {', '.join(names)})")
        topics = item.get("topics")
        if not isinstance(topics, list) or not topics or not all(isinstance(t, str) and t.strip() for t in topics):
            raise UserError(f'{at}.topics must be a non-empty list of topic strings, e.g. ["Work environment"]')
        yield Example(label, tuple(t.strip() for t in topics), _line(item, "text", at))


def _fewshot(raw: Any, description: str, where: str) -> tuple[str, str]:
    if raw is None:
        return description, DEFAULT_EXAMPLE
    if not isinstance(raw, dict):
        raise UserError(f"{where}: fewshot must be a [fewshot] table with intro and example")
    at = f"{where}: fewshot"
    _unknown(raw, _FEWSHOT_FIELDS, at)
    intro = _line(raw, "intro", at, required=False) or description
    example = raw.get("example", DEFAULT_EXAMPLE)
    if not isinstance(example, str):
        raise UserError(f"{at}.example must be a string such as {DEFAULT_EXAMPLE!r}")
    try:
        parsed = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(example) if f is not None]
    except ValueError as exc:
        raise UserError(f"{at}.example: {exc}; write {{{{ and }}}} for literal braces") from None
    fields = {f for f, _, _ in parsed}
    unknown = fields - _EXAMPLE_PLACEHOLDERS
    if unknown or any(spec or conv for _, spec, conv in parsed):
        shown = ", ".join("{" + f + "}" for f in sorted(unknown)) or "a format spec or conversion"
        raise UserError(
            f"{at}.example has {shown}, which cannot be filled; use plain "
            f"{', '.join('{' + f + '}' for f in sorted(_EXAMPLE_PLACEHOLDERS))}"
        )
    if "text" not in fields or not fields & {"label", "sentiment"}:
        raise UserError(f"{at}.example needs {{label}} and {{text}}: the example's label, then its text")
    if not example.rstrip().endswith("{text}"):
        raise UserError(f"{at}.example must end with {{text}}: the model writes the text of the round's item")
    return intro, example


def _resolve(value: str, path: Path) -> str:
    """A shipped name stays a name; a path is taken relative to the task file."""
    candidate = Path(value).expanduser()
    if candidate.suffix or os.sep in value or "/" in value:
        return str(candidate if candidate.is_absolute() else path.parent / candidate)
    return value


def read_task(path: Path, table: dict[str, Any] | None = None) -> Task:
    """The task in `path` (`table`: its TOML, when read already), checked whole."""
    where = str(path)
    table = _read(path) if table is None else table
    _unknown(table, _FIELDS, where)
    name = table.get("name", path.stem)
    if not isinstance(name, str) or not LABEL_NAME.match(name):
        raise UserError(f"{where}: name {name!r} is not a plain name; use {LABEL_NAME_HINT}")
    description = _line(table, "description", f"{where}:")
    labels = _labels(table.get("labels"), where)
    for key in ("template", "topics"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            raise UserError(f'{where}: {key} must name a shipped {key} set or a file, e.g. {key} = "{name}"')
    per_round = table.get("topics_per_round", TOPICS_PER_ROUND)
    if isinstance(per_round, bool) or not isinstance(per_round, int) or per_round < 1:
        raise UserError(f"{where}: topics_per_round is {per_round!r}; it must be a whole number, at least 1")
    template = load_template(_resolve(table["template"], path), flag=f"{where}: template")
    topics = _resolve(table["topics"], path)
    categories = load_topics(topics, flag=f"{where}: topics", at_least=per_round)
    examples = tuple(_examples(table.get("examples", []), labels, where))
    missing = [label.name for label in labels if examples and all(e.label != label.name for e in examples)]
    if missing:
        raise UserError(f"{where}: examples: no worked example for label(s) {', '.join(missing)}; give each one")
    intro, example = _fewshot(table.get("fewshot"), description, where)
    task = Task(
        name=name,
        description=description,
        labels=labels,
        template=template,
        topics_source=topics,
        categories=categories,
        topics_per_round=per_round,
        examples=examples,
        fewshot_intro=intro,
        fewshot_example=example,
        source=where,
    )
    if examples:
        checked_template(fewshot_template(task), f"{where}: fewshot")
    return task


__all__ = [
    "DEFAULT_TASK",
    "TASKS_ENV",
    "Example",
    "Task",
    "fewshot_template",
    "find_task",
    "list_tasks",
    "load_task",
    "read_task",
    "task_dirs",
    "task_files",
]
