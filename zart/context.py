"""``zart.context()``: what the running workflow body or step may know about itself."""

from __future__ import annotations

from contextvars import ContextVar, Token
from dataclasses import dataclass, replace
from typing import Any

import psycopg

from .errors import ZartError

__all__ = ["ExecutionContext", "context"]


@dataclass(frozen=True, slots=True)
class ExecutionContext:
    """The execution a body or step belongs to.

    In a workflow body, ``attempt``/``max_attempts`` count the workflow's attempts (see
    ``@workflow(retry=...)``); inside a step they count that step's attempts, and ``step`` is
    its name. ``connection`` is set only inside a ``transactional=True`` step: the psycopg
    connection whose open transaction will also commit the step's checkpoint.
    """

    execution_id: str
    workflow: str
    data: Any
    attempt: int
    max_attempts: int
    step: str | None = None
    connection: psycopg.Connection[Any] | None = None

    @property
    def is_retry(self) -> bool:
        """True from the second attempt on."""
        return self.attempt > 1


_current: ContextVar[ExecutionContext | None] = ContextVar("zart_context", default=None)


def context() -> ExecutionContext:
    """The context of the workflow body or step running in this thread."""
    current = _current.get()
    if current is None:
        raise ZartError("zart.context() was called outside a workflow body or step")
    return current


class bound:  # lower case: used like a function, ``with bound(ctx): ...``
    """Make ``ctx`` (with ``changes``) the current context for the duration of the block.

    A class rather than a ``@contextmanager`` generator: it wraps every step call.
    """

    __slots__ = ("_token", "_value")

    def __init__(self, ctx: ExecutionContext, **changes: Any) -> None:
        self._value = replace(ctx, **changes) if changes else ctx
        self._token: Token[ExecutionContext | None] | None = None

    def __enter__(self) -> ExecutionContext:
        self._token = _current.set(self._value)
        return self._value

    def __exit__(self, *exc_info: object) -> None:
        if self._token is not None:
            _current.reset(self._token)
            self._token = None
