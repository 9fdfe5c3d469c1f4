"""The one place that decides what zart can store.

Values are JSON, encoded with orjson. What a workflow receives is always the *decoded stored
form* (``loads(dumps(value))``), on the first run and on replay alike, so the two can never
diverge: a tuple arrives as a list, a datetime as an ISO string. NaN and infinities are
refused rather than silently stored as ``null``.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import math
import re
import traceback
from typing import Any

import orjson

from .errors import ChildFailed, EventTimeout, SerializationError, StepFailed, StepTimeout

__all__ = ["MAX_VALUE_BYTES", "decode_step_error", "dumps", "encode_error", "loads", "roundtrip"]

MAX_VALUE_BYTES = 64 * 1024 * 1024
"""The largest value zart stores (64 MiB): bigger belongs in object storage, by reference."""

_OPTIONS = orjson.OPT_SERIALIZE_NUMPY

# A NUL escape in encoded JSON: ``\u0000`` preceded by an even number of backslashes (an odd
# number would make it the literal text backslash-u-0-0-0-0, which PostgreSQL stores fine).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def dumps(value: Any, *, what: str = "value") -> str:
    """Encode ``value`` as JSON text, or raise :class:`SerializationError` naming ``what``."""
    try:
        data = orjson.dumps(value, default=_subclassed, option=_OPTIONS)
    except (TypeError, orjson.JSONEncodeError) as exc:
        raise SerializationError(f"{what} is not JSON-serializable: {exc}") from None
    if b"null" in data and _has_non_finite(value):
        # orjson writes NaN and infinities as null; storing them would change the value.
        raise SerializationError(f"{what} contains NaN or infinity, which JSON cannot hold")
    if len(data) > MAX_VALUE_BYTES:
        raise SerializationError(f"{what} is {len(data)} bytes once encoded; the limit is "
                                 f"{MAX_VALUE_BYTES} bytes: store large data elsewhere and "
                                 f"pass a reference")
    if b"\\u0000" in data and _NUL_ESCAPE.search(data):
        raise SerializationError(f"{what} contains a NUL character, which PostgreSQL cannot store")
    return data.decode()


def _subclassed(value: Any) -> Any:
    """What orjson leaves to us: subclasses of the date and time types it writes natively
    (freezegun's FakeDatetime, pendulum's DateTime...), written the same way. Called only for
    types orjson refuses, so it costs nothing on the usual path."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    raise TypeError(f"Type is not JSON serializable: {type(value).__name__}")


def loads(text: str | bytes | None) -> Any:
    """Decode stored JSON text (``None`` stays ``None``)."""
    if text is None:
        return None
    return orjson.loads(text)


def roundtrip(value: Any, *, what: str = "value") -> tuple[str, Any]:
    """Return the stored text of ``value`` and the decoded form a workflow will receive."""
    text = dumps(value, what=what)
    return text, orjson.loads(text)


def _has_non_finite(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            if not math.isfinite(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif isinstance(item, enum.Enum):  # orjson encodes an enum member as its value
            stack.append(item.value)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            # orjson encodes dataclass instances natively, NaN fields included (as null).
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
    return False


def encode_error(exc: BaseException, *, attempts: int = 1) -> dict[str, Any]:
    """The stable stored form of an exception: type, module, message, attempts, traceback and
    its JSON-serializable public attributes (what a user's exception carries, e.g. ``code``).

    A :class:`StepFailed` the workflow let through keeps the step's original error.
    """
    if isinstance(exc, StepFailed):
        error = {"type": exc.error_type, "module": exc.error_module,
                 "message": _storable(exc.message), "attempts": exc.attempts,
                 "kind": type(exc).__name__, "step": exc.step}
        if exc.traceback is not None:
            error["traceback"] = exc.traceback
        if exc.attributes:
            error["attributes"] = exc.attributes
        return error
    error = {
        "type": type(exc).__name__,
        "module": type(exc).__module__,
        "message": _storable(_message(exc)),
        "attempts": attempts,
        "traceback": _storable(_traceback(exc)),
    }
    attributes = _attributes(exc)
    if attributes:
        error["attributes"] = attributes
    return error


_MAX_ATTRIBUTES_BYTES = 16 * 1024


def _attributes(exc: BaseException) -> dict[str, Any]:
    """The exception's public attributes that JSON can hold, each kept only if it can; all of
    them only if they fit in 16 KiB (an error is not the place for data)."""
    kept: dict[str, Any] = {}
    try:
        items = list(vars(exc).items())
    except TypeError:  # a type with __slots__ and no __dict__
        return kept
    for name, value in items:
        if name.startswith("_"):
            continue
        try:
            dumps(value)
        except (SerializationError, RecursionError):
            continue
        kept[name] = value
    if kept and len(orjson.dumps(kept, option=_OPTIONS)) > _MAX_ATTRIBUTES_BYTES:
        return {}
    return kept


def _message(exc: BaseException) -> str:
    """``str(exc)``; an exception whose ``__str__`` itself raises is still described."""
    try:
        return str(exc)
    except BaseException as broken:
        try:
            return f"<str() of this {type(exc).__name__} raised {type(broken).__name__}>"
        except BaseException:
            return "<unprintable exception>"


def _traceback(exc: BaseException) -> str:
    """The formatted traceback (its last 8000 characters), or what could be had of it."""
    try:
        return "".join(traceback.format_exception(exc))[-8000:]
    except BaseException:
        try:
            return "".join(traceback.format_tb(exc.__traceback__))[-8000:]
        except BaseException:
            return ""


def _storable(text: str) -> str:
    """``text`` with what PostgreSQL cannot store escaped: NUL and lone surrogates.

    An error's message is information, not data: escaping it beats losing the whole outcome.
    """
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if not text.isascii():
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def decode_step_error(step: str, error: dict[str, Any]) -> StepFailed:
    """Rebuild the exception a workflow receives for a failed step or an event timeout."""
    if error.get("kind") == "ChildFailed":
        return ChildFailed(step, error.get("type", "Error"), error.get("message", ""),
                           int(error.get("attempts", 1)), error.get("module", "builtins"),
                           traceback=error.get("traceback"), attributes=error.get("attributes"),
                           child_id=str(error.get("child", "")),
                           status=str(error.get("status", "failed")))
    kind: type[StepFailed] = {"StepTimeout": StepTimeout, "EventTimeout": EventTimeout}.get(
        error.get("kind", ""), StepFailed)
    return kind(step, error.get("type", "Error"), error.get("message", ""),
                int(error.get("attempts", 1)), error.get("module", "builtins"),
                traceback=error.get("traceback"), attributes=error.get("attributes"))
