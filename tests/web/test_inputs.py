"""What the OpenAPI document calls valid, the library accepts: the patterns of names and
durations (written once in zart.web.inputs) never admit a value the library then refuses, and
the time parser reads every RFC 3339 time the pattern admits. No database."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zart.commands import validate_name
from zart.durations import parse_duration
from zart.web.http import HttpError
from zart.web.inputs import DURATION_PATTERN, NAME_PATTERN, TIME_PATTERN, check_name, parse_time


@settings(max_examples=300, deadline=None)
@given(st.from_regex(NAME_PATTERN, fullmatch=True).filter(lambda s: len(s) <= 200))
def test_every_name_the_pattern_admits_is_a_valid_library_name(name: str) -> None:
    assert check_name(name, "name") == validate_name(name) == name


@pytest.mark.parametrize("name", ["", " ", "\t", "\u0085", "\ufeff", "a\x00", "a\nb",
                                  "x" * 201])
def test_blank_or_control_character_names_are_refused(name: str) -> None:
    with pytest.raises(HttpError) as refused:
        check_name(name, "execution id")
    assert refused.value.status == 422 and "execution id" in refused.value.message


@settings(max_examples=300, deadline=None)
@given(st.from_regex(DURATION_PATTERN, fullmatch=True))
def test_every_duration_the_pattern_admits_parses_within_the_librarys_bound(text: str) -> None:
    assert 0 <= parse_duration(text) < 100 * 365 * 86400


@settings(max_examples=300, deadline=None)
@given(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                    timezones=st.just(UTC)))
def test_rfc_3339_times_are_read_back_exactly(when: datetime) -> None:
    text = when.isoformat()
    assert re.fullmatch(TIME_PATTERN, text)
    assert parse_time(text, "time") == when
    assert parse_time(text.replace("+00:00", "z").replace("T", "t"), "time") == when


def test_a_leap_second_reads_as_the_end_of_the_second_before() -> None:
    assert parse_time("2016-12-31T23:59:60Z", "t") == datetime(2016, 12, 31, 23, 59, 59,
                                                               999_999, tzinfo=UTC)
    with pytest.raises(HttpError):
        parse_time("2026-02-30T00:00:00Z", "t")
