"""``python -m benchmarks``: run the benchmarks, print their tables and every ratio.

    python -m benchmarks                 quick sizes (a few minutes)
    python -m benchmarks --smoke         minimal sizes (under a minute): checks that all run
    python -m benchmarks --full          big sizes (1M finished executions, 100k-step replays)
    python -m benchmarks --only replay,latency
    python -m benchmarks --list

Each benchmark writes ``benchmarks/results/<name>.json`` and ``<name>.png`` (``<name>.full.*``
with ``--full``, ``<name>.smoke.*`` with ``--smoke``). The database is ``$ZART_DATABASE_URL``,
else the embedded PostgreSQL; everything happens in the schema ``zart_bench``, dropped and
recreated by each benchmark. Timings never make this command fail; an error inside a
benchmark is printed, the others still run, and the exit status is 1.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
import traceback
from types import ModuleType

from . import (
    common,
    concurrency,
    fanout,
    latency,
    queues,
    replay,
    replay_check,
    scale,
    step_cost,
)

BENCHMARKS: dict[str, ModuleType] = {m.NAME: m for m in (
    replay, step_cost, concurrency, latency, scale, fanout, queues, replay_check)}


def parse(argv: list[str]) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="zart benchmarks: every figure as a ratio to "
        "its limit, measured in the same run.")
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--full", action="store_true",
                      help="big sizes: 1M finished rows, 100k-step replays, more samples")
    size.add_argument("--smoke", action="store_true",
                      help="minimal sizes, everything in under a minute (checks they all run)")
    parser.add_argument("--only", metavar="NAME[,NAME]",
                        help=f"run only these, of: {', '.join(BENCHMARKS)}")
    parser.add_argument("--no-plot", action="store_true", help="write no PNG files")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)
    if args.only:
        names = [n.strip() for n in args.only.split(",") if n.strip()]
        unknown = [n for n in names if n not in BENCHMARKS]
        if unknown:
            parser.error(f"unknown benchmark(s) {', '.join(unknown)}; "
                         f"choose from {', '.join(BENCHMARKS)}")
        args.names = names
    else:
        args.names = list(BENCHMARKS)
    return args


def print_summary(bench: common.Bench) -> None:
    """Every ratio recorded in this run, one line each."""
    ratios = bench.all_ratios()
    if not ratios:
        return
    table = common.Table(
        "every figure against its limit (ratio = zart's cost / the limit's cost; 1.00x = at "
        "the limit)", ["benchmark", "figure", "zart", "limit", "ratio", "limit is"])
    for r in ratios:
        table.add(r.benchmark, r.figure, r.value, r.limit, r.display(), r.limit_name)
    print("\n" + "=" * 78)
    print(table.render())


def main(argv: list[str]) -> int:
    """Run the chosen benchmarks; 1 if one of them raised, else 0."""
    args = parse(argv)
    if args.list:
        for name, module in BENCHMARKS.items():
            print(f"{name:<12} {module.TITLE}")
        return 0
    mode: common.Mode = "full" if args.full else "smoke" if args.smoke else "quick"
    dsn, where = common.resolve_dsn()
    bench = common.Bench(dsn, where, mode, plots=not args.no_plot)
    m = bench.machine
    print(f"zart {m['zart']} benchmarks ({mode}): {m['cores']} cores, {m['cpu_model']}, "
          f"{m['memory_gib']} GiB; Python {m['python']}; psycopg {m['psycopg']}; "
          f"PostgreSQL {m['postgresql']} ({where}); "
          f"fsync={m['postgresql_settings'].get('fsync')}, "
          f"synchronous_commit={m['postgresql_settings'].get('synchronous_commit')}")
    load = common.loadavg()
    if load and m["cores"] and load[0] > m["cores"]:
        print(f"warning: load average {load[0]:.1f} on {m['cores']} cores: other work is "
              f"running, the numbers will be noisy")
    failed: list[str] = []
    started = time.perf_counter()
    for name in args.names:
        try:
            BENCHMARKS[name].run(bench)
        except KeyboardInterrupt:
            print(f"\n{name}: interrupted")
            failed.append(name)
            break
        except Exception:
            print(f"\n{name}: FAILED (an error, not a timing):", file=sys.stderr)
            traceback.print_exc()
            failed.append(name)
            with contextlib.suppress(Exception):
                bench.drop()
    print_summary(bench)
    print(f"\n{len(args.names) - len(failed)}/{len(args.names)} benchmark(s) ran in "
          f"{time.perf_counter() - started:.0f} s; results in benchmarks/results/"
          + (f"; failed: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
