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
            return
        holder = self.store.lease_holder(self.run_id)
        if holder is not None and self._orphaned(holder[0]):
            self.store.release_run(self.run_id, holder[0])  # its process is gone: nothing will renew it
            if self.store.claim_run(self.run_id, self.owner, TTL_S):
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
        self.store.release_run(self.run_id, self.owner)

    def lost(self) -> LeaseLost:
        return LeaseLost(
            f"run {self.run_id} was taken over by another process while this one ran (its lease expired); "
            "what this process stored is kept"
        )

    @staticmethod
    def _orphaned(holder: str) -> bool:
        host, _, rest = holder.partition(":")
        pid = rest.partition(":")[0]
        return host == socket.gethostname() and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid))
