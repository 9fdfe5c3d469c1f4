"""The active pause rules, kept in a worker's memory so that checking each step against them
costs no statement on the hot path.

The worker reads them at start, again whenever the database announces a change (a NOTIFY on
``<schema>_pause``, read before the next step is checked), and on every heartbeat (for rules
whose ``until`` passed, and in case a notification was missed). A rule created while a step
runs lets that step finish; the next matching step suspends in front of it.
"""

from __future__ import annotations

import fnmatch
import threading
import time
from dataclasses import dataclass
from datetime import datetime

from ..store import Store

__all__ = ["ActiveRule", "PauseCache"]


@dataclass(frozen=True, slots=True)
class ActiveRule:
    """An active pause rule as a worker checks it."""

    id: int
    workflow: str | None
    execution_id: str | None
    step_pattern: str | None
    until: datetime | None
    """When it lifts by itself, by the database's clock (None: when lifted)."""
    expires: float
    """The same by this process's monotonic clock (inf: never)."""

    def holds(self, workflow: str, execution_id: str, step: str) -> bool:
        """Whether this rule holds ``step`` of that execution, now."""
        return ((self.workflow is None or self.workflow == workflow)
                and (self.execution_id is None or self.execution_id == execution_id)
                and (self.step_pattern is None or fnmatch.fnmatchcase(step, self.step_pattern))
                and self.active())

    def active(self) -> bool:
        """Whether it still holds (its ``until`` has not passed)."""
        return time.monotonic() < self.expires


class PauseCache:
    """The active rules of one schema, refreshed on change."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._rules: tuple[ActiveRule, ...] = ()
        self._stale = True
        self._lock = threading.Lock()

    def changed(self, _payload: str | None = None) -> None:
        """A rule changed (or the listener reconnected): read them again before the next
        check. Called from the listener's thread, so it does nothing more."""
        self._stale = True

    def refresh(self) -> None:
        """Read the active rules now (DatabaseUnavailable propagates)."""
        with self._lock:
            self._stale = False
            try:
                rows = self.store.active_pause_rules()
            except BaseException:
                self._stale = True
                raise
            now = time.monotonic()
            self._rules = tuple(
                ActiveRule(id, workflow, execution_id, pattern, until,
                           now + seconds if seconds is not None else float("inf"))
                for id, workflow, execution_id, pattern, seconds, until in rows)

    def _current(self) -> tuple[ActiveRule, ...]:
        """The rules, read again first if a change was announced."""
        if self._stale:
            self.refresh()
        return self._rules

    def any_active(self) -> bool:
        """Whether any rule is active now."""
        return any(rule.active() for rule in self._current())

    def holding(self, workflow: str, execution_id: str, step: str) -> ActiveRule | None:
        """The active rule that holds ``step`` of that execution, if any."""
        for rule in self._current():
            if rule.holds(workflow, execution_id, step):
                return rule
        return None
