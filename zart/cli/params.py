"""Option parsers: JSON values, durations, timezone-aware times. Each is a click callback that
rejects malformed input as a usage error (exit code 2) naming the option, before anything
reaches the database.

(Callbacks rather than ``click.ParamType`` subclasses: ``ParamType`` became generic in click
8.4, and the command supports click 8.1 and later.)
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import click

from zart.constants import FINAL_STATUSES, ExecutionStatus
from zart.durations import parse_duration

__all__ = ["FINAL_STATUS", "STATUS", "duration", "json_value", "since_time", "time_value",
           "when_value"]

def json_value(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """A JSON document (``'{"id": "o-1"}'``, ``'42'``, ``'"text"'``), parsed; an option left
    out stays None."""
    if value is None:
        return None
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        # A bare word is the usual slip: the shell ate the quotes a JSON text needs.
        hint = "; a JSON text keeps its quotes inside the shell's: '\"text\"'" if \
            value[:1].isalpha() else ""
        raise click.BadParameter(f"not valid JSON ({exc.msg} at character {exc.pos + 1}): "
                                 f"{value!r}{hint}", ctx, param) from None


def duration(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """A span of time in zart's notation (``500ms``, ``2s``, ``10m``, ``1h30m``, ``30d``, or
    seconds), as seconds."""
    if value is None:
        return None
    try:
        # The library's one parser, so the command accepts exactly what the API does.
        return parse_duration(value, what="duration")
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None


def _iso(value: str, ctx: click.Context, param: click.Parameter) -> datetime | None:
    """``value`` as a timezone-aware datetime; None if it is not ISO 8601 at all."""
    try:
        when = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if when.tzinfo is None:
        # A naive time would be read in some timezone (the server's? this shell's?) and
        # silently shift by hours: the operator says which.
        raise click.BadParameter(f"{value!r} has no timezone; add one, e.g. {value}Z or "
                                 f"{value}+01:00", ctx, param)
    return when


def time_value(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """A timezone-aware ISO 8601 time: ``2026-11-21T09:00:00+01:00`` or ``...Z``."""
    if value is None:
        return None
    when = _iso(value, ctx, param)
    if when is None:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. "
                                 f"2026-11-21T09:00:00Z)", ctx, param)
    return when


def when_value(ctx: click.Context, param: click.Parameter,
               value: str | None) -> float | datetime | None:
    """A duration (seconds, a float: how long from now, forwards or backwards as the option
    says) or a timezone-aware ISO 8601 time (a datetime)."""
    if value is None:
        return None
    try:  # a bare number would read as both: it is seconds, as the API reads it
        return parse_duration(value, what="duration")
    except ValueError:
        pass
    when = _iso(value, ctx, param)
    if when is None:
        raise click.BadParameter(f"{value!r} is neither a duration ('30m', '2h', '7d') nor an "
                                 f"ISO 8601 time ('2026-11-21T09:00:00Z')", ctx, param)
    return when


def since_time(value: float | datetime | None) -> datetime | None:
    """``--since``'s value as a time: a duration counts back from now."""
    if value is None or isinstance(value, datetime):
        return value
    return datetime.now(UTC) - timedelta(seconds=value)


STATUS = click.Choice([str(s) for s in ExecutionStatus])
"""Any execution status."""

FINAL_STATUS = click.Choice(sorted(str(s) for s in FINAL_STATUSES))
"""A status an execution never leaves (what purge deletes)."""
