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
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from .store import ChildOutcome, Connection, Store

__all__ = ["ChildCompletions"]


@dataclass(slots=True)
class _Waiting:
    outcome: ChildOutcome
    ready: threading.Event = field(default_factory=threading.Event)
    accepted: bool | None = None
    error: BaseException | None = None


class ChildCompletions:
    """Records children's outcomes, batching those of one parent that arrive together."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._waiting: dict[str, list[_Waiting]] = {}
        self._committing: set[str] = set()

    def complete(self, outcome: ChildOutcome, conn: Connection) -> bool:
        """Record ``outcome`` (and open the barrier if it was the last); False if the child's
        claim no longer holds it. Database errors are raised as the store raises them."""
        parent = outcome.child.execution_id
        mine = _Waiting(outcome)
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
        return bool(mine.accepted)

    def _commit_until_recorded(self, parent: str, mine: _Waiting, conn: Connection) -> None:
        try:
            while mine.accepted is None and mine.error is None:
                with self._lock:
                    batch = self._waiting.pop(parent, [])
                if not batch:  # defensive: ours is always queued before we lead
                    break
                try:
                    accepted = self.store.complete_children(
                        parent, [w.outcome for w in batch], conn)
                except BaseException as exc:  # every outcome of the batch shares the fault
                    for waiting in batch:
                        waiting.error = exc
                else:
                    for waiting in batch:
                        waiting.accepted = waiting.outcome.child.seq in accepted
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
