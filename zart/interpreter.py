"""The pure interpreter: drives one workflow generator against its history.

No database, no clock, no threads. It feeds recorded outcomes into the generator, in order,
and stops at the first command that has no recorded outcome, handing it to its caller (the
worker) as :class:`Pending`. The caller performs it, stores the outcome, and hands the stored
:class:`Record` back through :meth:`Interpreter.resume`: the generator then receives exactly
what a replay would decode from the same record, so first run and replay cannot diverge.

Positions: every command key (kind, name) takes the next position; a :class:`Parallel` takes
one per child. A recorded key at a position must match what the replay yields there, and a key
may appear once per execution. Both checks are O(1) per command, so replay is O(n).

A :class:`zart.Patch` is answered here, from the history (see :mod:`zart.versioning`): only
its first evaluation on a fresh path reaches the worker, as the capture of its marker. A
marker the code no longer asks about is skipped where the code yields something else.
"""

from __future__ import annotations

import threading
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from . import serde
from .commands import Capture, ChildWorkflow, Command, Key, Parallel, Sleep, Step, WaitEvent
from .constants import PATCH_MARKER
from .errors import (
    DuplicateStepName,
    InvalidCommand,
    NonDeterminismError,
    WorkflowDefinitionError,
)
from .faults import SimulatedCrash
from .versioning import Patch, patch_marker

__all__ = ["Broken", "Interpreter", "Outcome", "Pending", "Raised", "Record", "Returned",
           "is_user_interrupt"]

_COMMAND_TYPES = (Step, Sleep, WaitEvent, Parallel, Capture, ChildWorkflow)
_SINGLE_KINDS: dict[type, str] = {Step: "step", Sleep: "sleep", WaitEvent: "event",
                                  Capture: "capture", ChildWorkflow: "child"}


@dataclass(slots=True)
class Record:
    """One row of history: a command at a position, and its outcome once ``status == "done"``.

    ``value`` is the stored JSON text of a success, ``error`` the stored error dict of a
    failure. Rows not yet done carry the state of a command in progress (attempts made, when it
    is due, its deadline).
    """

    seq: int
    kind: str
    name: str
    status: str = "done"
    ok: bool | None = True
    value: str | None = None
    error: dict[str, Any] | None = None
    attempt: int = 0
    wake_at: datetime | None = None
    deadline: datetime | None = None
    backoffs: int = 0
    """How often in a row the step asked to be run again later (zart.RetryAfter)."""

    @property
    def key(self) -> Key:
        """(kind, name)."""
        return (self.kind, self.name)

    @property
    def done(self) -> bool:
        """True once the outcome is recorded."""
        return self.status == "done"


@dataclass(slots=True)
class Pending:
    """The workflow waits on ``command``, whose first position is ``seq``.

    ``records`` holds, per key of the command, the row already stored (in progress, or done for
    some parallel children) or ``None``.
    """

    command: Command
    seq: int
    records: list[Record | None]


@dataclass(slots=True)
class Returned:
    """The workflow returned ``value``."""

    value: Any


@dataclass(slots=True)
class Raised:
    """The workflow body raised ``error``; ``from_seq`` is the position of its last command."""

    error: BaseException
    from_seq: int


@dataclass(slots=True)
class Broken:
    """The workflow cannot go on as written (duplicate key, divergence, non-command).

    ``seq`` is the position where it broke and ``yielded`` what the code yielded there: a key,
    or None when the code returned (or yielded something that is not a command: ``error``
    says what). Tools that explain a divergence (``zart replay-check``) read them.
    """

    error: WorkflowDefinitionError
    seq: int = -1
    yielded: Key | None = None


Outcome = Pending | Returned | Raised | Broken


class Interpreter:
    """Drives one generator through its history; see the module docstring."""

    __slots__ = ("_gen", "_history", "_last_seq", "_patches", "_pending", "_position",
                 "_seen")

    def __init__(self, gen: Generator[Any, Any, Any], history: Iterable[Record] = ()) -> None:
        if not isinstance(gen, Generator):
            raise WorkflowDefinitionError(f"a workflow body must be a generator, got {gen!r}")
        self._gen = gen
        self._history = {record.seq: record for record in history}
        self._seen: set[Key] = set()
        self._position = 0
        self._last_seq = 0
        self._pending: Pending | None = None
        self._patches: dict[str, bool] = {}
        """Each patch's answer in this run, once asked (or once its marker was skipped)."""

    @property
    def position(self) -> int:
        """The next free position."""
        return self._position

    def start(self) -> Outcome:
        """Run the body from its beginning, replaying history, up to the first pending command."""
        return self._drive(None, None)

    def resume(self, records: Sequence[Record]) -> Outcome:
        """Continue after the pending command's outcome was stored as ``records`` (all done)."""
        pending = self._pending
        if pending is None:
            raise RuntimeError("resume() without a pending command")
        command = pending.command
        if len(records) == 1 and type(command) in _SINGLE_KINDS:  # the common case
            record = records[0]
            if record.seq != pending.seq or not record.done:
                raise RuntimeError(f"resume() for {command!r} is missing outcomes")
            self._history[record.seq] = record
            self._pending = None
            value, error = _single(record, command)
            return self._drive(value, error)
        for record in records:
            self._history[record.seq] = record
        merged = [self._history.get(pending.seq + i) for i in range(len(pending.command.keys))]
        if not all(r is not None and r.done for r in merged):
            raise RuntimeError(f"resume() for {pending.command!r} is missing outcomes")
        self._pending = None
        value, error = _outcome(pending.command, merged)  # type: ignore[arg-type]
        return self._drive(value, error)

    def close(self) -> None:
        """Close the generator (``GeneratorExit`` at its ``yield``): a suspension, a hand-back,
        a cancellation. What the body's ``finally`` or ``except`` does at that point cannot
        be recorded: a ``yield`` there (Python's "generator ignored GeneratorExit") or an
        exception is dropped, so it can never mask why the execution was let go."""
        try:
            self._gen.close()
        except BaseException as exc:
            if is_user_interrupt(exc):
                raise

    def _drive(self, value: Any, error: BaseException | None) -> Outcome:
        gen = self._gen
        history = self._history
        seen = self._seen
        loads = orjson.loads
        while True:
            try:
                command = gen.send(value) if error is None else gen.throw(error)
            except StopIteration as stop:
                return self._returned(stop.value)
            except WorkflowDefinitionError as exc:
                return Broken(exc, self._position)
            except BaseException as exc:  # SystemExit and friends end the body like any error
                if is_user_interrupt(exc):
                    raise
                return Raised(exc, self._last_seq)
            kind = _SINGLE_KINDS.get(type(command))
            if kind is not None:  # the common case, one key: no lists, no tuples to compare
                name = command.name
                seq = self._position
                key = (kind, name)
                if key in seen:
                    return Broken(self._duplicate(key, seq), seq, key)
                record = history.get(seq)
                if record is not None and (record.name != name or record.kind != kind):
                    record = self._skip_markers(record)
                    seq = self._position
                    if record is not None and (record.name != name or record.kind != kind):
                        return Broken(self._diverged(record, key, seq), seq, key)
                seen.add(key)
                self._position = seq + 1
                self._last_seq = seq
                if record is not None and record.status == "done":
                    if record.ok and kind != "capture":  # replaying a success: decode inline
                        text = record.value
                        value = None if text is None else loads(text)
                        error = None
                    else:
                        value, error = _single(record, command)
                    continue
                self._pending = Pending(command, seq, [record])
                return self._pending
            if type(command) is Patch:
                answer = self._patch(command)
                if isinstance(answer, Pending):
                    return answer
                value, error = (None if command.deprecated else answer), None
                continue
            if not isinstance(command, _COMMAND_TYPES):
                return Broken(InvalidCommand(
                    f"the workflow yielded {type(command).__name__} {_short(command)} at "
                    f"position {self._position}; yield zart commands only (a @zart.step call, "
                    f"zart.sleep, zart.wait_for_event, zart.parallel, zart.capture, zart.now, "
                    f"zart.patched)"), self._position)
            keys = command.keys
            first = history.get(self._position)
            if first is not None and keys and first.key != keys[0]:
                self._skip_markers(first)
            seq = self._position
            records: list[Record | None] = []
            for offset, key in enumerate(keys):
                if key in self._seen:
                    return Broken(self._duplicate(key, seq + offset), seq + offset, key)
                record = history.get(seq + offset)
                if record is not None and record.key != key:
                    return Broken(self._diverged(record, key, seq + offset), seq + offset, key)
                records.append(record)
            self._seen.update(keys)
            self._position = seq + len(keys)
            self._last_seq = seq
            if all(r is not None and r.done for r in records):
                value, error = _outcome(command, records)  # type: ignore[arg-type]
                continue
            self._pending = Pending(command, seq, records)
            return self._pending

    def _patch(self, patch: Patch) -> bool | Pending:
        """The answer to ``patch`` here, or the pending capture of its marker (then True)."""
        known = self._patches.get(patch.id)
        if known is not None:
            return known
        record = self._history.get(self._position)
        if record is not None and record.name != patch.marker:
            record = self._skip_markers(record, stop_at=patch.marker)
        seq = self._position
        key = patch.keys[0]
        if record is not None and record.key == key:  # this patch's marker: the new path
            self._claim(key, seq)
            self._patches[patch.id] = True
            return True
        if record is not None or any(s > seq for s in self._history):
            # The history went on past this point without the marker: the old path. (Only a
            # hole, a body retry's forgotten failure, has nothing here but more further on.)
            self._patches[patch.id] = False
            return False
        self._claim(key, seq)
        self._patches[patch.id] = True
        self._pending = Pending(patch_marker(patch), seq, [None])
        return self._pending

    def _claim(self, key: Key, seq: int) -> None:
        """Take position ``seq`` for ``key``."""
        self._seen.add(key)
        self._position = seq + 1
        self._last_seq = seq

    def _skip_markers(self, record: Record | None, stop_at: str | None = None) -> Record | None:
        """Step over the patch markers recorded from the current position on (patches the
        code no longer asks about: each counts as taken for the rest of the run), up to the
        marker ``stop_at``; the record at the position reached."""
        while (record is not None and record.kind == "capture" and record.name != stop_at
               and record.name.startswith(PATCH_MARKER)):
            self._patches.setdefault(record.name[len(PATCH_MARKER):], True)
            self._seen.add(record.key)
            self._position += 1
            record = self._history.get(self._position)
        return record

    @staticmethod
    def _duplicate(key: Key, seq: int) -> DuplicateStepName:
        return DuplicateStepName(
            f"{key[0]} {key[1]!r} was yielded twice in one execution (again at position "
            f"{seq}); give every command a unique name, e.g. with a template "
            f"\"fetch-{{page}}\" or .named()")

    @staticmethod
    def _diverged(record: Record, key: Key, seq: int) -> NonDeterminismError:
        return NonDeterminismError(
            f"replay diverged at position {seq}: the history recorded {record.kind} "
            f"{record.name!r} but the workflow now yields {key[0]} {key[1]!r}; the workflow "
            f"code changed under a running execution (or depends on something that is not "
            f"deterministic)")

    def _returned(self, value: Any) -> Outcome:
        leftover = [r for s, r in self._history.items() if s >= self._position
                    and not (r.kind == "capture" and r.name.startswith(PATCH_MARKER))]
        if leftover:
            first = min(leftover, key=lambda r: r.seq)
            return Broken(NonDeterminismError(
                f"the workflow returned after {self._position} command(s) but the history "
                f"recorded {first.kind} {first.name!r} at position {first.seq}; the workflow "
                f"code changed under a running execution"), first.seq)
        return Returned(value)


def _outcome(command: Command, records: list[Record]) -> tuple[Any, BaseException | None]:
    """What the generator receives for ``command`` given its done ``records``."""
    if isinstance(command, Parallel):
        results: list[Any] = []
        for record in records:
            value, error = _single(record, None)
            if error is not None and not command.return_exceptions:
                return None, error
            results.append(error if error is not None else value)
        return results, None
    return _single(records[0], command)


def _single(record: Record, command: Command | None) -> tuple[Any, BaseException | None]:
    if not record.ok:
        return None, serde.decode_step_error(record.name, record.error or {})
    value = serde.loads(record.value)
    if isinstance(command, Capture) and command.decode is not None:
        value = command.decode(value)
    return value, None


def is_user_interrupt(exc: BaseException) -> bool:
    """Ctrl-C in the main thread (a test or script driving an execution by hand) stops the
    program; anywhere else a ``KeyboardInterrupt`` is just what the body raised. A crash that
    zart.testing simulates stops it too: nothing may record it as a step's failure."""
    return isinstance(exc, SimulatedCrash) or (isinstance(exc, KeyboardInterrupt) and (
        threading.current_thread() is threading.main_thread()))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
