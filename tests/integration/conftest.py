"""The database fixtures live in tests/conftest.py; these helpers are re-exported for the
modules here that import them from ``.conftest``."""

from tests.conftest import drop_schema, wait_until

__all__ = ["drop_schema", "wait_until"]
