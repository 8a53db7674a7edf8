from __future__ import annotations

import json

import click

from ..store import DEFAULT_STORE
from .batch_options import batch_options, print_closing, quiet_fields
from .options import catalog_option, store_option, tasks_option
from .verify import aggregate_option, min_confidence_option, self_judge_option


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
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="Processes that share the run's cells and its --concurrency: for a run whose one process is CPU-bound "
    "(hundreds of answers a second) on a machine with cores to spare. Not with the in-process local model or "
    "--batch.",
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
@click.option(
    "--verify",
    "verify",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[JUDGES]",
    help="Judge every answer (judges: these aliases, else the bundled local-gemma) and ask a rejected cell again "
    "with a new seed, up to --max-regenerations times; see `synthgen verify`.",
)
@click.option(
    "--max-regenerations",
    type=int,
    default=3,
    show_default=True,
    help="With --verify: new answers asked for a cell whose answer the judges reject.",
)
@min_confidence_option
@aggregate_option
@self_judge_option
@batch_options
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
    workers,
    max_attempts,
    timeout,
    model_path,
    resume,
    quiet,
    catalog_dir,
    verify=None,
    max_regenerations=3,
    min_confidence=0.0,
    aggregate="vote",
    self_judge=False,
    batch=False,
    batch_only=False,
    batch_s3=None,
    batch_role=None,
    batch_retry="online",
    wait=False,
    poll_s=30.0,
    estimate=False,
    budget=None,
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
    if resume is not None and (batch or batch_only or batch_s3 or batch_role or estimate):
        raise click.UsageError("--resume keeps the run's batch settings; drop --batch, --batch-* and --estimate")
    if estimate:
        from ..estimate import estimate_run, print_estimate

        found = estimate_run(
            rounds=rounds,
            models=aliases,
            store=store_url or DEFAULT_STORE,
            seed=seed,
            task=task,
            tasks_dir=tasks_dir,
            template=template,
            topics=topics,
            catalog_dir=catalog_dir,
        )
        print_estimate(found, as_json=quiet)
        return
    display = None
    if not quiet:
        from ..display import LiveProgress

        display = LiveProgress()
    job = generate
    if verify is not None:
        job = _verified(verify, max_regenerations, min_confidence, aggregate, self_judge, quiet, display)
    try:
        summary = job(
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
            workers=workers,
            **_batch_kwargs(batch, batch_only, batch_s3, batch_role, batch_retry, wait, poll_s, budget, quiet),
        )
    finally:
        if display:
            display.stop()
    verification = None
    if verify is not None:
        verification, summary = summary, summary.generation
    if quiet:
        click.echo(
            json.dumps(
                {
                    "run_id": summary.run_id,
                    "ok": summary.ok,
                    "total": summary.total,
                    "status": summary.run.status,
                    "failed": {m.model: m.failures for m in summary.models.values() if m.failures},
                    **quiet_fields(summary),
                }
            )
        )
    else:
        from ..display import print_summary

        print_summary(summary)
        print_closing(summary)
    if verification is not None and verification.checks and not quiet:
        from .verify import print_verification

        print_verification(verification)
    elif verification is not None and verification.checks:
        click.echo(json.dumps({"run_id": summary.run_id, "verification": verification.agreement().to_dict()}))
    if summary.interrupted or (verification is not None and verification.interrupted):
        raise SystemExit(130)


def _batch_kwargs(batch, batch_only, batch_s3, batch_role, batch_retry, wait, poll_s, budget, quiet) -> dict:
    """generate()'s batch and budget arguments (only those given, so a job without them takes the call too)."""
    if not (batch or batch_only or batch_s3 or batch_role or wait or budget is not None):
        return {}
    from .batch_options import JobProgress

    return {
        "batch": batch,
        "batch_only": batch_only,
        "batch_s3": batch_s3,
        "batch_role": batch_role,
        "batch_retry": batch_retry,
        "wait": wait,
        "poll_s": poll_s,
        "budget": budget,
        "on_batch": None if quiet else JobProgress(),
    }


def _verified(verify, max_regenerations, min_confidence, aggregate, self_judge, quiet, display):
    """`generate` followed by verification and regeneration (verify.generate_verified), as one job."""
    import functools

    from ..verify import generate_verified, parse_judges
    from .verify import Progress

    return functools.partial(
        generate_verified,
        judges=parse_judges(verify) if verify else (),
        max_regenerations=max_regenerations,
        min_confidence=min_confidence,
        aggregate=aggregate,
        self_judge=self_judge,
        on_verify_event=Progress(quiet=quiet),
        on_generated=(lambda summary: display.stop()) if display else None,
    )


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
