"""What a worker holds, shared by its threads: the claims it runs, how many threads are busy,
work it could not hand back during an outage, and takeovers to give back."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence

from ..store import ChildClaim, Claim, Store

__all__ = ["Holdings", "describe"]

Item = Claim | ChildClaim


def describe(item: Item) -> str:
    """How a log line names a claimed item."""
    if isinstance(item, Claim):
        return f"execution {item.execution_id}"
    return f"step {item.name!r} of execution {item.execution_id}"


class Holdings:
    """A worker's claims in flight, under one lock."""

    def __init__(self, store: Store, threads: int) -> None:
        self.store = store
        self.threads = threads
        self.lock = threading.Lock()
        self.busy = 0
        self.held: dict[uuid.UUID, Item] = {}
        # Work a thread gave up on because the database was unreachable even for the hand-back
        # (an outage longer than the pool's timeout): returned as soon as it answers again, so
        # the outage costs neither a lease's wait nor a counted lost lease.
        self.unreturned: list[Item] = []
        # Work taken over from this worker while it was alive: the lost leases the takeovers
        # counted are given back by the heartbeat (retried until the database answers).
        self.refunds: dict[uuid.UUID, Item] = {}

    def idle(self) -> int:
        """Threads with nothing to run."""
        with self.lock:
            return self.threads - self.busy

    def taken(self, claimed: Sequence[Item]) -> None:
        """``claimed`` is now held, each by a thread that was idle."""
        with self.lock:
            self.busy += len(claimed)
            for item in claimed:
                self.held[item.owner] = item

    def finished(self, item: Item, following: ChildClaim | None) -> bool:
        """``item`` is no longer held; its thread goes on with ``following`` (still busy) or
        is idle again (True)."""
        with self.lock:
            self.held.pop(item.owner, None)
            if following is not None:
                self.held[following.owner] = following
                return False
            self.busy -= 1
            return True

    def snapshot(self) -> list[Item]:
        """What is held right now."""
        with self.lock:
            return list(self.held.values())

    def still_held(self, owners: set[uuid.UUID]) -> set[uuid.UUID]:
        """Those of ``owners`` still held (not finished meanwhile)."""
        with self.lock:
            return {o for o in owners if o in self.held}

    def lost(self, item: Item) -> None:
        """``item`` was taken over (or may have been) while this worker was alive."""
        with self.lock:
            self.refunds[item.owner] = item

    def give_back_losses(self) -> None:
        """Report the takeovers of work this live worker held (DatabaseUnavailable
        propagates, with what is left kept for the next time)."""
        with self.lock:
            refunds, self.refunds = self.refunds, {}
        if not refunds:
            return
        try:
            self.store.refund_lost(list(refunds.values()))
        except BaseException:
            with self.lock:
                self.refunds = {**refunds, **self.refunds}
            raise

    def release(self, item: Item) -> None:
        """Hand ``item`` back in the database: claimable again at once."""
        if isinstance(item, Claim):
            self.store.release(item)
        else:
            self.store.release_child(item)

    def keep_unreturned(self, item: Item) -> None:
        """``item`` could not be handed back: return it once the database answers."""
        with self.lock:
            self.unreturned.append(item)

    def return_unreturned(self) -> None:
        """Hand back what could not be handed back during an outage (DatabaseUnavailable
        propagates, with what is left kept for the next round)."""
        with self.lock:
            pending, self.unreturned = self.unreturned, []
        try:
            while pending:
                self.release(pending[0])
                pending.pop(0)
        finally:
            if pending:
                with self.lock:
                    self.unreturned[:0] = pending
