"""The database fixtures live in tests/conftest.py; these helpers are re-exported for the
modules here that import them from ``.conftest``, next to one of their own."""

import zart
from tests.conftest import drop_schema, wait_until
from zart.runtime.executor import Executor

__all__ = ["drop_schema", "run_due", "wait_until"]


def run_due(app: zart.Zart, workflow: str) -> None:
    """Claim the one due execution of ``workflow`` and run it, in this thread, until it
    completes, fails or suspends (no worker involved: the test drives each step of the way)."""
    [claim] = app.store.claim_executions([workflow], 1, 30)
    with app.store.connection() as conn:
        Executor(app.store).run_execution(claim, conn)
