"""zart's pytest plugin (entry point ``pytest11``): fixtures for testing workflows.

* ``zart_dsn``: the database (``$ZART_DATABASE_URL``, else an embedded PostgreSQL in
  ``.zart/test-pgdata`` under the project's root), for the whole session;
* ``zart_app``: a :class:`zart.Zart` on a fresh schema of its own, dropped after the test;
* ``zart_worker``: a started worker of that app (2 threads), stopped after the test.

After every test the kit's state is reset: step doubles and crashes are removed and Python's
clock is the real one again. The fixtures' names start with ``zart_`` so that a project's own
``app`` or ``worker`` fixtures are left alone; a ``zart_dsn`` fixture in a conftest.py
overrides this one (to share a database fixture the project already has).
"""

from __future__ import annotations

from collections.abc import Generator, Iterator

import pytest

import zart

from .clock import reset_clock
from .database import drop_schema, fresh_schema_name, test_dsn
from .doubles import reset_doubles

__all__ = ["pytest_runtest_teardown", "zart_app", "zart_dsn", "zart_worker"]


@pytest.fixture(scope="session")
def zart_dsn(request: pytest.FixtureRequest) -> str:
    """The database the zart fixtures use."""
    return test_dsn(request.config.rootpath)


@pytest.fixture
def zart_app(zart_dsn: str, request: pytest.FixtureRequest) -> Iterator[zart.Zart]:
    """A zart app on a fresh schema, dropped (with everything in it) after the test."""
    schema = fresh_schema_name(request.node.name)
    drop_schema(zart_dsn, schema)
    app = zart.Zart(zart_dsn, schema=schema)
    try:
        yield app
    finally:
        app.close()
        reset_clock()
        drop_schema(zart_dsn, schema)


@pytest.fixture
def zart_worker(zart_app: zart.Zart) -> Iterator[zart.Worker]:
    """A started worker (2 threads, 5 s lease) for the test's app, stopped after the test."""
    worker = zart_app.worker(threads=2, lease=5.0, poll_interval=0.5)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop(timeout=10)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Generator[None, None, None]:
    """After the test's fixtures are torn down: no doubles, no crashes, the real clock."""
    try:
        return (yield)
    finally:
        reset_doubles()
        reset_clock()
