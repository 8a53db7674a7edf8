"""Options several commands share."""

from __future__ import annotations

import click

catalog_option = click.option(
    "--catalog", "catalog_dir", envvar="SYNTHGEN_CATALOG", default=None, metavar="DIR",
    help="Directory of your own model tables (*.toml); they override shipped entries by alias. Env: SYNTHGEN_CATALOG.",
)
