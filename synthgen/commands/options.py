"""Options several commands share."""

from __future__ import annotations

import click

catalog_option = click.option(
    "--catalog",
    "catalog_dir",
    envvar="SYNTHGEN_CATALOG",
    default=None,
    metavar="DIR",
    help="Directory of your own model tables (*.toml); they override shipped entries by alias. Env: SYNTHGEN_CATALOG.",
)

store_option = click.option(
    "--store",
    "store_url",
    envvar="SYNTHGEN_STORE",
    default=None,
    metavar="URL",
    help="sqlite:///path/synthgen.db (default sqlite:///synthgen.db) or dynamodb://TABLE. Env: SYNTHGEN_STORE.",
)

tasks_option = click.option(
    "--tasks",
    "tasks_dir",
    envvar="SYNTHGEN_TASKS",
    default=None,
    metavar="DIR",
    help="Directory of your own task files (*.toml); a task there overrides a shipped one of the same name. "
    "Env: SYNTHGEN_TASKS.",
)
