from __future__ import annotations

import json

import click

from .options import tasks_option


@click.command("tasks")
@tasks_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per task.")
def cmd(tasks_dir: str | None, as_json: bool) -> None:
    """The tasks `generate --task` can name: shipped ones and yours, with their labels, template and topics."""
    from ..paths import data_dir
    from ..task import list_tasks

    tasks = list_tasks(tasks_dir)
    shipped = data_dir("tasks").resolve()

    def origin(source: str) -> str:
        from pathlib import Path

        return "shipped" if Path(source).resolve().parent == shipped else source

    if as_json:
        for task in tasks:
            click.echo(
                json.dumps(
                    {
                        "name": task.name,
                        "description": task.description,
                        "labels": [
                            {"name": lab.name, "description": lab.description, "weight": lab.weight}
                            for lab in task.labels
                        ],
                        "template": task.template.name,
                        "template_source": task.template.source,
                        "topics": task.topics_source,
                        "categories": len(task.categories),
                        "topics_per_round": task.topics_per_round,
                        "examples": len(task.examples),
                        "source": task.source,
                        "shipped": origin(task.source) == "shipped",
                    },
                    ensure_ascii=False,
                )
            )
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="tasks (generate --task NAME)", title_justify="left", show_lines=True)
    for column in ("task", "labels", "template", "topics", "examples", "from"):
        table.add_column(column, overflow="fold")
    for task in tasks:
        weights = any(lab.weight != 1.0 for lab in task.labels)
        labels = ", ".join(lab.name + (f" ({lab.weight:g})" if weights else "") for lab in task.labels)
        table.add_row(
            f"[bold]{escape(task.name)}[/bold]\n{escape(task.description)}",
            escape(labels),
            escape(task.template.name),
            f"{escape(task.topics_source)} ({len(task.categories)} categories, {task.topics_per_round} a round)",
            str(len(task.examples)),
            escape(origin(task.source)),
        )
    Console(width=max(Console().width, 120)).print(table)
