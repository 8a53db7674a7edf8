"""A base model's few-shot completion prompt: built from the round, its answers checked for copied examples.

Two adapters send it: the in-process llama.cpp adapter in completion mode, and the OpenAI-compatible adapter with
`options.endpoint = "completions"`; both entries name the template in `options.few_shot_template`. A run gives
each such entry its task's few-shot prompt instead (`with_fewshot`: the task's worked examples, per label); the
table's template serves a task without examples and one-off calls. Each adapter says when it applies
(`FewShotCompletion.completes_fewshot`), and from that one decision follow the prompt it sends, the template the
run records for it (`received_template`) and the echo check of its answers (`check_answer`).

A small base model given worked examples often repeats one instead of writing a new sentence. That copy is a
failed answer (answer_missing), which the engine retries; the retry is another draw because the seed is offset
by the attempt number, which the engine takes from the journal, so a resumed run does not repeat a draw either.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from functools import lru_cache
from typing import Any

from ..catalog import ModelSpec
from ..prompt import FewShot, RoundPlan, Template, load_template
from ..results import Failure, FailureKind

ECHO_RATIO = 0.85  # difflib ratio at or above which an answer counts as a copy of a worked example
_SEED_SPAN = 2**32  # llama.cpp seeds are uint32; servers built on it take the same range
_ATTEMPT_STRIDE = 1_000_003  # a retried round gets another seed, far from every other round's
# Where a run puts the few-shot prompt of its task into an entry (`with_fewshot`); never a key of a table.
_BOUND = "_run_fewshot"


def examples_in(text: str) -> tuple[str, ...]:
    """The worked examples' sentences of a few-shot template written as a file (its `Sentence: ...` lines)."""
    return tuple(re.findall(r"^Sentence:[ \t]*(\S.*)$", text, flags=re.MULTILINE))


@lru_cache(maxsize=16)
def _table_fewshot(name: str) -> FewShot:
    template = load_template(name)
    return FewShot(template, examples_in(template.text))


def with_fewshot(spec: ModelSpec, fewshot: FewShot) -> ModelSpec:
    """The entry for one run: its few-shot prompt (worked examples and template) is the run's task's, not the
    template its table names. Only for an entry whose adapter sends a few-shot prompt (`received_template`)."""
    return dataclasses.replace(spec, options={**spec.options, _BOUND: fewshot})


def fewshot_of(spec: ModelSpec) -> FewShot | None:
    """The few-shot prompt the entry is given: the run's (`with_fewshot`), else its table's `few_shot_template`
    (its examples read from the `Sentence:` lines), whether or not its adapter sends it."""
    bound = spec.options.get(_BOUND)
    if isinstance(bound, FewShot):
        return bound
    name = spec.options.get("few_shot_template")
    return _table_fewshot(name) if name else None


def template_of(spec: ModelSpec) -> Template | None:
    """The entry's few-shot template, whether or not its adapter sends it."""
    fewshot = fewshot_of(spec)
    return fewshot.template if fewshot else None


def completion_prompt(spec: ModelSpec, prompt: str, round: RoundPlan | None = None) -> str:
    """A completion prompt: the round through the few-shot template, else (a one-off prompt, or no template)
    the prompt in the entry's prompt format."""
    fewshot = fewshot_of(spec)
    if round is not None and fewshot is not None:
        return fewshot.render(round)
    return spec.prompt_format.replace("{prompt}", prompt)


def round_seed(seed: Any, round: RoundPlan | None, attempt: int = 0) -> Any:
    """The table's seed offset by the round index and by the attempt: reproducible round by round, and a retry
    (in this process or after a resume) is not the same draw. Seeds that are no plain count pass unchanged."""
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0 or round is None:
        return seed
    return (seed + round.index + attempt * _ATTEMPT_STRIDE) % _SEED_SPAN


def _plain_words(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


@lru_cache(maxsize=64)
def _example_words(examples: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(_plain_words(s) for s in examples)


def fewshot_echo(spec: ModelSpec, text: str) -> str | None:
    """The worked example `text` copies (near-identical after case and punctuation), or None. The examples are
    the run's task's (or those of the table's few-shot template), never a fixed list.

    Without autojunk: from 200 characters on, difflib would otherwise treat every frequent character (the spaces,
    the e's) as junk and a copy would score far below the ratio."""
    fewshot = fewshot_of(spec)
    if fewshot is None or not text:
        return None
    answer = _plain_words(text)
    if not answer:
        return None
    for example in _example_words(fewshot.examples):
        if not example:
            continue
        matcher = difflib.SequenceMatcher(None, answer, example, autojunk=False)
        # the quick upper bounds first: most answers are nowhere near most examples
        if (
            matcher.real_quick_ratio() >= ECHO_RATIO
            and matcher.quick_ratio() >= ECHO_RATIO
            and matcher.ratio() >= ECHO_RATIO
        ):
            return example
    return None


def echo_failure(spec: ModelSpec, text: str | None, round: RoundPlan | None) -> Failure | None:
    """The failed answer for a few-shot answer that copies a worked example, else None.

    Only a round's few-shot prompt has worked examples to copy; a one-off prompt (`synthgen ask`) is never
    checked."""
    if round is None or not text or fewshot_echo(spec, text) is None:
        return None
    return Failure(FailureKind.ANSWER_MISSING, f"echoed a few-shot example: {text[:80]!r}")


class FewShotCompletion:
    """Mixed into an `Adapter` that can send a base model's few-shot completion prompt.

    The subclass says when its entry does (`completes_fewshot`); the hooks the engine, the planner and the card
    read follow from that."""

    @classmethod
    def completes_fewshot(cls, spec: ModelSpec) -> bool:
        raise NotImplementedError

    @classmethod
    def received_template(cls, spec: ModelSpec) -> Template | None:
        return template_of(spec) if cls.completes_fewshot(spec) else None

    def check_answer(self, spec: ModelSpec, text: str | None, round: RoundPlan | None) -> Failure | None:
        if not self.completes_fewshot(spec):
            return None
        return echo_failure(spec, text, round)
