"""Checking what a request carries before any of it reaches the library (and so SQL).

Each rule here is written once as a pattern or a bound and used twice: by these checks and
by the OpenAPI document (:mod:`zart.web.openapi`), so what the document calls valid is exactly
what the API accepts. A refusal is a 422 naming the field and the problem.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson

from ..commands import MAX_NAME_LENGTH
from .http import HttpError

__all__ = ["DURATION_PATTERN", "NAME_PATTERN", "TEXT_PATTERN", "TIME_PATTERN", "Fields",
           "invalid", "parse_time"]

_CONTROL = "\\u0000-\\u001f\\u007f"
# Characters that count as "something written": not a control character and not white space
# by either Python's str.strip() or ECMAScript's \s (the two differ on U+0085 and U+FEFF).
_VISIBLE = (f"[^{_CONTROL}\\u0020\\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029"
            f"\\u202f\\u205f\\u3000\\ufeff]")

NAME_PATTERN = f"^[^{_CONTROL}]*{_VISIBLE}[^{_CONTROL}]*$"
"""An execution id, a workflow, step, event or queue name, a ``by``: at least one visible
character, no control characters (at most 200 characters: ``MAX_NAME_LENGTH``)."""

TEXT_PATTERN = "^[^\\u0000]*$"
"""Free text (a pause rule's reason): anything PostgreSQL can store."""

MAX_TEXT = 1000
"""The longest free text accepted (a pause rule's reason)."""

_FRACTION = "(?:\\.[0-9]{1,6})?"
# Digits per unit keep three parts under the library's 100 years (each part < 32 years);
# only plain spaces, which every regex engine reads alike.
_PARTS = "|".join(f"[0-9]{{1,{digits}}}{_FRACTION} *{unit}" for unit, digits in (
    ("ms", 12), ("s", 9), ("m", 7), ("h", 5), ("d", 4), ("w", 3)))
DURATION_PATTERN = f"^ *(?:(?:(?:{_PARTS}) *){{1,3}}|[0-9]{{1,9}}{_FRACTION} *)$"
"""A duration as text: ``500ms``, ``2s``, ``1h30m``, ``7d`` (up to three parts) or seconds."""

MAX_DURATION_SECONDS = 3_153_600_000
"""The longest duration given as a number of seconds (100 years, the library's bound)."""

TIME_PATTERN = ("^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\\.[0-9]+)?"
                "(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$")
"""An RFC 3339 time with its offset (``2026-11-21T09:00:00Z``)."""

_NAME = re.compile(NAME_PATTERN)
_TEXT = re.compile(TEXT_PATTERN)
_DURATION = re.compile(DURATION_PATTERN)
_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))")


MISSING: Any = object()
"""What :meth:`Fields._get` returns for a field that was not given."""


def invalid(message: str) -> HttpError:
    """A 422 refusal of the request's input."""
    return HttpError(422, "InvalidInput", message)


def check_name(value: object, what: str) -> str:
    """``value`` if it is a name (:data:`NAME_PATTERN`, at most 200 characters), else 422."""
    if not isinstance(value, str):
        raise invalid(f"{what} must be a string, got {_kind(value)}")
    if not value or len(value) > MAX_NAME_LENGTH or not _NAME.fullmatch(value):
        raise invalid(f"{what} must be 1 to {MAX_NAME_LENGTH} characters, at least one of them "
                      f"visible and none a control character, got {value[:60]!r}")
    _utf8(value, what)
    return value


def parse_time(text: str, what: str) -> datetime:
    """An RFC 3339 time (:data:`TIME_PATTERN`) as an aware datetime, else 422. A leap second
    (``:60``) is read as the last instant of the second before it."""
    found = _TIME.fullmatch(text)
    if found is None:
        raise invalid(f"{what} must be an RFC 3339 time with an offset, e.g. "
                      f"2026-11-21T09:00:00Z, got {text[:60]!r}")
    year, month, day, hour, minute, second = (int(found.group(i)) for i in range(1, 7))
    fraction = found.group(7) or ""
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    if second == 60:
        second, micro = 59, 999_999
    try:
        if found.group(8):
            zone: timezone = UTC
        else:
            sign = -1 if found.group(9) == "-" else 1
            zone = timezone(sign * timedelta(hours=int(found.group(10)),
                                             minutes=int(found.group(11))))
        return datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    except ValueError as exc:
        raise invalid(f"{what} {text!r} is not a real time: {exc}") from None


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _utf8(value: str, what: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise invalid(f"{what} is not valid UTF-8 (a lone surrogate)") from None


class Fields:
    """The fields of a JSON body or a query string, each read once by a typed accessor; a
    field nobody reads is refused by :meth:`done` (a typo must not pass silently)."""

    def __init__(self, values: Mapping[str, Any], where: str) -> None:
        self._values = dict(values)
        self._where = where
        self._read: set[str] = set()

    @classmethod
    def of_query(cls, query: Mapping[str, list[str]]) -> Fields:
        """The query string's parameters (a list of values each)."""
        for key, values in query.items():
            for value in [key, *values]:
                _utf8(value, "the query string")
        return cls(query, "query parameter")

    @classmethod
    def of_body(cls, body: Mapping[str, Any]) -> Fields:
        """A JSON body's members; text that is not valid UTF-8 is refused at once."""
        try:
            orjson.dumps(body)
        except orjson.JSONEncodeError as exc:
            raise invalid(f"the body cannot be stored: {exc}") from None
        return cls(body, "field")

    def has(self, key: str) -> bool:
        """Whether ``key`` was given (``null`` counts as given)."""
        self._read.add(key)
        return key in self._values

    def _get(self, key: str) -> Any:
        """The value, :data:`MISSING` when absent (a JSON ``null`` is a value: only an
        accessor that allows it takes it)."""
        self._read.add(key)
        if key not in self._values:
            return MISSING
        value = self._values[key]
        if self._where == "query parameter":
            if len(value) != 1:
                raise invalid(f"query parameter {key!r} is given {len(value)} times; give it "
                              f"once")
            return value[0]
        return value

    def raw(self, key: str) -> Any:
        """The value as given (any JSON), None when absent."""
        value = self._get(key)
        return None if value is MISSING else value

    def name(self, key: str, *, required: bool = False) -> str | None:
        """A name (:data:`NAME_PATTERN`)."""
        value = self._get(key)
        if value is MISSING:
            if required:
                raise invalid(f"{self._where} {key!r} is required")
            return None
        return check_name(value, f"{self._where} {key!r}")

    def names(self, key: str) -> list[str]:
        """A query parameter that may be repeated, each a name."""
        self._read.add(key)
        return [check_name(v, f"{self._where} {key!r}") for v in self._values.get(key) or []]

    def text(self, key: str, *, max_length: int = MAX_TEXT) -> str | None:
        """Free text (:data:`TEXT_PATTERN`) of at most ``max_length`` characters."""
        value = self._get(key)
        if value is MISSING:
            return None
        if not isinstance(value, str) or len(value) > max_length or not _TEXT.fullmatch(value):
            raise invalid(f"{self._where} {key!r} must be a string of at most {max_length} "
                          f"characters without NUL, got {_kind(value)}")
        return value

    def boolean(self, key: str, default: bool = False) -> bool:
        """A boolean (``true``/``false`` in a query string)."""
        value = self._get(key)
        if value is MISSING:
            return default
        if self._where == "query parameter" and value in ("true", "false"):
            return bool(value == "true")
        if isinstance(value, bool):
            return value
        raise invalid(f"{self._where} {key!r} must be true or false, got {value!r}"[:200])

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        """An integer from ``low`` to ``high``."""
        value = self._get(key)
        if value is MISSING:
            return default
        if isinstance(value, str) and self._where == "query parameter" and \
                re.fullmatch(r"-?[0-9]{1,12}", value):
            value = int(value)
        if isinstance(value, float) and value.is_integer() and abs(value) < 2 ** 53:
            value = int(value)  # JSON has one number type: 5.0 is the integer 5
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise invalid(f"{self._where} {key!r} must be an integer from {low} to {high}, got "
                          f"{value!r}"[:200])
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        """A number from ``low`` to ``high``."""
        value = self._get(key)
        if value is MISSING:
            return default
        if isinstance(value, str) and self._where == "query parameter" and \
                re.fullmatch(r"-?[0-9]{1,12}(?:\.[0-9]{1,20})?(?:[eE][+-]?[0-9]{1,3})?", value):
            value = float(value)
        if not isinstance(value, int | float) or isinstance(value, bool) or \
                not low <= value <= high:
            raise invalid(f"{self._where} {key!r} must be a number from {low:g} to {high:g}, "
                          f"got {value!r}"[:200])
        return float(value)

    def time(self, key: str) -> datetime | None:
        """An RFC 3339 time."""
        value = self._get(key)
        if value is MISSING:
            return None
        if not isinstance(value, str):
            raise invalid(f"{self._where} {key!r} must be an RFC 3339 time string, got "
                          f"{_kind(value)}")
        return parse_time(value, f"{self._where} {key!r}")

    def duration(self, key: str, *, required: bool = False) -> float | str | None:
        """A duration: a number of seconds, or text (:data:`DURATION_PATTERN`)."""
        return self._duration(key, self._get(key), required)

    def when(self, key: str) -> float | str | datetime | None:
        """A duration from now, or an RFC 3339 time."""
        value = self._get(key)
        if isinstance(value, str) and _TIME.fullmatch(value):
            return parse_time(value, f"{self._where} {key!r}")
        return self._duration(key, value, False)

    def _duration(self, key: str, value: Any, required: bool) -> float | str | None:
        if value is MISSING:
            if required:
                raise invalid(f"{self._where} {key!r} is required")
            return None
        if isinstance(value, int | float) and not isinstance(value, bool) and \
                0 <= value <= MAX_DURATION_SECONDS:
            return float(value)
        if isinstance(value, str) and _DURATION.fullmatch(value):
            return value
        raise invalid(f"{self._where} {key!r} must be seconds (0 to {MAX_DURATION_SECONDS}), a "
                      f"duration like '500ms', '2s', '1h30m', '7d' or (where a time is "
                      f"allowed) an RFC 3339 time, got {value!r}"[:260])

    def done(self) -> None:
        """Refuse the fields nobody read."""
        unknown = sorted(set(self._values) - self._read)
        if unknown:
            raise invalid(f"unknown {self._where}(s) {', '.join(map(repr, unknown))}"[:300])
