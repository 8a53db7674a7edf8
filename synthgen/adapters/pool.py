"""A connection pool whose cost per request does not grow with its size, under httpx2's transport.

httpcore2's pool (httpx2's, the openai SDK's) re-examines every connection at each request and each release, and
probes each idle one's socket for a server-side close: at zero latency that was 0.55 ms of CPU per request with
16 connections, 0.77 with 64 and 2.3 with 256 (benchmarks/bench_concurrency.py), so more connections made a run
slower. This pool keeps each origin's idle connections on a stack: a request takes the most recently used one
(probing only that one), or opens a new one under the limit, or waits in line for the next release, which hands
its connection straight to the first in line. The connections themselves are httpcore2's, as is the wire.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import urllib.request
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

import httpcore2
import httpx2

_Key = tuple[bytes, bytes, int]  # an origin's scheme, host and port


class ConnectionPool:
    """httpcore2's request interface (`handle_async_request`, `aclose`) over HTTP/1.1 keep-alive connections."""

    def __init__(self, *, ssl_context: ssl.SSLContext | None, max_connections: int, keepalive_expiry: float | None):
        self._ssl_context = ssl_context
        self._max = max(1, max_connections)
        self._keepalive_expiry = keepalive_expiry
        # every connection not yet closed, busy or idle, with its origin's key (httpcore2's Origin is unhashable)
        self._open: dict[httpcore2.AsyncHTTPConnection, _Key] = {}
        self._idle: dict[_Key, list[httpcore2.AsyncHTTPConnection]] = {}
        # requests waiting for a connection, first come first served: a future resolves to a connection handed
        # over, or to None: a slot, reserved for it, to open one in
        self._waiting: deque[tuple[_Key, asyncio.Future[Any]]] = deque()
        self._reserved = 0

    def _room(self) -> bool:
        return len(self._open) + self._reserved < self._max

    async def handle_async_request(self, request: httpcore2.Request) -> httpcore2.Response:
        origin = request.url.origin
        timeout = request.extensions.get("timeout", {}).get("pool")
        while True:
            connection = await self._acquire(origin, (origin.scheme, origin.host, origin.port), timeout)
            try:
                response = await connection.handle_async_request(request)
            except httpcore2.ConnectionNotAvailable:  # closed between the check and the send: take another
                await self._release(connection)
                continue
            except BaseException:
                await self._release(connection)
                raise
            return httpcore2.Response(
                status=response.status,
                headers=response.headers,
                content=_Released(response.stream, self, connection),
                extensions=response.extensions,
            )

    async def _acquire(
        self, origin: httpcore2.Origin, key: _Key, timeout: float | None
    ) -> httpcore2.AsyncHTTPConnection:
        idle = self._idle.get(key)
        while idle:
            connection = idle.pop()  # the most recently used: the others may expire unused
            if not connection.is_closed() and not connection.has_expired():
                return connection
            await self._close(connection)  # past keep-alive, or the server closed it while it sat idle
        if not self._waiting:
            if not self._room():
                await self._close_idle_elsewhere(key)
            if self._room():
                return self._new(origin, key)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        entry = (key, future)
        self._waiting.append(entry)
        try:
            async with asyncio.timeout(timeout):
                handed = await future
        except BaseException as exc:
            if entry in self._waiting:
                self._waiting.remove(entry)
            elif future.done() and not future.cancelled():  # served as we gave up: pass it on
                if future.result() is None:
                    self._reserved -= 1
                    self._hand_on_free_slots()
                else:
                    await self._release(future.result())
            if isinstance(exc, TimeoutError):
                raise httpcore2.PoolTimeout(f"no connection free within {timeout:g} s") from None
            raise
        if handed is None:
            self._reserved -= 1
            return self._new(origin, key)
        return handed

    def _new(self, origin: httpcore2.Origin, key: _Key) -> httpcore2.AsyncHTTPConnection:
        connection = httpcore2.AsyncHTTPConnection(
            origin=origin, ssl_context=self._ssl_context, keepalive_expiry=self._keepalive_expiry
        )
        self._open[connection] = key
        return connection

    async def _release(self, connection: httpcore2.AsyncHTTPConnection) -> None:
        """A request is done with its connection: to the first in line for its origin, else back to idle."""
        key = self._open.get(connection)
        if key is None or connection.is_closed() or not connection.is_idle():
            await self._close(connection)
            return
        for entry in self._waiting:
            if entry[0] == key:
                self._waiting.remove(entry)
                entry[1].set_result(connection)
                return
        if self._waiting:  # everyone in line wants another origin: this connection's slot goes to them
            await self._close(connection)
            return
        self._idle.setdefault(key, []).append(connection)

    async def _close(self, connection: httpcore2.AsyncHTTPConnection) -> None:
        if self._open.pop(connection, None) is not None:
            self._hand_on_free_slots()
        try:
            await asyncio.shield(connection.aclose())  # if this task is cancelled, the close still completes
        except Exception:  # noqa: BLE001, S110 - a connection that fails to close is closed enough
            pass

    def _hand_on_free_slots(self) -> None:
        while self._waiting and self._room():
            _, future = self._waiting.popleft()
            self._reserved += 1
            future.set_result(None)

    async def _close_idle_elsewhere(self, key: _Key) -> None:
        """At the limit with idle connections to other origins only: close one to make room."""
        for other, idle in self._idle.items():
            if other != key and idle:
                await self._close(idle.pop(0))
                return

    async def aclose(self) -> None:
        connections, self._open = list(self._open), {}
        self._idle.clear()
        for connection in connections:
            try:
                await asyncio.shield(connection.aclose())
            except Exception:  # noqa: BLE001, S110 - closing everything: one failure must not stop the rest
                pass

    async def __aenter__(self) -> ConnectionPool:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()


class _Released:
    """A response body that gives its connection back to the pool once read to the end or closed."""

    def __init__(self, stream: Any, pool: ConnectionPool, connection: httpcore2.AsyncHTTPConnection):
        self._stream = stream
        self._pool = pool
        self._connection = connection
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._stream:
            yield chunk

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            if hasattr(self._stream, "aclose"):
                await self._stream.aclose()  # a body not read to its end closes the connection (httpcore2)
        finally:
            await self._pool._release(self._connection)


class PooledTransport(httpx2.AsyncHTTPTransport):
    """httpx2's own transport (how it maps requests, responses and errors) over `ConnectionPool`."""

    def __init__(self, max_connections: int, keepalive_expiry: float | None = 5.0):
        # httpx2.AsyncHTTPTransport.__init__ is not called: all it does is build the pool replaced here
        self._pool = ConnectionPool(
            ssl_context=_ssl_context(), max_connections=max_connections, keepalive_expiry=keepalive_expiry
        )


def pooled_transport(max_connections: int) -> httpx2.AsyncHTTPTransport | None:
    """The transport for a client to `max_connections`; None where the environment names a proxy (HTTPS_PROXY
    and the like), which httpx2's own transport then goes through."""
    if urllib.request.getproxies():
        return None
    return PooledTransport(max_connections)


@functools.lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    return httpx2.create_ssl_context()  # what httpx2 verifies with (system trust store, SSL_CERT_FILE), made once
