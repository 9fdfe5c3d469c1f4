"""Group commit of parallel children's outcomes, per parent execution, within one worker.

Every completion of a parent's child locks the parent's row until it commits: that is how the
barrier is decided exactly once (ARCHITECTURE invariant 9). So completions of one parent
commit one after another, each holding the lock through its commit's WAL flush. When several
threads of a worker finish children of the same parent at about the same time, the first
becomes the committer and records every outcome waiting at that moment in one statement; the
others wait for theirs. Under no contention this is one statement per child, as before; under
contention a batch takes one lock and one flush for many children.

A thread whose outcome was taken by another thread's batch gets that batch's answer (accepted,
or refused by the fence) or its error; a committer whose own outcome is recorded hands the
role to the next waiting thread, so no thread serves the others indefinitely.

The same commit claims the parent's next due children for the threads that asked (one each):
a thread that just finished a child goes on with a sibling without a claim round of its own.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..store import ChildClaim, ChildOutcome, Connection, Store

__all__ = ["ChildCompletions"]


@dataclass(slots=True)
class _Waiting:
    outcome: ChildOutcome
    wants_next: bool
    ready: threading.Event = field(default_factory=threading.Event)
    accepted: bool | None = None
    error: BaseException | None = None
    following: ChildClaim | None = None


class ChildCompletions:
    """Records children's outcomes, batching those of one parent that arrive together."""

    def __init__(self, store: Store, lease: float = 30.0,
                 worker: uuid.UUID | None = None, steps: Sequence[str] = ()) -> None:
        self.store = store
        self.lease = lease
        self.worker = worker
        self.steps = list(steps)  # the children's steps this worker can run (sibling claims)
        self._lock = threading.Lock()
        self._waiting: dict[str, list[_Waiting]] = {}
        self._committing: set[str] = set()

    def complete(self, outcome: ChildOutcome, conn: Connection, *,
                 claim_next: bool = False) -> tuple[bool, ChildClaim | None]:
        """Record ``outcome`` (and open the barrier if it was the last).

        Returns whether it was accepted (False: the child's claim no longer holds it) and, with
        ``claim_next``, a sibling claimed for this thread to run next (None if none is due).
        Database errors are raised as the store raises them.
        """
        parent = outcome.child.execution_id
        mine = _Waiting(outcome, claim_next)
        with self._lock:
            self._waiting.setdefault(parent, []).append(mine)
            leading = parent not in self._committing
            if leading:
                self._committing.add(parent)
        if not leading:
            mine.ready.wait()
            if mine.accepted is None and mine.error is None:
                leading = True  # promoted: the previous committer handed the role over
        if leading:
            self._commit_until_recorded(parent, mine, conn)
        if mine.error is not None:
            raise mine.error
        return bool(mine.accepted), mine.following

    def _commit_until_recorded(self, parent: str, mine: _Waiting, conn: Connection) -> None:
        try:
            while mine.accepted is None and mine.error is None:
                with self._lock:
                    batch = self._waiting.pop(parent, [])
                if not batch:  # defensive: ours is always queued before we lead
                    break
                askers = [w for w in batch if w.wants_next]
                try:
                    accepted, claimed = self.store.complete_children(
                        parent, [w.outcome for w in batch], conn, claim=len(askers),
                        lease=self.lease, worker=self.worker,
                        steps=self.steps)
                except BaseException as exc:  # every outcome of the batch shares the fault
                    for waiting in batch:
                        waiting.error = exc
                else:
                    for waiting in batch:
                        waiting.accepted = waiting.outcome.child.seq in accepted
                    for waiting, following in zip(askers, claimed, strict=False):
                        waiting.following = following
                for waiting in batch:
                    if waiting is not mine:
                        waiting.ready.set()
        finally:
            with self._lock:
                queue = self._waiting.get(parent)
                if queue:
                    queue[0].ready.set()  # promote the next waiting thread to committer
                else:
                    self._waiting.pop(parent, None)
                    self._committing.discard(parent)
