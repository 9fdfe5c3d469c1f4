"""Everything the command prints: tables, JSON, times, durations, colours.

Colours only when stdout is a terminal (and ``NO_COLOR`` is unset): a pipe or a file gets
plain text, so ``zart list | grep failed`` and scripts never see escape codes.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import click

__all__ = ["colour", "dim", "duration_text", "echo", "emit_json", "error_line", "status_text",
           "table", "table_lines", "time_text", "tty"]

_STATUS_COLOURS = {
    "completed": "green", "ok": "green", "failed": "red", "cancelled": "yellow",
    "running": "cyan", "waiting": "blue", "pending": "magenta",
}


def tty() -> bool:
    """Whether stdout is a terminal (and the user did not ask for no colour)."""
    return sys.stdout.isatty() and not os.environ.get("NO_COLOR")


def colour(text: str, **styles: Any) -> str:
    """``text`` styled (click.style) on a terminal, unchanged otherwise."""
    return click.style(text, **styles) if tty() else text


def dim(text: str) -> str:
    """Secondary text: dimmed on a terminal."""
    return colour(text, dim=True)


def status_text(status: str) -> str:
    """A status, coloured by what it means (green done, red failed...) on a terminal."""
    fg = _STATUS_COLOURS.get(status)
    return colour(status, fg=fg) if fg else status


def echo(text: str = "") -> None:
    """Print a line on stdout."""
    click.echo(text)


def emit_json(data: Any) -> None:
    """Print ``data`` as indented JSON (what ``--json`` gives, for scripts and ``jq``)."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))


def error_line(error: dict[str, Any] | None) -> str:
    """A stored error on one line: ``Type: message``."""
    if not error:
        return ""
    return f"{error.get('type', 'Error')}: {error.get('message', '')}".rstrip(": ")


def time_text(when: datetime | None, *, seconds: bool = True, zone: bool = False) -> str:
    """A time in this machine's timezone (``2026-11-21 09:00:05``); ``-`` for none."""
    if when is None:
        return "-"
    local = when.astimezone()
    text = local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")
    return f"{text} {local.strftime('%z')}" if zone else text


def duration_text(seconds: float | None) -> str:
    """A span for people: ``12ms``, ``3.4s``, ``2m05s``, ``1h``, ``3d04h``, ``30d``."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f}ms"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s" if secs else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h" if hours else f"{days}d"


def _width(text: str) -> int:
    # Styled cells carry escape codes that take no room on screen.
    return len(click.unstyle(text))


def table_lines(headers: Sequence[str], rows: Sequence[Sequence[str]],
                indent: str = "") -> list[str]:
    """Aligned columns under bold headers, as lines (the last column is not padded)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], _width(cell))

    def _line(cells: Sequence[str]) -> str:
        padded = [cell + " " * (widths[i] - _width(cell)) for i, cell in enumerate(cells[:-1])]
        return (indent + "  ".join([*padded, cells[-1]])).rstrip()

    return [_line([colour(h, bold=True) for h in headers]), *(_line(row) for row in rows)]


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> None:
    """Print aligned columns under bold headers."""
    for text in table_lines(headers, rows, indent):
        click.echo(text)
