"""Fixtures for the database tests (tests/integration, tests/faults): a real PostgreSQL
(``ZART_DATABASE_URL``, else the embedded one) and a fresh zart schema per test module. The
unit tests never request them, so they never start a database."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

import zart

EMBEDDED_TEST_DIR = os.path.join(os.path.dirname(__file__), "..", ".zart", "test-pgdata")


@contextmanager
def registered_for_now(*definitions: Callable[[], zart.Workflow]) -> Iterator[None]:
    """Register workflows only while the block runs. Scheduled workflows must not outlive
    their test: every worker started later in this process (any test's) would store their
    schedules in its own schema and tick them there."""
    from zart.workflow import _REGISTRY

    names = [define().name for define in definitions]
    try:
        yield
    finally:
        for name in names:
            _REGISTRY.pop(name, None)


@pytest.fixture(scope="session")
def dsn() -> str:
    """The database every integration test uses: ZART_DATABASE_URL, else embedded PostgreSQL."""
    url = os.environ.get("ZART_DATABASE_URL")
    if url:
        return url
    from zart.embedded import embedded_dsn

    return embedded_dsn(os.path.abspath(EMBEDDED_TEST_DIR))


def drop_schema(dsn: str, schema: str) -> None:
    """Remove a test schema and everything in it."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module")
def schema(request: pytest.FixtureRequest, dsn: str) -> Iterator[str]:
    """A schema unique to the test module and this process, dropped before and after it.

    The process id keeps two test runs sharing one database (a developer's and CI's) apart.
    """
    module = re.sub(r"\W", "_", request.module.__name__.rsplit(".", 1)[-1])[:36]
    name = f"t_{module}_{os.getpid()}"
    drop_schema(dsn, name)
    yield name
    drop_schema(dsn, name)


@pytest.fixture(scope="module")
def app(dsn: str, schema: str) -> Iterator[zart.Zart]:
    """A zart application on the module's fresh schema."""
    application = zart.Zart(dsn, schema=schema)
    yield application
    application.close()


@pytest.fixture
def worker(app: zart.Zart) -> Iterator[zart.Worker]:
    """A started worker (4 threads, short lease) stopped after the test."""
    w = app.worker(threads=4, lease=2.0, poll_interval=1.0)
    w.start()
    yield w
    w.stop(timeout=10)


@pytest.fixture
def sql(dsn: str) -> Iterator[Callable[..., list[tuple[Any, ...]]]]:
    """Run a query on a separate autocommit connection and return its rows."""
    conn = psycopg.connect(dsn, autocommit=True)

    def run(query: str, *params: Any) -> list[tuple[Any, ...]]:
        cursor = conn.execute(query, params or None)
        return cursor.fetchall() if cursor.description else []

    yield run
    conn.close()


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition",
               interval: float = 0.01) -> Any:
    """Wait for ``predicate()`` to return something truthy, or fail the test at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)
