"""The reads of ``zart replay-check``: the executions to replay and their histories, in
batches (one query for the executions of a batch, one for all their histories)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from .. import serde
from ..interpreter import Record
from .base import StoreBase

__all__ = ["ReplayExecution", "ReplayReads", "ReplayTargets"]


@dataclass(slots=True)
class ReplayTargets:
    """Which executions a replay check reads."""

    open: list[str]
    """Ids of the open executions of the checked workflows."""
    finished: list[str]
    """Ids of the most recently finished ones asked for."""
    elsewhere: dict[str, int] = field(default_factory=dict)
    """Open executions of workflows the checked code does not define, counted by workflow."""


@dataclass(slots=True)
class ReplayExecution:
    """One execution as a replay reads it: its input and its history."""

    id: str
    workflow: str
    status: str
    input_text: str | None
    history: list[Record]
    attempt: int = 1
    """The attempt of the workflow's body (``zart.context().attempt`` in the body)."""


class ReplayReads(StoreBase):
    """What a replay check reads; reads only."""

    def replay_targets(self, workflows: Sequence[str], finished: int = 0) -> ReplayTargets:
        """The open executions of ``workflows``, the last ``finished`` finished ones, and
        counts of the open executions of any other workflow."""
        names = list(workflows)
        with self.connection() as c:
            open_ids = [r[0] for r in c.execute(self.sql.OPEN_EXECUTIONS,
                                                {"workflows": names})]
            done = [] if finished <= 0 else [r[0] for r in c.execute(
                self.sql.FINISHED_EXECUTIONS, {"workflows": names, "limit": finished})]
            elsewhere = {r[0]: int(r[1]) for r in c.execute(self.sql.OPEN_ELSEWHERE,
                                                          {"workflows": names})}
        return ReplayTargets(open_ids, done, elsewhere)

    def replay_batch(self, ids: Sequence[str]) -> list[ReplayExecution]:
        """These executions with their histories, in the order of ``ids`` (an id that is gone
        meanwhile, purged, is left out)."""
        with self.connection() as c:
            rows = c.execute(self.sql.REPLAY_EXECUTIONS, {"ids": list(ids)}).fetchall()
            steps = c.execute(self.sql.REPLAY_HISTORIES, {"ids": list(ids)}).fetchall()
        histories: dict[str, list[Record]] = {}
        loads = serde.loads
        current = ""
        history: list[Record] = []
        for execution_id, seq, kind, name, status, ok, value, error in steps:
            if execution_id != current:
                current = execution_id
                history = histories.setdefault(execution_id, [])
            history.append(Record(seq, kind, name, status, ok, value,
                                  None if error is None else loads(error)))
        found = {r[0]: ReplayExecution(r[0], r[1], r[2], r[3], histories.get(r[0], []), r[4])
                 for r in rows}
        return [found[i] for i in ids if i in found]
