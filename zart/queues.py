"""Queues: limits on how many executions run at once and how fast they start, enforced by the
claim itself, in SQL, across every worker process.

    emails = zart.Queue("emails", concurrency=20, per_key=1, rate=(100, "1m"))

    @zart.workflow("send-email", queue=emails)          # its default queue
    def send_email(data): ...

    app.start(send_email, data, key=customer_id, priority=5)

``concurrency``: at most that many of the queue's executions run at once (across all
workers); ``per_key``: at most that many per key (``app.start(..., key=...)``); ``rate``:
at most ``n`` executions *start* per ``period`` (a token bucket: up to ``n`` at once after a
quiet period). Higher ``priority`` runs first; a worker may serve a subset of the queues
(``app.worker(queues=[...])``). A queue is declared in code: workers store its limits when
they start, so a changed limit reaches the database with the next release.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .commands import validate_name
from .durations import parse_duration
from .errors import ConfigurationError

__all__ = ["Queue", "get_queue", "queue_name", "registered_queues"]

_QUEUES: dict[str, Queue] = {}


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue's name and limits (None: no limit)."""

    name: str
    concurrency: int | None = None
    per_key: int | None = None
    rate: tuple[int, Any] | None = None
    """(n, period): at most n starts per period (a duration)."""

    def __post_init__(self) -> None:
        validate_name(self.name, "queue name")
        for what, value in (("concurrency", self.concurrency), ("per_key", self.per_key)):
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 1):
                raise ConfigurationError(f"queue {self.name!r}: {what} must be an int >= 1 "
                                         f"(or None: no limit), got {value!r}")
        if self.rate is not None:
            if (not isinstance(self.rate, tuple) or len(self.rate) != 2
                    or not isinstance(self.rate[0], int) or isinstance(self.rate[0], bool)
                    or self.rate[0] < 1):
                raise ConfigurationError(f"queue {self.name!r}: rate must be (n, period) with "
                                         f"n an int >= 1, got {self.rate!r}")
            period = parse_duration(self.rate[1], what=f"rate period of queue {self.name!r}")
            if period <= 0:
                raise ConfigurationError(f"queue {self.name!r}: the rate period must be more "
                                         f"than 0")
            object.__setattr__(self, "rate", (self.rate[0], period))
        existing = _QUEUES.get(self.name)
        if existing is not None and existing != self:
            raise ConfigurationError(f"queue {self.name!r} is already declared with other "
                                     f"limits: {existing}")
        _QUEUES[self.name] = self

    @property
    def rate_limit(self) -> int | None:
        """n of the rate (None: no rate limit)."""
        return None if self.rate is None else int(self.rate[0])

    @property
    def rate_period(self) -> float | None:
        """The rate's period in seconds."""
        return None if self.rate is None else float(self.rate[1])


def registered_queues() -> dict[str, Queue]:
    """Every queue declared in this process, by name."""
    return dict(_QUEUES)


def get_queue(queue: Queue | str | None) -> Queue | None:
    """The queue a name or a Queue stands for (declared, or a plain queue without limits)."""
    if queue is None or isinstance(queue, Queue):
        return queue
    if not isinstance(queue, str):
        raise ConfigurationError(f"queue must be a zart.Queue or its name, got {queue!r}")
    found = _QUEUES.get(queue)
    return found if found is not None else Queue(queue)


def queue_name(queue: Queue | str | None) -> str | None:
    """The name of a queue given as a Queue or a name."""
    found = get_queue(queue)
    return None if found is None else found.name

