"""The deploy gate behind ``zart replay-check``: replay every open execution (and the last
finished ones, if asked) against the workflows the new code defines, a batch at a time, and
collect what would break."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import serde
from ..client import Zart
from ..commands import validate_name
from ..errors import ExecutionNotFound
from ..store.replays import ReplayExecution
from ..workflow import Workflow
from .check import Divergence, check_history
from .history_file import history_document

__all__ = ["DEFAULT_BATCH", "GateReport", "Progress", "export_history", "replay_check"]

DEFAULT_BATCH = 500
"""Executions read per batch: two queries each, whatever the histories' lengths."""


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a check has come."""

    executions: int
    total: int
    commands: int
    seconds: float


@dataclass(slots=True)
class GateReport:
    """What a replay check found."""

    open: int = 0
    """Open executions checked."""
    finished: int = 0
    """Finished executions checked."""
    commands: int = 0
    """Recorded commands replayed."""
    seconds: float = 0.0
    divergences: list[Divergence] = field(default_factory=list)
    elsewhere: dict[str, int] = field(default_factory=dict)
    """Open executions of workflows the checked code does not define (not checked)."""

    @property
    def ok(self) -> bool:
        """True when no checked execution would break."""
        return not self.divergences

    @property
    def rate(self) -> float:
        """Recorded commands replayed per second."""
        return self.commands / self.seconds if self.seconds > 0 else 0.0


def replay_check(app: Zart, workflows: Mapping[str, Workflow], *, finished: int = 0,
                 batch: int = DEFAULT_BATCH,
                 on_progress: Callable[[Progress], None] | None = None,
                 on_divergence: Callable[[Divergence], None] | None = None) -> GateReport:
    """Replay the open executions of ``workflows`` (by name) and the last ``finished`` finished
    ones against them; each divergence is handed to ``on_divergence`` as it is found, and
    ``on_progress`` is told after each batch."""
    if batch < 1:
        raise ValueError(f"batch must be at least 1, got {batch!r}")
    if finished < 0:
        raise ValueError(f"finished must be 0 or more, got {finished!r}")
    store = app.store
    started = time.perf_counter()
    targets = store.replay_targets(sorted(workflows), finished)
    report = GateReport(elsewhere=targets.elsewhere)
    finished_ids = set(targets.finished)
    ids = targets.open + targets.finished
    # Read, then replay, a batch at a time. (Reading the next batch in a thread meanwhile
    # gained nothing measurable: psycopg parses rows holding the GIL.)
    for start in range(0, len(ids), batch):
        chunk = ids[start:start + batch]
        _replay(store.replay_batch(chunk), workflows, finished_ids, report, on_divergence)
        report.seconds = time.perf_counter() - started
        if on_progress is not None:
            on_progress(Progress(start + len(chunk), len(ids), report.commands,
                                 report.seconds))
    report.seconds = time.perf_counter() - started
    return report


def export_history(app: Zart, execution_id: str) -> dict[str, Any]:
    """The history document (:mod:`.history_file`) of an execution's current run."""
    validate_name(execution_id, "execution id")
    row = app.store.get_execution(execution_id)
    if row is None:
        raise ExecutionNotFound(f"no execution {execution_id!r}")
    history = app.store.load_history(execution_id)
    return history_document(row.id, row.workflow, row.status, row.input_text, history,
                            row.attempt)


def _replay(executions: Sequence[ReplayExecution], workflows: Mapping[str, Workflow],
            finished_ids: set[str], report: GateReport,
            on_divergence: Callable[[Divergence], None] | None) -> None:
    for execution in executions:
        checked = check_history(workflows[execution.workflow], execution.id,
                                execution.status, serde.loads(execution.input_text),
                                execution.history, execution.attempt)
        report.commands += checked.commands
        if execution.id in finished_ids:
            report.finished += 1
        else:
            report.open += 1
        if checked.divergence is not None:
            report.divergences.append(checked.divergence)
            if on_divergence is not None:
                on_divergence(checked.divergence)
