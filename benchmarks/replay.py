"""1. Replay throughput: commands replayed per second, from memory and from PostgreSQL.

* In memory: ``Interpreter(body, history).start()`` over a recorded history of n no-op steps
  (10 ... 10,000; 100,000 with ``--full``), the body calling a ``@zart.step`` function per step
  as user code does. A diagnostic row yields pre-built commands, to separate the interpreter's
  own cost from building the commands.
* From PostgreSQL: ``store.load_history()`` (one query) + the same replay, as a recovering
  worker does; and the raw ``SELECT`` of the same rows through psycopg, for the split.

Limit: a bare generator driven by ``send()`` with a dict lookup per command, in this
interpreter (and, for reference, the same plus ``orjson.loads`` of each stored value). The cost
must grow linearly with the history: the log-log slope of time against n is printed (1.0 =
linear).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from functools import partial
from typing import Any

import orjson

from zart.interpreter import Interpreter, Record, Returned
from zart.store import Store

from . import workflows
from .common import (
    PAYLOAD,
    PAYLOAD_TEXT,
    Bench,
    fmt_count,
    fmt_rate,
    fmt_ratio,
    fmt_time,
    loglog_slope,
    safe_div,
)

NAME = "replay"
TITLE = "replay throughput"


def bare_body(n: int) -> Generator[tuple[str, int], Any, int]:
    """The limit's generator: yields a tiny command per step and receives its value."""
    value = None
    for i in range(n):
        value = yield ("step", i)
    del value
    return n


def drive_bare(n: int, history: dict[int, Any]) -> None:
    """Drive :func:`bare_body` with ``send()``, one dict lookup per command."""
    gen = bare_body(n)
    value = None
    try:
        while True:
            command = gen.send(value)
            value = history[command[1]]
    except StopIteration:
        pass


def drive_bare_json(n: int, history: dict[int, str]) -> None:
    """:func:`drive_bare` plus ``orjson.loads`` of each stored value (reference only)."""
    gen = bare_body(n)
    value = None
    loads = orjson.loads
    try:
        while True:
            command = gen.send(value)
            value = loads(history[command[1]])
    except StopIteration:
        pass


def prebuilt_body(commands: list[Any]) -> Generator[Any, Any, int]:
    """A workflow body yielding commands built beforehand (interpreter cost only)."""
    for command in commands:
        _received = yield command  # not `yield from`: a list iterator cannot take send()
    return len(commands)


def history_of(n: int) -> list[Record]:
    """The recorded history of ``bench-steps`` with ``n`` steps."""
    return [Record(i, "step", f"bench-noop-{i}", value=PAYLOAD_TEXT, attempt=1) for i in range(n)]


def replay_zart(n: int, history: list[Record]) -> None:
    """Replay ``bench-steps`` (n steps) to its end from ``history``."""
    outcome = Interpreter(workflows.steps({"n": n}), history).start()
    if not isinstance(outcome, Returned):
        raise RuntimeError(f"replay of {n} steps ended with {outcome!r}")


def per_call(fn: Callable[[], None], min_time: float, repeats: int) -> tuple[float, float]:
    """(median, best) seconds per call of ``fn``, each repeat lasting at least ``min_time``."""
    fn()  # warm up
    samples = []
    for _ in range(repeats):
        calls = 0
        started = time.perf_counter()
        while True:
            fn()
            calls += 1
            elapsed = time.perf_counter() - started
            if elapsed >= min_time:
                break
        samples.append(elapsed / calls)
    samples.sort()
    return samples[len(samples) // 2], samples[0]


def run(bench: Bench) -> None:
    """Run the benchmark and save its report."""
    report = bench.report(NAME, TITLE)
    sizes: list[int] = bench.pick([10, 100, 1000], [10, 100, 1000, 10_000],
                                  [10, 100, 1000, 10_000, 100_000])
    min_time: float = bench.pick(0.02, 0.2, 0.5)
    repeats: int = bench.pick(3, 5, 7)

    memory: dict[str, list[float]] = {"zart": [], "prebuilt": [], "bare": [], "bare_json": []}
    mem_table = report.table(
        "in memory: Interpreter(body, history).start() to the end of a recorded workflow",
        ["steps", "zart", "interp. only", "limit: bare", "ratio", "bare+orjson", "zart/cmd",
         "limit/cmd"])
    for n in sizes:
        history = history_of(n)
        bare_history: dict[int, Any] = {i: PAYLOAD for i in range(n)}
        json_history = {i: PAYLOAD_TEXT for i in range(n)}
        commands = [workflows.noop(i, n) for i in range(n)]

        def prebuilt(commands: list[Any] = commands, history: list[Record] = history) -> None:
            outcome = Interpreter(prebuilt_body(commands), history).start()
            assert isinstance(outcome, Returned)

        zart_t, _ = per_call(partial(replay_zart, n, history), min_time, repeats)
        pre_t, _ = per_call(prebuilt, min_time, repeats)
        bare_t, _ = per_call(partial(drive_bare, n, bare_history), min_time, repeats)
        json_t, _ = per_call(partial(drive_bare_json, n, json_history), min_time, repeats)
        for key, value in (("zart", zart_t), ("prebuilt", pre_t), ("bare", bare_t),
                           ("bare_json", json_t)):
            memory[key].append(value)
        ratio = safe_div(zart_t, bare_t)
        mem_table.add(fmt_count(n), fmt_rate(n / zart_t, " cmd/s"), fmt_rate(n / pre_t, " cmd/s"),
                      fmt_rate(n / bare_t, " cmd/s"), fmt_ratio(ratio),
                      fmt_rate(n / json_t, " cmd/s"), fmt_time(zart_t / n), fmt_time(bare_t / n))
        report.ratio(f"replay from memory, {fmt_count(n)} steps", fmt_rate(n / zart_t, " cmd/s"),
                     fmt_rate(n / bare_t, " cmd/s"), ratio, "bare generator + dict lookup")
    big = [i for i, n in enumerate(sizes) if n >= 100] or list(range(len(sizes)))
    mem_slope = loglog_slope([sizes[i] for i in big], [memory["zart"][i] for i in big])
    mem_table.notes.append(
        f"time grows as n^{mem_slope:.2f} from {fmt_count(sizes[big[0]])} steps up (1.00 = "
        f"linear); 'interp. only' yields pre-built commands (no @step call per command)")
    report.show(mem_table)

    database = _from_postgres(bench, report, sizes, min_time, repeats, memory["bare"])
    report.data = {"sizes": sizes, "memory_seconds_per_replay": memory,
                   "postgres_seconds_per_replay": database,
                   "slope_memory": mem_slope, "min_time_s": min_time, "repeats": repeats,
                   "payload_bytes": len(PAYLOAD_TEXT)}

    def plot(fig: Any) -> None:
        left, right = fig.subplots(1, 2)
        series = [("zart, in memory", memory["zart"], "o-"),
                  ("zart, from PostgreSQL", database["fetch_replay"], "s-"),
                  ("limit: bare send() + dict", memory["bare"], "^--"),
                  ("bare + orjson.loads", memory["bare_json"], "v:")]
        for label, values, style in series:
            left.plot(sizes, values, style, label=label)
            right.plot(sizes, [v / n * 1e6 for v, n in zip(values, sizes, strict=True)], style,
                       label=label)
        left.plot(sizes, [memory["zart"][-1] * n / sizes[-1] for n in sizes], color="grey",
                  linewidth=0.8, linestyle="-.", label="linear, through zart's last point")
        left.set(xscale="log", yscale="log", xlabel="steps in the history",
                 ylabel="seconds per replay", title="replay time (log-log)")
        right.set(xscale="log", yscale="log", xlabel="steps in the history",
                  ylabel="microseconds per command", title="cost per command (flat = linear)")
        left.legend(fontsize=8)
        left.grid(True, which="both", alpha=0.3)
        right.grid(True, which="both", alpha=0.3)

    report.save(plot)


def _from_postgres(bench: Bench, report: Any, sizes: list[int], min_time: float, repeats: int,
                   bare: list[float]) -> dict[str, Any]:
    """Histories stored in PostgreSQL, fetched by ``load_history`` and replayed."""
    app = bench.reset()
    store = Store(bench.dsn, bench.schema, min_size=1, max_size=1, name="zart-bench-replay")
    result: dict[str, Any] = {"fetch_replay": [], "load_history": [], "raw_select": []}
    table = report.table(
        "from PostgreSQL: store.load_history() + replay, as a recovering worker does",
        ["steps", "fetch+replay", "limit: bare", "ratio", "load_history", "raw SELECT",
         "per replay"])
    try:
        with bench.connect() as conn:
            for n in sizes:
                execution_id = f"replay-{n}"
                conn.execute(bench.sql(
                    "INSERT INTO {s}.executions (id, workflow, status, input) "
                    "VALUES (%s, 'bench-steps', 'completed', %s::json)"),
                    (execution_id, orjson.dumps({"n": n}).decode()))
                conn.execute(bench.sql(
                    "INSERT INTO {s}.steps (execution_id, seq, kind, name, status, ok, value, "
                    "attempt, finished_at) SELECT %s, g, 'step', 'bench-noop-' || g, 'done', "
                    "true, %s::json, 1, now() FROM generate_series(0, %s::int - 1) g"),
                    (execution_id, PAYLOAD_TEXT, n))
            conn.execute(bench.sql("VACUUM ANALYZE {s}.steps"))
            for index, n in enumerate(sizes):
                execution_id = f"replay-{n}"

                def fetch_replay(execution_id: str = execution_id, n: int = n) -> None:
                    replay_zart(n, store.load_history(execution_id, conn))

                def load(execution_id: str = execution_id) -> None:
                    store.load_history(execution_id, conn)

                def select(execution_id: str = execution_id) -> None:
                    conn.execute(store.sql.LOAD_HISTORY, {"id": execution_id}).fetchall()

                if len(store.load_history(execution_id, conn)) != n:
                    raise RuntimeError(f"history of {n} steps did not load")
                total, _ = per_call(fetch_replay, min_time, repeats)
                loading, _ = per_call(load, min_time, repeats)
                raw, _ = per_call(select, min_time, repeats)
                result["fetch_replay"].append(total)
                result["load_history"].append(loading)
                result["raw_select"].append(raw)
                ratio = safe_div(total, bare[index])
                table.add(fmt_count(n), fmt_rate(n / total, " cmd/s"),
                          fmt_rate(n / bare[index], " cmd/s"), fmt_ratio(ratio),
                          fmt_rate(n / loading, " cmd/s"), fmt_rate(n / raw, " cmd/s"),
                          fmt_time(total))
                report.ratio(f"replay from PostgreSQL, {fmt_count(n)} steps",
                             fmt_rate(n / total, " cmd/s"), fmt_rate(n / bare[index], " cmd/s"),
                             ratio, "bare generator + dict lookup")
    finally:
        store.close()
        app.close()
        bench.drop()
    big = [i for i, n in enumerate(sizes) if n >= 100] or list(range(len(sizes)))
    slope = loglog_slope([sizes[i] for i in big], [result["fetch_replay"][i] for i in big])
    result["slope"] = slope
    table.notes.append(f"time grows as n^{slope:.2f} from {fmt_count(sizes[big[0]])} steps up; "
                       f"'load_history' = fetch + Record objects only, 'raw SELECT' = the same "
                       f"query's fetchall() alone")
    report.show(table)
    return result
