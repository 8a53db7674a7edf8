from __future__ import annotations

import json

import click

from ..store import DEFAULT_STORE
from .options import catalog_option, store_option


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
    "--template", default="sentiment", show_default=True, help="Prompt template: a name from prompts/ or a path."
)
@click.option("--topics", default="sentiment", show_default=True, help="Topics: a name from topics/ or a TOML path.")
@click.option("--concurrency", type=int, default=64, show_default=True, help="Requests in flight at once, overall.")
@click.option("--max-attempts", type=int, default=6, show_default=True, help="Tries per cell for retryable failures.")
@click.option("--timeout", type=float, default=120.0, show_default=True, help="Seconds before a request is abandoned.")
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
    template,
    topics,
    concurrency,
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
    if resume is not None and (rounds is not None or models or seed is not None):
        raise click.UsageError("--resume takes the rounds, models and seed of the run it finishes; drop the others")
    aliases = [m for m in models.split(",")] if models else None
    if model_path and resume is None:
        from ..adapters.gguf import MODEL_PATH_ALIAS

        aliases = [*(aliases or []), MODEL_PATH_ALIAS] if MODEL_PATH_ALIAS not in (aliases or []) else aliases
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


def _quiet_start(run, cells, note) -> None:
    if note:
        click.echo(note, err=True)
