"""Commands over many executions: ``pause``, ``unpause``, ``pauses`` and ``purge``."""

from __future__ import annotations

import sys
from datetime import datetime

import click

from zart.views import PauseRule, PurgeResult

from . import output
from .app import Failed, State, by_option, cli, pass_state
from .output import dim, echo, time_text
from .params import FINAL_STATUS, duration, when_value

__all__ = ["pause_command", "pauses_command", "purge_command", "unpause_command"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")


def holds(rule: PauseRule) -> str:
    """What a rule holds, in words."""
    parts = []
    if rule.workflow:
        parts.append(f"workflow {rule.workflow}")
    if rule.execution_id:
        parts.append(f"execution {rule.execution_id}")
    what = " and ".join(parts) or "every workflow"
    if rule.step_pattern:
        return f"{what}, in front of steps matching {rule.step_pattern!r}"
    return f"{what} (not claimed)"


@cli.command("pause", short_help='Hold matching executions (a pause rule).')
@click.option("--workflow", help="Pause this workflow's executions.")
@click.option("--execution", metavar="ID", help="Pause this execution.")
@click.option("--step", metavar="PATTERN",
              help="Let executions run up to a step matching this (* and ? wildcards) and "
                   "hold them in front of it, instead of not claiming them at all.")
@click.option("--reason", help="Why: shown by `zart show` and `zart pauses`.")
@click.option("--until", callback=when_value, metavar="DURATION|ISO-TIME",
              help="Lift it by itself after this long (2h) or at this time.")
@click.option("--all", "everything", is_flag=True,
              help="Pause everything (required when no --workflow, --execution or --step "
                   "narrows it).")
@by_option
@json_option
@pass_state
def pause_command(state: State, workflow: str | None, execution: str | None, step: str | None,
                  reason: str | None, until: float | datetime | None, everything: bool,
                  by: str, as_json: bool) -> None:
    """Pause what matches every given criterion: matching executions are not claimed (steps
    in flight finish), or with --step run up to a matching step and wait in front of it.
    Prints the rule's id; `zart unpause ID` lifts it.

    \b
    Examples:
      zart pause --workflow checkout --reason "payment provider down" --until 2h
      zart pause --step 'charge*' --reason "card processor incident"
      zart pause --execution order-42
      zart pause --all --reason "database maintenance"
    """
    if not (workflow or execution or step or everything):
        # A rule without criteria stops every workflow: too much to do by a forgotten flag.
        raise click.UsageError("give --workflow, --execution or --step, or --all to pause "
                               "everything")
    rule = state.app.pause(workflow=workflow, execution=execution, step=step, reason=reason,
                           until=until, by=by)
    if as_json:
        output.emit_json(rule.to_json())
        return
    echo(f"pause rule {rule.id}: holds {holds(rule)}"
         + (f" until {time_text(rule.until)}" if rule.until else " until lifted"))
    echo(dim(f"lift it with: zart unpause {rule.id}"))


@cli.command("unpause", short_help='Lift a pause rule.')
@click.argument("rule_id", metavar="RULE", type=click.IntRange(min=1))
@by_option
@json_option
@pass_state
def unpause_command(state: State, rule_id: int, by: str, as_json: bool) -> None:
    """Lift the pause rule RULE: what it held wakes at once. Refused (exit 1) if it is no
    longer active.

    \b
    Example:
      zart unpause 3
    """
    rule = state.app.unpause(rule_id, by=by)
    if as_json:
        output.emit_json(rule.to_json())
    else:
        echo(f"lifted pause rule {rule.id} ({holds(rule)})")


@cli.command("pauses", short_help='List the pause rules.')
@click.option("--all", "show_all", is_flag=True, help="Also the lifted and expired rules.")
@json_option
@pass_state
def pauses_command(state: State, show_all: bool, as_json: bool) -> None:
    """List the pause rules (the active ones, or --all).

    \b
    Examples:
      zart pauses
      zart pauses --all --json
    """
    rules = state.app.pauses(active_only=not show_all)
    if as_json:
        output.emit_json([r.to_json() for r in rules])
        return
    if not rules:
        echo("no active pause rules" if not show_all else "no pause rules")
        return
    output.table(["RULE", "STATE", "HOLDS", "REASON", "BY", "SINCE", "UNTIL"], [
        [str(r.id), output.colour("active", fg="yellow") if r.active else dim(
            "lifted" if r.lifted_at else "expired"),
         holds(r), r.reason or "-", r.created_by or "-", time_text(r.created_at),
         time_text(r.lifted_at or r.until)] for r in rules])


def _progress(result: PurgeResult) -> None:
    # On a terminal, one line rewritten in place; a log file gets nothing per batch (the
    # summary at the end says it all).
    if sys.stderr.isatty():
        click.echo(f"\rpurged {result.executions} execution(s) in {result.batches} "
                   f"batch(es)...", nl=False, err=True)


@cli.command("purge", short_help='Delete old finished executions.')
@click.option("--older-than", "older_than", callback=duration, required=True, metavar="DURATION",
              help="Delete what finished longer ago than this (30d, 12h).")
@click.option("--status", "statuses", type=FINAL_STATUS, multiple=True,
              help="Only these statuses (repeatable; default: completed, failed, cancelled).")
@click.option("--workflow", help="Only this workflow's executions.")
@click.option("--batch", "batch_size", type=click.IntRange(1, 100_000), default=1000,
              show_default=True, help="Executions deleted per transaction.")
@click.option("--yes", "-y", is_flag=True, help="Do not ask for confirmation.")
@json_option
@pass_state
def purge_command(state: State, older_than: float, statuses: tuple[str, ...],
                  workflow: str | None, batch_size: int, yes: bool, as_json: bool) -> None:
    """Delete finished executions (with their histories, events and audit trails) that
    finished longer ago than --older-than, in batches of their own transactions. Open
    executions are never purged. Asks first unless --yes (without a terminal to ask on, it
    refuses unless --yes).

    \b
    Examples:
      zart purge --older-than 30d
      zart purge --older-than 7d --status completed --workflow health-check --yes
    """
    wanted = list(statuses) or ["completed", "failed", "cancelled"]
    what = (f"every {', '.join(wanted)} execution"
            + (f" of workflow {workflow}" if workflow else "")
            + f" that finished more than {output.duration_text(older_than)} ago")
    if not yes:
        if not sys.stdin.isatty():
            raise Failed(f"purge deletes for good: pass --yes to delete {what} (there is no "
                         f"terminal to ask on)")
        click.confirm(f"Delete {what}?", abort=True, err=True)
    result = state.app.purge(older_than=older_than, statuses=wanted, workflow=workflow,
                             batch_size=batch_size, progress=_progress)
    if result.batches and sys.stderr.isatty():
        click.echo(err=True)  # end the progress line
    if as_json:
        output.emit_json(result.to_json())
        return
    counts = ", ".join(f"{status} {n}" for status, n in sorted(result.by_status.items()))
    echo(f"purged {result.executions} execution(s) in {result.batches} batch(es)"
         + (f" ({counts})" if counts else ""))
