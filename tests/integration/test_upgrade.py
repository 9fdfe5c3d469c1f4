"""Upgrading a live database: executions left open by the released zart v1 (git ``01baf79``)
in every state complete under the current code, with the right results, and no step that v1
completed runs again.

The released package is taken from git history (``git archive``, never the working tree) and
runs only in subprocesses whose ``zart`` is that copy. They create the schema at version 1,
run the workflows of :mod:`tests.integration.upgrade_v1_app` (imported under the same module
path by both versions) and leave one execution in each state:

- ``completed`` and ``failed``: finished under v1; must stay exactly as they are;
- ``sleeping``: two steps done, then a one-hour ``zart.sleep``;
- ``event-before``: waiting on an event that v1's client delivered (buffered, not consumed);
- ``event-after``: waiting on an event the current code's client sends after the upgrade;
- ``deadline``: waiting on an event with a one-hour timeout, which runs out after the upgrade;
- ``retrying``: waiting for the retry, 30 minutes later, of a step whose first attempt failed;
- ``killed``: running under the live lease of a worker SIGKILLed in its second step (the
  first one checkpointed); the lease is still valid at the upgrade;
- ``fanout``: waiting on four parallel children: two done, one running under the killed
  worker's live lease, one waiting for the retry of its failed first attempt; v1 stored their
  function as ``module:qualname``;
- ``pending``: started by v1's client, never claimed.

The current code then upgrades the schema (``zart.Zart``), and a current worker, with the
database clock moved to expire the dead worker's lease and then to make the sleep and the
retries due, finishes everything. Evidence, not trust: every step writes each real run to a
ledger table (with the directory of the zart package that ran it), so the test counts runs
independently of the engine's own checkpoints.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

import zart
from zart.store import SCHEMA_VERSION

from . import upgrade_v1_app
from .conftest import drop_schema, wait_until

ROOT = Path(__file__).resolve().parents[2]
V1_COMMIT = "01baf79"
APP_MODULE = "tests.integration.upgrade_v1_app"

# The killed worker's lease. Long, so that it cannot run out by itself while the test works
# (a slow machine): the takeover must happen because the test moved the database clock past
# it (TAKEOVER_SHIFT), after the upgrade, not by accident before it.
V1_LEASE = 120.0
TAKEOVER_SHIFT = 2.5 * V1_LEASE
# Past the one-hour sleep and event timeout and the 30-minute retry delays (all counted from
# v1's run).
WAKE_SHIFT = 2 * 3600.0

P = "upgrade-v1"
WORKFLOWS = {  # execution id -> (workflow, input)
    "completed": (f"{P}-linear", {"n": 2}),
    "failed": (f"{P}-failing", {"n": 3}),
    "sleeping": (f"{P}-sleeper", {"n": 4}),
    "event-before": (f"{P}-event", {"n": 5}),
    "event-after": (f"{P}-event", {"n": 6}),
    "killed": (f"{P}-killed", {"n": 7}),
    "fanout": (f"{P}-fanout", {"n": 8}),
    "retrying": (f"{P}-retrying", {"n": 9}),
    "deadline": (f"{P}-deadline", {"n": 10}),
    "pending": (f"{P}-linear", {"n": 1}),  # started by v1 only after its worker is dead
}
EVENTS = {"event-before": {"add": 5}, "event-after": {"add": 7}}
FINISHED_UNDER_V1 = ("completed", "failed")
OPEN_AT_UPGRADE = tuple(id for id in WORKFLOWS if id not in FINISHED_UNDER_V1)


def n(id: str) -> int:
    """The execution's input number."""
    return int(WORKFLOWS[id][1]["n"])


def expected_result(id: str) -> dict[str, Any]:
    """The result each workflow must return, worked out here from its input alone."""
    workflow, value = WORKFLOWS[id][0], n(id)
    if workflow.endswith("-linear"):
        return {"n": value, "value": value + 1 + 10}
    if workflow.endswith("-sleeper"):
        return {"n": value, "value": value + 1 + 10 + 100}
    if workflow.endswith("-retrying"):
        return {"n": value, "value": value + 1 + 10}
    if workflow.endswith("-deadline"):
        return {"n": value, "value": value + 1 + 1000, "timed_out": True}
    if workflow.endswith("-event"):
        return {"n": value, "value": value + 1 + EVENTS[id]["add"], "payload": EVENTS[id]}
    if workflow.endswith("-killed"):
        return {"n": value, "value": (value + 1) * 2 + 100}
    assert workflow.endswith("-fanout")
    children = [value + 1 + k for k in (1, 2, 3, 4)]
    return {"n": value, "value": sum(children) + 1000, "children": children}


# Every real run of every step: (execution, step label, engine) -> runs. A step v1 completed
# appears once under "v1" and never under "current"; an interrupted one (v1 ran it, nothing
# was checkpointed) once under each; the pending execution's only under "current".
EXPECTED_RUNS = Counter({
    ("completed", "a", "v1"): 1, ("completed", "b", "v1"): 1,
    ("failed", "a", "v1"): 1, ("failed", "boom", "v1"): 1,
    ("sleeping", "a", "v1"): 1, ("sleeping", "b", "v1"): 1, ("sleeping", "c", "current"): 1,
    ("event-before", "a", "v1"): 1, ("event-before", "c", "current"): 1,
    ("event-after", "a", "v1"): 1, ("event-after", "c", "current"): 1,
    ("killed", "a", "v1"): 1, ("killed", "b", "v1"): 1, ("killed", "b", "current"): 1,
    ("killed", "c", "current"): 1,
    ("fanout", "a", "v1"): 1, ("fanout", "c0", "v1"): 1, ("fanout", "c1", "v1"): 1,
    ("fanout", "c2", "v1"): 1, ("fanout", "c2", "current"): 1,  # in flight at the kill
    ("fanout", "c3", "v1"): 1, ("fanout", "c3", "current"): 1,  # failed, then retried
    ("fanout", "d", "current"): 1,
    ("retrying", "a", "v1"): 1, ("retrying", "b", "v1"): 1,  # failed, then retried
    ("retrying", "b", "current"): 1,
    ("deadline", "a", "v1"): 1, ("deadline", "c", "current"): 1,
    ("pending", "a", "current"): 1, ("pending", "b", "current"): 1,
})


def _step(label: str, kind: str = "bump") -> tuple[str, str]:
    return ("step", f"{P}-{kind}-{label}")


# The checkpoints each execution must end with: exactly one 'done' row per command.
CHILDREN = [_step("c0", "child"), _step("c1", "child"), _step("c2", "child-stall"),
            _step("c3", "child-flaky")]
EXPECTED_CHECKPOINTS = {
    "completed": [_step("a"), _step("b")],
    "failed": [_step("a"), _step("boom", "explode")],
    "sleeping": [_step("a"), _step("b"), ("sleep", "nap"), _step("c")],
    "event-before": [_step("a"), ("event", "go"), _step("c")],
    "event-after": [_step("a"), ("event", "go"), _step("c")],
    "killed": [_step("a"), _step("b", "stall"), _step("c")],
    "fanout": [_step("a"), *CHILDREN, _step("d")],
    "retrying": [_step("a"), _step("b", "flaky")],
    "deadline": [_step("a"), ("event", "go"), _step("c")],
    "pending": [_step("a"), _step("b")],
}


# -- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture(scope="module")
def v1_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory holding the released ``zart`` package (and the ``schema.sql`` its
    ``zart/schema.sql`` symlink points to), plus a copy of the shared workflow module under
    its own module path, so that the v1 subprocesses never need the repository on their
    path."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the released v1 code comes from git history")
    found = subprocess.run(["git", "-C", str(ROOT), "cat-file", "-e", f"{V1_COMMIT}^{{commit}}"],
                           capture_output=True)
    if found.returncode != 0:
        pytest.skip(f"commit {V1_COMMIT} (the released v1) is not in this checkout's history "
                    f"(a shallow clone, or not a git checkout); CI runs on a full clone")
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", V1_COMMIT,
                              "zart", "schema.sql"], capture_output=True, check=True)
    root = tmp_path_factory.mktemp("zart-v1")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(root, filter="data")
    package = root / "tests" / "integration"
    package.mkdir(parents=True)
    (root / "tests" / "__init__.py").touch()
    (package / "__init__.py").touch()
    shutil.copy(upgrade_v1_app.__file__, package / "upgrade_v1_app.py")
    return root


@pytest.fixture
def ledger(dsn: str, schema: str) -> Iterator[str]:
    """The schema-qualified ledger table (in a schema of its own, dropped at the end)."""
    name = f"{schema}_ledger"
    drop_schema(dsn, name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
        conn.execute(upgrade_v1_app.ledger_ddl(f'"{name}".runs'))
    yield f'"{name}".runs'
    drop_schema(dsn, name)


@pytest.fixture
def db(dsn: str) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    """An autocommit connection returning rows as dicts, for the test's own reads."""
    with psycopg.connect(dsn, autocommit=True, row_factory=dict_row) as conn:
        yield conn


class V1:
    """Runs zart v1 in subprocesses (see ``upgrade_v1_app.main``); kills them at the end."""

    def __init__(self, root: Path, dsn: str, schema: str, ledger: str, logs: Path) -> None:
        self.root = root
        self.logs = logs
        # PYTHONPATH is the v1 copy alone and the working directory is that copy, so the
        # current package (in the repository, or installed into the venv) cannot be imported
        # ahead of it; upgrade_v1_app.main also refuses to run any other zart.
        self.env = {**os.environ, "PYTHONPATH": str(root), "ZART_UPGRADE_V1_ROOT": str(root),
                    "ZART_UPGRADE_DSN": dsn, "ZART_UPGRADE_SCHEMA": schema,
                    "ZART_UPGRADE_LEDGER": ledger}
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, plan: dict[str, Any], name: str) -> tuple[subprocess.Popen[bytes], Path]:
        out, err = self.logs / f"{name}.out", self.logs / f"{name}.err"
        with out.open("wb") as stdout, err.open("wb") as stderr:
            proc = subprocess.Popen(
                [sys.executable, "-c", f"from {APP_MODULE} import main; main()",
                 json.dumps(plan)], cwd=self.root, env=self.env, stdout=stdout, stderr=stderr)
        self.procs.append(proc)
        return proc, out

    def report(self, out: Path) -> dict[str, Any] | None:
        """What the subprocess printed once its executions were started and events sent."""
        text = out.read_text()
        return json.loads(text) if text.endswith("\n") else None

    def check_engine(self, report: dict[str, Any]) -> None:
        assert Path(report["zart"]).resolve() == (self.root / "zart" / "__init__.py").resolve()

    def run(self, plan: dict[str, Any], name: str) -> dict[str, Any]:
        """Run a client-only plan to its end; its report."""
        proc, out = self.spawn(plan, name)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        assert code == 0, self.stderr(name)
        report = self.report(out)
        assert report is not None, self.stderr(name)
        self.check_engine(report)
        return report

    def stderr(self, name: str) -> str:
        return f"v1 subprocess {name!r} stderr:\n" + (self.logs / f"{name}.err").read_text()

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=10)


def executions(db: psycopg.Connection[dict[str, Any]], schema: str) -> dict[str, dict[str, Any]]:
    """Every execution's row, with its lease and wake-up seen from the database's clock."""
    rows = db.execute(f"""
        SELECT e.id, e.status, e.waiting_for, e.open_children, e.owner, e.result, e.error,
               e.lease_until > s.now AS lease_live,
               extract(epoch FROM e.wake_at - s.now) AS wakes_in
        FROM "{schema}".executions e, (SELECT "{schema}".clock_now() AS now) s""").fetchall()
    return {row["id"]: row for row in rows}


def steps(db: psycopg.Connection[dict[str, Any]], schema: str,
          execution_id: str) -> dict[str, dict[str, Any]]:
    """An execution's command rows by name, with leases and wake-ups seen from its clock."""
    rows = db.execute(f"""
        SELECT t.kind, t.name, t.status, t.ok, t.value, t.attempt, t.child, t.fn, t.owner,
               t.lease_until > s.now AS lease_live,
               extract(epoch FROM t.wake_at - s.now) AS wakes_in
        FROM "{schema}".steps t, (SELECT "{schema}".clock_now() AS now) s
        WHERE t.execution_id = %s ORDER BY t.seq""", (execution_id,)).fetchall()
    return {row["name"]: row for row in rows}


def runs(db: psycopg.Connection[dict[str, Any]], ledger: str,
         v1_root: Path) -> Counter[tuple[str, str, str]]:
    """The ledger: (execution, step label, "v1" or "current") -> how many real runs."""
    engines = {os.path.realpath(v1_root / "zart"): "v1", upgrade_v1_app.engine_dir(): "current"}
    rows = db.execute(f"SELECT execution_id, label, engine FROM {ledger}").fetchall()
    return Counter((row["execution_id"], row["label"], engines.get(row["engine"], row["engine"]))
                   for row in rows)


def finished_rows(db: psycopg.Connection[dict[str, Any]], schema: str) -> list[Any]:
    """Everything v1 wrote for its finished executions, in v1's columns only."""
    ids = list(FINISHED_UNDER_V1)
    return [
        db.execute(f"""
            SELECT id, workflow, status, input::text, result::text, error::text, attempt,
                   owner, lease_until, wake_at, waiting_for, lost_leases, created_at,
                   updated_at, finished_at
            FROM "{schema}".executions WHERE id = ANY(%s) ORDER BY id""", (ids,)).fetchall(),
        db.execute(f"""
            SELECT execution_id, seq, kind, name, status, ok, value::text, error::text,
                   attempt, owner, lease_until, created_at, finished_at
            FROM "{schema}".steps WHERE execution_id = ANY(%s) ORDER BY 1, 2""",
                   (ids,)).fetchall(),
    ]


def dump(db: psycopg.Connection[dict[str, Any]], schema: str, ledger: str) -> str:
    """The engine's tables and the ledger as text, for a failure's report."""
    out = []
    for title, query in (
            ("clock", f'SELECT offset_seconds, "{schema}".clock_now() FROM "{schema}".clock'),
            ("executions", f'SELECT * FROM "{schema}".executions ORDER BY id'),
            ("steps", f'SELECT * FROM "{schema}".steps ORDER BY execution_id, seq'),
            ("events", f'SELECT * FROM "{schema}".events ORDER BY execution_id'),
            ("ledger", f"SELECT * FROM {ledger} ORDER BY at")):
        out.append(f"-- {title}")
        out.extend(str(row) for row in db.execute(query).fetchall())
    return "\n".join(out)


def shift_clock(db: psycopg.Connection[dict[str, Any]], schema: str, seconds: float) -> None:
    """Move the database clock that both v1 and the current code read (clock_now())."""
    db.execute(f'UPDATE "{schema}".clock SET offset_seconds = offset_seconds + %s', (seconds,))


# -- the test ----------------------------------------------------------------------------


def test_executions_left_open_by_v1_in_every_state_complete_after_the_upgrade(
        dsn: str, schema: str, ledger: str, v1_root: Path, tmp_path: Path,
        db: psycopg.Connection[dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    """A v1 database with open executions in every state (see the module docstring) is
    upgraded by the current code, and then every open execution completes with the result its
    input implies; the finished ones are untouched; every step v1 completed ran exactly once
    in all (the ledger); the steps v1 was running when it was killed ran once more, under the
    current code, and only once; and each command has exactly one 'done' checkpoint."""
    v1 = V1(v1_root, dsn, schema, ledger, tmp_path)
    try:
        _leave_v1_executions_open(v1, db, schema, ledger, v1_root)
        _check_v1_states(db, schema, ledger, v1_root)
        before = finished_rows(db, schema)
        _upgrade_and_finish(dsn, db, schema, ledger, v1_root, monkeypatch)
    except BaseException:
        print(dump(db, schema, ledger))  # shown by pytest with the failure
        raise
    finally:
        v1.kill_all()

    rows = executions(db, schema)
    for id in OPEN_AT_UPGRADE:
        assert (rows[id]["status"], rows[id]["result"]) == ("completed", expected_result(id)), id
    assert finished_rows(db, schema) == before
    assert runs(db, ledger, v1_root) == EXPECTED_RUNS
    for id, commands in EXPECTED_CHECKPOINTS.items():
        recorded = steps(db, schema, id)
        assert [(row["kind"], row["name"]) for row in recorded.values()
                if row["status"] == "done"] == commands, id
        # Nothing else either: no second row, no child left pending or running.
        assert len(recorded) == len(commands), (id, recorded)
    children = steps(db, schema, "fanout")
    assert steps(db, schema, "deadline")["go"]["ok"] is False  # the timeout, recorded
    a = n("fanout") + 1
    assert [(children[name]["ok"], children[name]["value"]) for _, name in CHILDREN] == [
        (True, a + k) for k in (1, 2, 3, 4)]


def _leave_v1_executions_open(v1: V1, db: psycopg.Connection[dict[str, Any]], schema: str,
                              ledger: str, v1_root: Path) -> None:
    """Run v1 until every execution is in its state, SIGKILL its worker, then (worker dead)
    start the pending execution and deliver the event-before event with v1's client."""
    started = [[id, workflow, data] for id, (workflow, data) in WORKFLOWS.items()
               if id != "pending"]
    proc, out = v1.spawn({"start": started, "worker": {"threads": 4, "lease": V1_LEASE}},
                         "v1-worker")

    def in_place() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"the v1 worker exited with {proc.returncode}\n" +
                        v1.stderr("v1-worker"))
        if v1.report(out) is None:
            return False
        rows, done = executions(db, schema), runs(db, ledger, v1_root)
        if len(rows) < len(started):
            return False
        children = steps(db, schema, "fanout")
        return (rows["completed"]["status"] == "completed"
                and rows["failed"]["status"] == "failed"
                and rows["sleeping"]["status"] == "waiting"
                and rows["event-before"]["waiting_for"] == "go"
                and rows["event-after"]["waiting_for"] == "go"
                and rows["deadline"]["waiting_for"] == "go"
                and rows["retrying"]["status"] == "waiting"
                and done["killed", "b", "v1"] == 1  # the stalling step has started
                and rows["fanout"]["open_children"] == 2
                and [children.get(f"{P}-{c}", {}).get("status") for c in
                     ("child-c0", "child-c1", "child-flaky-c3")] == ["done", "done", "pending"]
                and done["fanout", "c2", "v1"] == 1)

    wait_until(in_place, timeout=30, what="v1 to leave every execution in its state")
    report = v1.report(out)
    assert report is not None
    v1.check_engine(report)
    proc.send_signal(signal.SIGKILL)  # no graceful stop: the leases stay as they are
    proc.wait(timeout=10)

    report = v1.run({"start": [["pending", *WORKFLOWS["pending"]]],
                     "events": [["event-before", "go", EVENTS["event-before"]]]}, "v1-client")
    assert report["started"] == ["pending"] and report["delivered"] == [True]


def _check_v1_states(db: psycopg.Connection[dict[str, Any]], schema: str, ledger: str,
                     v1_root: Path) -> None:
    """Each execution's state, as v1 left it in its own tables, before any upgrade."""
    assert db.execute(f'SELECT max(version) AS v FROM "{schema}".schema_version'
                      ).fetchone() == {"v": 1}
    rows = executions(db, schema)
    assert set(rows) == set(WORKFLOWS)
    done = runs(db, ledger, v1_root)
    assert all(engine == "v1" for _, _, engine in done)

    assert rows["completed"]["result"] == expected_result("completed")
    assert rows["failed"]["status"] == "failed"
    assert rows["failed"]["error"]["message"] == f"boom at {n('failed') + 1}"

    pending = rows["pending"]
    assert (pending["status"], pending["owner"]) == ("pending", None)
    assert steps(db, schema, "pending") == {}

    killed = rows["killed"]
    assert (killed["status"], killed["lease_live"]) == ("running", True)
    assert killed["owner"] is not None
    # Its first step is checkpointed; the second started (ledger) and has no checkpoint.
    assert [(r["name"], r["status"]) for r in steps(db, schema, "killed").values()] == [
        (f"{P}-bump-a", "done")]

    sleeping = rows["sleeping"]
    # Not due after the takeover's clock shift, due after the wake-up shift.
    assert sleeping["status"] == "waiting"
    assert TAKEOVER_SHIFT < sleeping["wakes_in"] < TAKEOVER_SHIFT + WAKE_SHIFT
    assert [(r["name"], r["status"]) for r in steps(db, schema, "sleeping").values()] == [
        (f"{P}-bump-a", "done"), (f"{P}-bump-b", "done"), ("nap", "pending")]

    # event-before: the event is in the inbox and v1's client woke the execution, but no
    # worker has consumed it; event-after waits with an empty inbox.
    inbox = {row["execution_id"]: row["payload"] for row in db.execute(
        f'SELECT execution_id, payload FROM "{schema}".events').fetchall()}
    assert inbox == {"event-before": EVENTS["event-before"]}
    assert rows["event-before"]["status"] == "pending"
    assert steps(db, schema, "event-before")["go"]["status"] != "done"
    assert (rows["event-after"]["status"], rows["event-after"]["waiting_for"]) == ("waiting",
                                                                                  "go")

    deadline = rows["deadline"]
    assert (deadline["status"], deadline["waiting_for"]) == ("waiting", "go")
    assert TAKEOVER_SHIFT < deadline["wakes_in"] < TAKEOVER_SHIFT + WAKE_SHIFT

    retrying = rows["retrying"]
    assert (retrying["status"], retrying["waiting_for"]) == ("waiting", None)
    assert TAKEOVER_SHIFT < retrying["wakes_in"] < TAKEOVER_SHIFT + WAKE_SHIFT
    assert [(r["name"], r["status"], r["attempt"]) for r in steps(db, schema,
            "retrying").values()] == [(f"{P}-bump-a", "done", 1), (f"{P}-flaky-b", "pending", 1)]

    fanout = rows["fanout"]
    assert (fanout["status"], fanout["waiting_for"], fanout["open_children"]) == (
        "waiting", "#parallel", 2)
    children = {name: row for name, row in steps(db, schema, "fanout").items() if row["child"]}
    assert {name: row["fn"] for name, row in children.items()} == {
        f"{P}-child-c0": f"{APP_MODULE}:child", f"{P}-child-c1": f"{APP_MODULE}:child",
        f"{P}-child-stall-c2": f"{APP_MODULE}:child_stall",
        f"{P}-child-flaky-c3": f"{APP_MODULE}:child_flaky"}
    assert [children[f"{P}-child-{c}"]["status"] for c in ("c0", "c1")] == ["done", "done"]
    stalled = children[f"{P}-child-stall-c2"]
    assert (stalled["status"], stalled["lease_live"]) == ("running", True)
    retry = children[f"{P}-child-flaky-c3"]
    assert (retry["status"], retry["attempt"], retry["ok"]) == ("pending", 1, None)
    assert TAKEOVER_SHIFT < retry["wakes_in"] < TAKEOVER_SHIFT + WAKE_SHIFT


def _upgrade_and_finish(dsn: str, db: psycopg.Connection[dict[str, Any]], schema: str,
                        ledger: str, v1_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Upgrade with the current code and finish everything with a current worker, moving the
    clock only while that worker has nothing in flight (a shift also expires its leases)."""
    started = time.monotonic()
    app = zart.Zart(dsn, schema=schema)
    try:
        assert db.execute(f'SELECT max(version) AS v FROM "{schema}".schema_version'
                          ).fetchone() == {"v": SCHEMA_VERSION}
        assert SCHEMA_VERSION > 1
        # Version 1 kept no typed record of what a waiting execution waits on: the migration
        # derives one (what inspection reads; the behaviour above does not depend on it).
        waits = {r["id"]: (r["wait_kind"], r["waiting_for"]) for r in db.execute(
            f'SELECT id, wait_kind, waiting_for FROM "{schema}".executions '
            f"WHERE status = 'waiting'").fetchall()}
        assert waits["sleeping"] == ("sleep", None)
        assert waits["event-after"][0] == "event"
        assert waits["fanout"] == ("children", None)
        assert waits["retrying"][0] == "retry"
        dead_owner = executions(db, schema)["killed"]["owner"]
        # The in-process steps write to the same ledger.
        monkeypatch.setenv("ZART_UPGRADE_DSN", dsn)
        monkeypatch.setenv("ZART_UPGRADE_LEDGER", ledger)
        worker = app.worker(threads=4, lease=30, poll_interval=0.5)
        worker.start()
        try:
            wait_until(lambda: all(app.handle(id).status() == "completed"
                                   for id in ("pending", "event-before")),
                       timeout=20, what="the pending and event-before executions")
            # The dead worker's lease is still live by the database's clock, so its work is
            # not taken over yet: the killed step has run once, under v1.
            rows = executions(db, schema)
            assert (rows["killed"]["status"], rows["killed"]["owner"],
                    rows["killed"]["lease_live"]) == ("running", dead_owner, True)
            assert runs(db, ledger, v1_root)["killed", "b", "current"] == 0
            assert steps(db, schema, "fanout")[f"{P}-child-stall-c2"]["status"] == "running"

            assert app.send_event("event-after", "go", EVENTS["event-after"]) is True
            wait_until(lambda: app.handle("event-after").status() == "completed",
                       timeout=20, what="the event-after execution")

            shift_clock(db, schema, TAKEOVER_SHIFT)  # the dead worker's leases run out
            wait_until(lambda: app.handle("killed").status() == "completed"
                       and steps(db, schema, "fanout")[f"{P}-child-stall-c2"]["status"]
                       == "done", timeout=20, what="the takeover of the killed worker's work")
            # Not due yet: the sleep, the event's timeout, the retries (the child's holds the
            # barrier). Their wake-up times survived the upgrade.
            rows = executions(db, schema)
            assert {id: rows[id]["status"] for id in ("sleeping", "deadline", "retrying",
                                                      "fanout")} == dict.fromkeys(
                ("sleeping", "deadline", "retrying", "fanout"), "waiting")

            shift_clock(db, schema, WAKE_SHIFT)  # the sleep and the retry are due
            wait_until(lambda: all(app.handle(id).status() in ("completed", "failed")
                                   for id in OPEN_AT_UPGRADE),
                       timeout=20, what="every execution to finish")
        finally:
            worker.stop(timeout=10)
    finally:
        app.close()
    print(f"\nupgrade: v1 schema upgraded to {SCHEMA_VERSION} and "
          f"{len(OPEN_AT_UPGRADE)} open executions finished in "
          f"{time.monotonic() - started:.1f}s")
