"""Database faults are non-events (issue "Prove it survives": database restart, connection loss,
slow database). ARCHITECTURE.md invariants 2 (one fenced checkpoint per step), 5 (leases, not
locks held across work) and 10 (infrastructure faults are retried, never fail an execution).

Restart tests run on a PostgreSQL of their own: an embedded server in ``.zart/test-restart/<pid>``
(removed at the end; directories of killed runs are removed by the next run), whatever
``ZART_DATABASE_URL`` says, because the suite's shared server must never be restarted under
other test runs. Their workers are real subprocesses (``tests/faults/db_app.py``). The
connection-loss and slow-database tests use the suite's database (``dsn``: embedded, or
``ZART_DATABASE_URL``) with in-process workers, and only ever terminate or block their own
connections and their own schema.

Nothing here asserts on timing: every wait is a ``wait_until`` with a generous deadline.

Sections: 1. restarts under busy workers (fast and immediate = crash recovery); 2. restarts
while executions sleep or wait for events; 3. terminated connections (a transaction held
open by a transactional step, the listener, then a storm); 4. a lock stalling a checkpoint
past the lease; 5. how fast a worker recovers after a fault (regressions for two bugs this
suite found in the connection pool's settings).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

import psycopg
import pytest

import zart
from zart.embedded import _pid_alive, embedded_dsn, restart_embedded, stop_embedded

from . import db_app
from .conftest import wait_until

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
RESTART_ROOT = ROOT / ".zart" / "test-restart"
RESTART_DIR = RESTART_ROOT / str(os.getpid())
WORKER_LEASE = 2.0   # the subprocess workers' lease
LOCAL_LEASE = 2.0    # the in-process workers' lease

CHECKED: Counter[str] = Counter()  # what the module verified, printed at its end


@pytest.fixture(scope="module", autouse=True)
def summary() -> Iterator[None]:
    yield
    print("\n[test_database] checked: " + ", ".join(f"{k}={v}" for k, v in CHECKED.items()))


# -- database access that survives a restart ---------------------------------------------------

def query(dsn: str, text: str, *params: Any, timeout: float = 90.0) -> list[tuple[Any, ...]]:
    """Run one statement on a fresh connection, retrying while the server restarts."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as conn:
                cursor = conn.execute(text, params or None)
                return cursor.fetchall() if cursor.description else []
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def retry_db(call: Callable[[], T], timeout: float = 90.0) -> T:
    """Call a client API, retrying :class:`zart.DatabaseUnavailable`.

    Right after a restart every connection idle in the client's pool is dead, and each one
    fails its next use once; the client reports that as DatabaseUnavailable, as documented.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except zart.DatabaseUnavailable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# -- a private embedded PostgreSQL for the restart tests ---------------------------------------

@dataclass
class Restartable:
    """A zart schema on the private server, and how to restart that server."""

    data_dir: Path
    dsn: str
    schema: str
    app: zart.Zart
    restarts: int = 0

    def restart(self, mode: Literal["fast", "immediate"]) -> None:
        assert restart_embedded(self.data_dir, mode=mode) == self.dsn
        self.restarts += 1
        CHECKED[f"restarts survived ({mode})"] += 1

    def rows(self, text: str, *params: Any) -> list[tuple[Any, ...]]:
        return query(self.dsn, text.replace("{s}", f'"{self.schema}"'), *params)


_SCHEMAS = itertools.count(1)


def _remove_stale_dirs() -> None:
    """Stop and remove the servers of earlier runs whose process is gone."""
    if not RESTART_ROOT.is_dir():
        return
    for path in RESTART_ROOT.iterdir():
        if path.name.isdigit() and path != RESTART_DIR and not _pid_alive(int(path.name)):
            stop_embedded(path)
            shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def private_server() -> Iterator[str]:
    """The DSN of an embedded PostgreSQL only this test process uses (and may restart)."""
    _remove_stale_dirs()
    try:
        yield embedded_dsn(RESTART_DIR)
    finally:
        stop_embedded(RESTART_DIR)
        shutil.rmtree(RESTART_DIR, ignore_errors=True)


@pytest.fixture
def restartable(private_server: str, request: pytest.FixtureRequest) -> Iterator[Restartable]:
    """A fresh schema (with the effects and ledger tables) on the private server."""
    schema = f"r{next(_SCHEMAS)}_" + re.sub(r"\W", "_", request.node.name)[:36]
    query(private_server, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
    app = retry_db(lambda: zart.Zart(private_server, schema=schema))
    target = Restartable(RESTART_DIR, private_server, schema, app)
    target.rows("CREATE TABLE {s}.effects (execution_id text NOT NULL, step text NOT NULL)")
    target.rows("CREATE TABLE {s}.ledger (execution_id text NOT NULL, amount int NOT NULL)")
    try:
        yield target
    finally:
        app.close()
        query(private_server, f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@dataclass
class WorkerProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def faults_logged(self) -> int:
        """How many database faults the worker logged (and retried)."""
        text = self.log.read_text(errors="replace")
        return sum(1 for line in text.splitlines()
                   if "WARNING" in line and ("unavailable" in line or "unusable" in line))


@contextmanager
def worker_processes(target: Restartable, count: int, tmp_path: Path,
                     threads: int = 4) -> Iterator[list[WorkerProcess]]:
    """``count`` worker subprocesses on ``target``; always stopped (then killed) at the end."""
    env = {**os.environ, "ZART_TEST_DSN": target.dsn, "ZART_TEST_SCHEMA": target.schema}
    workers: list[WorkerProcess] = []
    try:
        for i in range(count):
            name = f"dbw-{i}-{target.schema}"[:60]
            log = tmp_path / f"worker-{i}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-c", "from tests.faults.db_app import main; main()",
                     name, str(threads), str(WORKER_LEASE)],
                    cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
            workers.append(WorkerProcess(name, process, log))
        yield workers
    except BaseException:
        for w in workers:
            print(f"--- last lines of {w.name} ---\n{w.tail()}")
        raise
    finally:
        for w in workers:
            if w.process.poll() is None:
                w.process.send_signal(signal.SIGTERM)  # graceful: hands unfinished work back
        for w in workers:
            try:
                w.process.wait(20)
            except subprocess.TimeoutExpired:
                w.process.kill()
                w.process.wait(10)


def start(target: Restartable, workflow: zart.Workflow, data: Any, id: str) -> zart.Handle:
    return retry_db(lambda: target.app.start(workflow, data, id=id))


def listening(target: Restartable, pids: list[int]) -> bool:
    """Whether every process (by pid) has its listener connection on the (restarted) server."""
    names = [f"zart-listener-{pid}" for pid in pids]
    rows = target.rows("SELECT DISTINCT application_name FROM pg_stat_activity "
                       "WHERE query LIKE 'LISTEN%%' AND application_name = ANY(%s)", names)
    return {r[0] for r in rows} == set(names)


def history_of(rows: Callable[..., list[tuple[Any, ...]]]) -> dict[str, list[tuple[Any, ...]]]:
    """Every execution's recorded commands in order: (kind, name, status, ok, value)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    for eid, kind, name, status, ok, value in rows(
            "SELECT execution_id, kind, name, status, ok, value::text FROM {s}.steps "
            "ORDER BY execution_id, seq"):
        out.setdefault(eid, []).append((kind, name, status, ok,
                                        None if value is None else json.loads(value)))
    return out


def effect_runs(target: Restartable) -> Counter[tuple[str, str]]:
    return Counter({(e, s): int(n) for e, s, n in target.rows(
        "SELECT execution_id, step, count(*) FROM {s}.effects GROUP BY 1, 2")})


def verify_chains(target: Restartable, count: int) -> dict[str, int]:
    """Every db-chain execution completed with its result, one checkpoint per step holding
    the value the workflow received, and the transactional step's write exactly once."""
    statuses = dict(target.rows("SELECT status, count(*) FROM {s}.executions GROUP BY 1"))
    assert statuses == {"completed": count}, statuses  # not one failed
    results = dict(target.rows("SELECT id, result::text FROM {s}.executions"))
    history = history_of(target.rows)
    ledger = {e: (int(n), int(total)) for e, n, total in target.rows(
        "SELECT execution_id, count(*), sum(amount) FROM {s}.ledger GROUP BY 1")}
    runs = effect_runs(target)
    for n in range(count):
        eid = f"chain-{n}"
        expected = db_app.chain_result(n)
        assert json.loads(results[eid]) == expected, eid
        values = [expected["a"], expected["b"], expected["entry"], expected["done"]]
        assert history[eid] == [("step", name, "done", True, value)
                                for name, value in zip(db_app.CHAIN_STEPS, values,
                                                       strict=True)], eid
        assert ledger.get(eid) == (1, expected["b"]), (eid, ledger.get(eid))
        for step in ("add", "double", "ledger", "finish"):
            assert runs[(eid, step)] >= 1, (eid, step)
    [(lost_total, lost_max)] = target.rows(
        "SELECT coalesce(sum(lost_leases), 0), coalesce(max(lost_leases), 0) "
        "FROM {s}.executions")
    CHECKED["executions checked"] += count
    CHECKED["checkpoints checked"] += count * len(db_app.CHAIN_STEPS)
    return {"step re-runs": sum(runs.values()) - count * len(db_app.CHAIN_STEPS),
            "lost leases (total)": int(lost_total), "lost leases (max)": int(lost_max)}


# -- 1. a restart while the workers are busy ---------------------------------------------------

@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_busy_workers_survive_database_restarts_and_every_execution_completes(
        restartable: Restartable, tmp_path: Path, mode: Literal["fast", "immediate"]) -> None:
    """Two worker processes (4 threads each, lease 2 s) run 40 executions of a four-step
    workflow (two slow steps, one transactional); the server is restarted twice while
    executions are in flight, with ``pg_ctl stop -m fast`` (clients disconnected, clean
    shutdown) or ``-m immediate`` (a crash: the next start runs recovery).

    Shows: the workers stay up and reconnect (claims, heartbeats, listeners); no execution is
    marked failed; every one completes with the right result; each step has exactly one
    checkpoint, holding the value the workflow received; the transactional step's write exists
    exactly once although restarts rolled some of its runs back; steps interrupted by a
    restart (at least once).

    The worker processes carry db_app's pool workaround (see
    test_a_worker_that_asked_for_a_connection_while_the_server_was_down_gets_one_once_it_is_back);
    without it this passes too, ~30 s slower whenever a restart strands a pool request.
    """
    target = restartable
    count = 40
    for n in range(count):
        start(target, db_app.chain, {"n": n}, f"chain-{n}")
    total = count * len(db_app.CHAIN_STEPS)

    def progress() -> tuple[int, int]:
        [(done, running)] = target.rows(
            "SELECT (SELECT count(*) FROM {s}.steps WHERE status = 'done'), "
            "(SELECT count(*) FROM {s}.executions WHERE status = 'running')")
        return int(done), int(running)

    in_flight = []
    with worker_processes(target, 2, tmp_path) as workers:
        for fraction in (0.2, 0.55):
            def mid_run(goal: int = int(total * fraction)) -> tuple[int, int] | None:
                done, running = progress()
                return (done, running) if done >= goal and running > 0 else None

            done, running = wait_until(mid_run, timeout=120, interval=0.05,
                                       what=f"{fraction:.0%} of the checkpoints, work in flight")
            target.restart(mode)
            in_flight.append(running)
            def moved_on(before: int = done) -> bool:
                return progress()[0] > before

            wait_until(moved_on, timeout=120, interval=0.1,
                       what="checkpoints after the restart (workers reconnected)")
        wait_until(lambda: target.rows("SELECT count(*) FROM {s}.executions WHERE status IN "
                                       "('completed', 'failed', 'cancelled')")[0][0] == count,
                   timeout=180, interval=0.2, what="every execution to finish")
        wait_until(lambda: listening(target, [w.process.pid for w in workers]), timeout=60,
                   interval=0.2,
                   what="both workers' listeners to reconnect")
        assert [w.process.poll() for w in workers] == [None, None]  # no worker died
        faults = [w.faults_logged() for w in workers]
    stats = verify_chains(target, count)
    print(f"\n[{mode}] {target.restarts} restarts survived with {in_flight} executions running "
          f"at each; {count} executions and {total} checkpoints checked; {stats}; "
          f"database faults retried by the workers (log lines): {faults}")


# -- 2. a restart while executions wait on the clock or an event --------------------------------

def test_sleeping_and_waiting_executions_survive_restarts_then_wake(
        restartable: Restartable, tmp_path: Path) -> None:
    """Twelve executions sleep for an hour on the database clock; half of them already have
    their event in the inbox. The server crashes (``immediate``), the clock is moved past the
    sleep: the buffered ones run to the end, the others now wait for their event. The server
    is restarted again (``fast``), then their events are sent and they complete.

    Shows: a suspended execution is only rows (a wake-up time, an awaited event), so restarts
    touch nothing; the inbox survives crash recovery; workers that reconnected are woken by
    the clock (polling) and by events (NOTIFY on a reconnected listener); every execution
    completes with the payload it was sent and one checkpoint per command.
    """
    target = restartable
    count = 12
    for n in range(count):
        start(target, db_app.waiter, {"n": n}, f"waiter-{n}")
    early = [n for n in range(count) if n % 2 == 0]
    late = [n for n in range(count) if n % 2 == 1]

    def statuses() -> Counter[str]:
        return Counter({f"{s}:{w or ''}": int(c) for s, w, c in target.rows(
            "SELECT status, waiting_for, count(*) FROM {s}.executions GROUP BY 1, 2")})

    def send(n: int) -> None:
        # True, or False when a retried call had in fact been delivered before it failed
        retry_db(lambda: target.app.send_event(f"waiter-{n}", "db-go", {"tag": f"go-{n}"}))

    with worker_processes(target, 2, tmp_path) as workers:
        wait_until(lambda: statuses() == Counter({"waiting:": count}), timeout=60,
                   interval=0.1, what="every execution asleep on the database clock")
        for n in early:
            send(n)
        target.restart("immediate")
        retry_db(lambda: target.app.store.shift_clock(3601))
        wait_until(lambda: statuses() == Counter({"completed:": len(early),
                                                  "waiting:db-go": len(late)}),
                   timeout=90, interval=0.1,
                   what="the buffered executions to finish, the others to wait for db-go")
        target.restart("fast")
        for n in late:
            send(n)
        wait_until(lambda: statuses() == Counter({"completed:": count}), timeout=90,
                   interval=0.1, what="every execution to complete after its event")
        assert [w.process.poll() for w in workers] == [None, None]
    results = dict(target.rows("SELECT id, result::text FROM {s}.executions"))
    history = history_of(target.rows)
    runs = effect_runs(target)
    for n in range(count):
        eid = f"waiter-{n}"
        assert json.loads(results[eid]) == db_app.waiter_result(n), eid
        assert [(kind, name) for kind, name, *_ in history[eid]] == db_app.WAITER_HISTORY
        assert all(status == "done" and ok for _, _, status, ok, _ in history[eid]), eid
        assert history[eid][3][4] == {"tag": f"go-{n}"}  # the event's payload, recorded once
        for step in ("prepare", "resume", "deliver"):
            assert runs[(eid, step)] >= 1
    CHECKED["executions checked"] += count
    CHECKED["checkpoints checked"] += count * len(db_app.WAITER_HISTORY)
    print(f"\n{target.restarts} restarts survived by {count} suspended executions "
          f"({len(early)} with a buffered event); all completed with their payloads")


# -- in-process workflows for the connection-loss and slow-database tests -----------------------

class _State:
    """What the in-process steps share with the tests."""

    def __init__(self) -> None:
        self.schema = ""
        self.lock = threading.Lock()
        self.runs: Counter[tuple[str, str]] = Counter()
        self.txn_pids: dict[str, list[int]] = {}
        self.gate = threading.Event()

    def reset(self, schema: str) -> None:
        self.schema = schema
        with self.lock:
            self.runs.clear()
            self.txn_pids.clear()
        self.gate.clear()

    def run(self, step: str) -> int:
        eid = zart.context().execution_id
        with self.lock:
            self.runs[(eid, step)] += 1
            return self.runs[(eid, step)]


STATE = _State()


@zart.step("dbc-open")
def dbc_open(n: int) -> int:
    STATE.run("open")
    return n + 100


@zart.step("dbc-book", transactional=True)
def dbc_book(x: int, gate: bool, hold: float) -> int:
    """Writes the ledger in the checkpoint's transaction; the first run of a gated execution
    then keeps that transaction open until the test opens the gate."""
    ctx = zart.context()
    assert ctx.connection is not None
    ctx.connection.execute(f'INSERT INTO "{STATE.schema}".ledger (execution_id, amount) '
                           f"VALUES (%s, %s)", (ctx.execution_id, x))
    row = ctx.connection.execute("SELECT pg_backend_pid()").fetchone()
    assert row is not None
    with STATE.lock:
        STATE.txn_pids.setdefault(ctx.execution_id, []).append(int(row[0]))
    if STATE.run("book") == 1 and gate:
        STATE.gate.wait(60)
    time.sleep(hold)
    return x * 3


@zart.step("dbc-close")
def dbc_close(y: int, slow: float) -> str:
    STATE.run("close")
    time.sleep(slow)
    return f"closed-{y}"


@zart.workflow("dbc-flow")
def dbc_flow(data: Any) -> Any:
    x = yield dbc_open(data["n"])
    y = yield dbc_book(x, data.get("gate", False), data.get("hold", 0.0))
    z = yield dbc_close(y, data.get("slow", 0.0))
    return {"x": x, "y": y, "z": z}


FLOW_STEPS = ["dbc-open", "dbc-book", "dbc-close"]


def flow_result(n: int) -> dict[str, Any]:
    x = n + 100
    return {"x": x, "y": x * 3, "z": f"closed-{x * 3}"}


@pytest.fixture
def local(app: zart.Zart, sql: Any, schema: str) -> Iterator[None]:
    """The module's schema on the suite's database, with an empty ledger."""
    sql(f'CREATE TABLE IF NOT EXISTS "{schema}".ledger (execution_id text, amount int)')
    sql(f'TRUNCATE "{schema}".ledger')
    STATE.reset(schema)
    yield
    STATE.gate.set()  # never leave a step blocked


def verify_flow(sql: Any, schema: str, handle: zart.Handle, n: int) -> None:
    """Completed with its result; one checkpoint per step with the value received; the
    transactional write exactly once."""
    expected = flow_result(n)
    assert handle.result(timeout=90) == expected
    rows = sql(f'SELECT kind, name, status, ok, value::text FROM "{schema}".steps '
               f"WHERE execution_id = %s ORDER BY seq", handle.id)
    assert [(k, name, st, ok, json.loads(v)) for k, name, st, ok, v in rows] == [
        ("step", name, "done", True, value) for name, value in
        zip(FLOW_STEPS, [expected["x"], expected["y"], expected["z"]], strict=True)]
    assert sql(f'SELECT count(*), sum(amount) FROM "{schema}".ledger WHERE execution_id = %s',
               handle.id) == [(1, expected["x"])]
    assert STATE.runs[(handle.id, "open")] >= 1 and STATE.runs[(handle.id, "close")] >= 1
    CHECKED["executions checked"] += 1
    CHECKED["checkpoints checked"] += len(FLOW_STEPS)


LISTENER = f"zart-listener-{os.getpid()}"  # this process's one LISTEN connection


def listener_pids(sql: Any) -> set[int]:
    return {r[0] for r in sql("SELECT pid FROM pg_stat_activity WHERE application_name = %s "
                              "AND query LIKE 'LISTEN%%'", LISTENER)}


def terminate_backends(sql: Any, name: str) -> set[int]:
    """Terminate every connection of the worker ``name`` and this process's listener; the pids
    terminated."""
    return {pid for pid, ok in sql("SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
                                   "WHERE application_name IN (%s, %s)", name, LISTENER) if ok}


# -- 3. connection loss ------------------------------------------------------------------------

def test_a_transaction_and_a_listener_killed_mid_step_are_retried_and_write_once(
        app: zart.Zart, sql: Any, schema: str, local: None) -> None:
    """A transactional step has written the ledger and holds its transaction open when every
    connection of its worker is terminated with ``pg_terminate_backend``: the step's own
    transaction, the idle pooled ones and the LISTEN connection.

    Shows: the write was never visible and is rolled back with the connection; the step's
    late return meets a dead connection, which is an infrastructure fault: the execution is
    handed back (not failed) and the step runs again, so the ledger row exists exactly once,
    committed with the one checkpoint; the step before it is not run again; the listener
    reconnects, and with a 300 s poll interval a new execution is still picked up, so the
    wake-up came through the new LISTEN connection.
    """
    with app.worker(threads=2, lease=LOCAL_LEASE, poll_interval=300) as w:
        listener = wait_until(lambda: listener_pids(sql), what="the worker's LISTEN")
        handle = app.start(dbc_flow, {"n": 1, "gate": True})
        [pid] = wait_until(lambda: STATE.txn_pids.get(handle.id),
                           what="the transactional step to run")
        wait_until(lambda: sql("SELECT state FROM pg_stat_activity WHERE pid = %s", pid)
                   == [("idle in transaction",)], what="the step's transaction to be open")
        ledger = f'SELECT count(*) FROM "{schema}".ledger WHERE execution_id = %s'
        assert sql(ledger, handle.id) == [(0,)]  # written, not committed
        killed = terminate_backends(sql, w.name)
        assert pid in killed and listener <= killed
        wait_until(lambda: listener_pids(sql) - killed, timeout=30,
                   what="the listener to reconnect")
        STATE.gate.set()  # the step returns into a dead transaction
        verify_flow(sql, schema, handle, 1)
        assert STATE.runs[(handle.id, "open")] == 1  # checkpointed before: replayed, not re-run
        assert STATE.runs[(handle.id, "book")] == 2  # the rolled-back run, and the recorded one
        assert STATE.txn_pids[handle.id][0] == pid and STATE.txn_pids[handle.id][1] not in killed
        assert app.handle(handle.id).status() == "completed"
        # Let the dispatcher finish the round the completion triggered; from then on only a
        # NOTIFY (or the 300 s poll) wakes it. If the round is slow, the next start is simply
        # claimed by it: this can pass without the listener, never fail because of timing.
        wait_until(lambda: w.busy == 0, what="the worker to be idle")
        time.sleep(0.5)
        second = app.start(dbc_flow, {"n": 2})
        verify_flow(sql, schema, second, 2)
    CHECKED["connections terminated"] += len(killed)
    print(f"\nterminated {len(killed)} connections of the worker (transaction pid {pid}, "
          f"listener {sorted(listener)}); the step ran twice, its write and checkpoint exist "
          f"once; the reconnected listener woke the worker")


def test_repeatedly_terminated_connections_never_fail_an_execution(
        app: zart.Zart, sql: Any, schema: str, local: None) -> None:
    """While 24 executions run (a transactional step holding its transaction open for a
    moment, a slow step), round after round the worker's busy connections are terminated:
    each round waits until one of them is inside a step's open transaction, then terminates
    every connection of the worker that is in a transaction or running a statement (claims,
    checkpoints, heartbeats included).

    Shows: invariant 10 under a storm of connection losses: none fails, all complete with
    their results, one checkpoint per step, each ledger write exactly once although the
    rounds rolled transactional runs back (and those steps ran again).

    Idle pooled connections and the listener are spared here: killing those is the previous
    test, and doing it repeatedly runs into the dead-pooled-connection stall pinned by
    test_one_loss_of_every_connection_costs_an_idle_worker_at_most_one_failed_round.
    """
    count = 24
    final = "('completed', 'failed', 'cancelled')"
    with app.worker(threads=4, lease=LOCAL_LEASE, poll_interval=0.5) as w:
        handles = [app.start(dbc_flow, {"n": 200 + i, "hold": 0.2, "slow": 0.05})
                   for i in range(count)]
        ids = [h.id for h in handles]

        def finished() -> bool:
            return bool(sql(f'SELECT count(*) FROM "{schema}".executions WHERE id = ANY(%s) '
                            f"AND status IN {final}", ids)[0][0] == count)

        def in_transaction() -> bool:
            return bool(sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                            "AND state = 'idle in transaction'", w.name)[0][0])

        rounds = terminated = in_transactions = 0
        while rounds < 6:
            wait_until(lambda: in_transaction() or finished(), timeout=60,
                       what="a step's transaction to be open")
            if finished():
                break
            killed = [state for state, ok in sql(
                "SELECT state, pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = %s AND state IN ('active', 'idle in transaction')",
                w.name) if ok]
            terminated += len(killed)
            if "idle in transaction" in killed:  # else the transaction ended just before
                rounds += 1
                in_transactions += killed.count("idle in transaction")
        for i, handle in enumerate(handles):
            verify_flow(sql, schema, handle, 200 + i)
    rolled_back = sum(STATE.runs[(h.id, "book")] for h in handles) - count
    # Runs of the transactional step that never committed (each committed run is the one
    # ledger row verify_flow found). Not every termination of a connection seen "idle in
    # transaction" lands before its commit (pg_stat_activity is a snapshot), hence ">= 1":
    # the targeted, deterministic version of this is the previous test.
    assert in_transactions >= 1 and rolled_back >= 1
    statuses = sql(f'SELECT status, count(*) FROM "{schema}".executions WHERE id = ANY(%s) '
                   f"GROUP BY 1", ids)
    assert statuses == [("completed", count)]
    CHECKED["connections terminated"] += terminated
    print(f"\n{rounds} rounds terminated {terminated} busy connections ({in_transactions} in "
          f"an open transaction); {count} executions completed, {rolled_back} transactional "
          f"runs rolled back and re-run, each write once")


# -- 4. a slow database: a lock stalls a checkpoint past the lease -----------------------------

def checkpoint_waits(sql: Any, name: str) -> bool:
    """Whether a checkpoint (``INSERT INTO ... steps``) of worker ``name`` waits for a lock."""
    return bool(sql("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s "
                    "AND wait_event_type = 'Lock' AND query LIKE '%%INSERT INTO%%steps%%'",
                    name)[0][0])


@pytest.mark.parametrize("lock", ["steps-table", "execution-row"])
def test_a_checkpoint_stalled_past_the_lease_by_a_lock_is_written_once(
        app: zart.Zart, sql: Any, dsn: str, schema: str, local: None, lock: str) -> None:
    """Worker A (one thread) is inside the transactional step of execution X; worker B (two
    threads) is idle. A test transaction takes a lock, the step returns, and A's checkpoint
    (``INSERT ... steps`` whose fence takes ``FOR NO KEY UPDATE`` on X's row) waits for it
    past the lease. Execution Y is started meanwhile (B runs it: A's only thread is busy).
    The lock is released; both end with correct results.

    ``steps-table`` (``LOCK TABLE steps IN EXCLUSIVE MODE``): the checkpoint waits for its
    table lock before it touches X's row, so A's heartbeat keeps renewing X's lease while the
    checkpoint stalls past it: a slow database is not a lost lease. (B's claim round waits for
    the table too, as it also claims parallel children ``FOR UPDATE OF steps``: Y runs after
    the release.)

    ``execution-row`` (``SELECT ... FOR UPDATE`` on X's row): A's checkpoint and A's heartbeat
    both wait for the row, so X's lease expires on the database clock. B is idle and polling,
    yet cannot take X over while it is locked (the claim uses ``SKIP LOCKED``), and runs Y to
    the end meanwhile. On release, either A gets the row first and its checkpoint commits
    (nobody took X over, so the fence still finds A's token; A's heartbeat, queued on the row
    too, renews a lease its token owns even when it has expired, and the fence compares the
    lease with the clock at the start of the step's transaction), or a takeover changes the
    token first and A's late write is refused.

    Either way what must hold holds: X and Y complete with their results, one checkpoint per
    step holding the value received, the transactional ledger write exactly once (a fenced-out
    run rolls it back), the step before the stall not run again, nothing failed.
    """
    locker = psycopg.connect(dsn)  # its own transaction, held open while the lock matters
    a = app.worker(threads=1, lease=LOCAL_LEASE, poll_interval=0.2)
    b = app.worker(threads=2, lease=LOCAL_LEASE, poll_interval=0.2)
    try:
        a.start()
        x = app.start(dbc_flow, {"n": 7, "gate": True})
        wait_until(lambda: STATE.txn_pids.get(x.id), what="A inside X's transactional step")
        [(owner,)] = sql(f'SELECT owner FROM "{schema}".executions WHERE id = %s', x.id)
        b.start()
        if lock == "steps-table":
            locker.execute(f'LOCK TABLE "{schema}".steps IN EXCLUSIVE MODE')
        else:
            locker.execute(f'SELECT 1 FROM "{schema}".executions WHERE id = %s FOR UPDATE',
                           (x.id,))
        y = app.start(dbc_flow, {"n": 8})
        if lock == "execution-row":
            assert y.result(timeout=60) == flow_result(8)  # B worked on while X is locked
        STATE.gate.set()  # X's step returns; A's checkpoint now waits for the lock
        wait_until(lambda: checkpoint_waits(sql, a.name),
                   what="A's checkpoint of X to wait for the lock")
        lease_row = (f'SELECT lease_until, lease_until < "{schema}".clock_now(), owner, '
                     f'lost_leases, status FROM "{schema}".executions WHERE id = %s')
        if lock == "steps-table":
            stalled_at = sql(lease_row, x.id)[0][0]
            wait_until(lambda: sql(lease_row, x.id)[0][0]
                       > stalled_at + timedelta(seconds=1.5 * LOCAL_LEASE), timeout=60,
                       what="the stall to outlast the lease while the heartbeat renews it")
            assert checkpoint_waits(sql, a.name)  # still stalled, past the original lease
        else:
            wait_until(lambda: sql(lease_row, x.id)[0][1], timeout=60,
                       what="X's lease to expire on the database clock")
            # Expired, B idle and polling, and still A's: a locked row is skipped by claims.
            assert sql(lease_row, x.id)[0][2:] == (owner, 0, "running")
        locker.rollback()  # release
        verify_flow(sql, schema, x, 7)
        verify_flow(sql, schema, y, 8)
        assert STATE.runs[(x.id, "open")] == 1  # checkpointed before the stall: never re-run
        [(final_owner_lost,)] = sql(f'SELECT lost_leases FROM "{schema}".executions '
                                    f"WHERE id = %s", x.id)
    finally:
        locker.close()
        STATE.gate.set()
        a.stop(timeout=15)
        b.stop(timeout=15)
    book_runs = STATE.runs[(x.id, "book")]
    [(y_lost,)] = sql(f'SELECT lost_leases FROM "{schema}".executions WHERE id = %s', y.id)
    outcome = ("A's stalled checkpoint committed (no takeover)" if book_runs == 1 else
               f"X was taken over ({final_owner_lost} lost lease(s)); A's late write refused, "
               f"the step ran {book_runs} times")
    CHECKED["stalled checkpoints checked"] += 1
    print(f"\n[{lock}] {outcome}; Y: {y_lost} lost lease(s), its transactional step ran "
          f"{STATE.runs[(y.id, 'book')]} time(s); X and Y correct, one checkpoint per step, "
          f"ledger once")


# -- 5. recovering promptly after a fault -------------------------------------------------------
# Regressions for two bugs this suite found: the pool gave up reconnecting at once
# (reconnect_timeout=0: a thread that asked for a connection during a sub-second restart
# waited out the whole 30 s pool timeout), and dead idle connections were handed out one
# failed claim round at a time (each doubling the dispatcher's backoff).


def zart_warnings(caplog: pytest.LogCaptureFixture, worker: zart.Worker) -> list[str]:
    """The database faults ``worker`` logged outside its listener (which has its own
    connection), as 'thread: message'."""
    return [f"{r.threadName}: {r.getMessage()[:100]}" for r in caplog.records
            if r.name == "zart" and r.levelno >= logging.WARNING
            and r.threadName.startswith(worker.name) and not r.threadName.endswith("listener")
            and ("unavailable" in r.getMessage() or "unusable" in r.getMessage())]


def test_a_worker_that_asked_for_a_connection_while_the_server_was_down_gets_one_once_it_is_back(
        restartable: Restartable, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """An idle worker (as shipped, no workaround) on the private server; the server is
    stopped until the worker's dispatcher waits in its pool for a connection, then started
    again, and an execution is started.

    Must hold: the waiting thread gets a connection once the server is back and the execution
    completes, without anyone waiting out the pool's timeout (no PoolTimeout). The test gives
    up early, instead of waiting those 30 s, when the pool shows the stranded state: a request
    waiting while the pool holds no connection and is not opening one (``pool_size`` 0).
    """
    target = restartable
    monkeypatch.setenv("ZART_TEST_DSN", target.dsn)
    monkeypatch.setenv("ZART_TEST_SCHEMA", target.schema)
    caplog.set_level(logging.WARNING, logger="zart")
    worker = zart.Worker(target.dsn, target.schema, threads=2, lease=WORKER_LEASE,
                         poll_interval=0.5, workflows=["db-chain"])
    worker.start()
    state = None
    try:
        wait_until(lambda: listening(target, [os.getpid()]), what="the worker to listen")
        stop_embedded(target.data_dir)
        try:
            wait_until(lambda: worker.store.pool.get_stats().get("requests_waiting", 0) >= 1,
                       timeout=30, interval=0.02,
                       what="the dispatcher to wait for a connection while the server is down")
        finally:
            assert embedded_dsn(target.data_dir) == target.dsn
        CHECKED["restarts survived (stop, start)"] += 1
        handle = start(target, db_app.chain, {"n": 0}, "chain-0")

        def outcome() -> str | None:
            [(status,)] = target.rows("SELECT status FROM {s}.executions WHERE id = %s",
                                      handle.id)
            if status in ("completed", "failed"):
                return str(status)
            stats = worker.store.pool.get_stats()
            if stats.get("requests_waiting", 0) and not stats.get("pool_size", 0):
                return f"stranded with the server up: pool stats {stats}"
            return None

        state = wait_until(outcome, timeout=90, interval=0.05,
                           what="the execution to complete")
        assert state == "completed", state
        assert not [w for w in zart_warnings(caplog, worker) if "PoolTimeout" in w]
    finally:
        if state != "completed":
            worker.store.pool.check()  # unstrand the dispatcher, so that stop() is quick
        worker.stop(timeout=15)
    verify_chains(target, 1)


def test_one_loss_of_every_connection_costs_an_idle_worker_at_most_one_failed_round(
        app: zart.Zart, sql: Any, schema: str, local: None,
        caplog: pytest.LogCaptureFixture) -> None:
    """A worker whose pool holds several connections (four executions were inside their
    transactional step at once) goes idle; every connection of it is terminated once; then
    an execution is started.

    Must hold: it completes (it does), and the one loss costs the worker at most one failed
    attempt outside its listener, not one per dead pooled connection.
    """
    with app.worker(threads=4, lease=LOCAL_LEASE, poll_interval=0.5) as w:
        warm = [app.start(dbc_flow, {"n": 300 + i, "gate": True}) for i in range(4)]
        wait_until(lambda: all(STATE.txn_pids.get(h.id) for h in warm),
                   what="four transactional steps open at once")
        STATE.gate.set()
        for i, h in enumerate(warm):
            verify_flow(sql, schema, h, 300 + i)
        wait_until(lambda: w.busy == 0, what="the worker to be idle")
        pooled = w.store.pool.get_stats().get("pool_available", 0)
        assert pooled >= 3  # several dead connections to hand out (the dispatcher may hold one)
        caplog.set_level(logging.WARNING, logger="zart")
        caplog.clear()
        killed = terminate_backends(sql, w.name)
        handle = app.start(dbc_flow, {"n": 310})
        verify_flow(sql, schema, handle, 310)
        failures = zart_warnings(caplog, w)
    CHECKED["connections terminated"] += len(killed)
    print(f"\n{len(killed)} connections terminated ({pooled} idle in the pool): "
          f"{len(failures)} failed attempts before the worker worked again")
    assert len(failures) <= 1, failures


def test_work_a_worker_could_not_hand_back_during_a_long_outage_is_returned_once_it_is_back(
        restartable: Restartable, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker (lease 60 s) is inside a transactional step when the server stops; the step
    finishes, its commit fails, and the hand-back fails too, because the outage outlasts the
    pool's timeout (1 s here instead of 30 s, so that the test is quick). The server starts
    again.

    Must hold: the worker returns the execution as soon as the server answers, so it completes
    long before its 60 s lease would have run out, no lease is counted lost, and the ledger
    write of the rolled-back attempt is not there twice.
    """
    target = restartable
    STATE.reset(target.schema)
    worker = zart.Worker(target.dsn, target.schema, threads=2, lease=60, poll_interval=0.5,
                         workflows=["dbc-flow"])
    monkeypatch.setattr(worker.store.pool, "timeout", 1.0)
    worker.start()
    try:
        handle = retry_db(lambda: target.app.start(dbc_flow, {"n": 7, "gate": True}))
        wait_until(lambda: STATE.txn_pids.get(handle.id), what="the transactional step open")
        stop_embedded(target.data_dir)
        try:
            STATE.gate.set()  # the step returns; its commit and then its hand-back fail
            wait_until(lambda: worker.holdings.unreturned, timeout=30,
                       what="the hand-back to fail while the server is down")
        finally:
            assert embedded_dsn(target.data_dir) == target.dsn
        CHECKED["restarts survived (stop, start)"] += 1
        back = time.monotonic()

        def finished() -> tuple[str, int] | None:
            [(status, lost)] = target.rows(
                "SELECT status, lost_leases FROM {s}.executions WHERE id = %s", handle.id)
            return (str(status), int(lost)) if status in ("completed", "failed") else None

        # Without the return, the execution would wait out its 60 s lease.
        assert wait_until(finished, timeout=40, interval=0.1,
                          what="the execution to complete") == ("completed", 0)
        assert time.monotonic() - back < 40
        assert worker.holdings.unreturned == []
    finally:
        STATE.gate.set()
        worker.stop(timeout=15)
    assert retry_db(lambda: handle.result(timeout=10)) == flow_result(7)
    assert target.rows("SELECT count(*), sum(amount) FROM {s}.ledger WHERE execution_id = %s",
                       handle.id) == [(1, 107)]
    assert STATE.runs[(handle.id, "book")] == 2  # the rolled-back attempt ran again
    CHECKED["executions checked"] += 1
