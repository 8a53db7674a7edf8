"""The wire protocols synthgen speaks: the one registry both the catalog and the adapter lookup read.

A model table's `protocol` must be a name here (`catalog.load_catalog` checks it), and `adapter_class(name)` finds
the adapter that speaks it. Everything is named by string and imported on first use, so reading the catalog, or
`synthgen --help`, imports no SDK.

To add a protocol:

1. Write one adapter module under `synthgen/adapters/` with a subclass of `adapters.base.Adapter` (implement
   `_send`, `credentials_present` and `credentials_hint`; override `build_body` only where the table cannot say
   how the body is shaped).
2. Add one `Protocol` row to `REGISTRY` below: its name, `"module:Class"`, and, when it needs an optional extra,
   the `Extra` naming the modules to import first and the function that says how to install them.
3. Optionally add `[protocols.NAME]` defaults to `llms/protocols.toml`; then models using it are table entries.

Nothing else names the protocols.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

from .errors import UserError


@dataclass(frozen=True)
class Extra:
    """An optional dependency a protocol needs, and how to say so in one line when it is missing."""

    name: str  # the pip extra: `synthgen[NAME]`
    modules: tuple[str, ...]  # imported before the adapter: missing, or failing to load, means not installed
    hint: str  # "module:function"; function(what) -> the one-line install hint


@dataclass(frozen=True)
class Protocol:
    name: str
    adapter: str  # "module:Class"
    extra: Extra | None = None


_LOCAL = Extra("local", ("llama_cpp",), "synthgen.adapters.gguf:install_hint")

REGISTRY: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol("bedrock-invoke", "synthgen.adapters.bedrock_invoke:BedrockInvokeAdapter"),
        Protocol("bedrock-converse", "synthgen.adapters.bedrock_converse:BedrockConverseAdapter"),
        Protocol("gemini", "synthgen.adapters.gemini:GeminiAdapter"),
        Protocol("openai-chat", "synthgen.adapters.openai_chat:OpenAIChatAdapter"),
        Protocol("llama-cpp", "synthgen.adapters.llama_cpp:LlamaCppAdapter", _LOCAL),
    )
}


def names() -> tuple[str, ...]:
    return tuple(REGISTRY)


def get(name: str) -> Protocol:
    try:
        return REGISTRY[name]
    except KeyError:
        raise UserError(f"unknown protocol {name!r}; use one of {', '.join(REGISTRY)}") from None


def _resolve(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def adapter_class(name: str, *, check_extra: bool = True) -> Any:
    """The adapter class for a protocol. With `check_extra`, the protocol's optional extra is imported first and
    a missing (or broken) one is a UserError with the install hint. Without it, only the adapter module is
    imported: enough to ask the class about a table entry (what prompt it sends) where the extra may be absent."""
    protocol = get(name)
    if check_extra and protocol.extra is not None:
        try:
            for module in protocol.extra.modules:
                importlib.import_module(module)
        except ImportError as exc:
            raise UserError(_resolve(protocol.extra.hint)(f"the {name} protocol")) from exc
        except Exception as exc:  # noqa: BLE001 - installed, but its native library fails to load
            what = f"the {name} protocol ({protocol.extra.modules[0]} failed to load: {exc})"
            raise UserError(_resolve(protocol.extra.hint)(what)) from exc
    return _resolve(protocol.adapter)
