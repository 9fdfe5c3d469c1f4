"""Retry policies for steps and workflows.

``retries`` counts the retries *after* the first attempt, so ``fixed(3, "1s")`` allows four
attempts in all. A policy is immutable and has a stable JSON form (:meth:`RetryPolicy.to_json`)
so that parallel children, which any worker may run, carry their policy with them.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from .durations import Duration, parse_duration
from .errors import NonRetryableError

__all__ = ["NO_RETRY", "RetryPolicy", "exponential", "fixed", "linear"]

Kind = Literal["none", "fixed", "linear", "exponential"]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often, and after how long, a failed attempt is tried again."""

    kind: Kind
    retries: int
    delay: float
    max_delay: float | None = None
    jitter: bool = False
    non_retryable: tuple[str, ...] = ()
    """Exception types (``module.QualName``) that fail the step at once: a subclass counts."""

    def __post_init__(self) -> None:
        if isinstance(self.retries, bool) or not isinstance(self.retries, int):
            raise ValueError(f"retries must be an int, got {self.retries!r}")
        if not 0 <= self.retries <= 10_000:
            raise ValueError(f"retries must be between 0 and 10000, got {self.retries}")
        if self.kind not in ("none", "fixed", "linear", "exponential"):
            raise ValueError(f"retry kind must be 'none', 'fixed', 'linear' or 'exponential', "
                             f"got {self.kind!r}")
        object.__setattr__(self, "delay", parse_duration(self.delay, what="retry delay"))
        if self.max_delay is not None:
            object.__setattr__(self, "max_delay",
                               parse_duration(self.max_delay, what="max_delay"))
        if not isinstance(self.jitter, bool):
            raise TypeError(f"jitter must be True or False, got {self.jitter!r}")
        if not isinstance(self.non_retryable, tuple) or not all(
                isinstance(n, str) and n for n in self.non_retryable):
            raise TypeError(f"non_retryable must be a tuple of exception types, got "
                            f"{self.non_retryable!r}")

    def retries_error(self, exc: BaseException) -> bool:
        """Whether a step failing with ``exc`` may be tried again (attempts permitting): not
        for a :class:`zart.NonRetryableError`, nor for a type named in ``non_retryable``."""
        if isinstance(exc, NonRetryableError):
            return False
        if not self.non_retryable:
            return True
        names = {_type_name(c) for c in type(exc).__mro__}
        return names.isdisjoint(self.non_retryable)

    @property
    def max_attempts(self) -> int:
        """The first attempt plus the retries."""
        return self.retries + 1

    def delay_before(self, attempt: int) -> float | None:
        """Seconds to wait before ``attempt`` (2 is the first retry); ``None`` when none is left."""
        retry = attempt - 1
        if retry < 1 or retry > self.retries:
            return None
        if self.kind == "linear":
            delay = self.delay * retry
        elif self.kind == "exponential":
            delay = self.delay * (2.0 ** min(retry - 1, 60))
        else:
            delay = self.delay
        if self.max_delay is not None:
            delay = min(delay, self.max_delay)
        if self.jitter:
            # Equal jitter: spreads a thundering herd without ever collapsing to zero.
            delay = random.uniform(delay / 2, delay)
        return delay

    def to_json(self) -> dict[str, Any]:
        """The stable stored form."""
        data: dict[str, Any] = {"kind": self.kind, "retries": self.retries,
                                "delay": self.delay, "max_delay": self.max_delay,
                                "jitter": self.jitter}
        if self.non_retryable:
            data["non_retryable"] = list(self.non_retryable)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> RetryPolicy:
        """Inverse of :meth:`to_json`; ``None`` means no retry."""
        if not data:
            return NO_RETRY
        return cls(kind=data["kind"], retries=data["retries"], delay=data["delay"],
                   max_delay=data.get("max_delay"), jitter=data.get("jitter", False),
                   non_retryable=tuple(data.get("non_retryable") or ()))


NO_RETRY = RetryPolicy("none", 0, 0.0)
"""The default: one attempt."""


def _type_name(kind: type) -> str:
    return f"{kind.__module__}.{kind.__qualname__}"


def _names(non_retryable: Iterable[type[BaseException]]) -> tuple[str, ...]:
    """The stored names of exception types; anything else is refused with its reason."""
    names = []
    for kind in non_retryable:
        if not (isinstance(kind, type) and issubclass(kind, BaseException)):
            raise TypeError(f"non_retryable takes exception types, got {kind!r}")
        names.append(_type_name(kind))
    return tuple(names)


def fixed(retries: int, delay: Duration, *,
          non_retryable: Iterable[type[BaseException]] = ()) -> RetryPolicy:
    """Retry ``retries`` times, waiting ``delay`` before each retry; errors of the
    ``non_retryable`` types (and their subclasses) fail at once."""
    return RetryPolicy("fixed", retries, parse_duration(delay, what="retry delay"),
                       non_retryable=_names(non_retryable))


def linear(retries: int, delay: Duration, *,
           non_retryable: Iterable[type[BaseException]] = ()) -> RetryPolicy:
    """Retry ``retries`` times, waiting ``delay``, then 2x, 3x... ``delay``."""
    return RetryPolicy("linear", retries, parse_duration(delay, what="retry delay"),
                       non_retryable=_names(non_retryable))


def exponential(retries: int, initial: Duration, *, max_delay: Duration | None = None,
                jitter: bool = True,
                non_retryable: Iterable[type[BaseException]] = ()) -> RetryPolicy:
    """Retry ``retries`` times, doubling the wait from ``initial``, capped by ``max_delay``.

    With ``jitter`` (the default) each wait is drawn between half and all of its nominal value.
    """
    cap = None if max_delay is None else parse_duration(max_delay, what="max_delay")
    return RetryPolicy("exponential", retries, parse_duration(initial, what="retry delay"),
                       cap, jitter, _names(non_retryable))
