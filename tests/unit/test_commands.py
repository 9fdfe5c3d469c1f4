"""Commands: the vocabulary a workflow may yield, and the names that key them."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from freezegun import freeze_time

import zart
from zart import serde
from zart.commands import (
    MAX_NAME_LENGTH,
    Capture,
    ChildWorkflow,
    Parallel,
    Sleep,
    Step,
    WaitEvent,
    validate_name,
)
from zart.errors import DuplicateStepName
from zart.retry import NO_RETRY, fixed


def work(*args: Any, **kwargs: Any) -> None:
    """A step body; commands never call it."""


@pytest.mark.parametrize(
    "name",
    ["a", "fetch-7", "x" * MAX_NAME_LENGTH, "  padded  ", "日本語 ✓", "with/slash:colon"],
)
def test_valid_names_are_returned_unchanged(name: str) -> None:
    assert validate_name(name) == name


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("", ValueError, "must not be empty"),
        ("   ", ValueError, "must not be empty"),
        ("x" * (MAX_NAME_LENGTH + 1), ValueError, "201 characters long; the limit is 200"),
        ("a\x00b", ValueError, "NUL"),
        ("bad\ud800", ValueError, "lone surrogate"),
        (None, TypeError, "must be a str, got NoneType"),
        (42, TypeError, "must be a str, got int"),
        (b"bytes", TypeError, "must be a str, got bytes"),
    ],
    ids=["empty", "blank", "too-long", "nul", "surrogate", "none", "int", "bytes"],
)
def test_invalid_names_are_rejected_saying_why(
    name: object, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message) as info:
        validate_name(name, "step name")
    assert str(info.value).startswith("step name")


@pytest.mark.parametrize(
    "build",
    [
        lambda name: Step(name, work),
        lambda name: zart.sleep(name, "1s"),
        lambda name: zart.wait_for_event(name),
        lambda name: zart.capture(name, lambda: 1),
        lambda name: zart.now(name),
        lambda name: Step("ok", work).named(name),
    ],
    ids=["step", "sleep", "wait_for_event", "capture", "now", "named"],
)
@pytest.mark.parametrize("name", ["", "x" * 201, "a\x00", "\ud800", 7])
def test_every_command_validates_its_name(build: Any, name: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        build(name)


@pytest.mark.parametrize(
    ("command", "keys"),
    [
        (Step("charge", work), (("step", "charge"),)),
        (zart.sleep("settle", "1m"), (("sleep", "settle"),)),
        (zart.wait_for_event("shipped"), (("event", "shipped"),)),
        (zart.capture("id", lambda: 1), (("capture", "id"),)),
        (zart.now("t0"), (("capture", "t0"),)),
        (
            zart.parallel(Step("a", work), Step("b", work), Step("c", work)),
            (("step", "a"), ("step", "b"), ("step", "c")),
        ),
        (zart.parallel(), ()),
    ],
    ids=["step", "sleep", "event", "capture", "now", "parallel", "empty-parallel"],
)
def test_each_command_is_keyed_by_kind_and_name(command: Any, keys: tuple[Any, ...]) -> None:
    assert command.keys == keys


def test_step_defaults_to_one_attempt_no_timeout_and_global_scope() -> None:
    step = Step("s", work)
    assert (step.args, dict(step.kwargs), step.retry, step.timeout) == ((), {}, NO_RETRY, None)
    assert (step.timeout_scope, step.transactional) == ("global", False)


@pytest.mark.parametrize(("timeout", "seconds"), [("2s", 2.0), (5, 5.0), (timedelta(1), 86400.0)])
def test_step_timeout_is_parsed_to_seconds(timeout: Any, seconds: float) -> None:
    assert Step("s", work, timeout=timeout).timeout == seconds


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"fn": "not callable"}, TypeError, "fn must be callable"),
        ({"timeout_scope": "forever"}, ValueError, "timeout_scope"),
        ({"timeout": "-1s"}, ValueError, "timeout of step 's'"),
        ({"retry": 3}, TypeError, "retry policy"),
    ],
)
def test_step_rejects_bad_options(kwargs: dict[str, Any], error: type, message: str) -> None:
    options: dict[str, Any] = {"name": "s", "fn": work, **kwargs}
    with pytest.raises(error, match=message):
        Step(**options)


def test_named_returns_the_same_step_under_another_name() -> None:
    original = Step("fetch", work, (1,), {"k": 2}, fixed(2, "1s"), 3.0, "per_attempt", True)
    renamed = original.named("fetch-1")
    assert renamed.name == "fetch-1"
    assert renamed == dataclasses.replace(original, name="fetch-1")
    assert original.name == "fetch"


def test_commands_are_immutable() -> None:
    with pytest.raises(AttributeError):
        Step("s", work).name = "t"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        zart.sleep("s", 1).seconds = 2  # type: ignore[misc]


def test_sleep_takes_a_parsed_duration() -> None:
    assert zart.sleep("nap", "1h30m") == Sleep("nap", seconds=5400.0)


def test_sleep_until_takes_an_aware_datetime() -> None:
    when = datetime(2030, 1, 1, tzinfo=UTC)
    assert zart.sleep_until("new-year", when) == Sleep("new-year", until=when)


def test_sleep_until_rejects_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        zart.sleep_until("new-year", datetime(2030, 1, 1))


@pytest.mark.parametrize("when", ["2030-01-01T00:00:00+00:00", 1_900_000_000, None])
def test_sleep_until_rejects_what_is_not_a_datetime(when: object) -> None:
    with pytest.raises(TypeError, match="needs a datetime"):
        zart.sleep_until("s", when)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs",
    [{}, {"seconds": 1.0, "until": datetime(2030, 1, 1, tzinfo=UTC)}],
    ids=["neither", "both"],
)
def test_sleep_needs_exactly_one_of_seconds_or_until(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Sleep("s", **kwargs)


@pytest.mark.parametrize("duration", ["-1s", "soon", float("nan"), True])
def test_sleep_rejects_bad_durations(duration: object) -> None:
    with pytest.raises(ValueError, match="sleep 'nap'"):
        zart.sleep("nap", duration)  # type: ignore[arg-type]


def test_wait_for_event_timeout_is_optional_and_parsed() -> None:
    assert zart.wait_for_event("shipped") == WaitEvent("shipped", None)
    assert zart.wait_for_event("shipped", timeout="1d") == WaitEvent("shipped", 86400.0)
    with pytest.raises(ValueError, match="'shipped'"):
        zart.wait_for_event("shipped", timeout="-1d")


def test_parallel_accepts_steps_as_arguments_or_as_one_list_or_tuple() -> None:
    a, b = Step("a", work), Step("b", work)
    assert zart.parallel(a, b) == zart.parallel([a, b]) == zart.parallel((a, b))
    assert zart.parallel([a, b]).steps == (a, b)


def test_parallel_return_exceptions_defaults_to_false() -> None:
    a = Step("a", work)
    assert zart.parallel(a).return_exceptions is False
    assert zart.parallel([a], return_exceptions=True).return_exceptions is True


def test_parallel_children_sharing_a_name_raise_duplicate_step_name_naming_it() -> None:
    with pytest.raises(DuplicateStepName, match=r"\['fetch'\]"):
        zart.parallel(Step("fetch", work), Step("other", work), Step("fetch", work))


def test_parallel_children_renamed_with_named_are_accepted() -> None:
    steps = [Step("fetch", work, (p,)).named(f"fetch-{p}") for p in range(3)]
    assert [key[1] for key in zart.parallel(steps).keys] == ["fetch-0", "fetch-1", "fetch-2"]


@pytest.mark.parametrize(
    "child",
    [zart.sleep("s", 1), zart.wait_for_event("e"), "step", None],
    ids=["sleep", "event", "str", "none"],
)
def test_parallel_takes_steps_and_child_workflows_only(child: object) -> None:
    with pytest.raises(TypeError, match="takes steps and child workflows only"):
        zart.parallel(Step("a", work), child)  # type: ignore[arg-type]


def test_capture_needs_a_callable() -> None:
    with pytest.raises(TypeError, match="fn must be callable"):
        zart.capture("c", 42)  # type: ignore[arg-type]
    assert zart.capture("c", list).decode is None


def test_now_records_the_utc_time_and_decodes_to_an_aware_datetime() -> None:
    command = zart.now("started")
    assert isinstance(command, Capture)
    assert command.decode is not None
    with freeze_time("2024-05-17 12:30:00"):
        stored = serde.dumps(command.fn())
    received = command.decode(serde.loads(stored))
    assert received == datetime(2024, 5, 17, 12, 30, tzinfo=UTC)
    assert received.tzinfo is not None


def test_command_union_covers_every_command_class() -> None:
    assert set(zart.Command.__args__) == {Step, Sleep, WaitEvent, Parallel, Capture,
                                          ChildWorkflow}
