"""What every benchmark shares: the database, sizes, statistics, tables, limits and results.

* :class:`Bench` is handed to each benchmark's ``run()``: the DSN, the size mode (``smoke``,
  ``quick`` or ``full``), a dedicated bench schema that it drops and recreates, and a
  :class:`Report` that prints tables and writes ``benchmarks/results/<name>.json`` (+ ``.png``).
* The *limits* (the raw PostgreSQL / psycopg figures that zart's numbers are divided by) are
  measured here, in the same run, on the same database: autocommit inserts into a plain,
  WAL-logged table, from one or many connections, and NOTIFY/LISTEN round trips.

Every ratio is a *cost ratio*: zart's cost per operation divided by the limit's cost per
operation (for throughputs: the limit's rate divided by zart's rate). 1.0 means "as fast as the
limit", 3.0 means "three times the limit's cost". Benchmarks only print: a slow figure never
fails anything.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson
import psycopg

import zart

Mode = Literal["smoke", "quick", "full"]

SCHEMA = "zart_bench"
"""The dedicated schema every benchmark runs in; dropped and recreated by each one."""

RESULTS = Path(__file__).resolve().parent / "results"

PAYLOAD: dict[str, Any] = {"status": "ok", "id": "5f0c8a7e-0c1d-4c55-9d3e-2b7f3c1a9e42",
                           "n": 42}
"""What the benchmark steps return: a small, typical step result (~70 bytes of JSON)."""

PAYLOAD_TEXT = orjson.dumps(PAYLOAD).decode()


# -- statistics and formatting ---------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0..1) of ``values``, linearly interpolated; NaN if empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    pos = q * (len(ordered) - 1)
    low = math.floor(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def summarize(values: Sequence[float]) -> dict[str, float]:
    """n, mean, min, p50, p90, p99, max of ``values`` (seconds stay seconds)."""
    if not values:
        return {"n": 0}
    return {"n": len(values), "mean": statistics.fmean(values), "min": min(values),
            "p50": percentile(values, 0.5), "p90": percentile(values, 0.9),
            "p99": percentile(values, 0.99), "max": max(values)}


def fmt_time(seconds: float) -> str:
    """``seconds`` with a readable unit: ns, us, ms or s."""
    if not math.isfinite(seconds):
        return "-"
    magnitude = abs(seconds)
    if magnitude >= 1:
        return f"{seconds:.2f} s"
    if magnitude >= 1e-3:
        return f"{seconds * 1e3:.2f} ms"
    if magnitude >= 1e-6:
        return f"{seconds * 1e6:.1f} us"
    return f"{seconds * 1e9:.0f} ns"


def fmt_rate(per_second: float, unit: str = "/s") -> str:
    """A rate with a k/M suffix."""
    if not math.isfinite(per_second):
        return "-"
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f}M{unit}"
    if per_second >= 1e3:
        return f"{per_second / 1e3:.1f}k{unit}"
    return f"{per_second:.0f}{unit}"


def fmt_ratio(ratio: float) -> str:
    """A cost ratio: ``2.31x``."""
    if not math.isfinite(ratio):
        return "-"
    return f"{ratio:.2f}x" if ratio < 100 else f"{ratio:.0f}x"


def fmt_count(n: float) -> str:
    """10000 -> ``10k``, 1000000 -> ``1M``."""
    if n >= 1e6 and n % 1e6 == 0:
        return f"{n / 1e6:.0f}M"
    if n >= 1e3 and n % 1e3 == 0:
        return f"{n / 1e3:.0f}k"
    return f"{n:,.0f}"


def safe_div(a: float, b: float) -> float:
    """``a / b``, NaN when ``b`` is 0 or not finite."""
    return a / b if b and math.isfinite(b) else math.nan


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Least-squares slope of log(y) against log(x): 1.0 means y grows linearly with x."""
    points = [(math.log(x), math.log(y)) for x, y in zip(xs, ys, strict=True) if x > 0 and y > 0]
    if len(points) < 2:
        return math.nan
    mx = statistics.fmean(p[0] for p in points)
    my = statistics.fmean(p[1] for p in points)
    num = sum((x - mx) * (y - my) for x, y in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return num / den if den else math.nan


def timed(fn: Callable[[], Any]) -> float:
    """Seconds ``fn()`` took."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


# -- tables and results ----------------------------------------------------------------------


@dataclass
class Table:
    """A printed table; also stored, as strings, in the JSON record."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        """Append a row (cells are turned into strings)."""
        self.rows.append([str(c) for c in cells])

    def render(self) -> str:
        """The table as aligned text: first column left-aligned, the others right-aligned."""
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))

        def line(cells: Sequence[str]) -> str:
            parts = [cells[0].ljust(widths[0])]
            parts += [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
            return "  ".join(parts).rstrip()

        out = [self.title, line(self.columns), "  ".join("-" * w for w in widths)]
        out += [line(row) for row in self.rows]
        out += [f"  {note}" for note in self.notes]
        return "\n".join(out)

    def to_json(self) -> dict[str, Any]:
        """The table as JSON."""
        return {"title": self.title, "columns": self.columns, "rows": self.rows,
                "notes": self.notes}


@dataclass
class Ratio:
    """One headline figure against its limit, both measured in this run."""

    benchmark: str
    figure: str
    value: str
    limit: str
    ratio: float
    limit_name: str
    shown: str | None = None

    def display(self) -> str:
        """The ratio as printed (``shown`` when the figure is not a cost ratio)."""
        return self.shown if self.shown is not None else fmt_ratio(self.ratio)

    def to_json(self) -> dict[str, Any]:
        """The ratio as JSON."""
        return {"figure": self.figure, "value": self.value, "limit": self.limit,
                "limit_name": self.limit_name, "ratio": _finite(self.ratio),
                "shown": self.display()}


class Report:
    """Collects one benchmark's tables, ratios and raw data, prints them, and saves them."""

    def __init__(self, bench: Bench, name: str, title: str) -> None:
        self.bench = bench
        self.name = name
        self.title = title
        self.tables: list[Table] = []
        self.ratios: list[Ratio] = []
        self.data: dict[str, Any] = {}
        self.notes: list[str] = []
        self.started = time.time()
        self.load_before = loadavg()

    def table(self, title: str, columns: list[str]) -> Table:
        """A new table, printed by :meth:`show`."""
        table = Table(title, columns)
        self.tables.append(table)
        return table

    def show(self, table: Table) -> None:
        """Print ``table`` now."""
        print()
        print(table.render(), flush=True)

    def ratio(self, figure: str, value: str, limit: str, ratio: float, limit_name: str,
              shown: str | None = None) -> None:
        """Record a headline ratio (printed again in the final summary)."""
        self.ratios.append(Ratio(self.name, figure, value, limit, ratio, limit_name, shown))

    def note(self, text: str) -> None:
        """A remark printed now and kept in the JSON record."""
        self.notes.append(text)
        print(f"  note: {text}", flush=True)

    def save(self, plot: Callable[[Any], None] | None = None) -> list[Path]:
        """Write ``<name>[.mode].json`` and, if matplotlib is there, the PNG drawn by ``plot``.

        ``plot`` receives a :class:`matplotlib.figure.Figure` and draws on it.
        """
        RESULTS.mkdir(parents=True, exist_ok=True)
        stem = self.name if self.bench.mode == "quick" else f"{self.name}.{self.bench.mode}"
        record = {
            "benchmark": self.name,
            "title": self.title,
            "mode": self.bench.mode,
            "started_at": datetime.fromtimestamp(self.started, UTC).isoformat(
                timespec="seconds"),
            "duration_s": round(time.time() - self.started, 2),
            "load_average": {"before": self.load_before, "after": loadavg()},
            "machine": self.bench.machine,
            "ratio_convention": "zart cost per operation / limit cost per operation "
                                "(throughput: limit rate / zart rate); 1.0 = at the limit",
            "ratios": [r.to_json() for r in self.ratios],
            "tables": [t.to_json() for t in self.tables],
            "notes": self.notes,
            "data": _jsonable(self.data),
        }
        written = [_write_atomic(RESULTS / f"{stem}.json",
                                 json.dumps(record, indent=1, sort_keys=False).encode() + b"\n")]
        if plot is not None and self.bench.plots:
            png = _plot(RESULTS / f"{stem}.png", plot, f"zart: {self.title} ({self.bench.mode})")
            if png is not None:
                written.append(png)
        print(f"  wrote {', '.join(str(p.relative_to(RESULTS.parent.parent)) for p in written)}",
              flush=True)
        return written


def _finite(x: float) -> float | None:
    return x if isinstance(x, int | float) and math.isfinite(x) else None


def _jsonable(value: Any) -> Any:
    """Round floats (small files) and turn NaN/inf into null."""
    if isinstance(value, float):
        return round(value, 9) if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _write_atomic(path: Path, data: bytes) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


_matplotlib_warned = False


def _plot(path: Path, draw: Callable[[Any], None], title: str) -> Path | None:
    """Draw a PNG with matplotlib (Agg); print a note and return None if it is missing."""
    global _matplotlib_warned
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        if not _matplotlib_warned:
            print("  note: matplotlib is not installed, so no PNG was written "
                  "(pip install -e '.[bench]', or make bench)", flush=True)
            _matplotlib_warned = True
        return None
    fig = Figure(figsize=(10, 4.8), dpi=80, layout="constrained")
    draw(fig)
    fig.suptitle(title, fontsize=11)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, format="png")
    tmp.replace(path)
    return path


def loadavg() -> list[float]:
    """The 1, 5 and 15-minute load averages (empty if unknown)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


# -- the database ----------------------------------------------------------------------------


def resolve_dsn() -> tuple[str, str]:
    """``(dsn, where)``: ``$ZART_DATABASE_URL``, else the embedded PostgreSQL."""
    url = os.environ.get("ZART_DATABASE_URL")
    if url:
        return url, "ZART_DATABASE_URL"
    from zart.embedded import embedded_dsn

    return embedded_dsn(), "embedded PostgreSQL (./.zart/pgdata)"


def machine_info(dsn: str, where: str) -> dict[str, Any]:
    """Cores, CPU model, memory, Python, psycopg, zart and PostgreSQL version and settings."""
    info: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gib": _memory_gib(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "python_implementation": platform.python_implementation(),
        "psycopg": psycopg.__version__,
        "zart": zart.__version__,
        "zart_commit": _git_commit(),
        "database": where,
    }
    with psycopg.connect(dsn, autocommit=True) as conn:
        info["postgresql"] = _scalar(conn, "SHOW server_version")
        settings = {}
        for name in ("fsync", "synchronous_commit", "wal_sync_method", "shared_buffers",
                     "max_connections"):
            try:
                settings[name] = _scalar(conn, f"SHOW {name}")
            except psycopg.Error:
                settings[name] = None
        info["postgresql_settings"] = settings
        info["unix_socket"] = conn.info.host.startswith("/") if conn.info.host else True
    return info


def _git_commit() -> str | None:
    """The checked-out commit of this source tree (``+dirty`` if zart/ has changes), or None."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, text=True,
                              capture_output=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "diff", "--quiet", "HEAD", "--", "zart", "schema.sql"],
                               cwd=root, capture_output=True, timeout=10).returncode != 0
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _scalar(conn: psycopg.Connection[Any], query: str, params: Any = None) -> Any:
    row = conn.execute(query, params).fetchone()
    return None if row is None else row[0]


class Bench:
    """The run's settings, shared by every benchmark."""

    def __init__(self, dsn: str, where: str, mode: Mode, plots: bool = True) -> None:
        self.dsn = dsn
        self.where = where
        self.mode: Mode = mode
        self.plots = plots
        self.schema = SCHEMA
        self.machine = machine_info(dsn, where)
        self._reports: list[Report] = []

    def pick(self, smoke: Any, quick: Any, full: Any) -> Any:
        """The value for the current mode."""
        return {"smoke": smoke, "quick": quick, "full": full}[self.mode]

    def report(self, name: str, title: str) -> Report:
        """A :class:`Report` for one benchmark; its ratios join the final summary."""
        print(f"\n=== {name}: {title} ({self.mode}) " + "=" * max(0, 60 - len(name + title)),
              flush=True)
        report = Report(self, name, title)
        self._reports.append(report)
        return report

    def connect(self) -> psycopg.Connection[Any]:
        """A new autocommit connection."""
        return psycopg.connect(self.dsn, autocommit=True)

    def reset(self) -> zart.Zart:
        """Drop and recreate the bench schema; a zart app on it (the caller closes it)."""
        self.drop()
        return zart.Zart(self.dsn, schema=self.schema)

    def drop(self) -> None:
        """Drop the bench schema and everything in it."""
        with self.connect() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')

    def sql(self, query: str) -> str:
        """``query`` with ``{s}`` replaced by the quoted bench schema."""
        return query.replace("{s}", f'"{self.schema}"')

    def all_ratios(self) -> list[Ratio]:
        """Every ratio recorded so far, in order."""
        return [r for report in self._reports for r in report.ratios]


# -- limits: what PostgreSQL and psycopg do without zart ------------------------------------


LIMIT_TABLE = "limit_rows"


def create_limit_table(bench: Bench) -> None:
    """A plain (WAL-logged, not TEMP) table shaped like a checkpoint row, emptied first.

    Not a TEMP or UNLOGGED table: those write no WAL, so their commits skip the fsync that
    every real checkpoint pays.
    """
    with bench.connect() as conn:
        conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{bench.schema}"')
        conn.execute(bench.sql(f"DROP TABLE IF EXISTS {{s}}.{LIMIT_TABLE}"))
        conn.execute(bench.sql(
            f"CREATE TABLE {{s}}.{LIMIT_TABLE} (execution_id text NOT NULL, seq integer NOT "
            f"NULL, value json, PRIMARY KEY (execution_id, seq))"))


def insert_sql(bench: Bench) -> str:
    """The limit's statement: one autocommit INSERT of a step-sized row."""
    return limit_insert_sql(bench.schema)


def limit_insert_sql(schema: str) -> str:
    """:func:`insert_sql` for a schema name (the subprocesses of ``procs.py`` have no Bench)."""
    return (f'INSERT INTO "{schema}".{LIMIT_TABLE} (execution_id, seq, value) '
            f"VALUES (%s, %s, %s::json)")


def insert_latencies(bench: Bench, n: int, tag: str = "seq") -> list[float]:
    """Seconds taken by each of ``n`` autocommit INSERTs of :data:`PAYLOAD_TEXT`."""
    query = insert_sql(bench)
    key = f"{tag}-{time.monotonic_ns()}"
    samples = []
    with bench.connect() as conn:
        for i in range(n):
            started = time.perf_counter()
            conn.execute(query, (key, i, PAYLOAD_TEXT))
            samples.append(time.perf_counter() - started)
    return samples


def insert_rate(bench: Bench, connections: int, seconds: float) -> float:
    """Autocommit INSERTs per second from ``connections`` threads of this process."""
    conns = [bench.connect() for _ in range(connections)]
    try:
        timed = timed_inserts(conns, insert_sql(bench), seconds, f"conc-{time.monotonic_ns()}")
    finally:
        for conn in conns:
            conn.close()
    assert timed is not None
    inserts, elapsed = timed
    return inserts / elapsed


def timed_inserts(conns: list[psycopg.Connection[Any]], query: str, seconds: float,
                  key: str, go: Callable[[], bool] = lambda: True) -> tuple[int, float] | None:
    """The concurrent limit: each connection, in a thread of its own, runs the autocommit
    ``query`` on :data:`PAYLOAD_TEXT` rows for ``seconds``; all start together once ``go()``
    returns True (False: nothing runs, None is returned). (inserts made, seconds elapsed)."""
    counts = [0] * len(conns)
    start = threading.Event()
    stop = threading.Event()

    def work(index: int) -> None:
        start.wait()
        conn, row_key, i = conns[index], f"{key}-{index}", 0
        while not stop.is_set():
            conn.execute(query, (row_key, i, PAYLOAD_TEXT))
            i += 1
        counts[index] = i

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(len(conns))]
    for thread in threads:
        thread.start()
    if not go():
        stop.set()
        start.set()
        return None
    start.set()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return sum(counts), time.perf_counter() - started


def notify_round_trips(bench: Bench, n: int) -> list[float]:
    """Seconds from a NOTIFY's execute to the listener's wake-up, ``n`` times."""
    samples: list[float] = []
    channel = f"{bench.schema}_ping"
    with bench.connect() as listener, bench.connect() as sender:
        listener.execute(f'LISTEN "{channel}"')
        for _ in range(n):
            time.sleep(0.001)  # both sides idle, as a worker waiting for work is
            started = time.perf_counter()
            sender.execute(f'NOTIFY "{channel}"')
            for _note in listener.notifies(timeout=5, stop_after=1):
                pass
            samples.append(time.perf_counter() - started)
    return samples


def write_xacts(conn: psycopg.Connection[Any]) -> int:
    """The next transaction id: write transactions since an earlier call = the difference.

    Reads the snapshot's xmax, which (unlike ``pg_current_xact_id()``) assigns no id itself.
    """
    return int(_scalar(conn, "SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"))


def wal_lsn(conn: psycopg.Connection[Any]) -> int:
    """The current WAL insert position, in bytes."""
    return int(_scalar(conn, "SELECT pg_current_wal_insert_lsn() - '0/0'::pg_lsn"))


def interleave(rounds: int, *fns: Callable[[], Any]) -> None:
    """Call ``fns`` in turn, ``rounds`` times: on a noisy machine both sides see the noise."""
    for _ in range(rounds):
        for fn in fns:
            fn()


def median(values: Iterable[float]) -> float:
    """The median, NaN for nothing."""
    items = list(values)
    return statistics.median(items) if items else math.nan
