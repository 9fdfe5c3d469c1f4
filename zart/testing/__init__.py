"""zart's testing kit: test workflows like scripts, skip time, crash steps on purpose.

::

    from zart.testing import advance, crash_at, run_until_idle

    def test_checkout_charges_once_across_a_crash(zart_app):       # the pytest plugin's app
        crash = crash_at(zart_app, "charge", when="after")
        handle = zart_app.start(checkout, {"id": "o-1"})
        run_until_idle(zart_app)            # no worker threads: runs here, until nothing is due
        assert crash.happened               # the worker died after charging, before recording
        advance(zart_app, "30s")            # the dead worker's lease runs out...
        run_until_idle(zart_app)            # ...and the charge runs again (at least once)
        advance(zart_app, "1d")             # the day-long sleep falls due at once
        run_until_idle(zart_app)
        assert handle.status() == "completed"

* :func:`run_until_idle`: run every due execution in the test's thread, until none is due.
* :func:`advance`: move the database's clock and Python's (freezegun) together.
* :func:`crash_at`: the next attempt of a step dies before it runs, or after its side effect
  and before its checkpoint. :func:`replace_step`: a test double for a step's function.
* :func:`replay`: replay an exported history (``zart export ID``) against today's code.
* :func:`isolated_registry` and :func:`load_workflows`: two versions of the same workflows
  (before and after a change) in one test.

The pytest plugin (:mod:`zart.testing.plugin`, installed with zart) provides the fixtures
``zart_app``, ``zart_worker`` and ``zart_dsn`` and resets the kit after each test; elsewhere,
call :func:`reset`.
"""

from __future__ import annotations

from ..faults import SimulatedCrash
from ..workflow import isolated_registry
from .clock import advance, reset_clock
from .doubles import CrashPoint, StepRef, crash_at, replace_step, reset_doubles
from .driver import DEFAULT_LEASE, Idle, run_until_idle
from .replayer import Replayed, replay
from .versions import load_workflows

__all__ = ["DEFAULT_LEASE", "CrashPoint", "Idle", "Replayed", "SimulatedCrash", "StepRef",
           "advance", "crash_at", "isolated_registry", "load_workflows", "replace_step",
           "replay", "reset", "reset_clock", "reset_doubles", "run_until_idle"]


def reset() -> None:
    """Undo the kit's changes to this process: doubles and crashes, and Python's clock (the
    pytest plugin does it after every test)."""
    reset_doubles()
    reset_clock()
