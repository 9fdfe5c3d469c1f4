"""The vocabulary a workflow may yield. Immutable, slotted, no I/O.

Each command has a *key* (kind, name) that is unique within its execution: the history stores
outcomes under it, and a second command with the same key is a :class:`DuplicateStepName`.
:class:`Parallel` is the one command with several keys, one per child step.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from .constants import PATCH_MARKER
from .durations import MAX_SECONDS, Duration, parse_duration
from .retry import NO_RETRY, RetryPolicy

__all__ = [
    "MAX_NAME_LENGTH",
    "Capture",
    "ChildWorkflow",
    "Command",
    "Key",
    "Parallel",
    "Sleep",
    "Step",
    "WaitEvent",
    "capture",
    "child",
    "now",
    "parallel",
    "sleep",
    "sleep_until",
    "validate_name",
    "wait_for_event",
]

MAX_NAME_LENGTH = 200
"""The longest step, sleep, event or capture name accepted."""

TimeoutScope = Literal["global", "per_attempt"]
Key = tuple[str, str]
"""(kind, name): what identifies a command inside its execution."""


def validate_name(name: object, what: str = "name") -> str:
    """Return ``name`` if it can be stored as a command or workflow name, else raise."""
    if not isinstance(name, str):
        raise TypeError(f"{what} must be a str, got {type(name).__name__} {name!r}")
    if not name.strip():
        raise ValueError(f"{what} must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"{what} is {len(name)} characters long; the limit is "
                         f"{MAX_NAME_LENGTH}: {name[:40]!r}...")
    if "\x00" in name:
        raise ValueError(f"{what} {name!r} contains a NUL character")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{what} {name!r} is not valid UTF-8 (lone surrogate)") from None
    return name


@dataclass(frozen=True, slots=True)
class Step:
    """Run ``fn(*args, **kwargs)`` once, durably: its outcome is stored before the workflow sees it.

    Usually built by calling a ``@zart.step`` function inside a workflow. ``retry`` re-runs
    failed attempts; ``timeout`` abandons an attempt that runs too long (``timeout_scope``
    ``"global"``: one deadline across all attempts; ``"per_attempt"``: a fresh one each);
    ``transactional`` runs the step inside the checkpoint's transaction.
    """

    name: str
    fn: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    retry: RetryPolicy = NO_RETRY
    timeout: float | None = None
    timeout_scope: TimeoutScope = "global"
    transactional: bool = False

    def __post_init__(self) -> None:
        validate_name(self.name, "step name")
        if not callable(self.fn):
            raise TypeError(f"step {self.name!r}: fn must be callable, got {self.fn!r}")
        if self.timeout_scope not in ("global", "per_attempt"):
            raise ValueError(f"step {self.name!r}: timeout_scope must be 'global' or "
                             f"'per_attempt', got {self.timeout_scope!r}")
        if self.timeout is not None:
            object.__setattr__(self, "timeout",
                               parse_duration(self.timeout, what=f"timeout of step {self.name!r}"))
        if not isinstance(self.retry, RetryPolicy):
            raise TypeError(f"step {self.name!r}: retry must be a zart retry policy "
                            f"(zart.fixed/linear/exponential), got {self.retry!r}")

    @property
    def keys(self) -> tuple[Key, ...]:
        """The one key of this step."""
        return (("step", self.name),)

    @classmethod
    def trusted(cls, name: str, fn: Callable[..., Any], args: tuple[Any, ...],
                kwargs: Mapping[str, Any], retry: RetryPolicy, timeout: float | None,
                timeout_scope: TimeoutScope, transactional: bool) -> Step:
        """Build a step from options already validated (by ``@zart.step``): the hot path of
        every replay, so it skips the checks of ``__post_init__`` except the name's."""
        if (len(name) > MAX_NAME_LENGTH or "\x00" in name or not name.isascii()
                or not name.strip()):
            validate_name(name, "step name")
        step = object.__new__(cls)
        # The slots' own setters: what the frozen dataclass __init__ does, minus the lookups.
        _SET_NAME(step, name)
        _SET_FN(step, fn)
        _SET_ARGS(step, args)
        _SET_KWARGS(step, kwargs)
        _SET_RETRY(step, retry)
        _SET_TIMEOUT(step, timeout)
        _SET_SCOPE(step, timeout_scope)
        _SET_TRANSACTIONAL(step, transactional)
        return step

    def named(self, name: str) -> Step:
        """The same step under another name (for loops: ``fetch(p).named(f"fetch-{p}")``)."""
        return replace(self, name=name)


(_SET_NAME, _SET_FN, _SET_ARGS, _SET_KWARGS, _SET_RETRY, _SET_TIMEOUT, _SET_SCOPE,
 _SET_TRANSACTIONAL) = (Step.__dict__[f].__set__ for f in (
    "name", "fn", "args", "kwargs", "retry", "timeout", "timeout_scope", "transactional"))


_FACTORY_SOURCE = """\
def build(args):
    name = {name_expr}
    {check}
    step = _new(_Step)
    _set_name(step, name)
    _set_fn(step, _fn)
    _set_args(step, args)
    _set_kwargs(step, {{}})
    _set_retry(step, _retry)
    _set_timeout(step, _timeout)
    _set_scope(step, _scope)
    _set_transactional(step, _transactional)
    return step
"""


def step_factory(name: str, fields: Mapping[str, int] | None, fn: Callable[..., Any],
                 retry: RetryPolicy, timeout: float | None, timeout_scope: TimeoutScope,
                 transactional: bool) -> Callable[[tuple[Any, ...]], Step]:
    """A function building this step's command from a tuple of positional arguments.

    The hot path of every replay, so it is compiled once per ``@zart.step`` (as dataclasses
    compiles ``__init__``): no argument binding, no per-call option checks (the options were
    validated once), only the name's checks when a template fills it. ``fields`` maps each
    ``{field}`` of the template ``name`` to the position of its argument (``None``: ``name``
    is fixed, already validated).
    """
    namespace: dict[str, Any] = {
        "_new": object.__new__, "_Step": Step, "_set_name": _SET_NAME, "_set_fn": _SET_FN,
        "_set_args": _SET_ARGS, "_set_kwargs": _SET_KWARGS, "_set_retry": _SET_RETRY,
        "_set_timeout": _SET_TIMEOUT, "_set_scope": _SET_SCOPE,
        "_set_transactional": _SET_TRANSACTIONAL, "_fn": fn, "_retry": retry,
        "_timeout": timeout, "_scope": timeout_scope, "_transactional": transactional,
        "_name": name, "_format": name.format, "_validate": validate_name, "_MAX": MAX_NAME_LENGTH}
    if fields is None:
        name_expr, check = "_name", ""
    else:
        # Field names are parameter names (checked by @zart.step), so identifiers: safe here.
        name_expr = "_format(" + ", ".join(f"{field}=args[{index}]"
                                           for field, index in fields.items()) + ")"
        check = ('if len(name) > _MAX or "\\x00" in name or not name.isascii() '
                 'or not name.strip():\n        _validate(name, "step name")')
    exec(_FACTORY_SOURCE.format(name_expr=name_expr, check=check), namespace)
    build: Callable[[tuple[Any, ...]], Step] = namespace["build"]
    return build


@dataclass(frozen=True, slots=True)
class Sleep:
    """Suspend the execution until ``seconds`` have passed, or until ``until``; frees the thread."""

    name: str
    seconds: float | None = None
    until: datetime | None = None

    def __post_init__(self) -> None:
        validate_name(self.name, "sleep name")
        if (self.seconds is None) == (self.until is None):
            raise ValueError(f"sleep {self.name!r} needs exactly one of seconds or until")
        if self.seconds is not None:
            object.__setattr__(self, "seconds", parse_duration(
                self.seconds, what=f"duration of sleep {self.name!r}"))
            return
        if not isinstance(self.until, datetime):
            raise TypeError(f"sleep_until {self.name!r} needs a datetime, got "
                            f"{type(self.until).__name__} {self.until!r}")
        if self.until.tzinfo is None:
            raise ValueError(f"sleep_until {self.name!r}: {self.until!r} has no time zone; "
                             f"pass an aware datetime (e.g. datetime.now(timezone.utc))")
        if (self.until - datetime.now(UTC)).total_seconds() > MAX_SECONDS:
            raise ValueError(f"sleep_until {self.name!r}: {self.until.isoformat()} is more "
                             f"than 100 years away")

    @property
    def keys(self) -> tuple[Key, ...]:
        """The one key of this sleep."""
        return (("sleep", self.name),)


@dataclass(frozen=True, slots=True)
class WaitEvent:
    """Suspend until the event ``name`` is sent to this execution; its payload is the result.

    With a ``timeout``, :class:`zart.EventTimeout` is raised at the ``yield`` when it passes first.
    """

    name: str
    timeout: float | None = None

    def __post_init__(self) -> None:
        validate_name(self.name, "event name")
        if self.timeout is not None:
            object.__setattr__(self, "timeout", parse_duration(
                self.timeout, what=f"timeout of event {self.name!r}"))

    @property
    def keys(self) -> tuple[Key, ...]:
        """The one key of this wait."""
        return (("event", self.name),)


@dataclass(frozen=True, slots=True)
class ChildWorkflow:
    """Start the workflow ``workflow`` with ``data`` as a child execution and wait for it: its
    result comes back at the ``yield`` (its failure raises :class:`zart.ChildFailed` there).

    ``id``: the child's execution id; by default derived from the parent's id and ``name``,
    so a replay never starts a second child. ``name`` (by default the workflow's) is the
    command's name in the parent's history.
    """

    workflow: str
    data: Any = None
    id: str | None = None
    name: str = ""

    def __post_init__(self) -> None:
        validate_name(self.workflow, "child workflow name")
        if not self.name:
            object.__setattr__(self, "name", self.workflow)
        validate_name(self.name, "child command name")
        if self.id is not None:
            validate_name(self.id, "child execution id")

    @property
    def keys(self) -> tuple[Key, ...]:
        """The one key of this child."""
        return (("child", self.name),)

    def named(self, name: str) -> ChildWorkflow:
        """The same child under another command name (and so another default id)."""
        return replace(self, name=name)


@dataclass(frozen=True, slots=True)
class Parallel:
    """Run several steps (and child workflows) concurrently; the result is their outcomes in
    order.

    Like ``asyncio.gather``: the first failed child (in order) raises at the ``yield``, unless
    ``return_exceptions`` puts the :class:`zart.StepFailed` errors in the list instead.
    """

    steps: tuple[Step | ChildWorkflow, ...]
    return_exceptions: bool = False

    def __post_init__(self) -> None:
        for child in self.steps:
            if not isinstance(child, Step | ChildWorkflow):
                raise TypeError(f"parallel() takes steps and child workflows only, got "
                                f"{type(child).__name__} {child!r}")
        names = [child.name for child in self.steps]
        if len(set(names)) != len(names):
            duplicates = sorted({n for n in names if names.count(n) > 1})
            from .errors import DuplicateStepName

            raise DuplicateStepName(f"parallel() children share the name(s) {duplicates}: "
                                    f"give each a unique name, e.g. with .named()")

    @property
    def keys(self) -> tuple[Key, ...]:
        """One key per child, in order."""
        return tuple(child.keys[0] for child in self.steps)


@dataclass(frozen=True, slots=True)
class Capture:
    """Record the value of ``fn()`` once; replays return the recorded value.

    Use it for anything non-deterministic the workflow body decides on (random ids, clocks).
    ``decode`` turns the stored JSON form into the value handed to the workflow.
    """

    name: str
    fn: Callable[[], Any]
    decode: Callable[[Any], Any] | None = None

    def __post_init__(self) -> None:
        validate_name(self.name, "capture name")
        if self.name.startswith(PATCH_MARKER):
            raise ValueError(f"capture name {self.name!r} starts with {PATCH_MARKER!r}, which "
                             f"zart keeps for the markers of zart.patched(); choose another")
        if not callable(self.fn):
            raise TypeError(f"capture {self.name!r}: fn must be callable, got {self.fn!r}")

    @property
    def keys(self) -> tuple[Key, ...]:
        """The one key of this capture."""
        return (("capture", self.name),)


Command = Step | Sleep | WaitEvent | Parallel | Capture | ChildWorkflow
"""Anything a workflow may yield and a worker carries out (a :class:`zart.Patch` is answered by
the interpreter itself)."""


def sleep(name: str, duration: Duration) -> Sleep:
    """A durable sleep: the execution suspends and resumes after ``duration``."""
    return Sleep(name, seconds=parse_duration(duration, what=f"duration of sleep {name!r}"))


def sleep_until(name: str, when: datetime) -> Sleep:
    """A durable sleep until the aware datetime ``when``."""
    if not isinstance(when, datetime):
        raise TypeError(f"sleep_until {name!r} needs a datetime, got {when!r}")
    return Sleep(name, until=when)


def wait_for_event(name: str, timeout: Duration | None = None) -> WaitEvent:
    """Wait for the event ``name`` (sent with ``app.send_event``); its payload is the result."""
    seconds = None if timeout is None else parse_duration(timeout, what=f"timeout of {name!r}")
    return WaitEvent(name, seconds)


def child(workflow: Any, data: Any = None, *, id: str | None = None,
          name: str | None = None) -> ChildWorkflow:
    """Start ``workflow`` (a ``@zart.workflow`` or its name) with ``data`` as a child execution
    and wait for its result: ``result = yield zart.child(send_invoice, order)``."""
    workflow_name = getattr(workflow, "name", workflow)
    if not isinstance(workflow_name, str):
        raise TypeError(f"child() takes a @zart.workflow or its name, got {workflow!r}")
    return ChildWorkflow(workflow_name, data, id, name or workflow_name)


def parallel(*steps: Step | ChildWorkflow | list[Step | ChildWorkflow]
             | tuple[Step | ChildWorkflow, ...],
             return_exceptions: bool = False) -> Parallel:
    """Run ``steps`` (or one list of them) concurrently; the result lists their results in order."""
    children: tuple[Any, ...] = steps
    if len(steps) == 1 and isinstance(steps[0], list | tuple):
        children = tuple(steps[0])
    return Parallel(children, return_exceptions)


def capture(name: str, fn: Callable[[], Any]) -> Capture:
    """Record ``fn()`` once under ``name``; replays get the recorded value."""
    return Capture(name, fn)


def _utc_now() -> str:
    return datetime.now(UTC).isoformat()


def now(name: str) -> Capture:
    """The current time (an aware UTC datetime), recorded once under ``name``."""
    return Capture(name, _utc_now, datetime.fromisoformat)
