"""Models as data: the tables in llms/ (and a user's own directory) become typed `ModelSpec`s.

A table file holds `[protocols.NAME]` defaults and `[models.ALIAS]` entries. An entry deep-merges over its
protocol's defaults, and over another entry when it names one with `base = "alias"`. A user directory
(`--catalog DIR` or `SYNTHGEN_CATALOG`) is read after the shipped tables, so its entries override by alias.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .errors import UserError
from .paths import data_dir
from .protocols import REGISTRY as PROTOCOL_REGISTRY

# Every field an entry (or a protocol's defaults) may set, and the TOML type it must have.
_STRING, _TABLE, _BOOL, _INTEGER, _NUMBER = "a string", "a table", "true or false", "a positive integer", "a number"
_STRINGS = "a non-empty list of strings"
_FIELD_TYPES = {
    "protocol": _STRING,
    "model_id": _STRING,
    "description": _STRING,
    "base": _STRING,
    "params": _TABLE,
    "body": _TABLE,
    "params_at": _STRING,
    "prompt_format": _STRING,
    "system": _STRING,
    "answer_path": _STRING,
    "finish_path": _STRING,
    "usage_input": _STRING,
    "usage_output": _STRING,
    "max_concurrency": _INTEGER,
    "base_url": _STRING,
    "base_url_env": _STRING,
    # several endpoints of one model (synthgen.endpoints): replicas of a server, or Bedrock regions
    "base_urls": _STRINGS,
    "regions": _STRINGS,
    "api_key_env": _STRING,
    "key_optional": _BOOL,
    "options": _TABLE,
    "price_input_per_1m": _NUMBER,
    "price_output_per_1m": _NUMBER,
    # provider batch jobs (synthgen.batch) and their prices; `prices_as_of` says when the prices were read
    "batch": _BOOL,
    "batch_price_input_per_1m": _NUMBER,
    "batch_price_output_per_1m": _NUMBER,
    "prices_as_of": _STRING,
    "batch_min_records": _INTEGER,
    "batch_max_records": _INTEGER,
    "batch_max_bytes": _INTEGER,
}
_FIELDS = set(_FIELD_TYPES)


def copy_tree(value: Any) -> Any:
    """A copy of nested dicts and lists (JSON-shaped data): cheaper than copy.deepcopy on the request path."""
    if isinstance(value, dict):
        return {k: copy_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [copy_tree(v) for v in value]
    return value


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge `override` into a copy of `base`, recursing into nested tables (lists and scalars replace)."""
    merged = {k: copy_tree(v) for k, v in base.items()}
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy_tree(value)
    return merged


@dataclass(frozen=True)
class ModelSpec:
    alias: str
    protocol: str
    model_id: str
    answer_path: str
    params: dict[str, Any] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)
    params_at: str = ""
    prompt_format: str = "{prompt}"
    system: str | None = None
    finish_path: str | None = None
    usage_input: str | None = None
    usage_output: str | None = None
    # `max_concurrency` in a table: the provider's own cap on this model's requests in flight, set on purpose (a
    # local server's slots, the one in-process worker). None: no cap but --concurrency. The cloud providers
    # document rates (requests and tokens per minute), not concurrent requests: the AIMD limiter finds those.
    concurrency_cap: int | None = None
    base_url: str | None = None
    base_url_env: str | None = None
    # Several endpoints of this model, which a run spreads its requests over (synthgen.endpoints): base URLs of
    # replicas, or (Bedrock) regions. Empty: the one endpoint of `base_url` (or the provider's own, or the region).
    base_urls: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    api_key_env: str | None = None
    key_optional: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    price_input_per_1m: float | None = None
    price_output_per_1m: float | None = None
    # Provider batch jobs: whether the model takes them, at what prices (None: unknown, never zero), and the
    # provider's limits on one job (records and bytes of its input file; a Bedrock job needs at least 100 records)
    batch: bool = False
    batch_price_input_per_1m: float | None = None
    batch_price_output_per_1m: float | None = None
    prices_as_of: str | None = None
    batch_min_records: int | None = None
    batch_max_records: int | None = None
    batch_max_bytes: int | None = None
    description: str = ""
    source: str = ""

    def merged_params(self, override: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return deep_merge(self.params, override or {})

    def resolved_base_url(self) -> str | None:
        """Where a request goes: the first of `resolved_base_urls`, None for the provider's own endpoint."""
        urls = self.resolved_base_urls()
        return urls[0] if urls else None

    def resolved_base_urls(self) -> tuple[str, ...]:
        """Every base URL of the model: `base_url_env`'s value when it is set (several separated by commas), else
        the table's `base_urls`, else its `base_url`; () for the provider's own endpoint."""
        if self.base_url_env and os.environ.get(self.base_url_env):
            return tuple(u.strip().rstrip("/") for u in os.environ[self.base_url_env].split(",") if u.strip())
        if self.base_urls:
            return tuple(u.rstrip("/") for u in self.base_urls)
        return (self.base_url.rstrip("/"),) if self.base_url else ()

    def api_key(self) -> str | None:
        return os.environ.get(self.api_key_env) if self.api_key_env else None


class Catalog(Mapping[str, ModelSpec]):
    def __init__(self, specs: dict[str, ModelSpec]):
        self._specs = specs

    def __getitem__(self, alias: str) -> ModelSpec:
        return self._specs[alias]

    def __iter__(self):
        return iter(self._specs)

    def __len__(self) -> int:
        return len(self._specs)

    def get_model(self, alias: str) -> ModelSpec:
        try:
            return self._specs[alias]
        except KeyError:
            known = ", ".join(sorted(self._specs))
            raise UserError(f"unknown model '{alias}': known aliases are {known} (see `synthgen models`)") from None

    def select(self, aliases: Iterable[str]) -> list[ModelSpec]:
        return [self.get_model(a.strip()) for a in aliases if a.strip()]

    def with_entry(self, spec: ModelSpec) -> Catalog:
        """A copy with this entry in place of the one of its alias (a run's override, such as --model-path)."""
        return Catalog({**self._specs, spec.alias: spec})


def not_utf8(exc: UnicodeDecodeError) -> str:
    """What a file that failed to decode is, for a one-line error: `not UTF-8 text (byte 0xe9 at offset 12)`."""
    return f"not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start})"


def read_toml(path: Path, what: str, fix: str = "") -> dict[str, Any]:
    """A TOML file (a model table, a task file), or one line naming the file and what is wrong with it."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML ({exc}){fix}") from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: {not_utf8(exc)}; save the {what} as UTF-8") from None
    except OSError as exc:
        raise UserError(f"{path}: cannot read {what} ({exc.strerror})") from None


def _read_table(path: Path) -> dict[str, Any]:
    return read_toml(path, "model table", "; fix the file or remove it from the catalog")


def _type_ok(value: Any, expected: str) -> bool:
    if expected == _STRING:
        return isinstance(value, str)
    if expected == _TABLE:
        return isinstance(value, dict)
    if expected == _BOOL:
        return isinstance(value, bool)
    if expected == _STRINGS:
        return isinstance(value, list) and bool(value) and all(isinstance(item, str) and item for item in value)
    if expected == _INTEGER:  # TOML's true is a Python int too: not a concurrency
        return isinstance(value, int) and not isinstance(value, bool) and value >= 1
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _check_fields(fields: Mapping[str, Any], where: str) -> None:
    """Every field known and of its type, named by file and table, before anything is merged or built."""
    unknown = set(fields) - _FIELDS
    if unknown:
        raise UserError(f"{where}: unknown field(s) {sorted(unknown)}; allowed: {sorted(_FIELDS)}")
    for name, value in fields.items():
        expected = _FIELD_TYPES[name]
        if not _type_ok(value, expected):
            shown = repr(value) if len(repr(value)) <= 40 else f"a {type(value).__name__}"
            raise UserError(
                f"{where}.{name} is {shown}; it must be {expected}" + (" (not negative)" if expected == _NUMBER else "")
            )
    for name in ("base_urls", "regions"):
        if name in fields:
            _check_endpoints(fields, name, where)


def _check_endpoints(fields: Mapping[str, Any], name: str, where: str) -> None:
    """A list of endpoints: no repeats, each base URL an http(s) URL, and not beside the one-endpoint field."""
    values = fields[name]
    single = "base_url" if name == "base_urls" else None
    if single and single in fields:
        raise UserError(f"{where}: set {single} or {name}, not both (one endpoint, or a list of them)")
    for index, value in enumerate(values):
        if value in values[:index]:
            raise UserError(f"{where}.{name}[{index}] repeats {value!r}; list each endpoint once")
        if name == "base_urls" and not is_http_url(value):
            raise UserError(f"{where}.{name}[{index}] is {value!r}, not an http(s) URL; e.g. http://127.0.0.1:8080/v1")
        if name == "regions" and not _REGION.fullmatch(value):
            raise UserError(f"{where}.{name}[{index}] is {value!r}, not an AWS region name such as us-east-1")


_REGION = re.compile(r"[a-z]{2}(?:-[a-z0-9]+)+-\d+")


def is_http_url(url: str) -> bool:
    """Whether `url` is an http(s) URL a request can go to (a scheme, a host, a port that is a number)."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and " " not in url


def _table_files(directory: Path) -> list[Path]:
    if not directory.is_dir():
        raise UserError(f"--catalog {directory}: not a directory; name a directory of *.toml model tables")
    return sorted(directory.glob("*.toml"))


def catalog_dirs(user_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    dirs = [data_dir("llms")]
    extra = [user_dir] if user_dir else [p for p in os.environ.get("SYNTHGEN_CATALOG", "").split(os.pathsep) if p]
    dirs.extend(Path(p).expanduser() for p in extra)
    return dirs


def load_catalog(user_dir: str | os.PathLike[str] | None = None) -> Catalog:
    """Read the shipped tables, then the user's directory; later entries override earlier ones by alias."""
    protocols: dict[str, dict[str, Any]] = {}
    raw: dict[str, tuple[dict[str, Any], Path]] = {}
    for directory in catalog_dirs(user_dir):
        for path in _table_files(directory):
            table = _read_table(path)
            unknown = set(table) - {"protocols", "models"}
            if unknown:
                raise UserError(f"{path}: unknown top-level key(s) {sorted(unknown)}; use [protocols.X] or [models.X]")
            for key in ("protocols", "models"):
                if not isinstance(table.get(key, {}), dict):
                    raise UserError(f"{path}: `{key}` must be a table of tables: write [{key}.NAME] sections")
            for name, defaults in table.get("protocols", {}).items():
                if name not in PROTOCOL_REGISTRY:
                    raise UserError(
                        f"{path}: [protocols.{name}] is not a protocol; use one of {', '.join(PROTOCOL_REGISTRY)}"
                    )
                if not isinstance(defaults, dict):
                    raise UserError(f"{path}: protocols.{name} must be a table of field defaults")
                _check_fields(defaults, f"{path}: protocols.{name}")
                protocols[name] = deep_merge(protocols.get(name, {}), defaults)
            for alias, entry in table.get("models", {}).items():
                if not isinstance(entry, dict):
                    raise UserError(f"{path}: models.{alias} must be a table")
                _check_fields(entry, f"{path}: models.{alias}")
                raw[alias] = (entry, path)
    specs = {alias: _build(alias, raw, protocols, set()) for alias in raw}
    return Catalog(dict(sorted(specs.items())))


def _resolve(alias: str, raw: dict, seen: set[str]) -> dict[str, Any]:
    entry, path = raw[alias]
    if "base" not in entry:
        return entry
    parent = entry["base"]
    if parent not in raw:
        raise UserError(f"{path}: models.{alias}.base names unknown model '{parent}'")
    if parent in seen:
        raise UserError(f"{path}: models.{alias}.base forms a cycle through '{parent}'")
    return _over(_resolve(parent, raw, seen | {alias}), {k: v for k, v in entry.items() if k != "base"})


def _over(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """deep_merge, where one endpoint (`base_url`) and a list of them (`base_urls`) replace each other."""
    merged = deep_merge(base, override)
    for one, other in (("base_url", "base_urls"), ("base_urls", "base_url")):
        if one in override:
            merged.pop(other, None)
    return merged


def _build(alias: str, raw: dict, protocols: dict[str, dict[str, Any]], seen: set[str]) -> ModelSpec:
    _, path = raw[alias]
    entry = _resolve(alias, raw, seen)
    where = f"{path}: models.{alias}"
    protocol = entry.get("protocol")
    if protocol not in PROTOCOL_REGISTRY:
        raise UserError(f"{where}.protocol is {protocol!r}; use one of {', '.join(PROTOCOL_REGISTRY)}")
    merged = _over(protocols.get(protocol, {}), entry)
    merged.pop("base", None)
    if "max_concurrency" in merged:
        merged["concurrency_cap"] = merged.pop("max_concurrency")
    bedrock = protocol.startswith("bedrock-")  # whose endpoint is a region's, resolved by boto3
    if merged.get("regions") and not bedrock:
        raise UserError(f"{where}.regions is for Bedrock entries; list another server's replicas as base_urls")
    if merged.get("base_urls") and bedrock:
        raise UserError(f"{where}.base_urls: a Bedrock entry's endpoints are its regions; list them as regions")
    for name in ("base_urls", "regions"):
        if name in merged:
            merged[name] = tuple(merged[name])
    for required in ("model_id", "answer_path"):
        if not merged.get(required):
            raise UserError(f"{where}.{required} is missing; every model needs one")
    if "{prompt}" not in merged.get("prompt_format", "{prompt}"):
        raise UserError(f"{where}.prompt_format must contain {{prompt}}")
    return ModelSpec(alias=alias, source=str(path), **merged)


def concurrency_limit(spec: ModelSpec, concurrency: int, override: int | None = None) -> tuple[int, str]:
    """The most requests a run keeps in flight for this model, and why: `--model-concurrency ALIAS=N`, else its
    table's `max_concurrency`, else `--concurrency` (the run's overall limit, which bounds the others too)."""
    if override is not None:
        return min(override, concurrency), "--model-concurrency"
    if spec.concurrency_cap is not None:
        return min(spec.concurrency_cap, concurrency), "its table"
    return concurrency, "--concurrency"


def limits_line(specs: Iterable[ModelSpec], concurrency: int, overrides: Mapping[str, int] | None = None) -> str:
    """One line for a run's start: the overall limit and every model that gets less (or was set by flag).

    `in flight: at most 64 (--concurrency); local-gemma 1 (its table), llama2 8 (--model-concurrency)`"""
    overrides = overrides or {}
    others = []
    for spec in specs:
        limit, why = concurrency_limit(spec, concurrency, overrides.get(spec.alias))
        if why != "--concurrency" and (limit < concurrency or spec.alias in overrides):
            others.append(f"{spec.alias} {limit} ({why})")
    line = f"in flight: at most {concurrency} (--concurrency)"
    return f"{line}; {', '.join(others)}" if others else f"{line}, for each model too"


def check_model_concurrency(overrides: Mapping[str, int], specs: Iterable[ModelSpec]) -> None:
    """UserError for a `--model-concurrency` that names no model of the run, or a limit below 1."""
    aliases = sorted(spec.alias for spec in specs)
    for alias, limit in overrides.items():
        if alias not in aliases:
            raise UserError(
                f"--model-concurrency {alias}={limit}: {alias} is not a model of this run; "
                f"use one of {', '.join(aliases)}"
            )
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise UserError(f"--model-concurrency {alias}={limit}: the limit must be a whole number, at least 1")
