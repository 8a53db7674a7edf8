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
    """Table of model aliases, protocols, model ids and whether their credentials are present."""
    catalog = load_catalog(catalog_dir)
    rows = []
    for spec in catalog.values():
        present, hint = credentials_status(spec)
        rows.append({"alias": spec.alias, "protocol": spec.protocol, "model_id": spec.model_id,
                     "credentials": present, "hint": hint, "description": spec.description, "table": spec.source})
    if as_json:
        for row in rows:
            click.echo(json.dumps(row))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(rows)} models", title_justify="left")
    for column in ("alias", "protocol", "model id", "credentials"):
        table.add_column(column, no_wrap=True)
    table.add_column("description", overflow="ellipsis", no_wrap=True, max_width=40)
    for row in rows:
        table.add_row(row["alias"], row["protocol"], row["model_id"],
                      "[green]yes[/green]" if row["credentials"] else "[dim]no[/dim]", row["description"])
    Console(width=max(Console().width, 120)).print(table)
