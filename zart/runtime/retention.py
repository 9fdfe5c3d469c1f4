"""A worker's retention: every ``every`` seconds, purge finished executions older than
``older_than`` (one worker at a time: a purge already running elsewhere is skipped)."""

from __future__ import annotations

import logging
import threading

from ..constants import FINAL_STATUSES
from ..errors import ActionRefused, DatabaseUnavailable
from ..store import Store

__all__ = ["Retention"]

log = logging.getLogger(__name__)


class Retention:
    """The body of a worker's retention thread; runs until ``done`` is set."""

    def __init__(self, store: Store, older_than: float, every: float,
                 done: threading.Event) -> None:
        self.store = store
        self.older_than = older_than
        self.every = every
        self.done = done

    def run(self) -> None:
        """Purge now, then every ``every`` seconds; never dies of an error."""
        while True:
            try:
                result = self.store.purge(self.older_than, sorted(FINAL_STATUSES), None, 1000)
                if result.executions:
                    log.info("purged %d finished executions older than %.0fs (%s)",
                             result.executions, self.older_than, result.by_status)
            except ActionRefused:
                pass  # another worker is purging right now
            except DatabaseUnavailable as exc:
                log.warning("retention: %s", exc)
            except BaseException:  # supervised: retention never takes the worker down
                log.exception("retention error")
            if self.done.wait(self.every):
                return
