"""One process works on a run at a time: the run's lease in the store is taken before any request is sent,
renewed while the run goes on, and released when it ends.

Two `generate --resume RUN` at once would otherwise both send every unfinished cell. A lease names its holder
(`host:pid:token`); one left behind by a process that died on this machine (`kill -9`) is taken over at once,
one held elsewhere when it expires (`TTL_S` after its last renewal).
"""

from __future__ import annotations

import os
import secrets
import socket
import time
from dataclasses import dataclass

from .errors import InfrastructureError, UserError
from .store import Store

TTL_S = 30.0  # a lease lives this long past its last renewal: what a crashed run on another machine costs
RENEW_EVERY_S = 10.0
_HELD: set[str] = set()  # owners of the leases this process holds now


class LeaseLost(InfrastructureError):
    """Another process took the run over while this one ran (its lease expired: the machine slept or stalled)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@dataclass
class RunLease:
    store: Store
    run_id: str
    owner: str = ""

    def __post_init__(self) -> None:
        self.owner = self.owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"

    def claim(self) -> None:
        """Take the lease, or a UserError naming who holds it."""
        if self.store.claim_run(self.run_id, self.owner, TTL_S):
            _HELD.add(self.owner)
            return
        holder = self.store.lease_holder(self.run_id)
        if holder is not None and self._orphaned(holder[0]):
            self.store.release_run(self.run_id, holder[0])  # its process is gone: nothing will renew it
            if self.store.claim_run(self.run_id, self.owner, TTL_S):
                _HELD.add(self.owner)
                return
            holder = self.store.lease_holder(self.run_id)
        who, expires = holder or ("another process", time.time())
        raise UserError(
            f"run {self.run_id} is being worked on by {who} (lease for {max(0.0, expires - time.time()):.0f} s "
            "more); wait for it to finish, or stop it and resume"
        )

    def renew(self) -> bool:
        return self.store.renew_run(self.run_id, self.owner, TTL_S)

    def release(self) -> None:
        _HELD.discard(self.owner)
        self.store.release_run(self.run_id, self.owner)

    def forget(self) -> None:
        """The store went away: the lease cannot be released; this process no longer works on the run, so a
        resume in this process may take it over at once (another process waits for it to expire)."""
        _HELD.discard(self.owner)

    def lost(self) -> LeaseLost:
        return LeaseLost(
            f"run {self.run_id} was taken over by another process while this one ran (its lease expired); "
            "what this process stored is kept"
        )

    @staticmethod
    def _orphaned(holder: str) -> bool:
        """Held by a process of this machine that no longer works on the run: one that died, or an earlier
        call in this process that ended without releasing it (its store went away)."""
        host, _, rest = holder.partition(":")
        pid = rest.partition(":")[0]
        if host != socket.gethostname() or not pid.isdigit():
            return False
        if int(pid) == os.getpid():
            return holder not in _HELD
        return not _alive(int(pid))
