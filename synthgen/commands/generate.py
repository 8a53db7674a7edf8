from __future__ import annotations

import json

import click

from ..store import DEFAULT_STORE
from .options import catalog_option, store_option, tasks_option


@click.command("generate")
@click.option("--rounds", type=int, default=None, help="Rounds to plan; each round asks every model once.")
@click.option(
    "--models",
    default=None,
    metavar="A,B,...",
    help="Model aliases (see `synthgen models`). Default: every model whose credentials are present.",
)
@store_option
@click.option("--seed", type=int, default=None, help="Plans the same run for the same seed. Default: random, recorded.")
@click.option(
    "--task",
    default=None,
    metavar="NAME|FILE",
    help="The kind of dataset: a task name (see `synthgen tasks`) or a task file. Default: sentiment.",
)
@tasks_option
@click.option("--template", default=None, help="Prompt template: a name from prompts/ or a path. Default: the task's.")
@click.option("--topics", default=None, help="Topics: a name from topics/ or a TOML path. Default: the task's.")
@click.option(
    "--concurrency",
    type=int,
    default=64,
    show_default=True,
    help="Requests in flight at once, overall; each model gets as many unless its table or --model-concurrency "
    "says otherwise (see `synthgen models`).",
)
@click.option(
    "--model-concurrency",
    "model_concurrency",
    multiple=True,
    metavar="ALIAS=N",
    help="At most N requests in flight for this model, over its table's max_concurrency (within --concurrency). "
    "Repeatable.",
)
@click.option("--max-attempts", type=int, default=6, show_default=True, help="Tries per cell for retryable failures.")
@click.option(
    "--timeout",
    type=float,
    default=120.0,
    show_default=True,
    help="Seconds an attempt may take, from send to the whole answer; past it the attempt fails (transient) and "
    "is retried.",
)
@click.option(
    "--model-path",
    default=None,
    metavar="FILE.gguf",
    help="Also run this instruction-tuned GGUF in-process (entry `local-gguf`; needs the local extra). "
    "With --resume: the file a run's local-gguf cells use.",
)
@click.option("--resume", default=None, metavar="RUN_ID|last", help="Finish a run: only cells without an ok record.")
@click.option("--quiet", is_flag=True, help="No progress display; print the run id and a JSON summary line.")
@catalog_option
def cmd(
    rounds,
    models,
    store_url,
    seed,
    task,
    tasks_dir,
    template,
    topics,
    concurrency,
    model_concurrency,
    max_attempts,
    timeout,
    model_path,
    resume,
    quiet,
    catalog_dir,
) -> None:
    """Generate a dataset: rounds x models cells, each outcome journaled to the store, resumable."""
    from ..generation import generate

    if resume is None and rounds is None:
        raise click.UsageError("--rounds N is required (or --resume RUN_ID)")
    if resume is not None and (rounds is not None or models or seed is not None or task):
        raise click.UsageError(
            "--resume takes the rounds, models, seed and task of the run it finishes; drop the others"
        )
    aliases = [m for m in models.split(",")] if models else None
    if model_path and resume is None:
        from ..adapters.gguf import MODEL_PATH_ALIAS

        aliases = [*(aliases or []), MODEL_PATH_ALIAS] if MODEL_PATH_ALIAS not in (aliases or []) else aliases
    per_model = parse_model_concurrency(model_concurrency, aliases, catalog_dir)
    display = None
    if not quiet:
        from ..display import LiveProgress

        display = LiveProgress()
    try:
        summary = generate(
            rounds=rounds,
            models=aliases,
            store=store_url or DEFAULT_STORE,
            seed=seed,
            task=task,
            tasks_dir=tasks_dir,
            template=template,
            topics=topics,
            concurrency=concurrency,
            max_attempts=max_attempts,
            timeout=timeout,
            resume=resume,
            catalog_dir=catalog_dir,
            model_path=model_path,
            on_event=display,
            on_start=display.start if display else _quiet_start,
            model_concurrency=per_model or None,
        )
    finally:
        if display:
            display.stop()
    if quiet:
        click.echo(
            json.dumps(
                {
                    "run_id": summary.run_id,
                    "ok": summary.ok,
                    "total": summary.total,
                    "status": summary.run.status,
                    "failed": {m.model: m.failures for m in summary.models.values() if m.failures},
                }
            )
        )
    else:
        from ..display import print_summary

        print_summary(summary)
    if summary.interrupted:
        raise SystemExit(130)


def _quiet_start(run, todo, note, limits=None) -> None:
    if note:
        click.echo(note, err=True)


def parse_model_concurrency(pairs: tuple[str, ...], aliases: list[str] | None, catalog_dir: str | None) -> dict:
    """`--model-concurrency ALIAS=N` flags as {alias: N}; a malformed one, an unknown alias or one not among
    --models is one line (the run's own check covers the models it picks by itself)."""
    if not pairs:
        return {}
    from ..catalog import load_catalog
    from ..errors import UserError

    catalog = load_catalog(catalog_dir)
    limits: dict[str, int] = {}
    for pair in pairs:
        alias, sep, raw = pair.partition("=")
        alias = alias.strip()
        try:
            limit = int(raw)
        except ValueError:
            limit = 0
        if not sep or not alias or limit < 1:
            raise UserError(
                f"--model-concurrency {pair}: write ALIAS=N with N at least 1, e.g. --model-concurrency local=8"
            )
        try:
            catalog.get_model(alias)
        except UserError as exc:  # an unknown alias: the line that lists the known ones, naming the flag
            raise UserError(f"--model-concurrency {pair}: {exc}") from None
        if aliases is not None and alias not in [a.strip() for a in aliases]:
            raise UserError(f"--model-concurrency {pair}: {alias} is not among --models {','.join(aliases)}")
        limits[alias] = limit
    return limits
