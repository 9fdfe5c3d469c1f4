"""serde: what zart can store, and the decoded stored form a workflow receives."""

from __future__ import annotations

import dataclasses
import enum
import math
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from zart import serde
from zart.errors import EventTimeout, SerializationError, StepFailed, StepTimeout


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        0,
        -7,
        2**53,
        1.5,
        "",
        "héllo ✓ 🎉",
        [],
        {},
        [1, "two", None, 3.25, [False]],
        {"a": {"b": [1, {"c": "d"}]}},
    ],
)
def test_json_values_roundtrip_unchanged(value: Any) -> None:
    assert serde.loads(serde.dumps(value)) == value


@pytest.mark.parametrize(
    ("value", "decoded"),
    [
        ((1, 2, (3,)), [1, 2, [3]]),
        ({"t": (1, "a")}, {"t": [1, "a"]}),
        (datetime(2024, 5, 17, 12, 30, tzinfo=UTC), "2024-05-17T12:30:00+00:00"),
        (datetime(2024, 5, 17, 12, 30, 1, 500), "2024-05-17T12:30:01.000500"),
        (date(2024, 5, 17), "2024-05-17"),
        (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    ],
    ids=["tuple", "nested-tuple", "aware-datetime", "naive-datetime", "date", "uuid"],
)
def test_workflows_receive_the_decoded_stored_form(value: Any, decoded: Any) -> None:
    text, received = serde.roundtrip(value)
    assert received == decoded
    assert type(received) is type(decoded)
    assert serde.loads(text) == received


def test_dumps_returns_text_and_loads_accepts_text_bytes_and_none() -> None:
    text = serde.dumps({"a": [1, 2]})
    assert isinstance(text, str)
    assert serde.loads(text) == serde.loads(text.encode()) == {"a": [1, 2]}
    assert serde.loads(None) is None


def test_dataclasses_and_enums_are_stored_as_plain_json() -> None:
    @dataclasses.dataclass
    class Point:
        x: int
        y: int

    class Color(enum.Enum):
        RED = "red"

    assert serde.roundtrip({"p": Point(1, 2), "c": Color.RED})[1] == {
        "p": {"x": 1, "y": 2}, "c": "red",
    }


@pytest.mark.parametrize(
    "value",
    [
        math.nan,
        math.inf,
        -math.inf,
        [1.0, math.nan],
        {"deep": {"er": [(0, math.inf)]}},
    ],
    ids=["nan", "inf", "-inf", "in-list", "nested-in-tuple"],
)
def test_non_finite_floats_are_refused_rather_than_stored_as_null(value: Any) -> None:
    with pytest.raises(SerializationError, match="NaN or infinity") as info:
        serde.dumps(value, what="result of step 'score'")
    assert "result of step 'score'" in str(info.value)


def test_non_finite_float_inside_a_dataclass_is_refused() -> None:
    @dataclasses.dataclass
    class Score:
        value: float

    with pytest.raises(SerializationError, match="NaN or infinity"):
        serde.dumps([Score(math.nan)])


def test_a_real_null_next_to_finite_floats_is_stored() -> None:
    assert serde.loads(serde.dumps([None, 1.5, {"x": None}])) == [None, 1.5, {"x": None}]


@pytest.mark.parametrize(
    "value",
    [object(), {1, 2}, b"bytes", timedelta(seconds=1), {"conn": object()}, [lambda: None]],
    ids=["object", "set", "bytes", "timedelta", "nested-object", "function"],
)
def test_unserializable_values_raise_serialization_error_naming_what(value: Any) -> None:
    with pytest.raises(SerializationError, match=r"^arguments of step 'fetch' is not JSON"):
        serde.dumps(value, what="arguments of step 'fetch'")


@pytest.mark.parametrize("value", [{1: "a"}, {"ok": {2.5: "b"}}, {None: 1}])
def test_non_string_dict_keys_are_refused_instead_of_silently_turned_into_strings(
    value: Any,
) -> None:
    with pytest.raises(SerializationError, match="not JSON-serializable"):
        serde.dumps(value)


def test_lone_surrogate_in_a_string_is_refused() -> None:
    with pytest.raises(SerializationError, match="not JSON-serializable"):
        serde.dumps({"text": "\ud800"})


@pytest.mark.parametrize(
    "value",
    ["a\x00b", ["\x00"], {"k": {"v": "\x00"}}, {"\x00": 1}, "\\\x00", "\\u0000\x00"],
    ids=["text", "in-list", "nested", "in-key", "after-backslash", "after-escape-lookalike"],
)
def test_nul_characters_are_refused_because_postgresql_cannot_store_them(value: Any) -> None:
    with pytest.raises(SerializationError, match="NUL"):
        serde.dumps(value, what="payload")


@pytest.mark.parametrize(
    "value",
    ["\\u0000", "C:\\u0000\\dir", {"\\u0000": "\\\\u0000"}],
    ids=["escaped-text", "path", "key-and-value"],
)
def test_text_that_only_spells_a_nul_escape_is_stored(value: Any) -> None:
    assert serde.loads(serde.dumps(value)) == value


def test_values_over_the_size_limit_are_refused_with_the_sizes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(serde, "MAX_VALUE_BYTES", 10)
    assert serde.dumps("x" * 8) == '"' + "x" * 8 + '"'  # exactly 10 bytes is allowed
    with pytest.raises(SerializationError, match=r"11 bytes.*limit is 10 bytes") as info:
        serde.dumps("x" * 9, what="result of step 'big'")
    assert "result of step 'big'" in str(info.value)


def test_the_default_size_limit_is_64_mib() -> None:
    assert serde.MAX_VALUE_BYTES == 64 * 1024 * 1024


def test_encode_error_of_an_exception_keeps_type_module_message_attempts_and_traceback() -> None:
    try:
        raise KeyError("missing")
    except KeyError as exc:
        error = serde.encode_error(exc, attempts=3)
    assert error["type"] == "KeyError"
    assert error["module"] == "builtins"
    assert error["message"] == "'missing'"
    assert error["attempts"] == 3
    assert "raise KeyError" in error["traceback"]
    assert serde.loads(serde.dumps(error)) == error  # storable as is


def test_encode_error_truncates_huge_tracebacks_to_their_end() -> None:
    error = serde.encode_error(ValueError("x" * 20_000))
    assert len(error["traceback"]) == 8000
    assert error["traceback"].endswith("x\n")


class PaymentDeclined(Exception):
    pass


def test_decode_step_error_rebuilds_step_failed_from_an_encoded_exception() -> None:
    error = serde.encode_error(PaymentDeclined("card expired"), attempts=4)
    exc = serde.decode_step_error("charge", serde.loads(serde.dumps(error)))
    assert type(exc) is StepFailed
    assert (exc.step, exc.error_type, exc.error_module, exc.message, exc.attempts) == (
        "charge", "PaymentDeclined", __name__, "card expired", 4,
    )
    assert "charge" in str(exc) and "card expired" in str(exc)


@pytest.mark.parametrize(
    "exc",
    [
        StepFailed("charge", "ValueError", "bad amount", 2, "builtins"),
        StepTimeout("charge", "StepTimeout", "ran past 5s", 3, "zart.errors"),
        EventTimeout("shipped"),
    ],
    ids=["StepFailed", "StepTimeout", "EventTimeout"],
)
def test_step_errors_roundtrip_through_their_stored_form_keeping_their_kind(
    exc: StepFailed,
) -> None:
    stored = serde.loads(serde.dumps(serde.encode_error(exc)))
    back = serde.decode_step_error(exc.step, stored)
    assert type(back) is type(exc)
    assert (back.step, back.error_type, back.error_module, back.message, back.attempts) == (
        exc.step, exc.error_type, exc.error_module, exc.message, exc.attempts,
    )
    assert serde.encode_error(back) == stored


def test_decode_step_error_of_an_empty_error_gives_a_generic_step_failed() -> None:
    exc = serde.decode_step_error("s", {})
    assert type(exc) is StepFailed
    assert (exc.error_type, exc.message, exc.attempts, exc.error_module) == (
        "Error", "", 1, "builtins",
    )


class _BrokenStr(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def test_encode_error_of_an_exception_whose_str_raises_still_names_its_type() -> None:
    encoded = serde.encode_error(_BrokenStr(), attempts=2)
    assert encoded["type"] == "_BrokenStr"
    assert encoded["attempts"] == 2
    assert "str() of this _BrokenStr raised RuntimeError" in encoded["message"]


class _WithAttributes(Exception):
    def __init__(self) -> None:
        super().__init__("declined")
        self.code = "E42"
        self.details = {"retry_in": 3}
        self.client = object()  # not JSON: left out
        self._private = "left out"


def test_encode_error_keeps_the_json_serializable_public_attributes() -> None:
    encoded = serde.encode_error(_WithAttributes())
    assert encoded["attributes"] == {"code": "E42", "details": {"retry_in": 3}}


def test_a_step_failed_decoded_from_the_stored_form_exposes_traceback_and_attributes() -> None:
    try:
        raise _WithAttributes()
    except _WithAttributes as exc:
        encoded = serde.encode_error(exc, attempts=2)
    failure = serde.decode_step_error("charge", encoded)
    assert failure.attributes == {"code": "E42", "details": {"retry_in": 3}}
    assert failure.traceback is not None and "_WithAttributes" in failure.traceback
    assert serde.encode_error(failure)["attributes"] == failure.attributes


def test_subclasses_of_date_and_time_types_are_stored_as_their_iso_text() -> None:
    class FrozenClockDatetime(datetime):
        """What freezegun's datetime is: a subclass orjson does not write by itself."""

    moment = FrozenClockDatetime(2026, 12, 2, 6, 30, tzinfo=UTC)
    assert serde.loads(serde.dumps({"at": moment})) == {"at": "2026-12-02T06:30:00+00:00"}
    assert serde.dumps(datetime(2026, 12, 2, 6, 30, tzinfo=UTC)) == \
        '"2026-12-02T06:30:00+00:00"'
