from __future__ import annotations

import asyncio
import json

import click

from ..adapters import Adapters, check_config, credentials_status
from ..catalog import load_catalog
from ..errors import UserError
from .options import catalog_option


@click.command("ask")
@click.argument("model")
@click.argument("prompt")
@click.option("--json", "as_json", is_flag=True, help="Print the whole typed result as JSON.")
@click.option(
    "--param",
    "params",
    multiple=True,
    metavar="KEY=JSON",
    help="Override a parameter, e.g. --param temperature=0.2 (dotted keys nest).",
)
@click.option(
    "--timeout", type=float, default=120.0, show_default=True, help="Seconds from send to the whole answer, at most."
)
@catalog_option
def cmd(model: str, prompt: str, as_json: bool, params: tuple[str, ...], timeout: float, catalog_dir) -> None:
    """Send one prompt to one model and print the answer (exit 1 when the model fails)."""
    spec = load_catalog(catalog_dir).get_model(model)
    present, hint = credentials_status(spec)
    if not present:
        raise UserError(f"{model}: credentials missing; {hint}")
    if not timeout > 0:
        raise UserError(f"--timeout {timeout:g}: must be a positive number of seconds")
    check_config(spec)
    overrides = parse_params(params)

    async def once():
        adapters = Adapters(max_connections=1, timeout=timeout)
        try:
            # The engine's call path, one attempt: a debugging tool shows the first failure as it came, where
            # RetryPolicy would hide it behind retries. Adapter.call never raises: a surprise is a typed failure.
            return await adapters.for_spec(spec).call(spec, prompt, overrides, attempt=0)
        finally:
            await adapters.aclose()

    result = asyncio.run(once())
    if as_json:
        click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2, default=str))
    elif result.ok:
        click.echo(result.text)
    if not result.ok:
        failure = result.failure
        status = f" (HTTP {failure.status})" if failure.status else ""
        click.echo(f"{model}: {failure.kind}{status}: {failure.message}", err=True)
        raise SystemExit(1)


def parse_params(pairs: tuple[str, ...]) -> dict:
    out: dict = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--param {pair}: write KEY=VALUE, e.g. --param temperature=0.2")
        try:
            value = json.loads(raw)
        except ValueError:
            value = raw
        *parents, leaf = parts = key.split(".")
        if not all(parts):
            raise UserError(
                f"--param {pair}: a dotted key needs a name between the dots, e.g. --param generationConfig.topK=3"
            )
        node = out
        for depth, part in enumerate(parents):
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                given = ".".join(parents[: depth + 1])
                raise UserError(
                    f"--param {pair}: {given} is already set to {json.dumps(node)}, so it has no "
                    f"keys to set; give either {given}=VALUE or {given}.KEY=VALUE"
                )
        node[leaf] = value
    return out
