"""Retention (issue 9): purge deletes finished executions older than a duration, with all they
own, in batches of their own transactions; open executions are never purged; one purge at a
time; a worker can run it periodically."""

from __future__ import annotations

from typing import Any

import pytest

import zart

from .conftest import run_due, wait_until


@zart.step("pg-work-{n}")
def work(n: int) -> int:
    return n


@zart.workflow("pg-flow")
def flow(data: Any) -> Any:
    done = yield work(data["n"])
    if data.get("wait"):
        yield zart.wait_for_event("pg-go")
    return done


def owned_rows(sql: Any, schema: str, execution_id: str) -> int:
    total = 0
    for table in ("steps", "step_attempts", "archived_steps", "execution_runs",
                  "execution_actions", "events"):
        total += int(sql(f'SELECT count(*) FROM "{schema}".{table} WHERE execution_id = %s',
                         execution_id)[0][0])
    return total


def test_purge_deletes_old_finished_executions_with_everything_they_own_in_batches(
        app: zart.Zart, sql: Any, schema: str) -> None:
    old = [app.start(flow, {"n": n}, id=f"pg-old-{n}") for n in range(5)]
    for _ in old:
        run_due(app, "pg-flow")
    app.restart(old[0].id, by="test")  # an archived run and an audit record to purge too
    run_due(app, "pg-flow")
    open_one = app.start(flow, {"n": 9, "wait": True}, id="pg-open")
    run_due(app, "pg-flow")  # waiting for an event: open, old, never purged
    app.store.shift_clock(31 * 86400)
    recent = app.start(flow, {"n": 7}, id="pg-recent")
    run_due(app, "pg-flow")
    batches: list[int] = []
    result = app.purge(older_than="30d", batch_size=2,
                       progress=lambda r: batches.append(r.executions))
    assert (result.executions, result.batches, result.by_status) == (5, 3, {"completed": 5})
    assert batches == [2, 4, 5]
    for handle in old:
        with pytest.raises(zart.ExecutionNotFound):
            handle.status()
        assert owned_rows(sql, schema, handle.id) == 0
    assert open_one.status() == "waiting" and recent.status() == "completed"
    assert app.purge(older_than="30d").executions == 0


def test_purge_filters_by_workflow_and_status(app: zart.Zart) -> None:
    handle = app.start(flow, {"n": 1}, id="pg-filtered")
    run_due(app, "pg-flow")
    app.store.shift_clock(2 * 86400)
    assert app.purge(older_than="1d", workflow="pg-other").executions == 0
    assert app.purge(older_than="1d", statuses=["failed"]).executions == 0
    assert app.purge(older_than="1d", statuses=["completed"], workflow="pg-flow"
                     ).executions >= 1
    with pytest.raises(zart.ExecutionNotFound):
        handle.status()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"older_than": "soon"}, "older_than"),
    ({"older_than": "1d", "statuses": ["running"]}, "only finished executions"),
    ({"older_than": "1d", "statuses": ["bogus"]}, "unknown status"),
    ({"older_than": "1d", "batch_size": 0}, "batch_size"),
])
def test_bad_purges_are_refused_before_deleting_anything(app: zart.Zart, kwargs: dict[str, Any],
                                                         message: str) -> None:
    with pytest.raises((zart.ConfigurationError, ValueError), match=message):
        app.purge(**kwargs)


def test_only_one_purge_runs_at_a_time(app: zart.Zart, dsn: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as other:  # another process's purge
        other.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"zart-purge:{schema}",))
        with pytest.raises(zart.ActionRefused, match="another purge"):
            app.purge(older_than="1d")


def test_a_worker_purges_periodically(app: zart.Zart) -> None:
    handle = app.start(flow, {"n": 3}, id="pg-periodic")
    run_due(app, "pg-flow")
    app.store.shift_clock(3 * 86400)
    with app.worker(threads=1, lease=5.0, poll_interval=0.5, purge_after="2d",
                    purge_every="1h"):
        wait_until(lambda: _gone(handle), what="the periodic purge")


def _gone(handle: zart.Handle) -> bool:
    try:
        handle.status()
    except zart.ExecutionNotFound:
        return True
    return False
