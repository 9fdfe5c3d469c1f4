"""``zart schedule ...``: list, show, create, pause, resume, trigger, backfill and delete cron
schedules (the library's ``app.schedules``)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import click

from zart.views import ScheduleView

from . import output
from .app import State, cli, pass_state
from .modules import import_workflows
from .output import dim, echo, time_text
from .params import json_value, time_value

__all__ = ["schedule_group"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
module_option = click.option(
    "--module", "modules", multiple=True, metavar="MODULE",
    help="Import this module (dotted name or .py path) first, so that the schedule's workflow "
         "is registered (its retry and timeout come from its definition). Repeatable.")


def timetable(schedule: ScheduleView) -> str:
    """When it fires, in words."""
    zone = "" if schedule.tz == "UTC" else f" ({schedule.tz})"
    return f"{schedule.expression!r}{zone}"


def state_text(schedule: ScheduleView) -> str:
    """Paused, or when it fires next."""
    if schedule.paused:
        return output.colour("paused", fg="yellow")
    return f"next {time_text(schedule.next_tick)}"


def _print(schedule: ScheduleView, as_json: bool, verb: str) -> None:
    if as_json:
        output.emit_json(schedule.to_json())
    else:
        echo(f"schedule {schedule.name} {verb}: {schedule.workflow} on "
             f"{timetable(schedule)}, {state_text(schedule)}")


@cli.group("schedule", short_help="Cron schedules: list, create, pause, trigger, backfill.")
def schedule_group() -> None:
    """Cron schedules: declared in code (@zart.workflow(schedule=zart.cron(...)), stored by
    the workers) or created here. Each tick starts one execution, id SCHEDULE@TICK-IN-UTC.

    \b
    Examples:
      zart schedule list
      zart schedule create hourly-sync sync '0 * * * *' --tz Europe/Paris
      zart schedule pause nightly-report
      zart schedule trigger nightly-report --module reports.workflows
      zart schedule backfill nightly-report --from 2026-11-01T00:00:00Z \\
                                            --to 2026-11-08T00:00:00Z --module reports
    """


@schedule_group.command("list", short_help="List the schedules.")
@json_option
@pass_state
def list_command(state: State, as_json: bool) -> None:
    """List every schedule: its workflow, timetable, next tick, last execution, counts.

    \b
    Examples:
      zart schedule list
      zart schedule list --json
    """
    schedules = state.app.schedules.list()
    if as_json:
        output.emit_json([s.to_json() for s in schedules])
        return
    if not schedules:
        echo("no schedules")
        return
    output.table(["SCHEDULE", "WORKFLOW", "CRON", "STATE", "LAST", "FIRED", "SKIPPED", "FROM"],
                 [[s.name, s.workflow, timetable(s), state_text(s),
                   time_text(s.last_tick) if s.last_tick else "-", str(s.fired),
                   str(s.skipped), s.source] for s in schedules])


@schedule_group.command("show", short_help="Show one schedule in words.")
@click.argument("name")
@json_option
@pass_state
def show_command(state: State, name: str, as_json: bool) -> None:
    """Show the schedule NAME: timetable, policies, where it came from and what it did.

    \b
    Example:
      zart schedule show nightly-report
    """
    s = state.app.schedules.get(name)
    if as_json:
        output.emit_json(s.to_json())
        return
    overlap = {"skip": "a tick is skipped while the previous execution is open",
               "allow": "ticks run even while the previous execution is open",
               "cancel": "a tick cancels the previous execution if it is still open"}
    catchup = {"none": "ticks missed while no worker ran are skipped",
               "latest": "after downtime, only the most recent missed tick runs",
               "all": f"after downtime, every missed tick runs (at most {s.catchup_limit})"}
    origin = ("declared in code (kept by the workers as the code says)" if s.source == "code"
              else "created at run time")
    echo(f"schedule {s.name}: starts workflow {s.workflow} on {timetable(s)}")
    echo(f"  {state_text(s)}; {origin}")
    echo(f"  overlap {s.overlap}: {overlap.get(s.overlap, s.overlap)}")
    echo(f"  catch-up {s.catchup}: {catchup.get(s.catchup, s.catchup)}")
    if s.last_tick is not None:
        echo(f"  last tick {time_text(s.last_tick)}: execution {s.last_execution_id}")
    echo(f"  fired {s.fired} tick(s), skipped {s.skipped}")
    if not s.paused and not any(s.workflow in w.workflows for w in state.app.workers()):
        echo(output.colour(f"  no live worker runs workflow {s.workflow}: nothing ticks this "
                           f"schedule until one does", fg="yellow"))
    if s.data is not None:
        echo(dim(f"  data: {json.dumps(s.data, ensure_ascii=False)}"))


@schedule_group.command("create", short_help="Create a schedule at run time.")
@click.argument("name")
@click.argument("workflow")
@click.argument("expression", metavar="CRON")
@click.option("--tz", default="UTC", show_default=True, help="IANA time zone of CRON.")
@click.option("--data", callback=json_value, metavar="JSON",
              help="Added to each tick's input (next to scheduled_at and schedule).")
@click.option("--overlap", type=click.Choice(["skip", "allow", "cancel"]), default="skip",
              show_default=True, help="What a tick does while the previous run is open.")
@click.option("--catchup", type=click.Choice(["none", "latest", "all"]), default="latest",
              show_default=True, help="Which ticks missed during downtime run.")
@click.option("--catchup-limit", type=click.IntRange(1, 1000), default=10, show_default=True,
              help="With --catchup all: the most missed ticks run.")
@json_option
@pass_state
def create_command(state: State, name: str, workflow: str, expression: str, tz: str,
                   data: Any, overlap: str, catchup: str, catchup_limit: int,
                   as_json: bool) -> None:
    """Create the schedule NAME: start WORKFLOW on the five-field CRON expression (the
    workers that run WORKFLOW tick it). Refused if NAME is taken.

    \b
    Example:
      zart schedule create hourly-sync sync '0 * * * *' --tz Europe/Paris --data '{"full": false}'
    """
    created = state.app.schedules.create(name, workflow, expression, tz=tz, data=data,
                                         overlap=overlap,  # type: ignore[arg-type]
                                         catchup=catchup,  # type: ignore[arg-type]
                                         catchup_limit=catchup_limit)
    _print(created, as_json, "created")


@schedule_group.command("pause", short_help="Stop ticking a schedule.")
@click.argument("name")
@json_option
@pass_state
def pause_command(state: State, name: str, as_json: bool) -> None:
    """Stop ticking NAME (its open executions go on). Refused if it is paused already.

    \b
    Example:
      zart schedule pause nightly-report
    """
    _print(state.app.schedules.pause(name), as_json, "paused")


@schedule_group.command("resume", short_help="Tick a paused schedule again.")
@click.argument("name")
@json_option
@pass_state
def resume_command(state: State, name: str, as_json: bool) -> None:
    """Tick NAME again from its next tick after now (ticks missed while paused are skipped;
    `zart schedule backfill` runs them). Refused if it is not paused.

    \b
    Example:
      zart schedule resume nightly-report
    """
    _print(state.app.schedules.resume(name), as_json, "resumed")


@schedule_group.command("trigger", short_help="Start one execution now.")
@click.argument("name")
@module_option
@json_option
@pass_state
def trigger_command(state: State, name: str, modules: tuple[str, ...], as_json: bool) -> None:
    """Start one execution of NAME's workflow now, off the timetable; print its id.

    \b
    Example:
      zart schedule trigger nightly-report --module reports.workflows
    """
    if modules:
        import_workflows(modules)
    handle = state.app.schedules.trigger(name)
    if as_json:
        output.emit_json({"id": handle.id, "status": handle.status()})
    else:
        echo(handle.id)


@schedule_group.command("backfill", short_help="Run every tick of a past time range.")
@click.argument("name")
@click.option("--from", "start", callback=time_value, required=True, metavar="ISO-TIME",
              help="The first time of the range (ticks at it included).")
@click.option("--to", "end", callback=time_value, required=True, metavar="ISO-TIME",
              help="The last time of the range (ticks at it included; not in the future).")
@module_option
@json_option
@pass_state
def backfill_command(state: State, name: str, start: datetime, end: datetime,
                     modules: tuple[str, ...], as_json: bool) -> None:
    """Start the execution of every tick of NAME from --from to --to (at most 1000). A tick
    that ran already is not run again, so a backfill can be repeated. Prints the ids.

    \b
    Example:
      zart schedule backfill nightly-report --from 2026-11-01T00:00:00Z \\
          --to 2026-11-08T00:00:00Z --module reports.workflows
    """
    if modules:
        import_workflows(modules)
    ids = state.app.schedules.backfill(name, start, end)
    if as_json:
        output.emit_json(ids)
        return
    for execution_id in ids:
        echo(execution_id)
    echo(dim(f"{len(ids)} tick(s) from {time_text(start)} to {time_text(end)}"))


@schedule_group.command("delete", short_help="Delete a schedule created at run time.")
@click.argument("name")
@pass_state
def delete_command(state: State, name: str) -> None:
    """Delete NAME (its executions stay). A schedule declared in code is refused: remove it
    from the code, or pause it.

    \b
    Example:
      zart schedule delete hourly-sync
    """
    state.app.schedules.delete(name)
    echo(f"schedule {name} deleted")
