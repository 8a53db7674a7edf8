"""Planning a run: which models, checked settings, and every cell as a `planned` record (pure, given a seed).

Everything here runs before the store is opened, so bad input writes nothing at all.
"""

from __future__ import annotations

import math
import secrets as _random_token
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .adapters import check_config, credentials_status, received_template
from .adapters.fewshot import examples_in, with_fewshot
from .catalog import Catalog, ModelSpec
from .errors import UserError
from .labels import TaskInfo
from .prompt import TOPICS_PER_ROUND, FewShot, Template, iter_plans, load_template, load_topics
from .store import ModelPlan, Record, RunInfo, utc_now
from .task import Task, load_task

LOCAL_DEFAULT = "local-gemma"
# The largest run one command plans: past these a typo (an extra zero or ten) would fill the disk with planned
# cells before the first request. Several runs of this size can share a store.
MAX_ROUNDS = 1_000_000
MAX_CELLS = 10_000_000


def new_run_id() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S-") + _random_token.token_hex(2)


def default_models(catalog: Catalog) -> tuple[list[str], str | None]:
    """Every model whose credentials are present; else the bundled local model; else a clear error.

    Returns the aliases and a one-line note for the user (or None)."""
    present = [
        alias
        for alias, spec in catalog.items()
        if alias != LOCAL_DEFAULT and spec.protocol != "llama-cpp" and credentials_status(spec)[0]
    ]
    if present:
        return present, f"models with credentials present: {', '.join(present)} (choose with --models)"
    if LOCAL_DEFAULT in catalog:
        ok, hint = credentials_status(catalog[LOCAL_DEFAULT])
        if ok:
            return [LOCAL_DEFAULT], (
                f"no cloud credentials found: using the bundled local model {LOCAL_DEFAULT}; "
                "set OPENAI_API_KEY, GEMINI_API_KEY or AWS credentials for cloud models"
            )
        raise UserError(
            f"no model has credentials and the bundled local model is not installed ({hint}); "
            "or set OPENAI_API_KEY, GEMINI_API_KEY or AWS credentials (see `synthgen models`)"
        )
    raise UserError(
        "no model has credentials: set OPENAI_API_KEY, GEMINI_API_KEY or AWS credentials, "
        "or SYNTHGEN_LOCAL_BASE_URL for a local server (see `synthgen models`)"
    )


def check_credentials(specs: Sequence[ModelSpec]) -> None:
    """Every model's credentials present and its endpoint usable, before anything is planned or stored."""
    for spec in specs:
        present, hint = credentials_status(spec)
        if not present:
            raise UserError(f"--models {spec.alias}: credentials missing; {hint}")
    for spec in specs:
        check_config(spec)


def check_size(rounds: int, specs: Sequence[ModelSpec]) -> None:
    if rounds * len(specs) > MAX_CELLS:
        raise UserError(
            f"--rounds {rounds} x {len(specs)} models is {rounds * len(specs):,} cells; a run holds "
            f"at most {MAX_CELLS:,}: plan fewer rounds or models per run"
        )


def random_seed() -> int:
    return int.from_bytes(_random_token.token_bytes(4), "big")


def check_rounds(rounds: int | None) -> None:
    if rounds is None or rounds < 1:
        raise UserError(f"--rounds {rounds}: must be at least 1")
    if rounds > MAX_ROUNDS:
        raise UserError(f"--rounds {rounds}: a run plans at most {MAX_ROUNDS:,} rounds; split it into several runs")


def check_settings(concurrency: int, max_attempts: int, timeout: float) -> None:
    if concurrency < 1:
        raise UserError(f"--concurrency {concurrency}: must be at least 1")
    if max_attempts < 1:
        raise UserError(f"--max-attempts {max_attempts}: must be at least 1 (1 = no retries)")
    if not (timeout > 0 and math.isfinite(timeout)):
        raise UserError(f"--timeout {timeout:g}: must be a positive number of seconds")


def select_models(catalog: Catalog, models: Sequence[str] | None) -> tuple[list[ModelSpec], str | None]:
    """The named models (or the default set) and a note for the user; at least one, none twice."""
    if models:
        specs = catalog.select(models)
        if not specs:
            raise UserError(
                f"--models {','.join(models)}: names no model; give aliases such as gpt-4o-mini,llama2 "
                "(see `synthgen models`)"
            )
        note = None
    else:
        aliases, note = default_models(catalog)
        specs = catalog.select(aliases)
    twice = sorted({s.alias for s in specs if sum(t.alias == s.alias for t in specs) > 1})
    if twice:
        raise UserError(f"--models names {', '.join(twice)} twice; name each model once")
    return specs, note


def plan_models(
    specs: Sequence[ModelSpec], template: Template, params: dict[str, dict[str, Any]] | None
) -> dict[str, dict[str, Any]]:
    """What each model will be sent, stored with the run: resolved parameters and the template it receives."""
    plans = {}
    for spec in specs:
        few = received_template(spec)  # its adapter decides: a base model's few-shot template, or the run's
        used = few or template
        plans[spec.alias] = ModelPlan(
            model_id=spec.model_id,
            protocol=spec.protocol,
            params=spec.merged_params((params or {}).get(spec.alias)),
            template=used.name,
            template_text=used.text,
            prompt_format="{prompt}" if few else spec.prompt_format,
            few_shot=few is not None,
            prices={  # fixed with the run: what its outcomes cost (synthgen.cost), whatever the table says later
                "input": spec.price_input_per_1m,
                "output": spec.price_output_per_1m,
                "batch_input": spec.batch_price_input_per_1m,
                "batch_output": spec.batch_price_output_per_1m,
                "as_of": spec.prices_as_of,
            },
        ).to_dict()
    return plans


def task_models(
    specs: Sequence[ModelSpec], task: TaskInfo, fewshot: FewShot | None, run: RunInfo | None = None
) -> list[ModelSpec]:
    """The entries as this run sends them: a base model in completion mode gets the task's few-shot prompt
    (`fewshot`: its worked examples), or, for a task without examples, its table's few-shot template, with the
    task's labels. Resuming (`run`), what the run stored when it was planned wins: the template each model
    received and the task's examples, so a task or table edited since changes nothing."""
    out = []
    for spec in specs:
        table = received_template(spec)
        if table is None:
            out.append(spec)
            continue
        plan = run.plan_of(spec.alias) if run is not None else None
        if plan is not None and plan.few_shot and plan.template_text:
            stored = Template(plan.template, plan.template_text, f"the plan of {spec.alias} in run {run.run_id}")
            bound = FewShot(stored, task.examples or examples_in(stored.text), task.labels)
        elif fewshot is not None and run is None:
            bound = fewshot
        else:
            bound = FewShot(table, examples_in(table.text), task.labels)
        out.append(with_fewshot(spec, bound))
    return out


def plan_cells(
    run: RunInfo,
    specs: Sequence[ModelSpec],
    template: Template | str,
    topics: dict[str, tuple[str, ...]] | str,
    task: TaskInfo | None = None,
    topics_per_round: int = TOPICS_PER_ROUND,
) -> Iterator[Record]:
    """Every cell of a run, as `planned` records, one round at a time (pure: nothing is read but the named
    template and topics). `task` gives the labels (default: the run's stored task)."""
    template = load_template(template) if isinstance(template, str) else template
    categories = load_topics(topics) if isinstance(topics, str) else topics
    labels = (task or run.task_info()).labels
    now = utc_now()
    for plan in iter_plans(run.rounds, run.seed, template, categories, labels, topics_per_round):
        for spec in specs:
            yield Record(
                run_id=run.run_id,
                round=plan.index,
                model=spec.alias,
                model_id=spec.model_id,
                label=plan.label,
                topics=plan.topics_json(),
                prompt=plan.prompt,
                created_at=now,
            )


@dataclass
class NewRun:
    """A run about to be planned, its parts read and checked once: the models (with the task's few-shot applied),
    the task, the template and the topics. `generate` and `generate --estimate` both start from it."""

    rounds: int
    specs: list[ModelSpec]
    note: str | None  # how the models were chosen, when the user did not name them
    task: Task
    template: Template
    categories: dict[str, tuple[str, ...]]
    topics: str | None  # the --topics override, or None for the task's own

    def run_info(self, run_id: str, seed: int | None, params: dict[str, Any] | None, **extra: Any) -> RunInfo:
        return RunInfo(
            run_id=run_id,
            created_at=utc_now(),
            seed=seed if seed is not None else random_seed(),
            rounds=self.rounds,
            models=[s.alias for s in self.specs],
            template=self.template.name,
            template_text=self.template.text,
            topics_source=self.topics or self.task.topics_source,
            params=params or {},
            model_plans=plan_models(self.specs, self.template, params),
            task=self.task.info().to_dict(),
            **extra,
        )

    def cells(self, run: RunInfo) -> Iterator[Record]:
        return plan_cells(run, self.specs, self.template, self.categories, self.task.info(), self.task.topics_per_round)


def new_run(
    catalog: Catalog,
    rounds: int,
    models: Sequence[str] | None,
    task: str | None,
    tasks_dir: str | None,
    template: str | None,
    topics: str | None,
) -> NewRun:
    """Check the size, choose the models and read the task, its template and topics (or the overrides)."""
    check_rounds(rounds)
    specs, note = select_models(catalog, models)
    check_size(rounds, specs)
    task_obj = load_task(task, tasks_dir)
    template_obj = load_template(template) if template else task_obj.template
    categories = load_topics(topics, at_least=task_obj.topics_per_round) if topics else task_obj.categories
    specs = task_models(specs, task_obj.info(), task_obj.fewshot())
    return NewRun(rounds, specs, note, task_obj, template_obj, categories, topics)
