"""``zart show``'s text: one execution explained for a person at a terminal.

The order follows an operator's questions: what is it and where is it (header, why it waits),
what went in and came out (input, result or error with its traceback), how it got there (each
run's history as a timeline: every command's attempts, times, errors and value), and who
touched it (the audit trail).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from zart.views import ActionView, AttemptView, CommandView, ExecutionDetail, RunView

from .output import (
    colour,
    dim,
    duration_text,
    echo,
    error_line,
    status_text,
    table_lines,
    time_text,
)

__all__ = ["render_detail"]

MAX_VALUE_LINES = 40
"""Input and result longer than this many lines are cut (``--json`` has all of it)."""

PREVIEW = 60
"""The most characters of a step's value shown in the timeline."""


def _heading(text: str) -> None:
    echo()
    echo(colour(text, bold=True))


def _value_lines(value: Any) -> list[str]:
    text = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    lines = text.splitlines()
    if len(lines) > MAX_VALUE_LINES:
        more = len(lines) - MAX_VALUE_LINES
        lines = [*lines[:MAX_VALUE_LINES], dim(f"... ({more} more lines: --json has all)")]
    return lines


def _block(lines: list[str], indent: str = "  ") -> None:
    for line in lines:
        echo(f"{indent}{line}" if line else "")


def _error_block(error: dict[str, Any]) -> None:
    echo("  " + colour(error_line(error), fg="red", bold=True))
    where = []
    if error.get("step"):
        where.append(f"in step {error['step']!r}")
    if error.get("attempts"):
        where.append(f"after {error['attempts']} attempt(s)")
    if error.get("kind") and error.get("kind") != error.get("type"):
        where.append(f"raised into the workflow as {error['kind']}")
    if where:
        echo("  " + dim(", ".join(where)))
    if error.get("attributes"):
        echo("  " + dim(f"attributes: {json.dumps(error['attributes'], default=str)}"))
    if error.get("traceback"):
        _block(str(error["traceback"]).rstrip("\n").splitlines(), "  ")


def _clock(when: datetime | None, day: str) -> str:
    """A time of day with milliseconds; with the date too when it is not the run's day."""
    if when is None:
        return "-"
    local = when.astimezone()
    text = local.strftime("%H:%M:%S.") + f"{local.microsecond // 1000:03d}"
    return text if local.strftime("%Y-%m-%d") == day else f"{local:%Y-%m-%d} {text}"


def _began(command: CommandView) -> datetime:
    """When a command began: its first attempt, else when it was recorded (a sleep, a wait)."""
    if command.attempts and command.attempts[0].started_at is not None:
        return command.attempts[0].started_at
    return command.created_at


def _took(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "-"
    return duration_text(max(0.0, (end - start).total_seconds()))


def _command_status(command: CommandView) -> str:
    if command.status == "done":
        return status_text("ok") if command.ok else status_text("failed")
    return status_text(command.status)


def _cut(text: str, width: int = PREVIEW) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def _outcome(command: CommandView, day: str) -> str:
    if command.status == "done" and not command.ok:
        return colour(_cut(error_line(command.error), 80), fg="red")
    if command.status == "done":
        return _cut(command.preview or "")
    if command.wake_at is not None:  # a sleep's end, an event's deadline, a retry's time
        label = {"sleep": "until", "event": "deadline"}.get(command.kind, "next attempt")
        return dim(f"{label} {_clock(command.wake_at, day)}")
    return ""


def _attempt_line(attempt: AttemptView, day: str) -> str:
    if attempt.ok is None:
        how = dim("running" if attempt.finished_at is None else "abandoned")
    elif attempt.ok:
        how = status_text("ok")
    else:
        how = colour(_cut(error_line(attempt.error), 80), fg="red")
    return (f"attempt {attempt.attempt}  {_clock(attempt.started_at, day)}  "
            f"{_took(attempt.started_at, attempt.finished_at):>6}  {how}")


def _shows_attempts(command: CommandView) -> bool:
    return len(command.attempts) > 1 or any(a.ok is False for a in command.attempts)


def render_run(run: RunView, current: bool, status: str) -> None:
    """One run: a header line, then its history as a timeline."""
    began = run.began_by + (f" from step {run.rerun_from!r}" if run.rerun_from else "")
    ended = f" -> {time_text(run.ended_at)}" if run.ended_at else ""
    state = status if current else run.status
    _heading(f"run {run.run}" + ("" if current else " (an earlier run)"))
    echo(f"  began by {began}, {time_text(run.started_at)}{ended}, {status_text(state)}")
    if not current and run.error:
        echo("  " + colour(error_line(run.error), fg="red"))
    if not run.history:
        echo("  " + dim("no commands recorded"))
        return
    day = run.started_at.astimezone().strftime("%Y-%m-%d")
    rows = [[str(c.seq), _clock(_began(c), day), "child" if c.child else c.kind, c.name,
             _command_status(c), _took(_began(c), c.finished_at),
             str(len(c.attempts)) if c.attempts else "-", _outcome(c, day)]
            for c in run.history]
    lines = table_lines(["#", "BEGAN", "KIND", "NAME", "STATUS", "TOOK", "ATTEMPTS",
                         "VALUE / ERROR"], rows, indent="  ")
    echo(lines[0])
    for command, line in zip(run.history, lines[1:], strict=True):
        echo(line)
        if _shows_attempts(command):
            previous = 0
            for attempt in command.attempts:
                if attempt.attempt <= previous:  # numbering starts over: a `zart retry`
                    echo("      " + dim("retried: a fresh set of attempts"))
                previous = attempt.attempt
                echo("      " + _attempt_line(attempt, day))


def _action_text(action: ActionView) -> str:
    details = ""
    if action.details:
        details = ", ".join(f"{k}={json.dumps(v, default=str)}" for k, v in
                            action.details.items() if k != "error")
    return details


def scheduled_by(detail: ExecutionDetail) -> str | None:
    """Which schedule started it and for which tick, in words (None: not a schedule's)."""
    data = detail.input
    if not isinstance(data, dict) or not isinstance(data.get("schedule"), str):
        return None
    if not detail.id.startswith(f"{data['schedule']}@"):
        return None  # an input that merely has the same keys
    how = "triggered by hand at" if data.get("manual") else "its tick at"
    return f"{data['schedule']}, {how} {data.get('scheduled_at')}"


def render_detail(detail: ExecutionDetail) -> None:
    """Print everything about one execution, readable on a terminal."""
    echo(colour(f"execution {detail.id}", bold=True))
    rows = [
        ("workflow", detail.workflow),
        ("status", status_text(detail.status)),
        ("created", time_text(detail.created_at, zone=True)),
        ("updated", time_text(detail.updated_at, zone=True)),
        ("finished", time_text(detail.finished_at, zone=True)),
        ("run", f"{detail.run}, the workflow's attempt {detail.attempt} of "
                f"{detail.max_attempts}"
                + (f", {detail.lost_leases} lost lease(s)" if detail.lost_leases else "")),
    ]
    if detail.deadline is not None:
        rows.append(("deadline", time_text(detail.deadline, zone=True)))
    schedule = scheduled_by(detail)
    if schedule is not None:
        rows.append(("schedule", schedule))
    rows.append(("why", detail.waiting.text))
    for label, value in rows:
        echo(f"  {label:<9} {value}")

    _heading("input")
    _block(_value_lines(detail.input))
    if detail.status == "completed":
        _heading("result")
        _block(_value_lines(detail.result))
    if detail.error:
        _heading("error")
        _error_block(detail.error)

    for run in detail.runs:
        render_run(run, run is detail.runs[-1], detail.status)

    _heading("actions")
    if not detail.actions:
        echo("  " + dim("none: no operator has acted on it"))
        return
    action_rows = [[time_text(a.at), a.action, a.by or "-", _action_text(a)]
                   for a in detail.actions]
    for line in table_lines(["AT", "ACTION", "BY", "DETAILS"], action_rows, indent="  "):
        echo(line)
