"""What a judge is shown: the chat prompt (`prompts/judge.txt`) or the few-shot classification prompt a
completion-mode judge scores (`prompts/judge-fewshot.txt`), both built from the run's task.

The few-shot prompt's examples are the task's worked examples, with their labels: the run stores their texts
(`TaskInfo.examples`), and the task file gives each one's label; only examples whose text the run stored are used,
so a task file edited since cannot put other sentences in front of the judge.
"""

from __future__ import annotations

import re
from functools import lru_cache

from ..errors import UserError
from ..labels import TaskInfo
from ..paths import data_dir

CONTENT_FREE = "N/A"  # the content-free input whose label probabilities calibrate a log-prob judge
MAX_TEXT = 1500  # characters of a text shown to a judge: a longer one is cut (the judge reads its start)


@lru_cache(maxsize=4)
def _template(name: str) -> str:
    return (data_dir("prompts") / f"{name}.txt").read_text(encoding="utf-8").rstrip()


def _one_line(text: str) -> str:
    return " ".join(text.split())[:MAX_TEXT]


def field_name(task: TaskInfo) -> str:
    """The word the few-shot prompt labels each sentence with: `Sentiment`, `Emotion`, else `Label`."""
    word = task.name.rstrip("0123456789")
    return word.capitalize() if re.fullmatch(r"[a-z]+", word) else "Label"


def _or(names: tuple[str, ...]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def chat_prompt(task: TaskInfo, text: str) -> str:
    lines = "\n".join(f"- {label.name}: {label.description}".rstrip(": ") for label in task.labels)
    return _template("judge").format(
        task=task.name,
        task_description=task.description,
        label_lines=lines,
        labels=", ".join(task.names),
        text=_one_line(text),
    )


@lru_cache(maxsize=16)
def _labelled_examples(name: str, stored: tuple[str, ...], tasks_dir: str | None) -> tuple[tuple[str, str], ...]:
    from ..task import load_task

    try:
        task = load_task(name, tasks_dir)
    except UserError:
        return ()
    wanted = set(stored)
    return tuple((e.text, e.label) for e in task.examples if e.text in wanted)


def task_examples(task: TaskInfo, tasks_dir: str | None = None) -> tuple[tuple[str, str], ...]:
    """(text, label) of the run's worked examples, in the task's order; () when the task file is gone."""
    return _labelled_examples(task.name, task.examples, tasks_dir)


def fewshot_prompt(task: TaskInfo, text: str, examples: tuple[tuple[str, str], ...]) -> str:
    field = field_name(task)
    blocks = "\n\n".join(f"Sentence: {_one_line(t)}\n{field}: {label}" for t, label in examples)
    what = field.lower() if field != "Label" else "label"
    prompt = _template("judge-fewshot").format(
        what=what, labels_or=_or(task.names), examples=blocks, text=_one_line(text), field=field
    )
    return prompt if examples else prompt.replace("\n\n\n\n", "\n\n")
