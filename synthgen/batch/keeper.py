"""The run's lease, renewed in a thread while the batch side works (uploads, submits, hours of polling): the
engine renews it only while its own requests run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class LeaseKeeper:
    def __init__(self, renew: Callable[[], bool], every_s: float, lost: Callable[[], Exception]):
        self._renew, self._every, self._lost = renew, every_s, lost
        self._stop = threading.Event()
        self._gone = False
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LeaseKeeper:
        self._thread = threading.Thread(target=self._loop, name="batch-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            try:
                if not self._renew():
                    self._gone = True
                    return
            except Exception:  # noqa: BLE001 - a store that cannot renew now may next time; the TTL decides
                continue

    def check(self) -> None:
        """Between steps: stop when another process took the run over."""
        if self._gone:
            raise self._lost()
