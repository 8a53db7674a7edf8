"""The HTTP transport every network adapter shares: httpx2 clients, the per-attempt deadline, transport errors.

httpx2 is the openai SDK's own default transport; under it runs `pool.ConnectionPool`, whose cost per request
does not grow with the number of connections (httpcore2's does), so a run at 256 connections costs no more per
request than one at 16.

`--timeout` bounds an attempt from send to decoded answer (`Adapter.call` puts `deadline` around `_send`). The
pool's read timeout alone would not: it is per chunk, so a server sending one byte every 0.3 s keeps it waiting
for minutes. Cancelling at the deadline closes the connection it was reading from, so a trickle holds no slot.
"""

from __future__ import annotations

from typing import Any

import httpx2

from ..results import FailureKind
from .base import Adapter, ProviderError
from .pool import pooled_transport

USER_AGENT = "synthgen (httpx2)"


def http_client(max_connections: int, timeout: float, *, follow_redirects: bool = False) -> httpx2.AsyncClient:
    """An async client whose pool holds up to `max_connections`, all kept alive between requests."""
    return httpx2.AsyncClient(
        **client_options(max_connections, timeout),
        headers={"user-agent": USER_AGENT},
        follow_redirects=follow_redirects,
    )


def client_options(max_connections: int, timeout: float) -> dict[str, Any]:
    """Transport, limits and timeouts for an httpx2 client (the openai SDK's client is made with them too).

    The per-phase timeouts only catch what the deadline would catch later: a connect that hangs, a pool that
    stays full."""
    size = max(1, max_connections)
    options: dict[str, Any] = {
        "limits": httpx2.Limits(max_connections=size, max_keepalive_connections=size),
        "timeout": httpx2.Timeout(timeout, connect=min(10.0, timeout)),
    }
    transport = pooled_transport(size)
    if transport is not None:
        options["transport"] = transport
    return options


class HTTPAdapter(Adapter):
    """An adapter whose `_send` goes over the network: each attempt runs under the `--timeout` deadline."""

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self.deadline = self.timeout


def transport_error(exc: httpx2.HTTPError) -> ProviderError:
    """A request that got no HTTP answer (refused, reset, a phase timeout): transient, retried."""
    if isinstance(exc, httpx2.TimeoutException):
        return ProviderError(FailureKind.TRANSIENT, f"timeout: {type(exc).__name__}")
    return ProviderError(FailureKind.TRANSIENT, f"connection failed: {type(exc).__name__}: {exc}")


def json_or_text(response: Any) -> Any:
    """The decoded JSON body, or its first 2,000 characters of text when it is not JSON."""
    try:
        return response.json()
    except Exception:  # noqa: BLE001 - any decoding failure: the text is what there is
        return response.text[:2000]
