"""One adapter per wire protocol; `Adapters` hands out one shared instance of each for a run.

Which class speaks which protocol is the registry's (`synthgen.protocols`); this package only looks it up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import protocols
from ..catalog import ModelSpec
from ..errors import UserError
from .base import Adapter, ProviderError, build_body, get_path, parse_answer

if TYPE_CHECKING:
    from ..prompt import Template

__all__ = [
    "Adapter",
    "Adapters",
    "ProviderError",
    "build_body",
    "get_path",
    "parse_answer",
    "adapter_class",
    "check_config",
    "credentials_status",
    "received_template",
]


def adapter_class(protocol: str, *, check_extra: bool = True) -> type[Adapter]:
    """The registry's adapter for a protocol; a missing optional extra is a UserError with its install hint
    (unless `check_extra` is off: then only the adapter's own module is imported)."""
    return protocols.adapter_class(protocol, check_extra=check_extra)


def received_template(spec: ModelSpec) -> Template | None:
    """The template an entry's prompt is built from when it is not the run's own (a base model's few-shot
    template), else None, as its adapter decides. Works without the protocol's optional extra."""
    return adapter_class(spec.protocol, check_extra=False).received_template(spec)


class Adapters:
    """One adapter per protocol for the life of a run, sharing connection pools across that protocol's models."""

    def __init__(
        self, *, max_connections: int = 64, timeout: float = 120.0, per_protocol: dict[str, int] | None = None
    ):
        # Each protocol's pool holds what can be in flight for it (`per_protocol`, else `max_connections`); both
        # Bedrock protocols share one signed transport (bedrock_http.BedrockRuntime), sized to their sum.
        self._opts: dict[str, Any] = {"max_connections": max_connections, "timeout": timeout}
        self._per_protocol = per_protocol or {}
        self._made: dict[str, Adapter] = {}
        self._runtime: Any = None

    def for_spec(self, spec: ModelSpec) -> Adapter:
        if spec.protocol not in self._made:
            cls = adapter_class(spec.protocol)
            kwargs = dict(self._opts)
            kwargs["max_connections"] = self._per_protocol.get(spec.protocol, self._opts["max_connections"])
            if spec.protocol.startswith("bedrock-"):
                from .bedrock_http import BedrockRuntime

                if self._runtime is None:
                    bedrock = sum(n for p, n in self._per_protocol.items() if p.startswith("bedrock-"))
                    self._runtime = BedrockRuntime(bedrock or self._opts["max_connections"], self._opts["timeout"])
                kwargs["runtime"] = self._runtime
            self._made[spec.protocol] = cls(**kwargs)
        return self._made[spec.protocol]

    async def aclose(self) -> None:
        for adapter in self._made.values():
            await adapter.aclose()
        self._made.clear()


def credentials_status(spec: ModelSpec) -> tuple[bool, str]:
    """Whether a model's credentials are present, and if not, what to set."""
    try:
        cls = adapter_class(spec.protocol)
    except UserError as exc:  # the protocol's optional extra is not installed
        return False, str(exc)
    if cls.credentials_present(spec):
        return True, ""
    return False, cls.credentials_hint(spec)


def check_config(spec: ModelSpec) -> None:
    """UserError for a model whose endpoint or region no request could work with (after credentials_status)."""
    adapter_class(spec.protocol).check_config(spec)
