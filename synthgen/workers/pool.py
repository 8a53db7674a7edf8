"""The process that starts the workers: it relays their events, renews the run's lease, stops them on Ctrl-C,
SIGTERM or an error, and turns how they ended into what one process would have raised."""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from ..errors import InfrastructureError, UserError
from ..lease import RunLease
from ..store import DEFAULT_STORE, OK, RunInfo, Store, StoreUnavailable
from .shares import WorkerJob, WorkerReport


class WorkerLost(InfrastructureError):
    """A worker process ended without its report (killed, out of memory): its share is left to --resume."""


@dataclass
class PoolResult:
    reports: list[WorkerReport]
    lost: list[str] = field(default_factory=list)  # a line per worker that ended without its report
    interrupted: bool = False  # Ctrl-C or SIGTERM reached this process
    lease_lost: bool = False
    renew_error: StoreUnavailable | None = None

    @property
    def stored_ok(self) -> int:
        return sum(r.stored_ok for r in self.reports)

    @property
    def budget_stopped(self) -> bool:
        return any(r.budget_stopped for r in self.reports)

    def outcome(self, lease: RunLease, handle: Store, run: RunInfo) -> bool:
        """Whether the run was interrupted; the error that stopped a worker raised as one process raises it
        (a store that went away first: the others met it too, or would have)."""
        errors = [r for r in self.reports if r.error_kind]
        down = next((r.error for r in errors if r.error_kind == "store"), None)
        if self.renew_error is not None or down is not None:
            raise self.renew_error or StoreUnavailable(down or "the store went away")
        if self.lease_lost:
            raise lease.lost()
        if self.lost or errors:
            handle.set_run_status(run.run_id, "interrupted")
        if self.lost:
            ok = sum(by.get(OK, 0) for by in handle.counts(run.run_id).values())
            store_flag = "" if handle.url == DEFAULT_STORE else f" --store {handle.url}"
            raise WorkerLost(
                f"{'; '.join(self.lost)}: what it had in flight is not stored, the other workers finished; "
                f"{ok} of {run.rounds * len(run.models)} cells stored ok; resume with synthgen generate --resume "
                f"{run.run_id}{store_flag}"
            )
        for report in errors:
            if report.error_kind == "user":
                raise UserError(report.error or "")
            if report.error_kind == "infrastructure":
                raise InfrastructureError(report.error or "")
            raise RuntimeError(f"worker {report.index + 1}: {report.error} (its traceback is above)")
        return self.interrupted or any(r.interrupted for r in self.reports)


def run_workers(
    target: Callable[[Connection, WorkerJob], None],
    jobs: Sequence[WorkerJob],
    *,
    on_events: Callable[[list[Any]], None] | None,
    renew: Callable[[], bool],
    renew_every_s: float,
) -> PoolResult:
    """Start a worker per job (`target(connection, job)` in a process of its own), relay their events, renew the
    run's lease, and wait for every one to end. The first Ctrl-C or SIGTERM asks each worker to stop (their
    outcomes are stored), a second kills them; a worker that stops with an error stops the others (one killed
    from outside does not: its share is left to --resume). Never raises for a worker's fate: the result says
    what happened."""
    entry = f"{target.__module__}:{target.__qualname__}"
    result = PoolResult(reports=[])
    live: dict[Connection, tuple[subprocess.Popen[bytes], WorkerJob]] = {}
    with _stop_signals() as stops:
        try:
            with _sigint_ignored():  # a worker starts deaf to Ctrl-C, until its own handler is set
                for job in jobs:
                    receive, proc = _start(entry, job)
                    live[receive] = (proc, job)
        except BaseException:
            _signal_all([proc for proc, _ in live.values()], signal.SIGKILL)
            raise
        asked, killed = False, False
        due = time.monotonic() + renew_every_s
        while live:
            for conn in wait(list(live), timeout=0.2):
                proc, job = live[conn]
                if _drain(conn, on_events, result):
                    continue
                del live[conn]
                conn.close()
                with suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
                reported = any(r.index == job.share.index for r in result.reports)
                # stopped before its handler was set (SIGTERM), or killed by a second Ctrl-C: stopped, not lost
                stopped = killed or (asked and proc.returncode == -signal.SIGTERM)
                if not reported and not stopped:
                    result.lost.append(f"worker {job.share.index + 1} of {len(jobs)} {_ended(proc.returncode)}")
            if stops.count:
                result.interrupted = True
            # a lost worker's share waits for --resume; the others finish theirs
            failed = any(r.error_kind for r in result.reports)
            if not asked and (stops.count or result.lease_lost or result.renew_error or failed):
                asked = True
                _signal_all([proc for proc, _ in live.values()], signal.SIGTERM)
            if stops.count > 1 and not killed:
                killed = True
                _signal_all([proc for proc, _ in live.values()], signal.SIGKILL)
            if time.monotonic() >= due and not (result.lease_lost or result.renew_error):
                due = time.monotonic() + renew_every_s
                try:
                    result.lease_lost = not renew()
                except StoreUnavailable as exc:
                    result.renew_error = exc
    result.reports.sort(key=lambda r: r.index)
    return result


# A fresh interpreter (no copied threads, event loops or locks, and none of the caller's __main__ run again, as
# multiprocessing's spawn would): it takes the caller's sys.path, then its target and job, from its stdin.
_BOOT = (
    "import pickle, sys; sys.path[:] = pickle.load(sys.stdin.buffer); from synthgen.workers.side import main; main()"
)


def _start(entry: str, job: WorkerJob) -> tuple[Connection, subprocess.Popen[bytes]]:
    """A worker process and the read end of the pipe it reports on (its fd number is its one argument)."""
    read_fd, write_fd = os.pipe()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-c", _BOOT, str(write_fd)], stdin=subprocess.PIPE, pass_fds=(write_fd,)
        )
    finally:
        os.close(write_fd)
    assert proc.stdin is not None
    try:
        pickle.dump(list(sys.path), proc.stdin)
        pickle.dump((entry, job), proc.stdin)
    except BrokenPipeError:
        pass  # it died at once: its exit status says so
    finally:
        with suppress(BrokenPipeError):
            proc.stdin.close()
    return Connection(read_fd, writable=False), proc


def _drain(conn: Connection, on_events: Callable[[list[Any]], None] | None, result: PoolResult) -> bool:
    """Read what a worker sent; False once it has closed its end (it ended)."""
    try:
        while conn.poll():
            kind, payload = conn.recv()
            if kind == "events" and on_events is not None:
                on_events(payload)
            elif kind == "report":
                result.reports.append(payload)
    except (EOFError, OSError):
        return False
    return True


def _ended(code: int | None) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed ({signal.Signals(-code).name})"
        except ValueError:
            return f"was killed (signal {-code})"
    return f"ended without its report (exit status {code})"


def _signal_all(procs: Sequence[subprocess.Popen[bytes]], signum: int) -> None:
    for proc in procs:
        if proc.returncode is None:
            with suppress(ProcessLookupError):
                proc.send_signal(signum)


class _Stops:
    count = 0


@contextmanager
def _stop_signals() -> Iterator[_Stops]:
    """Ctrl-C and SIGTERM counted, not raised, while the workers run (a KeyboardInterrupt in the middle of a
    read would tear a message). Only the main thread can set handlers; elsewhere nothing is counted."""
    stops = _Stops()
    if threading.current_thread() is not threading.main_thread():
        yield stops
        return

    def count(signum: int, frame: Any) -> None:
        stops.count += 1

    previous = {s: signal.signal(s, count) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stops
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
