from __future__ import annotations

import json

import click

from .options import store_option


@click.command("evaluate")
@click.option("--run", "run_id", default=None, metavar="ID|last", help="A run, exported in memory. Default: last.")
@click.option("--data", default=None, metavar="DIR", help="An export folder (synthgen export --out) instead of a run.")
@click.option("--real", required=True, metavar="FILE", help="Your real labelled texts: .csv or .jsonl, labels by name.")
@click.option("--text-column", default="text", show_default=True, help="The real file's text column.")
@click.option("--label-column", default="label", show_default=True, help="The real file's label column.")
@click.option(
    "--classifier",
    type=click.Choice(["tfidf", "minilm"]),
    default="tfidf",
    show_default=True,
    help="TF-IDF + logistic regression, or MiniLM embeddings + logistic regression (the minilm extra).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the classifier and the real halves.")
@click.option("--plot", default=None, metavar="FILE.png", help="Write the real file's confusion matrix here.")
@store_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object instead of a table.")
def cmd(run_id, data, real, text_column, label_column, classifier, seed, plot, store_url, as_json) -> None:
    """Train a quick classifier on an export's train split; score it on its test split and on your real data."""
    from ..api import evaluate

    report = evaluate(
        run_id,
        data=data,
        real=real,
        text_column=text_column,
        label_column=label_column,
        classifier=classifier,
        store=store_url,
        seed=seed,
        plot=plot,
    )
    if as_json:
        click.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    table = Table(title=f"{report.classifier} classifier, {report.source}, real: {report.real_file}")
    for column in ("trained on -> scored on", "train", "test", "accuracy", "macro-F1"):
        table.add_column(column, justify="left" if column.startswith("trained") else "right")
    for s in report.scores:
        table.add_row(s.name, str(s.trained), str(s.tested), f"{s.accuracy:.3f}", f"{s.macro_f1:.3f}")
    console.print(table)
    for note in report.notes:
        console.print(note)
