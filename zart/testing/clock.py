"""Time skipping: ``advance(app, "1d")`` moves the database clock and Python's clock together.

The database's clock decides when sleeps, retry delays, event timeouts, workflow timeouts and
leases fall due (``clock_now()``: the server's ``now()`` plus the offset of the app's schema,
which stays 0 in production). Python's clock is moved with freezegun, imported only here (the
extra ``zart[testing]``), so that steps and workflow bodies reading ``datetime.now()``,
``time.time()`` or ``zart.now()`` see the same time as the database. It ticks on from where it
was moved, so timeouts measured in Python still pass.

Python's clock is one per process: a test that advances two apps moves it by the sum.
:func:`reset_clock` (called after every test by the pytest plugin) puts the real one back.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from ..client import Zart
from ..durations import Duration, parse_duration
from ..errors import ConfigurationError

__all__ = ["advance", "reset_clock"]

_IGNORED = ["psycopg", "psycopg_pool", "_pytest"]
"""Modules that keep the real clock: the database driver's connection timeouts and the pool's
maintenance measure real waits (a moved clock would expire connections it just opened), and
pytest times its tests (a moved clock would report a test lasting a day)."""

_INSPECTED_FRAMES = 1
"""How far up the stack freezegun looks for an ignored module: only the clock's direct caller.
By default it looks 5 frames up, so a claim made in a worker's dispatcher thread (a few frames
below ``threading``, which freezegun ignores) would read the real clock while the step's lease
check in another thread reads the moved one, and every claim would look expired."""

_lock = threading.Lock()
_freezer: Any = None
"""freezegun's running freeze (None: Python's clock is the real one)."""
_factory: Any = None
_saved_limit: Any = None


def advance(app: Zart, duration: Duration) -> datetime:
    """Move ``app``'s database clock and Python's clock forward by ``duration`` (``"1d"``,
    ``"90s"``, seconds, a timedelta); returns the database clock's new time.

    What falls due meanwhile runs at the next :func:`zart.testing.run_until_idle` (or at once
    on a started worker, which is woken). Time only moves forward.
    """
    if not isinstance(app, Zart):
        raise TypeError(f"advance() takes the zart.Zart app whose clock moves, got "
                        f"{type(app).__name__} {app!r}")
    seconds = parse_duration(duration, what="advance()")
    if seconds <= 0:
        raise ValueError(f"advance() moves time forward only; got {duration!r}")
    app.store.shift_clock(seconds)
    _move_python_clock(seconds)
    app.store.wake_workers()
    return app.store.clock_now()


def _move_python_clock(seconds: float) -> None:
    global _freezer, _factory
    with _lock:
        if _factory is None:
            try:
                import freezegun
            except ImportError:
                raise ConfigurationError(
                    "advance() moves Python's clock with freezegun, which is not installed: "
                    "pip install 'zart[testing]'") from None
            _freezer = freezegun.freeze_time(datetime.now(UTC), tick=True,
                                             ignore=list(_IGNORED))
            _inspect_direct_callers_only(freezegun)
            _factory = _freezer.start()
        _factory.tick(seconds)


def reset_clock() -> None:
    """Give Python its real clock back (the database's offset belongs to the app's schema,
    which a test drops with it)."""
    global _freezer, _factory, _saved_limit
    with _lock:
        if _freezer is not None:
            _freezer.stop()
            import freezegun.api

            freezegun.api.call_stack_inspection_limit = _saved_limit
        _freezer = _factory = _saved_limit = None


def _inspect_direct_callers_only(freezegun: Any) -> None:
    global _saved_limit
    _saved_limit = freezegun.api.call_stack_inspection_limit
    freezegun.api.call_stack_inspection_limit = _INSPECTED_FRAMES
