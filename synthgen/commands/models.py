from __future__ import annotations

import json

import click

from ..adapters import credentials_status
from ..catalog import load_catalog
from .options import catalog_option


@click.command("models")
@catalog_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per model.")
def cmd(catalog_dir: str | None, as_json: bool) -> None:
    """Table of model aliases, protocols, model ids, their own limits on requests in flight and whether their
    credentials are present."""
    catalog = load_catalog(catalog_dir)
    rows = []
    for spec in catalog.values():
        present, hint = credentials_status(spec)
        rows.append(
            {
                "alias": spec.alias,
                "protocol": spec.protocol,
                "model_id": spec.model_id,
                "credentials": present,
                # the table's cap on requests in flight; None: `generate --concurrency` alone decides
                "max_concurrency": spec.concurrency_cap,
                "hint": hint,
                "description": spec.description,
                "table": spec.source,
            }
        )
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    print_table(rows)


def print_table(rows: list[dict], console=None) -> None:
    """Alias and model id are never cut: they are what you type. At a width where a description column could
    not be read, the protocol and description go on a second, dim line under the model id instead."""
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    alias_w = max((len(r["alias"]) for r in rows), default=5)
    model_w = max((len(r["model_id"]) for r in rows), default=8)
    proto_w = max((len(r["protocol"]) for r in rows), default=8)
    credentials = ["[green]yes[/green]" if r["credentials"] else "[dim]no[/dim]" for r in rows]
    limits = [str(r["max_concurrency"]) if r["max_concurrency"] else "-" for r in rows]
    table = Table(
        title=f"{len(rows)} models",
        title_justify="left",
        caption="limit: the most requests in flight the model's table allows; - : as many as "
        "generate --concurrency (raise one with --model-concurrency ALIAS=N)",
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    # room a one-line row needs besides the description: columns, 3 characters between them, the edges
    wide = console.width >= alias_w + proto_w + model_w + len("credentials") + len("limit") + 5 * 3 + 2 + 24
    table.add_column("alias", no_wrap=True, min_width=alias_w)
    if wide:
        table.add_column("protocol", no_wrap=True)
        table.add_column("model id", no_wrap=True, min_width=model_w)
        table.add_column("limit", no_wrap=True, justify="right")
        table.add_column("credentials", no_wrap=True)
        table.add_column("description", overflow="fold")
        for row, limit, creds in zip(rows, limits, credentials, strict=True):
            table.add_row(row["alias"], row["protocol"], row["model_id"], limit, creds, row["description"])
    else:
        # overflow fold: below even this width the model id breaks onto a second line, never loses characters
        table.add_column("model id / protocol, limit: description", min_width=min(model_w, 24), overflow="fold")
        table.add_column("credentials", no_wrap=True)
        for row, limit, creds in zip(rows, limits, credentials, strict=True):
            cell = Text(row["model_id"])
            cell.append(f"\n{row['protocol']}, limit {limit}: {row['description']}", style="dim")
            table.add_row(row["alias"], cell, creds)
    console.print(table)
