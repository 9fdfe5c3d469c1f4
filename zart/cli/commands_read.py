"""Reading commands: ``list``, ``show``, ``stats``, ``workers``. They change nothing."""

from __future__ import annotations

from datetime import datetime

import click

from zart.views import ExecutionSummary

from . import output
from .app import State, cli, pass_state
from .output import dim, echo, status_text, time_text
from .params import STATUS, since_time, time_value, when_value
from .show import render_detail

__all__ = ["list_command", "show_command", "stats_command", "workers_command"]

json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print JSON (the library's to_json() form) instead of text.")


def waiting_on(item: ExecutionSummary) -> str:
    """What a listed execution waits on, in a few words (``-`` if nothing)."""
    kind, name, when = item.wait_kind, item.waiting_for, item.wake_at
    if kind is None:
        if item.status == "pending" and when is not None:
            return f"due {time_text(when)}"
        return "-"
    at = "" if when is None else time_text(when)
    if kind == "event":
        return f"event {name}" + (f", deadline {at}" if at else "")
    if kind == "sleep":
        return f"sleep until {at}" if at else "sleep"
    if kind == "retry":
        return f"retry of {name or 'the workflow'}" + (f" at {at}" if at else "")
    if kind == "paused":  # held in front of a step by a pause rule
        return f"paused before {name}" if name else "paused"
    return f"{kind} {name}" if name else kind


@cli.command("list", short_help='List executions (filter by status, workflow, time).')
@click.option("--status", "statuses", type=STATUS, multiple=True,
              help="Only these statuses (repeat the option for several).")
@click.option("--workflow", help="Only this workflow.")
@click.option("--since", callback=when_value, metavar="DURATION|ISO-TIME",
              help="Created at or after this time, or this long ago (1h, 7d).")
@click.option("--until", callback=time_value, metavar="ISO-TIME", help="Created before this time.")
@click.option("--prefix", help="Only ids that begin with this.")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True,
              help="At most this many (one page).")
@click.option("--cursor", help="The next page: the cursor the previous page printed.")
@json_option
@pass_state
def list_command(state: State, statuses: tuple[str, ...], workflow: str | None,
                 since: float | datetime | None, until: datetime | None, prefix: str | None,
                 limit: int, cursor: str | None, as_json: bool) -> None:
    """List executions, newest first, a page at a time.

    \b
    Examples:
      zart list --status failed --since 1d
      zart list --workflow checkout --status waiting --status pending
      zart list --prefix order- --limit 20 --json
      zart list --cursor 'MjAyNi0xMS0yMVQw...'   the next page
    """
    page = state.app.executions(status=list(statuses) or None, workflow=workflow,
                                created_after=since_time(since), created_before=until,
                                id_prefix=prefix, limit=limit, cursor=cursor)
    if as_json:
        output.emit_json(page.to_json())
        return
    if not page.items:
        echo("no executions match")
        return
    output.table(["ID", "WORKFLOW", "STATUS", "CREATED", "UPDATED", "WAITING ON"], [
        [item.id, item.workflow, status_text(item.status), time_text(item.created_at),
         time_text(item.updated_at), waiting_on(item)] for item in page.items])
    if page.cursor:
        echo(dim(f"more: zart list ... --cursor {page.cursor}"))


@cli.command("show", short_help='Explain one execution: why it waits, history, errors.')
@click.argument("execution_id", metavar="ID")
@json_option
@pass_state
def show_command(state: State, execution_id: str, as_json: bool) -> None:
    """Explain one execution: its state and why it waits, its input, result or error (with
    the traceback), every run's history as a timeline (each step's attempts, times, errors,
    value), and what operators did to it.

    \b
    Examples:
      zart show 3f2a9c0d...
      zart show order-42 --json | jq .waiting.text
    """
    detail = state.app.handle(execution_id).describe()
    if as_json:
        output.emit_json(detail.to_json())
    else:
        render_detail(detail)


@cli.command("stats", short_help='Counts by status and workflow; live workers.')
@json_option
@pass_state
def stats_command(state: State, as_json: bool) -> None:
    """Count executions by status and workflow; the oldest due execution's age; live workers.

    \b
    Examples:
      zart stats
      zart stats --json | jq .by_status.failed
    """
    stats = state.app.stats()
    if as_json:
        output.emit_json(stats.to_json())
        return
    statuses = ["pending", "running", "waiting", "completed", "failed", "cancelled"]
    rows = [[name, *[str(counts.get(s, 0)) for s in statuses], str(sum(counts.values()))]
            for name, counts in sorted(stats.by_workflow.items())]
    rows.append([output.colour("all", bold=True),
                 *[str(stats.by_status.get(s, 0)) for s in statuses],
                 str(sum(stats.by_status.values()))])
    output.table(["WORKFLOW", *[s.upper() for s in statuses], "TOTAL"], rows)
    echo()
    oldest = stats.oldest_due_seconds
    echo(f"oldest due execution waiting for a worker: "
         f"{'none' if oldest is None else output.duration_text(oldest)}")
    echo(f"live workers: {stats.live_workers}")


@cli.command("workers", short_help='List the worker processes and their heartbeats.')
@click.option("--all", "include_stopped", is_flag=True,
              help="Also the workers that stopped (or went silent).")
@json_option
@pass_state
def workers_command(state: State, include_stopped: bool, as_json: bool) -> None:
    """List the worker processes, as their heartbeats keep them (newest first).

    \b
    Examples:
      zart workers
      zart workers --all --json
    """
    workers = state.app.workers(include_stopped=include_stopped)
    if as_json:
        output.emit_json([w.to_json() for w in workers])
        return
    if not workers:
        echo("no live workers" if not include_stopped else "no workers")
        return
    output.table(["NAME", "HOST", "PID", "THREADS", "STARTED", "HEARTBEAT", "STATE",
                  "WORKFLOWS"], [
        [w.name, w.host, str(w.pid), str(w.threads), time_text(w.started_at),
         time_text(w.heartbeat_at),
         output.colour("alive", fg="green") if w.alive else dim(
             "stopped" if w.stopped_at else "silent"),
         ", ".join(w.workflows)] for w in workers])
