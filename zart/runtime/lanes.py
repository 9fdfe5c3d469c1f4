"""The connection a worker thread runs one claimed execution or child on.

Usually one pooled connection for the whole run. A transactional step that is abandoned at its
timeout keeps the connection it runs on (its transaction is still open there), so the thread
takes a fresh one for the rest of the run and the abandoned attempt gives the old one back when
it ends: no thread ever holds two connections, and abandoned attempts cannot starve the pool
for long.
"""

from __future__ import annotations

import contextlib
import threading
from types import TracebackType

from ..store import Connection, Store

__all__ = ["Lane"]


class Lane:
    """A worker thread's current connection; ``with Lane(store) as lane: ... lane.conn``.

    ``given``: a connection the caller owns (a test driving an execution by hand); it is never
    returned to the pool.
    """

    __slots__ = ("_given", "_lock", "_pooled", "_store", "conn")

    def __init__(self, store: Store, given: Connection | None = None) -> None:
        self._store = store
        self._given = given
        self._lock = threading.Lock()
        self._pooled: list[Connection] = []
        self.conn = given if given is not None else self._acquire()

    @property
    def schema(self) -> str:
        """The zart schema whose work runs on this lane."""
        return self._store.schema

    def _acquire(self) -> Connection:
        conn = self._store.acquire()
        with self._lock:
            self._pooled.append(conn)
        return conn

    def abandon(self) -> None:
        """Leave the current connection to an abandoned attempt and take a fresh one."""
        self.conn = self._acquire()

    def return_abandoned(self, conn: Connection) -> None:
        """An abandoned attempt is over: its connection goes back to the pool."""
        with self._lock:
            pooled = conn in self._pooled
            if pooled:
                self._pooled.remove(conn)
        if pooled:
            self._store.give_back(conn)

    def close(self) -> None:
        """Return the connection still in use (an abandoned attempt returns its own)."""
        conn = self.conn
        with self._lock:
            pooled = conn in self._pooled
            if pooled:
                self._pooled.remove(conn)
        if pooled:
            self._store.give_back(conn)

    def __enter__(self) -> Lane:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        with contextlib.suppress(Exception):  # the pool checks a broken connection itself
            self.close()
