from __future__ import annotations

import json
import sys

import click

from ..store import STATUSES, open_store
from .options import store_option


@click.command("log")
@store_option
@click.option("--run", "run_id", default=None, metavar="ID|last", help="One run (default: every run).")
@click.option("--model", default=None, help="Only this model alias.")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only records with this status.")
@click.option("--json", "as_json", is_flag=True, help="JSON lines, one record a line, all fields (the default).")
@click.option("--text", "as_text", is_flag=True, help="Only the answer texts, one a line.")
def cmd(store_url, run_id, model, status, as_json, as_text) -> None:
    """Print stored records as JSON lines."""
    with open_store(store_url, create=False) as store:
        run = store.resolve_run(run_id).run_id if run_id else None
        out = sys.stdout
        for record in store.records(run, model=model, status=status):
            if as_text:
                if record.text is not None:
                    out.write(" ".join(record.text.split()) + "\n")
            else:
                out.write(json.dumps(record.to_dict(), ensure_ascii=False, default=str) + "\n")
