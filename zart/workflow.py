"""Authoring: ``@workflow`` and ``@step``, step name templates, and the workflow registry."""

from __future__ import annotations

import contextlib
import functools
import inspect
import os
import string
from collections.abc import Callable, Generator, Iterator
from typing import Any, Generic, ParamSpec, TypeVar, overload

from .commands import Step, TimeoutScope, step_factory, validate_name
from .durations import Duration, parse_duration
from .errors import WorkflowDefinitionError, WorkflowNotFound
from .queues import Queue, get_queue
from .retry import NO_RETRY, RetryPolicy
from .schedules import Schedule, bind_schedules

__all__ = ["StepFunction", "Workflow", "get_step", "get_workflow", "isolated_registry",
           "registered_steps", "registered_workflows", "step", "step_key", "workflow"]

P = ParamSpec("P")
R = TypeVar("R")

WorkflowBody = Callable[..., Generator[Any, Any, Any]]

_REGISTRY: dict[str, Workflow] = {}
# Module-level steps by their registered name (the template given to @zart.step): parallel
# children are stored under it, so any worker that imported the step can run them, whatever
# the module was called in the process that started them (``__main__`` for a script).
_STEPS: dict[str, StepFunction[Any, Any]] = {}
_STEP_KEYS: dict[Callable[..., Any], str] = {}
_NO_ARGUMENTS: dict[str, Any] = {}


class Workflow:
    """A registered workflow: a generator function plus its name, timeout and retry policy."""

    __slots__ = ("__dict__", "fn", "name", "queue", "retry", "schedules", "timeout")

    def __init__(self, fn: WorkflowBody, name: str, timeout: float | None,
                 retry: RetryPolicy, queue: Queue | None = None,
                 schedules: tuple[Schedule, ...] = ()) -> None:
        self.fn = fn
        self.name = name
        self.timeout = timeout
        self.retry = retry
        self.queue = queue
        """The queue its executions go to unless ``start()`` names another."""
        self.schedules = schedules
        """The cron schedules its code declares, each named and bound to it."""
        functools.update_wrapper(self, fn)

    def __call__(self, data: Any = None) -> Generator[Any, Any, Any]:
        """Create the generator for one run of the body with ``data``."""
        if self._takes_data:
            return self.fn(data)
        return self.fn()

    @functools.cached_property
    def _takes_data(self) -> bool:
        return bool(inspect.signature(self.fn).parameters)

    def __repr__(self) -> str:
        return f"<zart.Workflow {self.name!r}>"


def workflow(name: str, *, timeout: Duration | None = None,
             retry: RetryPolicy | None = None,
             queue: Queue | str | None = None,
             schedule: Schedule | list[Schedule] | tuple[Schedule, ...] | None = None,
             ) -> Callable[[WorkflowBody], Workflow]:
    """Register a generator function ``def body(data): ...`` as the workflow ``name``.

    ``timeout`` bounds the whole execution (it fails once the deadline passes); ``retry`` re-runs
    a body that raised: completed steps replay, they do not run again; ``queue`` (a
    :class:`zart.Queue` or its name) is where its executions go unless started elsewhere;
    ``schedule`` (a :func:`zart.cron`, or several) starts it on a recurring timetable.
    """
    default_queue = get_queue(queue)
    validate_name(name, "workflow name")
    schedules = bind_schedules(name, schedule)
    seconds = None if timeout is None else parse_duration(timeout, what=f"timeout of {name!r}")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"workflow {name!r}: retry must be zart.fixed/linear/exponential(...)")

    def decorate(fn: WorkflowBody) -> Workflow:
        if not inspect.isgeneratorfunction(fn):
            raise WorkflowDefinitionError(
                f"workflow {name!r}: {getattr(fn, '__qualname__', fn)!r} is not a generator "
                f"function; a workflow yields its commands (txn = yield charge(...))")
        if len(inspect.signature(fn).parameters) > 1:
            raise WorkflowDefinitionError(
                f"workflow {name!r} takes one argument (its input data), not "
                f"{len(inspect.signature(fn).parameters)}")
        existing = _REGISTRY.get(name)
        if existing is not None and _identity(existing.fn) != _identity(fn):
            raise WorkflowDefinitionError(
                f"workflow {name!r} is already registered by {_origin(existing.fn)}; "
                f"cannot register {_origin(fn)} under the same name")
        definition = Workflow(fn, name, seconds, retry or NO_RETRY, default_queue, schedules)
        _REGISTRY[name] = definition
        return definition

    return decorate


def _origin(fn: Callable[..., Any]) -> str:
    return f"{fn.__module__}.{fn.__qualname__}"


def _identity(fn: Callable[..., Any]) -> tuple[str, str]:
    """What makes two definitions the same: the source file and the qualified name. Not the
    module's name: a file run as a script is ``__main__`` and may also be imported under its
    own name, and both registrations are the same definition."""
    code = getattr(fn, "__code__", None)
    path = os.path.realpath(code.co_filename) if code is not None else fn.__module__
    return path, fn.__qualname__


def get_workflow(name: str) -> Workflow:
    """The workflow registered as ``name``, or :class:`WorkflowNotFound`."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise WorkflowNotFound(f"no workflow is registered as {name!r} (registered: {known}); "
                               f"import the module that defines it") from None


def registered_workflows() -> dict[str, Workflow]:
    """A copy of the registry: name to workflow."""
    return dict(_REGISTRY)


def registered_steps() -> dict[str, StepFunction[Any, Any]]:
    """A copy of the step registry: registered name (the template) to module-level step."""
    return dict(_STEPS)


def step_key(fn: Callable[..., Any]) -> str | None:
    """The registered name of the module-level ``@zart.step`` whose function is ``fn``."""
    return _STEP_KEYS.get(fn)


def get_step(key: str) -> StepFunction[Any, Any] | None:
    """The module-level step registered as ``key``, or None."""
    return _STEPS.get(key)


@contextlib.contextmanager
def isolated_registry() -> Iterator[None]:
    """An empty workflow and step registry for the block; the previous one afterwards.

    For tests that load two versions of the same code (a deploy: the workflow ``checkout``
    before and after a change) in one process, where the second registration of a name
    would otherwise be refused.
    """
    workflows, steps, keys = dict(_REGISTRY), dict(_STEPS), dict(_STEP_KEYS)
    _REGISTRY.clear()
    _STEPS.clear()
    _STEP_KEYS.clear()
    try:
        yield
    finally:
        _REGISTRY.clear()
        _REGISTRY.update(workflows)
        _STEPS.clear()
        _STEPS.update(steps)
        _STEP_KEYS.clear()
        _STEP_KEYS.update(keys)


def _register_step(definition: StepFunction[Any, Any]) -> None:
    fn = definition.fn
    if "<locals>" in getattr(fn, "__qualname__", "<locals>"):
        return  # only module-level steps can be run by other workers as parallel children
    existing = _STEPS.get(definition.name)
    if existing is not None and _identity(existing.fn) != _identity(fn):
        raise WorkflowDefinitionError(
            f"step {definition.name!r} is already registered by {_origin(existing.fn)}; "
            f"cannot register {_origin(fn)} under the same name (give one of them another "
            f"name: parallel children are found by it)")
    if existing is not None:
        _STEP_KEYS.pop(existing.fn, None)
    _STEPS[definition.name] = definition
    _STEP_KEYS[fn] = definition.name


class StepFunction(Generic[P, R]):
    """A ``@zart.step`` function: calling it returns a :class:`zart.Step` command.

    The original function stays available as ``.fn`` (to call it directly, e.g. in a test).
    """

    def __init__(self, fn: Callable[P, R], name: str, retry: RetryPolicy,
                 timeout: float | None, timeout_scope: TimeoutScope,
                 transactional: bool) -> None:
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise WorkflowDefinitionError(
                f"step {name!r}: {fn.__qualname__} is a generator; a step is a plain function "
                f"that returns its result (only workflows yield)")
        if inspect.iscoroutinefunction(fn):
            raise WorkflowDefinitionError(f"step {name!r}: async functions are not supported; "
                                          f"zart runs steps in worker threads")
        self.fn = fn
        self.name = name
        self.retry = retry
        self.timeout = timeout
        self.timeout_scope = timeout_scope
        self.transactional = transactional
        self._signature = inspect.signature(fn)
        self._fields = [f for _, f, _, _ in string.Formatter().parse(name) if f is not None]
        for field_name in self._fields:
            if field_name not in self._signature.parameters:
                raise WorkflowDefinitionError(
                    f"step name template {name!r} refers to {{{field_name}}}, which is not a "
                    f"parameter of {fn.__qualname__}{self._signature}")
        self._templated = "{" in name or "}" in name  # "{{"/"}}" alone: unescape too
        # Binding arguments is on the hot path of every replay: plain signatures (no *args,
        # **kwargs, positional-only) are bound by hand; anything else uses Signature.bind.
        params = list(self._signature.parameters.values())
        plain = {inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY}
        self._plain = all(p.kind in plain for p in params)
        self._positional = tuple(p.name for p in params
                                 if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD)
        self._parameters = frozenset(p.name for p in params)
        self._required = frozenset(p.name for p in params if p.default is p.empty)
        self._defaults = {p.name: p.default for p in params if p.default is not p.empty}
        required_keyword_only = any(p.kind is inspect.Parameter.KEYWORD_ONLY
                                    and p.default is p.empty for p in params)
        self._least_positional = (len(self._positional) + 1 if required_keyword_only else
                                  sum(1 for n in self._positional if n in self._required))
        # The fast path, compiled once: a call giving every positional parameter positionally
        # and nothing by keyword (valid as it stands, as no keyword-only parameter is required)
        # needs no binding; its template fields are found by position.
        self._arity = -1
        if self._plain and not required_keyword_only and all(
                f in self._positional for f in self._fields):
            self._arity = len(self._positional)
        self._build = None
        if self._arity >= 0:
            fields = ({f: self._positional.index(f) for f in self._fields} if self._templated
                      else None)
            self._build = step_factory(name, fields, fn, retry, timeout, timeout_scope,
                                       transactional)
        functools.update_wrapper(self, fn)
        _register_step(self)

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Step:
        """Build the command that runs this step with these arguments."""
        if not kwargs and len(args) == self._arity:
            return self._build(args)  # type: ignore[misc]  # set whenever _arity >= 0
        name = self.name
        arguments = self._bind(args, kwargs)
        if self._templated:
            name = name.format_map(arguments)
        return Step.trusted(name, self.fn, args, kwargs, self.retry, self.timeout,
                            self.timeout_scope, self.transactional)

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name, defaults included; TypeError if invalid."""
        if not self._templated and not kwargs and self._plain \
                and self._least_positional <= len(args) <= len(self._positional):
            return _NO_ARGUMENTS  # valid, and no template needs the values
        if self._plain and len(args) <= len(self._positional):
            arguments = dict(self._defaults)
            arguments.update(zip(self._positional, args, strict=False))  # fewer args: defaults
            if kwargs:
                taken = self._positional[:len(args)]
                if (kwargs.keys() - self._parameters) or any(k in kwargs for k in taken):
                    return self._slow_bind(args, kwargs)
                arguments.update(kwargs)
            if self._required <= arguments.keys():
                return arguments
        return self._slow_bind(args, kwargs)

    def _slow_bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"step {self.name!r}: {exc}") from None
        bound.apply_defaults()
        return dict(bound.arguments)

    def __repr__(self) -> str:
        return f"<zart.step {self.name!r}>"


@overload
def step(name: Callable[P, R], /) -> StepFunction[P, R]: ...


@overload
def step(name: str | None = None, /, *, retry: RetryPolicy | None = None,
         timeout: Duration | None = None, timeout_scope: TimeoutScope = "global",
         transactional: bool = False) -> Callable[[Callable[P, R]], StepFunction[P, R]]: ...


def step(name: str | Callable[P, R] | None = None, /, *, retry: RetryPolicy | None = None,
         timeout: Duration | None = None, timeout_scope: TimeoutScope = "global",
         transactional: bool = False) -> Any:
    """Make a function a step: called in a workflow, it returns a command to ``yield``.

    ``name`` may hold ``{param}`` templates filled from the call's arguments
    (``"fetch-{page}"``); bare ``@zart.step`` uses the function's name. ``retry`` re-runs
    failed attempts, ``timeout`` abandons slow ones (``timeout_scope``: ``"global"`` or
    ``"per_attempt"``), ``transactional=True`` runs it inside the checkpoint's transaction
    (``zart.context().connection``), so its database writes commit with its checkpoint.
    """
    if callable(name):
        return StepFunction(name, name.__name__, NO_RETRY, None, "global", False)
    if name is not None:
        validate_name(name, "step name")
    if retry is not None and not isinstance(retry, RetryPolicy):
        raise TypeError(f"step {name!r}: retry must be zart.fixed/linear/exponential(...)")
    seconds = None if timeout is None else parse_duration(timeout, what=f"timeout of {name!r}")
    if timeout_scope not in ("global", "per_attempt"):
        raise ValueError(f"timeout_scope must be 'global' or 'per_attempt', got "
                         f"{timeout_scope!r}")
    if not isinstance(transactional, bool):
        raise TypeError(f"step {name!r}: transactional must be True or False, got "
                        f"{transactional!r}")

    def decorate(fn: Callable[P, R]) -> StepFunction[P, R]:
        return StepFunction(fn, name or fn.__name__, retry or NO_RETRY, seconds, timeout_scope,
                            transactional)

    return decorate
