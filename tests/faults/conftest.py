"""Fault-injection suite: real processes, real signals, a real database. The database fixtures
come from tests/conftest.py."""

from tests.conftest import drop_schema, wait_until

__all__ = ["drop_schema", "wait_until"]
