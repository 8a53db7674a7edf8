from __future__ import annotations

import click

from ..export import FORMATS
from ..text import plural, shorten
from .options import store_option


@click.command("export")
@click.option("--run", "run_id", default="last", show_default=True, metavar="ID|last", help="The run to export.")
@click.option(
    "--out",
    required=True,
    metavar="DIR",
    help="Folder for the splits, README.md (the dataset card) and dropped.jsonl; new, empty, or an earlier export.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="disk",
    show_default=True,
    help="disk: DatasetDict.save_to_disk (load_from_disk reads it); else one file per split.",
)
@click.option("--test-size", type=float, default=0.1, show_default=True, help="Share of texts in the test split.")
@click.option("--seed", type=int, default=None, help="Seed of the split and shuffle. Default: the run's seed.")
@click.option(
    "--require-clean",
    "require_clean",
    multiple=True,
    metavar="ALIAS",
    help="Refuse to export uncleaned answers of this model (repeatable), e.g. --require-clean llama2.",
)
@click.option(
    "--push",
    default=None,
    metavar="USER/NAME",
    help="Also push to the Hugging Face Hub (token: HF_TOKEN or your saved `hf auth login`).",
)
@click.option(
    "--private",
    is_flag=True,
    help="Push to a private Hub repository: a new one is created private; an existing public one is "
    "refused (pushing cannot change a repository's visibility).",
)
@click.option(
    "--license",
    "license_id",
    default="other",
    show_default=True,
    help="License id for the card's metadata, e.g. cc-by-4.0.",
)
@click.option(
    "--allow-partial",
    is_flag=True,
    help="Export a run that is not finished (interrupted, or cells still planned); the card says how much "
    "of the plan it holds. Without it such a run is refused.",
)
@click.option(
    "--keep-unverified",
    is_flag=True,
    help="Keep the texts whose label the judges rejected (by default they are dropped, each in dropped.jsonl "
    "with its verdicts, and the labels rebalanced within 2%).",
)
@click.option("--judge-columns", is_flag=True, help="Add the columns judge_label and judge_confidence.")
@click.option(
    "--similarity",
    type=float,
    default=0.8,
    show_default=True,
    help="Near-duplicates: drop a text whose word 3-shingles have at least this Jaccard similarity with an "
    "earlier text's (MinHash/LSH); 0 turns it off.",
)
@click.option(
    "--dedup-embedder",
    default=None,
    metavar="NAME",
    help="Also drop texts whose embedding (tfidf, minilm, ...) has cosine >= 0.95 with an earlier text's.",
)
@store_option
# Accepted so scripts that pass --catalog to every command keep working; export reads what each model was sent from
# the run's stored plans, never from the model tables.
@click.option("--catalog", "catalog_dir", default=None, metavar="DIR", hidden=True)
def cmd(
    run_id,
    out,
    fmt,
    test_size,
    seed,
    require_clean,
    push,
    private,
    license_id,
    allow_partial,
    store_url,
    catalog_dir,
    keep_unverified=False,
    judge_columns=False,
    similarity=0.8,
    dedup_embedder=None,
) -> None:
    """Build a Hugging Face DatasetDict from a run (and push it to the Hub)."""
    from rich.console import Console
    from rich.markup import escape

    from ..export import DROP_REASONS, export_dataset

    if private and not push:
        raise click.UsageError("--private only applies with --push USER/NAME")
    result = export_dataset(
        run_id,
        out,
        store=store_url,
        format=fmt,
        test_size=test_size,
        seed=seed,
        require_clean=require_clean,
        push=push,
        private=private,
        license=license_id,
        allow_partial=allow_partial,
        keep_unverified=keep_unverified,
        judge_columns=judge_columns,
        similarity=similarity or None,
        dedup_embedder=dedup_embedder,
    )
    console = Console(highlight=False, soft_wrap=True)
    answers = sum(f.answers for f in result.cleaning.values())
    console.print(
        f"run [bold]{result.run.run_id}[/bold]: {plural(answers, 'ok answer')} -> "
        f"{plural(result.kept, 'text')} "
        f"(train {len(result.splits['train'])}, test {len(result.splits['test'])}; "
        f"stratified by label and model, seed {result.seed})"
    )
    if result.partial:
        console.print(f"[yellow]partial: {escape(result.partial)}[/yellow]")
    for split in result.splits:
        labels = result.label_counts(split)
        n = sum(labels.values())
        console.print(f"  {split:<5} " + ", ".join(f"{k} {v} ({100 * v / n:.1f}%)" for k, v in labels.items()))
    cleaned = {m: f for m, f in result.cleaning.items() if f.cleaned or f.none_kept}
    if cleaned:
        console.print(
            "cleaned text used: "
            + ", ".join(
                f"{m} {f.cleaned} of {f.answers}" + (f" ({f.none_kept} with no sentence kept)" if f.none_kept else "")
                for m, f in cleaned.items()
            )
        )
        for m, f in cleaned.items():
            if f.raw:
                has = "has" if f.raw == 1 else "have"
                console.print(
                    f"[yellow]note: {plural(f.raw, 'answer')} of {m} {has} no cleaned text; the raw "
                    f"{'answer was' if f.raw == 1 else 'answers were'} exported (--require-clean {m} "
                    "refuses that)[/yellow]"
                )
    checked = result.checked
    if checked is not None and checked.judged:
        console.print(
            f"verified by {', '.join(checked.judges)}: {checked.accepted} accepted "
            f"({checked.regenerated_kept} regenerated), {checked.rejected} rejected"
            + (f" ({checked.kept_unverified} kept: --keep-unverified)" if checked.kept_unverified else "")
            + (f", {checked.unverified} never judged (run `synthgen verify`)" if checked.unverified else "")
        )
    elif checked is not None:
        console.print("no judge checked this run: labels are the ones asked for (`synthgen verify` checks them)")
    counts = result.drop_counts()
    if counts:
        console.print(f"dropped {len(result.dropped)} before the split:")
        for reason, n in counts.items():
            console.print(f"  {n} {DROP_REASONS[reason]}")
            for item in [d for d in result.dropped if d.reason == reason][:2]:
                console.print(f'    {item.record_id}: "{escape(shorten(item.text, 90))}"')
    else:
        console.print("dropped nothing: no empty texts or duplicates")
    console.print(f"wrote {result.out} ({result.format}): " + ", ".join(p.name for p in result.files))
    if result.pushed_to:
        visibility = {True: "private", False: "public"}.get(result.pushed_private, "visibility unknown")
        console.print(f"pushed to {result.pushed_to} ({visibility})")
