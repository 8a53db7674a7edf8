"""Run a coroutine from synchronous code: the one bridge between the API's plain functions and the async engine."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")


def run_sync(factory: Callable[[], Awaitable[T]]) -> T:
    """`asyncio.run(factory())`, also where an event loop already runs in this thread (a notebook kernel, where
    `asyncio.run` refuses to nest): the coroutine then runs in a worker thread with a loop of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())  # type: ignore[arg-type]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthgen-async") as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()  # type: ignore[arg-type]


def call_sync(function: Callable[..., T], *args, **kwargs) -> T:
    """`function(*args, **kwargs)` for a sync function that itself calls `asyncio.run`: in a worker thread when a
    loop already runs here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return function(*args, **kwargs)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="synthgen-async") as pool:
        return pool.submit(function, *args, **kwargs).result()
