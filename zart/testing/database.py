"""The database a test runs against, and a fresh zart schema per test."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import psycopg

from ..store import validate_schema

__all__ = ["drop_schema", "fresh_schema_name", "test_dsn"]

_MAX_SCHEMA = 48
_counter = itertools.count(1)


def test_dsn(root: str | os.PathLike[str]) -> str:
    """``$ZART_DATABASE_URL``, else an embedded PostgreSQL in ``<root>/.zart/test-pgdata``
    (started once, reused by every later test run)."""
    url = os.environ.get("ZART_DATABASE_URL")
    if url:
        return url
    from ..embedded import embedded_dsn

    return embedded_dsn(Path(root) / ".zart" / "test-pgdata")


def fresh_schema_name(test_name: str) -> str:
    """A schema name for one test: readable (from the test's name), and unique to this
    process and this test (two test runs may share one database)."""
    suffix = f"_{os.getpid()}_{next(_counter)}"
    stem = re.sub(r"[^a-z0-9]+", "_", test_name.lower()).strip("_")
    return validate_schema(f"zt_{stem}"[:_MAX_SCHEMA - len(suffix)] + suffix)


def drop_schema(dsn: str, schema: str) -> None:
    """Drop a test's schema and everything in it."""
    validate_schema(schema)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
