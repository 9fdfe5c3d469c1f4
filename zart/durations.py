"""Durations: the one parser for every time span zart accepts.

A duration may be a number of seconds (``int``/``float``), a :class:`datetime.timedelta`,
or a string made of a number and a unit: ``"500ms"``, ``"2s"``, ``"10m"``, ``"1h"``,
``"2d"`` (units may be combined: ``"1h30m"``). Negative, non-finite and absurd values
(over 100 years) are rejected with a :class:`ValueError` that names the value.
"""

from __future__ import annotations

import math
import re
from datetime import timedelta

__all__ = ["MAX_SECONDS", "Duration", "parse_duration"]

Duration = int | float | timedelta | str
"""Anything :func:`parse_duration` accepts."""

MAX_SECONDS = 100 * 365 * 24 * 3600.0
"""The longest span accepted (about 100 years): longer is a bug, not a plan."""

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*")


def parse_duration(value: Duration, *, what: str = "duration") -> float:
    """Return ``value`` as a number of seconds, or raise ``ValueError`` naming the problem."""
    if isinstance(value, bool):  # bool is an int; True seconds is never meant
        raise ValueError(f"{what} must be a number of seconds, a timedelta or a string like '2s', "
                         f"not {value!r}")
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float):
        try:
            seconds = float(value)
        except OverflowError:  # an int beyond float range: far too long (or too negative)
            seconds = 2 * MAX_SECONDS if value > 0 else -2 * MAX_SECONDS
    elif isinstance(value, str):
        seconds = _parse_text(value, what)
    else:
        raise ValueError(f"{what} must be a number of seconds, a timedelta or a string like '2s', "
                         f"not {type(value).__name__} {value!r}")
    if not math.isfinite(seconds):
        raise ValueError(f"{what} must be finite, got {value!r}")
    if seconds < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{what} of {value!r} is longer than 100 years")
    return seconds


def _parse_text(text: str, what: str) -> float:
    stripped = text.strip()
    if not stripped:
        raise ValueError(f"{what} must not be empty")
    try:  # a bare number in a string means seconds
        return float(stripped)
    except ValueError:
        pass
    total = 0.0
    position = 0
    for match in _PART.finditer(stripped):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if position != len(stripped) or position == 0:
        raise ValueError(f"{what} {text!r} is not understood: use a number and a unit "
                         f"(ms, s, m, h, d, w), e.g. '500ms', '2s', '1h30m'")
    return total
