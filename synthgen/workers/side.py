"""Inside a worker: its stop signals, its death with the process that started it, its events sent on in batches,
and the report it sends at its end whatever happened."""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from multiprocessing.connection import Connection
from typing import Any

from ..errors import InfrastructureError, UserError
from ..lease import LeaseLost
from ..store import StoreUnavailable
from .shares import WorkerJob, WorkerReport

RELAY_EVERY_S = 0.1  # how often a worker sends its events on (the display refreshes at 8 Hz)


class WorkerSide:
    """A worker's end: its stop signals, the watch on its parent, its events sent on in batches, its report."""

    def __init__(self, conn: Connection, job: WorkerJob):
        self.conn = conn
        self.job = job
        self.report = WorkerReport(index=job.share.index)
        self.stopping = False
        self._cancel: Callable[[], None] | None = None
        self._events: deque[Any] = deque()  # appended in the event loop's thread, sent from the relay's
        self._lock = threading.Lock()
        self._done = threading.Event()

    @property
    def on_event(self) -> Callable[[Any], None] | None:
        """The engine's listener: events queued for the relay, or None when nobody listens."""
        return self._events.append if self.job.relay else None

    def parent_alive(self) -> bool:
        return os.getppid() == self.job.parent

    def orphaned(self) -> Exception:
        # LeaseLost: the engine stops with it as it stops when a run's lease is taken over
        return LeaseLost(f"worker {self.job.share.index + 1}: the process that started it is gone")

    def run(self, factory: Callable[[], Any]) -> None:
        """asyncio.run(factory()), cancelled (what finished is stored) by the first stop signal."""
        import asyncio

        async def main() -> None:
            loop, task = asyncio.get_running_loop(), asyncio.current_task()
            assert task is not None
            self._cancel = lambda: loop.call_soon_threadsafe(task.cancel)
            if not self.stopping:
                await factory()

        try:
            asyncio.run(main())
        except asyncio.CancelledError:
            pass
        finally:
            self._cancel = None
        self.report.interrupted = self.stopping

    def _stop(self, signum: int, frame: Any) -> None:
        if self.stopping:
            return  # Ctrl-C reaches the whole process group, and the parent passes it on: once is enough
        self.stopping = True
        if self._cancel is not None:
            self._cancel()

    def _relay(self) -> None:
        while not self._done.wait(RELAY_EVERY_S):
            self._send_events()

    def _send_events(self) -> None:
        with self._lock:
            events = [self._events.popleft() for _ in range(len(self._events))]
            if events and self.job.relay:
                self.conn.send(("events", events))

    def _send(self, message: tuple[str, Any]) -> None:
        with self._lock:
            self.conn.send(message)


@contextmanager
def worker_side(conn: Connection, job: WorkerJob) -> Iterator[WorkerSide]:
    """Set a worker up (its signals, its death with its parent, the relay of its events) and, whatever happens
    in the block, send its report at the end."""
    side = WorkerSide(conn, job)
    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, side._stop)
    _die_with_parent()
    if not side.parent_alive():  # it went before the line above took effect
        os._exit(1)
    relay = threading.Thread(target=side._relay, name="relay", daemon=True)
    relay.start()
    try:
        yield side
    except StoreUnavailable as exc:
        side.report.error, side.report.error_kind = str(exc), "store"
    except UserError as exc:
        side.report.error, side.report.error_kind = str(exc), "user"
    except InfrastructureError as exc:
        side.report.error, side.report.error_kind = str(exc), "infrastructure"
    except Exception as exc:  # noqa: BLE001 - a bug: its traceback here, one line to the parent
        import traceback

        traceback.print_exc(file=sys.stderr)
        side.report.error, side.report.error_kind = f"{type(exc).__name__}: {exc}", "bug"
    finally:
        side._done.set()
        relay.join()
        with suppress(OSError):
            side._send_events()
            side._send(("report", side.report))
            conn.close()


def main() -> None:
    """A worker process's entry (pool._BOOT): its target and job from stdin, its report pipe from argv[1]."""
    import importlib
    import pickle

    entry, job = pickle.load(sys.stdin.buffer)
    module, _, name = entry.partition(":")
    target = getattr(importlib.import_module(module), name)
    target(Connection(int(sys.argv[1]), readable=False), job)


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when its parent dies (PR_SET_PDEATHSIG), so a killed `generate`
    leaves no worker sending cells behind a lease that looks free."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
    except (OSError, AttributeError):
        pass
