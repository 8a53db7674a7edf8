"""The `synthgen` command. Each subcommand lives in synthgen/commands/NAME.py and exposes a click command `cmd`."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys

import click

from .errors import EXIT_INTERRUPTED, InfrastructureError, UserError

# name -> module under synthgen.commands; imported only when that command runs, so `synthgen --help` stays fast.
COMMANDS = {
    "models": "Table of model aliases, protocols, ids and whether their credentials are present.",
    "ask": "Send one prompt to one model and print the answer.",
    "tasks": "The kinds of dataset generate can make: tasks, their labels, template and topics.",
    "generate": "Generate a dataset: rounds x models, journaled to the store, resumable.",
    "batch": "A run's provider batch jobs: status, collect, cancel.",
    "runs": "List runs with their counts.",
    "log": "Print stored records as JSON lines.",
    "clean": "Keep exactly the target sentence of each answer of a model.",
    "export": "Build a Hugging Face DatasetDict from a run (and push it to the Hub).",
    "stats": "Tables and plots of what a run made.",
    "topics": "Cluster texts into named topics.",
    "verify": "Judge a run's texts into its task's labels; the verdicts are journaled.",
    "evaluate": "Train a quick classifier on an export and score it on your real labelled data.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name in COMMANDS if importlib.util.find_spec(f"synthgen.commands.{name}") is not None]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        try:
            module = importlib.import_module(f"synthgen.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"synthgen.commands.{name}":
                return None
            raise
        return module.cmd

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="synthgen")
def app() -> None:
    """Build labelled text datasets with many LLMs at once.

    \b
    Start:  synthgen models              which models are configured
            synthgen generate --rounds 200
            synthgen clean --model llama2
            synthgen export --out data/
    """
    load_env_file(".env")


def load_env_file(path: str) -> None:
    """Load `.env` from the working directory (the environment wins over the file); a file that cannot be read
    as UTF-8 text is one line naming it, not python-dotenv's traceback on every command."""
    from dotenv import load_dotenv

    try:
        load_dotenv(dotenv_path=path, override=False, encoding="utf-8")
    except UnicodeDecodeError as exc:
        from .catalog import not_utf8

        raise UserError(f"{os.path.abspath(path)}: {not_utf8(exc)}; save .env as UTF-8 or remove it") from None
    except OSError as exc:
        raise UserError(
            f"{os.path.abspath(path)}: cannot read it ({exc.strerror}); fix its permissions or remove it"
        ) from None


def main(argv: list[str] | None = None) -> None:
    """Entry point: one line on stderr, never a traceback. Exit codes: 0 done, 1 the command's own failure (`ask`
    got no answer), 2 bad input (UserError), 3 infrastructure (InfrastructureError: the store went away), 130
    interrupted (Ctrl-C or SIGTERM; what finished is stored)."""
    try:
        app.main(args=argv, prog_name="synthgen", standalone_mode=False)
    except (UserError, InfrastructureError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_INTERRUPTED)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)


if __name__ == "__main__":
    main()
