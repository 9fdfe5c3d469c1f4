"""parse_duration: the one parser for every time span zart accepts."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from zart.durations import MAX_SECONDS, parse_duration


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (5, 5.0),
        (2.5, 2.5),
        (timedelta(minutes=2, seconds=3), 123.0),
        (timedelta(0), 0.0),
        ("500ms", 0.5),
        ("2s", 2.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("2d", 172_800.0),
        ("1w", 604_800.0),
        ("1h30m", 5400.0),
        ("1m30s", 90.0),
        ("2s500ms", 2.5),
        ("1.5s", 1.5),
        ("1h 30m", 5400.0),
        ("  2s  ", 2.0),
        ("0s", 0.0),
        ("3", 3.0),
        ("0.25", 0.25),
    ],
)
def test_parse_duration_converts_accepted_forms_to_seconds(value: object, seconds: float) -> None:
    result = parse_duration(value)  # type: ignore[arg-type]
    assert result == pytest.approx(seconds)
    assert isinstance(result, float)


def test_parse_duration_accepts_exactly_one_hundred_years() -> None:
    assert parse_duration(MAX_SECONDS) == MAX_SECONDS


@pytest.mark.parametrize(
    "value",
    [-1, -0.001, "-2s", timedelta(seconds=-1), pytest.param(-(10**400), id="-10**400")],
)
def test_parse_duration_rejects_negative_spans(value: object) -> None:
    with pytest.raises(ValueError, match=r"negative|not understood"):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "nan", "inf", "1e400"])
def test_parse_duration_rejects_non_finite_values(value: object) -> None:
    with pytest.raises(ValueError, match="finite"):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        MAX_SECONDS + 1,
        "36501d",
        "5300w",
        timedelta(days=36_501),
        pytest.param(10**400, id="10**400-too-big-for-a-float"),
    ],
)
def test_parse_duration_rejects_spans_longer_than_one_hundred_years(value: object) -> None:
    with pytest.raises(ValueError, match="100 years"):
        parse_duration(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", [True, False])
def test_parse_duration_rejects_bools_although_they_are_ints(value: bool) -> None:
    with pytest.raises(ValueError, match=repr(value)):
        parse_duration(value)


@pytest.mark.parametrize(
    "value",
    ["2x", "s", "ms", "2 seconds", "1h30", "h1", "2s3", "1..5s", "two", "2s,3s", "1e3s"],
)
def test_parse_duration_rejects_text_it_does_not_understand(value: str) -> None:
    with pytest.raises(ValueError, match="not understood") as info:
        parse_duration(value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", ["", "   ", "\t\n"])
def test_parse_duration_rejects_empty_text(value: str) -> None:
    with pytest.raises(ValueError, match="must not be empty"):
        parse_duration(value)


@pytest.mark.parametrize("value", [None, [1], {"s": 1}, b"2s", object()])
def test_parse_duration_rejects_other_types_naming_the_type(value: object) -> None:
    with pytest.raises(ValueError, match=type(value).__name__):
        parse_duration(value)  # type: ignore[arg-type]


def test_parse_duration_errors_name_what_was_being_parsed() -> None:
    with pytest.raises(ValueError, match=r"^retry delay "):
        parse_duration("soon", what="retry delay")
