"""Commands that change one execution: ``send-event``, ``cancel``, ``retry``, ``restart``,
``rerun``, ``resume``. Each is one library call; a refusal (the execution is in a state
where the action makes no sense) exits 1 with the library's reason."""

from __future__ import annotations

from typing import Any

import click
from click.core import ParameterSource

from zart.operations import KEEP_INPUT

from . import output
from .app import State, by_option, cli, pass_state
from .params import json_value

__all__ = ["cancel_command", "rerun_command", "restart_command", "resume_command",
           "retry_command", "send_event_command"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print the outcome as JSON.")


def _report(as_json: bool, execution_id: str, action: str, details: dict[str, Any],
            text: str) -> None:
    if as_json:
        output.emit_json({"id": execution_id, "action": action, **details})
    else:
        output.echo(text)


@cli.command("send-event", short_help='Deliver an event to an execution.')
@click.argument("execution_id", metavar="ID")
@click.argument("name")
@click.option("--data", callback=json_value, metavar="JSON", help="The event's payload, as JSON.")
@json_option
@pass_state
def send_event_command(state: State, execution_id: str, name: str, data: Any,
                       as_json: bool) -> None:
    """Deliver the event NAME to an execution (kept until its wait_for_event reaches it).

    The first delivery of a name wins: a second one is not delivered (exit 0, and it says
    so). An execution that already finished refuses it (exit 1).

    \b
    Examples:
      zart send-event order-42 shipped --data '{"tracking": "UPS-1"}'
      zart send-event order-42 approved
    """
    delivered = state.app.send_event(execution_id, name, data)
    text = (f"delivered {name!r} to {execution_id}" if delivered else
            f"not delivered: {execution_id} already had an event {name!r} (the first one "
            f"stands)")
    _report(as_json, execution_id, "send-event", {"event": name, "delivered": delivered}, text)


@cli.command("cancel", short_help='Cancel an execution.')
@click.argument("execution_id", metavar="ID")
@by_option
@json_option
@pass_state
def cancel_command(state: State, execution_id: str, by: str, as_json: bool) -> None:
    """Cancel an execution: it stops at its next checkpoint (a step in flight finishes, its
    outcome is refused) and its open parallel children are cancelled. `zart resume` undoes it.

    An execution that already finished is left as it is (exit 0, and it says so).

    \b
    Example:
      zart cancel order-42 --by "alice (ticket 812)"
    """
    cancelled = state.app.cancel(execution_id, by=by)
    text = (f"cancelled {execution_id}" if cancelled else
            f"{execution_id} is already {state.app.handle(execution_id).status()}; nothing "
            f"changed")
    _report(as_json, execution_id, "cancel", {"cancelled": cancelled}, text)


@cli.command("retry", short_help='Carry a failed execution on from its failed step.')
@click.argument("execution_id", metavar="ID")
@by_option
@json_option
@pass_state
def retry_command(state: State, execution_id: str, by: str, as_json: bool) -> None:
    """Carry a failed execution on from where it failed, after a fix: its failed step gets a
    fresh set of attempts, completed steps replay (they do not run again).

    Refused (exit 1) unless the execution failed: use `restart` or `rerun` for one that
    completed or was cancelled.

    \b
    Example:
      zart retry order-42
    """
    details = state.app.retry(execution_id, by=by)
    forgotten = ", ".join(details.get("forgotten") or []) or "nothing"
    _report(as_json, execution_id, "retry", details,
            f"retrying {execution_id} (run {details.get('run')}); runs again: {forgotten}")


@cli.command("restart", short_help='Run a finished execution again from the start.')
@click.argument("execution_id", metavar="ID")
@click.option("--data", callback=json_value, metavar="JSON",
              help="A new input, as JSON (default: keep the input it had).")
@by_option
@json_option
@pass_state
def restart_command(state: State, execution_id: str, data: Any, by: str,
                    as_json: bool) -> None:
    """Run a finished execution again from the beginning, as a new run (earlier runs are
    kept and `zart show` lists them). Refused (exit 1) unless it finished.

    \b
    Examples:
      zart restart order-42
      zart restart order-42 --data '{"id": "o-42", "amount": 10}'
    """
    # No --data keeps the input (the library's KEEP_INPUT); `--data null` makes it null.
    new_input = data if _given(click.get_current_context(), "data") else KEEP_INPUT
    details = state.app.restart(execution_id, data=new_input, by=by)
    _report(as_json, execution_id, "restart", details,
            f"restarted {execution_id} as run {details.get('run')}"
            + (" with a new input" if details.get("new_input") else ""))


def _given(ctx: click.Context, name: str) -> bool:
    """Whether the option was given on the command line (not left at its default)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source is not ParameterSource.DEFAULT


@cli.command("rerun", short_help='Run a finished execution again from one step.')
@click.argument("execution_id", metavar="ID")
@click.option("--from", "from_step", required=True, metavar="STEP",
              help="The command (step, sleep, event wait) to run again from.")
@by_option
@json_option
@pass_state
def rerun_command(state: State, execution_id: str, from_step: str, by: str,
                  as_json: bool) -> None:
    """Run a finished execution again from one of its commands: a new run keeps the history
    before STEP and runs STEP and everything after it again. Refused (exit 1) unless it
    finished, or if its history has no such command.

    \b
    Example:
      zart rerun order-42 --from ship
    """
    details = state.app.rerun(execution_id, from_step=from_step, by=by)
    _report(as_json, execution_id, "rerun", details,
            f"rerunning {execution_id} from {from_step!r} as run {details.get('run')}")


@cli.command("resume", short_help='Let a cancelled execution go on.')
@click.argument("execution_id", metavar="ID")
@by_option
@json_option
@pass_state
def resume_command(state: State, execution_id: str, by: str, as_json: bool) -> None:
    """Let a cancelled execution go on where it stopped. Refused (exit 1) unless it was
    cancelled.

    \b
    Example:
      zart resume order-42
    """
    details = state.app.resume(execution_id, by=by)
    _report(as_json, execution_id, "resume", details, f"resumed {execution_id}")
