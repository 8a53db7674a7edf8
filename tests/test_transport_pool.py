"""The connection pool under every HTTP adapter: at most N connections, a fair line when they are all busy, idle
connections the server closed are replaced, and a request that gives up (a deadline) leaves nothing behind.
What it costs per request at 16, 64 and 256 connections is measured in benchmarks/bench_concurrency.py."""

from __future__ import annotations

import asyncio
import json

import httpx2
import pytest
from provider_server import ProviderServer

from synthgen.adapters.pool import ConnectionPool, PooledTransport, pooled_transport
from synthgen.adapters.transport import http_client

BODY = {"model": "gpt-4", "messages": [{"role": "user", "content": "hello"}]}


def pool_of(client: httpx2.AsyncClient) -> ConnectionPool:
    return client._transport._pool  # the test looks inside; nothing else does


async def post(client: httpx2.AsyncClient, url: str) -> int:
    response = await client.post(f"{url}/v1/chat/completions", json=BODY)
    assert response.json()["choices"][0]["message"]["content"]
    return response.status_code


def test_no_more_connections_than_the_limit_and_every_request_served(provider_server):
    provider_server.configure(model="*", latency=0.1)

    async def run():
        async with http_client(8, timeout=30) as client:
            statuses = await asyncio.gather(*(post(client, provider_server.url) for _ in range(60)))
            return statuses, len(pool_of(client)._open)

    statuses, still_open = asyncio.run(run())
    assert statuses == [200] * 60
    assert provider_server.peak_in_flight == 8 and still_open == 8  # kept alive for the next requests


def test_waiting_for_a_connection_past_the_pool_timeout_is_a_pool_timeout(provider_server):
    provider_server.configure(model="*", latency=1.0)

    async def run():
        async with http_client(1, timeout=0.3) as client:
            url = f"{provider_server.url}/v1/chat/completions"
            slow = asyncio.create_task(client.post(url, json=BODY, timeout=10))  # holds the one connection 1 s
            await asyncio.sleep(0.1)
            with pytest.raises(httpx2.PoolTimeout):
                await client.post(url, json=BODY)
            status = (await slow).status_code
            pool = pool_of(client)
            return status, len(pool._waiting), pool._reserved, len(pool._open)

    assert asyncio.run(run()) == (200, 0, 0, 1)


def test_a_request_cancelled_while_it_waits_leaves_the_line_and_the_next_gets_the_connection(provider_server):
    provider_server.configure(model="*", latency=0.3)

    async def run():
        async with http_client(1, timeout=30) as client:
            first = asyncio.create_task(post(client, provider_server.url))
            await asyncio.sleep(0.05)
            given_up = asyncio.create_task(post(client, provider_server.url))
            third = asyncio.create_task(post(client, provider_server.url))
            await asyncio.sleep(0.05)
            given_up.cancel()
            results = await asyncio.gather(first, third)
            pool = pool_of(client)
            return results, given_up.cancelled(), len(pool._waiting), pool._reserved, len(pool._open)

    assert asyncio.run(run()) == ([200, 200], True, 0, 0, 1)
    assert len(provider_server.requests) == 2


def test_idle_connections_the_server_closed_are_replaced(provider_server):
    async def run():
        async with http_client(4, timeout=10) as client:
            await asyncio.gather(*(post(client, provider_server.url) for _ in range(4)))
            port = provider_server.port
            provider_server.stop()  # closes every kept-alive connection from its side
            with ProviderServer(port=port) as again:
                statuses = await asyncio.gather(*(post(client, again.url) for _ in range(4)))
                return statuses, len(again.requests)

    assert asyncio.run(run()) == ([200] * 4, 4)


def test_a_connection_whose_answer_was_not_read_to_the_end_is_closed_not_reused(provider_server):
    provider_server.configure(model="*", trickle=0.05)

    async def run():
        async with http_client(1, timeout=30) as client:
            async with client.stream("POST", f"{provider_server.url}/v1/chat/completions", json=BODY) as response:
                async for _ in response.aiter_raw():
                    break  # a byte or two of the trickle, then give up on it
            provider_server.configure(model="*", trickle=0.0)
            status = await post(client, provider_server.url)
            return status, len(pool_of(client)._open)

    assert asyncio.run(run()) == (200, 1)
    assert len(provider_server.requests) == 2


def test_a_proxy_in_the_environment_is_left_to_httpx2(monkeypatch):
    assert isinstance(pooled_transport(4), PooledTransport)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert pooled_transport(4) is None
    client = http_client(4, timeout=5)
    assert not isinstance(client._transport, PooledTransport)
    asyncio.run(client.aclose())


def test_the_openai_adapters_client_runs_over_the_pool(provider_server):
    from synthgen.adapters import Adapters
    from synthgen.catalog import load_catalog

    spec = load_catalog()["gpt-4"]

    async def run():
        adapters = Adapters(max_connections=3, timeout=10)
        adapter = adapters.for_spec(spec)
        try:
            results = await asyncio.gather(*(adapter.call(spec, "hi") for _ in range(9)))
            return [r.ok for r in results], type(adapter._http._transport)
        finally:
            await adapters.aclose()

    oks, transport = asyncio.run(run())
    assert oks == [True] * 9 and transport is PooledTransport
    assert json.dumps(provider_server.requests[0]["json"]).startswith('{"model": "gpt-4"')
