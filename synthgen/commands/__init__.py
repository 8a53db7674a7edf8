"""One module a subcommand; see synthgen/cli.py."""
