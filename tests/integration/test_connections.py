"""Connections are bounded per process, not per waiter, and recover or fail fast (issue 8,
items 1 and 2; ARCHITECTURE invariant 12)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import zart

from .conftest import wait_until

GATE = threading.Event()


@zart.step("conn-gated")
def gated() -> str:
    GATE.wait(60)
    return "through"


@zart.workflow("conn-waits-for-event")
def waits_for_event(data: Any) -> Any:
    return (yield zart.wait_for_event("conn-go"))


@zart.workflow("conn-gated-flow")
def gated_flow(data: Any) -> Any:
    return (yield gated())


def backends(sql: Any, *names: str) -> int:
    return int(sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = ANY(%s)",
                   list(names))[0][0])


@pytest.fixture
def small_app(dsn: str, schema: str, app: zart.Zart) -> Iterator[zart.Zart]:
    """A client with a pool of two connections, as a small web process would have."""
    client = zart.Zart(dsn, schema=schema, pool_size=2, pool_timeout=5)
    yield client
    client.close()


def test_a_thousand_result_waiters_cost_one_connection_and_block_no_one(
        small_app: zart.Zart, sql: Any) -> None:
    """Before: every waiter held a pooled connection: four waiters deadlocked a web app whose
    pool had four (the event they waited for could not be sent)."""
    handle = small_app.start(waits_for_event, None)
    results: list[Any] = []
    errors: list[BaseException] = []

    def wait() -> None:
        try:
            results.append(small_app.handle(handle.id).result(timeout=60))
        except BaseException as exc:
            errors.append(exc)

    waiters = [threading.Thread(target=wait) for _ in range(1000)]
    for thread in waiters:
        thread.start()
    listener = f"zart-listener-{os.getpid()}"
    wait_until(lambda: backends(sql, listener) == 1, what="the one listener")
    # Waiting holds nothing: the two pooled connections serve everything else at once.
    started = time.monotonic()
    assert small_app.handle(handle.id).status() == "pending"
    other = small_app.start(waits_for_event, None)
    assert small_app.store.pool.get_stats()["pool_size"] <= 2
    assert backends(sql, listener) == 1
    with small_app.worker(threads=2, lease=5.0, poll_interval=0.2):
        assert small_app.send_event(handle.id, "conn-go", {"ok": 1}) is True
        assert small_app.send_event(other.id, "conn-go", None) is True
        assert time.monotonic() - started < 10  # nothing waited for a pooled connection
        for thread in waiters:
            thread.join(60)
    assert errors == []
    assert results == [{"ok": 1}] * 1000


def test_result_with_a_timeout_returns_within_it(small_app: zart.Zart) -> None:
    GATE.clear()
    handle = small_app.start(gated_flow, None)
    started = time.monotonic()
    with pytest.raises(zart.ResultTimeout, match="still pending"):
        handle.result(timeout=0.3)
    took = time.monotonic() - started
    assert 0.3 <= took < 0.3 + 1.0, took  # generous for a loaded machine: was 3x the timeout
    small_app.cancel(handle.id)


def test_the_next_client_call_after_its_connections_were_terminated_succeeds(
        small_app: zart.Zart, sql: Any) -> None:
    handle = small_app.start(waits_for_event, None)
    assert small_app.handle(handle.id).status() == "pending"  # the pool has a connection now
    killed = sql("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                 "WHERE application_name = 'zart-client'")[0][0]
    assert killed >= 1
    assert handle.status() == "pending"  # the dead connection is replaced, once, not raised
    assert small_app.send_event(handle.id, "conn-go", 1) is True
    again = small_app.start(waits_for_event, None, id=f"{handle.id}-again")
    assert again.status() == "pending"
    assert small_app.cancel(again.id) is True
    small_app.cancel(handle.id)


@pytest.mark.parametrize(("change", "error", "reason"), [
    ({"dbname": "zart_no_such_database"}, zart.ConfigurationError, "does not exist"),
    ({"user": "zart_no_such_role"}, zart.ConfigurationError, "does not exist"),
    ({"host": "127.0.0.1", "port": "1"}, zart.DatabaseUnavailable, "refused"),
])
def test_a_wrong_database_url_fails_within_seconds_with_the_servers_reason(
        dsn: str, change: dict[str, str], error: type[Exception], reason: str) -> None:
    params = {**psycopg.conninfo.conninfo_to_dict(dsn), **change}
    started = time.monotonic()
    with pytest.raises(error, match=reason):
        zart.Zart(psycopg.conninfo.make_conninfo(**params), schema="t_wrong_url")
    assert time.monotonic() - started < 10  # was a 30 s PoolTimeout without its cause


def test_pool_sizes_are_settings_and_bad_ones_are_refused(dsn: str) -> None:
    with pytest.raises(zart.ConfigurationError, match="pool_size"):
        zart.Zart(dsn, pool_size=0)
    with pytest.raises(zart.ConfigurationError, match="pool_timeout"):
        zart.Zart(dsn, pool_timeout=-1)
