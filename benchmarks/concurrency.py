"""3. Step throughput, concurrent: steps per second with 1, 2, 4, 8 and 16 worker threads, and
with two worker processes.

For each configuration a batch of executions of ``bench-steps`` (four per thread, enough no-op
steps each for the batch to total the target) is inserted *gated* (due at 'infinity'), the
worker is started and warmed up (its pool grown) on a small gated batch of its own, and the
measured batch is released in one UPDATE (which NOTIFYs the workers). The clock runs from that
release to the last completion NOTIFY; steps/s = steps in the batch / elapsed. Each round of
zart is followed by a round of the limit, three rounds each in the quick run, and the medians
are compared: on a virtual machine the disk's flush time drifts by tens of percent within a
minute, and measuring one after the other once made the ratio swing with it.

Limit: the same number of connections, each doing autocommit INSERTs of the same payload into
a plain table, for a fixed time (threads of this process; for the two processes, two
subprocesses with as many threads each as the worker processes have).
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import psycopg

from zart import serde

from . import workflows
from .common import (
    LIMIT_TABLE,
    Bench,
    create_limit_table,
    fmt_rate,
    fmt_ratio,
    fmt_time,
    insert_rate,
    safe_div,
)

NAME = "concurrency"
TITLE = "step throughput, concurrent"

ROOT = Path(__file__).resolve().parent.parent


def insert_gated(bench: Bench, conn: psycopg.Connection[Any], prefix: str, count: int,
                 steps: int) -> None:
    """Insert ``count`` pending ``bench-steps`` executions of ``steps`` steps, due never."""
    retry = serde.dumps(workflows.steps.retry.to_json())
    conn.execute(bench.sql(
        "INSERT INTO {s}.executions (id, workflow, input, max_attempts, retry, wake_at) "
        "SELECT %(prefix)s || g, 'bench-steps', json_build_object('n', %(steps)s), 1, "
        "%(retry)s::json, 'infinity' FROM generate_series(1, %(count)s::int) g"),
        {"prefix": prefix, "steps": steps, "retry": retry, "count": count})


def release_and_wait(bench: Bench, conn: psycopg.Connection[Any], prefix: str, count: int,
                     timeout: float) -> float:
    """Make the gated batch due now (one UPDATE, NOTIFY); seconds until all of it completed."""
    with psycopg.connect(bench.dsn, autocommit=True) as listener:
        listener.execute(f'LISTEN "{bench.schema}_done"')
        started = time.perf_counter()
        conn.execute(bench.sql(
            "UPDATE {s}.executions SET status = 'pending', wake_at = {s}.clock_now() "
            "WHERE id LIKE %s AND status = 'pending'"), (prefix + "%",))
        done: set[str] = set()
        finished = started
        deadline = started + timeout
        while len(done) < count:
            got = False
            for note in listener.notifies(timeout=0.5):
                got = True
                if note.payload.startswith(prefix):
                    done.add(note.payload)
                    finished = time.perf_counter()
                if len(done) >= count:
                    break
            if not got and len(done) < count:
                row = conn.execute(bench.sql(
                    "SELECT count(*) FILTER (WHERE status = 'completed'), "
                    "count(*) FILTER (WHERE status IN ('failed', 'cancelled')) "
                    "FROM {s}.executions WHERE id LIKE %s"), (prefix + "%",)).fetchone()
                assert row is not None
                if row[1]:
                    raise RuntimeError(f"{row[1]} execution(s) of batch {prefix} failed")
                if row[0] >= count:
                    finished = time.perf_counter()
                    break
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"batch {prefix}: {row[0]}/{count} completed after "
                                       f"{timeout}s")
        return finished - started


class Procs:
    """Subprocesses running ``python -m benchmarks.procs``; stderr kept in temp files."""

    def __init__(self, bench: Bench, count: int, *args: str) -> None:
        env = dict(os.environ, ZART_BENCH_DSN=bench.dsn, ZART_BENCH_SCHEMA=bench.schema,
                   PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT),
                                                            os.environ.get("PYTHONPATH")])))
        self.logs: list[IO[bytes]] = []
        self.procs: list[subprocess.Popen[str]] = []
        self._files = contextlib.ExitStack()
        for _ in range(count):
            # closed by stop(), through the exit stack: it outlives this method
            log = self._files.enter_context(tempfile.TemporaryFile())  # noqa: SIM115
            self.logs.append(log)
            self.procs.append(subprocess.Popen(
                [sys.executable, "-m", "benchmarks.procs", *args], cwd=ROOT, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True))

    def expect(self, word: str) -> list[str]:
        """Read one line from each process; it must start with ``word``."""
        lines = []
        for proc, log in zip(self.procs, self.logs, strict=True):
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line.startswith(word):
                log.seek(0)
                raise RuntimeError(f"benchmark subprocess said {line!r}, not {word!r}: "
                                   f"{log.read().decode(errors='replace')[-2000:]}")
            lines.append(line)
        return lines

    def send(self, line: str) -> None:
        """Write ``line`` to every process's stdin."""
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(line + "\n")
            proc.stdin.flush()

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (graceful), then kill what is left; close the logs."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        self._files.close()


def _limit_procs(bench: Bench, processes: int, threads: int, seconds: float) -> float:
    procs = Procs(bench, processes, "insert", str(threads), str(seconds))
    try:
        procs.expect("ready")
        procs.send("go")
        results = [json.loads(line) for line in procs.expect("{")]
    finally:
        procs.stop()
    return float(sum(r["inserts"] / r["seconds"] for r in results))


def run(bench: Bench) -> None:
    """Run the benchmark and save its report."""
    report = bench.report(NAME, TITLE)
    thread_counts: list[int] = bench.pick([1, 4], [1, 2, 4, 8, 16], [1, 2, 4, 8, 16])
    processes, proc_threads = 2, bench.pick(2, 4, 4)
    target: int = bench.pick(200, 3000, 10_000)
    seconds: float = bench.pick(0.3, 1.0, 4.0)
    rounds: int = bench.pick(1, 3, 3)
    app = bench.reset()
    create_limit_table(bench)
    table = report.table(
        f"steps/s, ~{target} no-op steps per configuration and round; limit: as many "
        f"connections doing autocommit INSERTs for {seconds}s after each round; medians of "
        f"{rounds} alternating round(s)",
        ["workers", "conns", "zart steps/s", "per step", "limit INSERTs/s", "ratio",
         "% of limit", "zart scaling"])
    rows: list[dict[str, Any]] = []
    configs = [(1, t) for t in thread_counts] + [(processes, proc_threads)]
    try:
        with bench.connect() as conn:
            for index, (nproc, threads) in enumerate(configs):
                conns = nproc * threads
                batch = max(8, 4 * conns)
                steps = max(5, target // batch)
                conn.execute(bench.sql(f"TRUNCATE {{s}}.executions, {{s}}.steps, {{s}}.events, "
                                       f"{{s}}.{LIMIT_TABLE}"))
                warm = f"w{index}-"
                insert_gated(bench, conn, warm, 2 * conns, 3)
                timeout = max(120.0, batch * steps * 0.02)
                elapsed_rounds: list[float] = []
                limit_rounds: list[float] = []

                def measure(limit_of: Any, index: int = index, batch: int = batch,
                            steps: int = steps, timeout: float = timeout,
                            elapsed_rounds: list[float] = elapsed_rounds,
                            limit_rounds: list[float] = limit_rounds) -> None:
                    # zart and its limit alternate, round after round, so that a slow patch
                    # of the disk or the machine weighs on both alike; medians are reported.
                    for r in range(rounds):
                        measured = f"m{index}-{r}-"
                        insert_gated(bench, conn, measured, batch, steps)
                        elapsed_rounds.append(
                            release_and_wait(bench, conn, measured, batch, timeout))
                        limit_rounds.append(limit_of())

                if nproc == 1:
                    worker = app.worker(threads=threads, poll_interval=60).start()
                    try:
                        release_and_wait(bench, conn, warm, 2 * conns, timeout)
                        measure(lambda conns=conns: insert_rate(bench, conns, seconds))
                    finally:
                        worker.stop()
                    label = f"{threads} thread{'s' if threads > 1 else ''}"
                else:
                    procs = Procs(bench, nproc, "worker", str(threads))
                    try:
                        procs.expect("ready")
                        release_and_wait(bench, conn, warm, 2 * conns, timeout)
                        measure(lambda nproc=nproc, threads=threads: _limit_procs(
                            bench, nproc, threads, seconds))
                    finally:
                        procs.stop()
                    label = f"{nproc} processes x {threads}"
                elapsed = statistics.median(elapsed_rounds)
                limit = statistics.median(limit_rounds)
                rate = batch * steps / elapsed
                ratio = safe_div(limit, rate)
                rows.append({"label": label, "processes": nproc, "threads": threads,
                             "connections": conns, "executions": batch, "steps_each": steps,
                             "elapsed_s": elapsed, "steps_per_s": rate,
                             "limit_inserts_per_s": limit, "ratio": ratio,
                             "rounds_steps_per_s": [batch * steps / e for e in elapsed_rounds],
                             "rounds_limit_inserts_per_s": limit_rounds})
                scaling = rate / rows[0]["steps_per_s"]
                table.add(label, conns, fmt_rate(rate), fmt_time(1 / rate), fmt_rate(limit),
                          fmt_ratio(ratio), f"{100 * rate / limit:.0f}%", f"{scaling:.2f}x")
                report.ratio(f"steps/s, {label}", fmt_rate(rate, " steps/s"),
                             fmt_rate(limit, " inserts/s"), ratio,
                             f"{conns} connection(s) doing autocommit INSERTs")
    finally:
        app.close()
        bench.drop()
    table.notes.append("ratio = limit rate / zart rate (cost per step against cost per INSERT); "
                       "each execution also costs a claim and a completion transaction, "
                       "counted in zart's time but not in its steps")
    report.show(table)
    report.data = {"configurations": rows, "target_steps": target, "limit_seconds": seconds,
                   "rounds": rounds}

    def plot(fig: Any) -> None:
        left, right = fig.subplots(1, 2)
        threaded = [r for r in rows if r["processes"] == 1]
        multi = [r for r in rows if r["processes"] > 1]
        xs = [r["connections"] for r in threaded]
        left.plot(xs, [r["steps_per_s"] for r in threaded], "o-", label="zart, threads")
        left.plot(xs, [r["limit_inserts_per_s"] for r in threaded], "^--",
                  label="limit: INSERTs, threads")
        for r in multi:
            left.plot([r["connections"]], [r["steps_per_s"]], "s", color="C0", markersize=9,
                      label=f"zart, {r['label']}")
            left.plot([r["connections"]], [r["limit_inserts_per_s"]], "D", color="C1",
                      label=f"limit, {r['label']}")
        left.set_xscale("log", base=2)
        left.set(xlabel="connections (worker threads)", ylabel="per second",
                 title="steps/s against INSERTs/s", ylim=(0, None))
        ticks = sorted({r["connections"] for r in rows})
        left.set_xticks(ticks, [str(x) for x in ticks])
        left.minorticks_off()
        left.legend(fontsize=8)
        left.grid(True, alpha=0.3)
        labels = [r["label"] for r in rows]
        bars = right.bar(labels, [r["ratio"] for r in rows], color="C0")
        right.bar_label(bars, fmt="%.2f")
        right.axhline(1.0, color="grey", linewidth=0.8)
        right.set(ylabel="cost ratio (limit rate / zart rate)", title="ratio to the limit")
        right.tick_params(axis="x", labelrotation=30, labelsize=8)

    report.save(plot)
