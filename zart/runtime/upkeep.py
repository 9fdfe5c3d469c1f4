"""A worker's heartbeat: it records the worker alive, renews the leases of everything it
holds (one statement per table), tells the threads' claims how long their leases last by this
process's clock, and gives back the lost leases of takeovers while this worker was alive."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid

from ..errors import DatabaseUnavailable
from ..store import ChildClaim, Claim
from ..store.records import WorkerInfo
from .holdings import Holdings, describe
from .pauses import PauseCache

__all__ = ["Heartbeat"]

log = logging.getLogger(__name__)


class Heartbeat:
    """The body of a worker's heartbeat thread; runs until ``done`` is set."""

    def __init__(self, holdings: Holdings, info: WorkerInfo, done: threading.Event,
                 pauses: PauseCache | None = None) -> None:
        self.holdings = holdings
        self.info = info
        self.done = done
        self.pauses = pauses

    def run(self) -> None:
        """Beat at once (the worker shows in the workers table), then every third of a lease."""
        interval = self.info.lease / 3
        missed_before: set[uuid.UUID] = set()
        first = True
        while first or not self.done.wait(interval):
            first = False
            try:
                missed_before = self.beat(missed_before)
            except DatabaseUnavailable as exc:
                log.warning("%s: heartbeat: %s", self.info.name, exc)
            except BaseException:  # supervised: the heartbeat never dies of a bug
                log.exception("%s: heartbeat error", self.info.name)
        with contextlib.suppress(DatabaseUnavailable):
            self.holdings.give_back_losses()

    def beat(self, missed_before: set[uuid.UUID]) -> set[uuid.UUID]:
        """Renew every lease held, give back lost leases; the tokens missed this time."""
        holdings = self.holdings
        holdings.give_back_losses()
        if self.pauses is not None:  # rules whose until passed; a missed notification
            self.pauses.refresh()
        held = holdings.snapshot()
        executions = [(h.execution_id, h.owner) for h in held if isinstance(h, Claim)]
        children = [(h.execution_id, h.seq, h.owner) for h in held
                    if isinstance(h, ChildClaim)]
        started = time.monotonic()
        alive = holdings.store.heartbeat(self.info, executions, children)
        for item in held:
            if item.owner in alive:
                item.expires = started + self.info.lease
        # A token the heartbeat did not renew is usually work that just finished (its
        # last transaction committed before the thread let go of it): only one still held
        # has really been lost, to a takeover or a cancel, while this worker is alive.
        missed = holdings.still_held({h.owner for h in held if h.owner not in alive})
        for item in held:
            if item.owner in missed:
                holdings.lost(item)
                if item.owner in missed_before:
                    log.warning("%s: lease of %s lost; its next write will be refused",
                                self.info.name, describe(item),
                                extra={"execution_id": item.execution_id})
        return missed
