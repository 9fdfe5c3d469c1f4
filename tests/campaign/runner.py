"""One campaign run, start to end: a private server with the evidence installed, workers and
racers, the driver and the nemesis for ``duration`` seconds, then heal, drain (every execution
finishes, or the deadline passes), stop everything, load the evidence and check it."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

import zart

from . import checks, evidence
from .config import FAILED_LOGS, ROOT, ZART_SCHEMA, Config, sub_rng
from .driver import Driver, DriverLog
from .nemesis import Nemesis
from .plan import generate
from .procs import Racers, WorkerPool
from .report import Report, engine_fingerprint, fill
from .server import DeadlineProbe, Server, remove_stale_runs
from .verdict import Verdict

FINAL = "('completed', 'failed', 'cancelled')"


def wait_for(predicate: Callable[[], Any], timeout: float, interval: float = 0.25) -> Any:
    """``predicate()`` once it is truthy, or its last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        threading.Event().wait(interval)


def _connected(server: Server, at_least: int) -> bool:
    """Whether zart has ``at_least`` connections open (every client backend that is not the
    campaign's own): a coarse sign that the workers are up, with no reliance on zart's
    connection names."""
    rows = server.query("SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                        "'client backend' AND application_name NOT LIKE 'campaign%%'")
    return int(rows[0][0]) >= at_least


def _open_executions(server: Server) -> int:
    return int(server.query(f"SELECT count(*) FROM {ZART_SCHEMA}.executions "
                            f"WHERE status NOT IN {FINAL}")[0][0])


def run(config: Config, out: Callable[[str], None] = print) -> Report:
    """Run the campaign ``config`` describes; its report (``report.ok``: no violation)."""
    out(f"zart campaign: seed {config.seed} (replay: {config.replay_command()})")
    timings: dict[str, float] = {}
    began = time.monotonic()
    remove_stale_runs()
    config.log_dir.mkdir(parents=True, exist_ok=True)
    server = Server(config.data_dir)
    report = Report(config, Verdict())
    pool: WorkerPool | None = None
    racers: Racers | None = None
    client: zart.Zart | None = None
    try:
        report.engine = snapshot_engine(config)
        dsn = server.create()
        client = zart.Zart(dsn, schema=ZART_SCHEMA)   # creates zart's schema
        server.install_evidence()
        plans = generate(config)
        rng = sub_rng(config.seed, "workers")
        pool = WorkerPool(dsn, config.log_dir, config.engine_dir,
                          [rng.choice([3, 4]) for _ in range(config.workers)])
        pool.start()
        log = DriverLog()

        def on_answer(answer: dict[str, Any]) -> None:
            with log.lock:
                log.race_answers.append(answer)

        racers = Racers(dsn, 2, config.log_dir, config.engine_dir, on_answer)
        racers.wait_ready()
        # The campaign's client has one connection, each worker at least one more.
        if not wait_for(lambda: _connected(server, 1 + config.workers), 60):
            report.problems.append("the workers had not connected after 60 s")
        timings["setup"] = time.monotonic() - began

        # -- chaos ----------------------------------------------------------------------------
        out(f"chaos: {len(plans)} executions planned over {config.duration:g}s")
        probe = DeadlineProbe(server)
        driver = Driver(client, plans, racers, log, probe)
        nemesis = Nemesis(config, server, pool)
        driver.start()
        nemesis.start(driver.origin)
        threading.Event().wait(max(0.0, driver.origin + config.duration - time.monotonic()))
        timings["chaos"] = time.monotonic() - driver.origin

        # -- heal and drain -----------------------------------------------------------------------
        healed_at = time.monotonic()
        report.problems += pool.unexpected_exits()
        report.healing = nemesis.heal()
        report.faults = nemesis.injected
        if not driver.wait(90):
            report.problems.append("the driver's planned calls did not all run within 90 s")
        drained = wait_for(lambda: _open_executions(server) == 0, config.drain_timeout, 0.5)
        if not drained:
            report.problems.append(f"executions still open {config.drain_timeout:g}s after "
                                   f"healing (check 1 lists them)")
        timings["heal+drain"] = time.monotonic() - healed_at
        probe.close()
        report.problems += pool.unexpected_exits()
        report.remarks += pool.stop()   # slow to stop gracefully: worth knowing, not a failure
        racers.close()
        racers = None

        # -- check ------------------------------------------------------------------------------
        checked_at = time.monotonic()
        ev = evidence.load(server, log, nemesis.injected, nemesis.backward_total(),
                           {p.pid: p.name for p in pool.procs})
        report.verdict, models = checks.run_all(ev, plans)
        fill(report, ev)
        _dump_violations(ev, report, models, config)
        timings["check"] = time.monotonic() - checked_at
    finally:
        if racers is not None:
            racers.close(5)
        if pool is not None:
            pool.stop(10)
        if client is not None:
            client.close()
        server.destroy()
        timings["total"] = time.monotonic() - began
        report.timings = timings
        if report.verdict.violations or report.problems:
            report.logs = _keep_logs(config)
        if not config.keep:
            shutil.rmtree(config.run_dir, ignore_errors=True)
            with contextlib.suppress(OSError):   # the process's folder, once its last run is gone
                config.run_dir.parent.rmdir()
    return report


def snapshot_engine(config: Config) -> str:
    """Copy zart for the run's subprocesses; its fingerprint.

    zart may be edited while a campaign runs (its fixes are being written meanwhile): the
    workers, replacements included, all run this copy, so a run tests one engine.
    """
    target = config.engine_dir / "zart"
    shutil.copytree(ROOT / "zart", target, symlinks=False,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return engine_fingerprint(target)


def _dump_violations(ev: evidence.Evidence, report: Report, models: dict[str, Any],
                     config: Config) -> None:
    """The evidence of (up to 40) executions with a violation, one JSON file each."""
    eids = sorted({v.eid for v in report.verdict.violations})[:40]
    if not eids:
        return
    folder = config.log_dir / "evidence"
    folder.mkdir(exist_ok=True)
    for eid in eids:
        model = models.get(eid)
        evidence.dump(ev, eid, None if model is None else vars(model), folder / f"{eid}.json")


def _keep_logs(config: Config) -> str:
    """Copy the run's worker logs where a failed run's can be read afterwards."""
    target = FAILED_LOGS / (f"seed{config.seed}-{config.focus}-{config.run_dir.parent.name}"
                            f"-{config.run_dir.name}")
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(config.log_dir, target, dirs_exist_ok=True)
    return str(target)
