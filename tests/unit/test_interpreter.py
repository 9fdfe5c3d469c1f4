"""The pure interpreter, driven against hand-built histories (lists of ``Record``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Generator, Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from freezegun import freeze_time

import zart
from zart import serde
from zart.commands import Step
from zart.errors import (
    DuplicateStepName,
    EventTimeout,
    InvalidCommand,
    NonDeterminismError,
    StepFailed,
    StepTimeout,
    WorkflowDefinitionError,
)
from zart.interpreter import Broken, Interpreter, Pending, Raised, Record, Returned

Body = Generator[Any, Any, Any]


# -- helpers --------------------------------------------------------------------------------


def work(*args: Any, **kwargs: Any) -> None:
    """A step body; the interpreter never calls it."""


def step(name: str) -> Step:
    return Step(name, work)


def done(seq: int, name: str, value: Any = None, kind: str = "step") -> Record:
    """A done, successful record holding the stored form of ``value``."""
    return Record(seq, kind, name, value=serde.dumps(value))


class PaymentDeclined(Exception):
    pass


def failed(seq: int, name: str, kind: str = "step", error: dict[str, Any] | None = None,
           ) -> Record:
    """A done, failed record (by default: PaymentDeclined after 3 attempts)."""
    if error is None:
        error = serde.encode_error(PaymentDeclined(f"{name} declined"), attempts=3)
    return Record(seq, kind, name, ok=False, error=error)


def running(seq: int, name: str, kind: str = "step") -> Record:
    """A record of a command still in progress."""
    return Record(seq, kind, name, status="running", ok=None, attempt=2)


def sequence(*names: str, received: list[Any] | None = None) -> Callable[[], Body]:
    """A body yielding one step per name, noting what it receives, returning all of it."""

    def body() -> Body:
        results = []
        for name in names:
            value = yield step(name)
            if received is not None:
                received.append(value)
            results.append(value)
        return results

    return body


def run_live(interpreter: Interpreter, outcomes: Mapping[str, Callable[[int], Record]]) -> Any:
    """Play the worker: perform each pending command by storing its outcome, then resume."""
    outcome = interpreter.start()
    while isinstance(outcome, Pending):
        records = [outcomes[name](outcome.seq + i)
                   for i, (_, name) in enumerate(outcome.command.keys)]
        outcome = interpreter.resume(records)
    return outcome


# -- replay and resume ----------------------------------------------------------------------


def test_start_without_history_stops_at_the_first_command_at_position_zero() -> None:
    interpreter = Interpreter(sequence("a", "b")())
    outcome = interpreter.start()
    assert outcome == Pending(step("a"), 0, [None])
    assert interpreter.position == 1


def test_replay_feeds_recorded_outcomes_and_stops_at_the_first_command_without_a_record() -> None:
    received: list[Any] = []
    history = [done(0, "a", 1), done(1, "b", {"x": 2})]
    outcome = Interpreter(sequence("a", "b", "c", received=received)(), history).start()
    assert outcome == Pending(step("c"), 2, [None])
    assert received == [1, {"x": 2}]


def test_replay_stops_at_a_command_whose_record_is_still_in_progress() -> None:
    in_progress = running(1, "b")
    outcome = Interpreter(sequence("a", "b", "c")(), [done(0, "a"), in_progress]).start()
    assert isinstance(outcome, Pending)
    assert (outcome.command, outcome.seq) == (step("b"), 1)
    assert outcome.records == [in_progress]
    assert outcome.records[0] is in_progress


def test_history_order_in_the_list_does_not_matter_only_positions_do() -> None:
    history = [done(2, "c", "C"), done(0, "a", "A"), done(1, "b", "B")]
    outcome = Interpreter(sequence("a", "b", "c")(), history).start()
    assert outcome == Returned(["A", "B", "C"])


def test_a_body_that_consumes_its_whole_history_and_returns_gives_returned() -> None:
    assert Interpreter(sequence("a")(), [done(0, "a", 5)]).start() == Returned([5])
    assert Interpreter(sequence()()).start() == Returned([])


def test_resume_continues_to_the_next_command_at_the_next_position() -> None:
    interpreter = Interpreter(sequence("a", "b")())
    interpreter.start()
    outcome = interpreter.resume([done(0, "a", 1)])
    assert outcome == Pending(step("b"), 1, [None])
    assert interpreter.resume([done(1, "b", 2)]) == Returned([1, 2])


@pytest.mark.parametrize(
    ("value", "received"),
    [
        ((1, (2, 3)), [1, [2, 3]]),
        (datetime(2024, 5, 17, 12, 30, tzinfo=UTC), "2024-05-17T12:30:00+00:00"),
        ({"nested": {"t": ("a",)}}, {"nested": {"t": ["a"]}}),
        (None, None),
        (1.5, 1.5),
        ("text", "text"),
    ],
    ids=["tuple", "datetime", "nested-tuple", "none", "float", "str"],
)
def test_resume_hands_the_body_the_decoded_stored_form(value: Any, received: Any) -> None:
    seen: list[Any] = []
    interpreter = Interpreter(sequence("a", received=seen)())
    interpreter.start()
    record = done(0, "a", value)
    assert interpreter.resume([record]) == Returned([received])
    assert seen == [serde.loads(record.value)]
    assert type(seen[0]) is type(received)


def test_first_run_and_replay_hand_the_body_identical_values() -> None:
    values = {"a": (1, 2), "b": datetime(2024, 1, 2, tzinfo=UTC), "c": {"k": [None]}}
    outcomes = {name: (lambda seq, name=name: done(seq, name, values[name])) for name in values}
    first: list[Any] = []
    live = run_live(Interpreter(sequence("a", "b", "c", received=first)()), outcomes)

    replayed: list[Any] = []
    history = [outcomes[name](seq) for seq, name in enumerate(values)]
    replay = Interpreter(sequence("a", "b", "c", received=replayed)(), history).start()

    assert first == replayed == [[1, 2], "2024-01-02T00:00:00+00:00", {"k": [None]}]
    assert live == replay == Returned(first)


def test_resume_without_a_pending_command_raises_runtime_error() -> None:
    interpreter = Interpreter(sequence("a")())
    with pytest.raises(RuntimeError, match="without a pending command"):
        interpreter.resume([done(0, "a")])


@pytest.mark.parametrize(
    "records",
    [[], [running(0, "a")], [done(1, "elsewhere")]],
    ids=["nothing", "not-done", "wrong-position"],
)
def test_resume_without_the_pending_commands_outcome_raises_runtime_error(
    records: list[Record],
) -> None:
    interpreter = Interpreter(sequence("a")())
    interpreter.start()
    with pytest.raises(RuntimeError, match="missing outcomes"):
        interpreter.resume(records)


def test_interpreter_rejects_what_is_not_a_generator() -> None:
    with pytest.raises(WorkflowDefinitionError, match="must be a generator"):
        Interpreter(sequence("a"))  # type: ignore[arg-type]


@pytest.mark.parametrize("cleanup", ["yields", "raises"])
def test_close_drops_what_a_finally_does_instead_of_exiting(cleanup: str) -> None:
    """A ``finally`` that yields (Python: "generator ignored GeneratorExit") or raises while
    the execution is let go cannot be recorded; close() must not raise it over the reason the
    execution was let go."""
    events: list[str] = []

    def body() -> Body:
        try:
            yield step("a")
        finally:
            events.append("finally")
            if cleanup == "yields":
                yield step("cleanup")
            else:
                raise RuntimeError("cleanup failed")

    interpreter = Interpreter(body())
    interpreter.start()
    interpreter.close()
    assert events == ["finally"]


def test_close_raises_generator_exit_at_the_yield() -> None:
    events: list[str] = []

    def body() -> Body:
        try:
            yield step("a")
        except GeneratorExit:
            events.append("closed")
            raise

    interpreter = Interpreter(body())
    interpreter.start()
    interpreter.close()
    assert events == ["closed"]


# -- failures arrive at the yield -----------------------------------------------------------


def charge_or_refund(caught: list[StepFailed]) -> Body:
    try:
        yield step("charge")
    except StepFailed as exc:
        caught.append(exc)
        yield step("refund")
        return "refunded"
    return "charged"


def test_failed_record_raises_step_failed_into_the_body_with_the_recorded_details() -> None:
    caught: list[StepFailed] = []
    history = [failed(0, "charge"), done(1, "refund")]
    outcome = Interpreter(charge_or_refund(caught), history).start()
    assert outcome == Returned("refunded")
    [exc] = caught
    assert type(exc) is StepFailed
    assert (exc.step, exc.error_type, exc.error_module, exc.message, exc.attempts) == (
        "charge", "PaymentDeclined", __name__, "charge declined", 3,
    )


def test_handled_failure_path_replays_identically_to_the_first_run() -> None:
    outcomes = {"charge": lambda seq: failed(seq, "charge"),
                "refund": lambda seq: done(seq, "refund")}
    first: list[StepFailed] = []
    live = run_live(Interpreter(charge_or_refund(first)), outcomes)

    replayed: list[StepFailed] = []
    history = [outcomes["charge"](0), outcomes["refund"](1)]
    replay = Interpreter(charge_or_refund(replayed), history).start()

    assert live == replay == Returned("refunded")
    assert [(e.step, e.error_type, e.message, e.attempts, str(e)) for e in first] == [
        (e.step, e.error_type, e.message, e.attempts, str(e)) for e in replayed
    ]


def test_successful_path_does_not_run_the_handler() -> None:
    caught: list[StepFailed] = []
    assert Interpreter(charge_or_refund(caught), [done(0, "charge")]).start() == Returned("charged")
    assert caught == []


def test_unhandled_step_failure_ends_as_raised_from_the_failing_commands_position() -> None:
    outcome = Interpreter(sequence("a", "b", "c")(), [done(0, "a"), failed(1, "b")]).start()
    assert isinstance(outcome, Raised)
    assert isinstance(outcome.error, StepFailed)
    assert outcome.error.step == "b"
    assert outcome.from_seq == 1


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        (failed(0, "w", "step", serde.encode_error(StepTimeout("w", "StepTimeout", "slow", 2))),
         StepTimeout),
        (failed(0, "w", "event", serde.encode_error(EventTimeout("w"))), EventTimeout),
        (failed(0, "w", "step", serde.encode_error(ValueError("x"))), StepFailed),
    ],
    ids=["step-timeout", "event-timeout", "plain-failure"],
)
def test_failed_records_raise_the_step_failed_subclass_of_their_kind(
    record: Record, expected: type[StepFailed]
) -> None:
    caught: list[BaseException] = []

    def body() -> Body:
        command = zart.wait_for_event("w") if record.kind == "event" else step("w")
        try:
            yield command
        except StepFailed as exc:
            caught.append(exc)
        return "handled"

    assert Interpreter(body(), [record]).start() == Returned("handled")
    assert type(caught[0]) is expected
    assert caught[0].step == "w"


def test_event_timeout_can_be_handled_with_except_event_timeout() -> None:
    def body() -> Body:
        try:
            payload = yield zart.wait_for_event("shipped", timeout="1d")
        except EventTimeout:
            return "gave up"
        return payload

    history = [failed(0, "shipped", "event", serde.encode_error(EventTimeout("shipped")))]
    assert Interpreter(body(), history).start() == Returned("gave up")
    arrived = [done(0, "shipped", {"t": 1}, "event")]
    assert Interpreter(body(), arrived).start() == Returned({"t": 1})


def test_sleep_and_event_records_feed_their_stored_values() -> None:
    def body() -> Body:
        slept = yield zart.sleep("nap", "1h")
        payload = yield zart.wait_for_event("go")
        return slept, payload

    history = [done(0, "nap", None, "sleep"), done(1, "go", {"ok": True}, "event")]
    assert Interpreter(body(), history).start() == Returned((None, {"ok": True}))


# -- parallel -------------------------------------------------------------------------------


def fan_out(*names: str, return_exceptions: bool = False, after: str | None = "after",
            ) -> Callable[[], Body]:
    def body() -> Body:
        results = yield zart.parallel([step(n) for n in names],
                                      return_exceptions=return_exceptions)
        if after is not None:
            yield step(after)
        return results

    return body


def test_parallel_takes_one_position_per_child_and_returns_results_in_child_order() -> None:
    history = [done(2, "c", "C"), done(0, "a", ("A",)), done(1, "b", "B"), done(3, "after")]
    outcome = Interpreter(fan_out("a", "b", "c")(), history).start()
    assert outcome == Returned([["A"], "B", "C"])


def test_parallel_first_run_pending_spans_all_children_and_the_next_command_follows() -> None:
    interpreter = Interpreter(fan_out("a", "b", "c")())
    outcome = interpreter.start()
    assert isinstance(outcome, Pending)
    assert (outcome.seq, outcome.records) == (0, [None, None, None])
    assert interpreter.position == 3
    after = interpreter.resume([done(2, "c", 3), done(0, "a", 1), done(1, "b", 2)])
    assert after == Pending(step("after"), 3, [None])


def test_parallel_with_some_children_done_is_pending_with_their_records() -> None:
    a, b = done(0, "a", 1), running(1, "b")
    outcome = Interpreter(fan_out("a", "b", "c")(), [a, b]).start()
    assert isinstance(outcome, Pending)
    assert outcome.seq == 0
    assert outcome.records == [a, b, None]


def test_resume_of_a_parallel_merges_records_already_in_history() -> None:
    interpreter = Interpreter(fan_out("a", "b", after=None)(), [done(0, "a", 1)])
    assert isinstance(interpreter.start(), Pending)
    assert interpreter.resume([done(1, "b", 2)]) == Returned([1, 2])


def test_parallel_raises_the_first_failed_child_in_order_into_the_body() -> None:
    history = [failed(2, "c"), done(0, "a", 1), failed(1, "b")]
    outcome = Interpreter(fan_out("a", "b", "c")(), history).start()
    assert isinstance(outcome, Raised)
    assert isinstance(outcome.error, StepFailed)
    assert outcome.error.step == "b"
    assert outcome.from_seq == 0


def test_parallel_with_return_exceptions_puts_the_errors_in_the_list() -> None:
    timeout = serde.encode_error(StepTimeout("c", "StepTimeout", "slow", 1, "zart.errors"))
    history = [done(0, "a", 1), failed(1, "b"), failed(2, "c", error=timeout), done(3, "after")]
    outcome = Interpreter(fan_out("a", "b", "c", return_exceptions=True)(), history).start()
    assert isinstance(outcome, Returned)
    first, second, third = outcome.value
    assert first == 1
    assert type(second) is StepFailed
    assert (second.step, second.error_type) == ("b", "PaymentDeclined")
    assert type(third) is StepTimeout
    assert third.step == "c"


def test_failed_parallel_child_can_be_handled_and_the_path_replays() -> None:
    def body() -> Body:
        try:
            yield zart.parallel(step("a"), step("b"))
        except StepFailed as exc:
            yield step(f"compensate-{exc.step}")
            return "compensated"
        return "ok"

    history = [done(0, "a"), failed(1, "b"), done(2, "compensate-b")]
    assert Interpreter(body(), history).start() == Returned("compensated")


def test_empty_parallel_returns_an_empty_list_without_taking_a_position() -> None:
    def body() -> Body:
        results = yield zart.parallel()
        value = yield step("a")
        return results, value

    assert Interpreter(body(), [done(0, "a", 1)]).start() == Returned(([], 1))


# -- unique keys and determinism ------------------------------------------------------------


def test_yielding_the_same_step_twice_is_broken_with_duplicate_step_name() -> None:
    interpreter = Interpreter(sequence("a", "a")())
    interpreter.start()
    outcome = interpreter.resume([done(0, "a", 1)])
    assert isinstance(outcome, Broken)
    assert isinstance(outcome.error, DuplicateStepName)
    assert "step 'a' was yielded twice" in str(outcome.error)
    assert "position 1" in str(outcome.error)


def test_duplicate_step_name_is_detected_on_replay_never_answered_from_cache() -> None:
    outcome = Interpreter(sequence("a", "b", "a")(), [done(0, "a", 1), done(1, "b", 2)]).start()
    assert isinstance(outcome, Broken)
    assert isinstance(outcome.error, DuplicateStepName)


def test_retrying_a_failed_step_under_the_same_name_is_a_duplicate() -> None:
    def body() -> Body:
        try:
            yield step("charge")
        except StepFailed:
            yield step("charge")

    outcome = Interpreter(body(), [failed(0, "charge")]).start()
    assert isinstance(outcome, Broken)
    assert isinstance(outcome.error, DuplicateStepName)


def test_a_parallel_child_and_a_later_step_sharing_a_name_are_duplicates() -> None:
    outcome = Interpreter(fan_out("a", "b", after="b")(), [done(0, "a"), done(1, "b")]).start()
    assert isinstance(outcome, Broken)
    assert isinstance(outcome.error, DuplicateStepName)


def test_the_same_name_under_different_kinds_is_not_a_duplicate() -> None:
    def body() -> Body:
        yield step("x")
        yield zart.sleep("x", 1)
        yield zart.wait_for_event("x")
        yield zart.capture("x", lambda: 1)
        return "ok"

    history = [done(0, "x"), done(1, "x", kind="sleep"), done(2, "x", kind="event"),
               done(3, "x", 1, kind="capture")]
    assert Interpreter(body(), history).start() == Returned("ok")


@pytest.mark.parametrize(
    ("history", "body", "recorded", "yielded", "position"),
    [
        ([done(0, "a")], sequence("b"), "step 'a'", "step 'b'", 0),
        ([done(0, "a"), done(1, "b")], sequence("a", "c"), "step 'b'", "step 'c'", 1),
        ([done(0, "a", kind="sleep")], sequence("a"), "sleep 'a'", "step 'a'", 0),
        ([done(0, "a"), done(1, "b")], fan_out("a", "c"), "step 'b'", "step 'c'", 1),
        ([running(0, "a")], sequence("z"), "step 'a'", "step 'z'", 0),
    ],
    ids=["first-position", "later-position", "other-kind", "parallel-child", "in-progress"],
)
def test_a_different_command_at_a_recorded_position_is_broken_naming_both(
    history: list[Record], body: Callable[[], Body], recorded: str, yielded: str, position: int
) -> None:
    outcome = Interpreter(body(), history).start()
    assert isinstance(outcome, Broken)
    assert isinstance(outcome.error, NonDeterminismError)
    message = str(outcome.error)
    assert f"recorded {recorded}" in message
    assert f"now yields {yielded}" in message
    assert f"position {position}" in message


@pytest.mark.parametrize(
    "extra",
    [done(1, "b"), running(1, "b")],
    ids=["done", "in-progress"],
)
def test_returning_before_consuming_the_history_is_broken_with_non_determinism(
    extra: Record,
) -> None:
    outcome = Interpreter(sequence("a")(), [done(0, "a"), extra, done(2, "c")]).start()
    assert isinstance(outcome, Broken)
    assert isinstance(outcome.error, NonDeterminismError)
    assert "returned after 1 command(s)" in str(outcome.error)
    assert "step 'b' at position 1" in str(outcome.error)


@zart.step("fetch")
def fetch() -> None: ...


@pytest.mark.parametrize(
    ("yielded", "type_name"),
    [
        (None, "NoneType"),
        (42, "int"),
        ("charge", "str"),
        ([step("a"), step("b")], "list"),
        (fetch, "StepFunction"),
        (zart.parallel, "function"),
    ],
    ids=["none", "int", "str", "list-of-steps", "uncalled-step-function", "function"],
)
def test_yielding_a_non_command_is_broken_with_invalid_command(
    yielded: Any, type_name: str
) -> None:
    def body() -> Body:
        yield step("first")
        yield yielded

    outcome = Interpreter(body(), [done(0, "first")]).start()
    assert isinstance(outcome, Broken)
    assert isinstance(outcome.error, InvalidCommand)
    assert f"yielded {type_name} " in str(outcome.error)
    assert "at position 1" in str(outcome.error)


def test_invalid_command_message_shortens_a_huge_value() -> None:
    def body() -> Body:
        yield "x" * 10_000

    outcome = Interpreter(body()).start()
    assert isinstance(outcome, Broken)
    assert len(str(outcome.error)) < 400


# -- the body raising -----------------------------------------------------------------------


def test_body_raising_ends_as_raised_with_the_error_and_the_last_commands_position() -> None:
    boom = ValueError("boom")

    def body() -> Body:
        yield step("a")
        yield zart.parallel(step("b"), step("c"))
        raise boom

    outcome = Interpreter(body(), [done(0, "a"), done(1, "b"), done(2, "c")]).start()
    assert outcome == Raised(boom, 1)
    assert outcome.error is boom


def test_body_raising_before_any_command_is_raised_from_position_zero() -> None:
    def body() -> Body:
        raise KeyError("early")
        yield step("never")

    outcome = Interpreter(body()).start()
    assert isinstance(outcome, Raised)
    assert isinstance(outcome.error, KeyError)
    assert outcome.from_seq == 0


@pytest.mark.parametrize("error", [SystemExit(2), asyncio.CancelledError("stop"),
                                   GeneratorExit()], ids=lambda e: type(e).__name__)
def test_a_base_exception_from_the_body_ends_it_as_raised_like_any_error(
        error: BaseException) -> None:
    def body() -> Body:
        yield step("a")
        raise error

    outcome = Interpreter(body(), [done(0, "a")]).start()
    assert outcome == Raised(error, 0)


def test_a_keyboard_interrupt_from_the_body_is_the_users_ctrl_c_in_the_main_thread() -> None:
    def body() -> Body:
        raise KeyboardInterrupt
        yield step("never")

    with pytest.raises(KeyboardInterrupt):
        Interpreter(body()).start()


def test_a_keyboard_interrupt_raised_by_a_body_in_another_thread_is_its_error() -> None:
    def body() -> Body:
        raise KeyboardInterrupt
        yield step("never")

    outcomes: list[Any] = []
    thread = threading.Thread(target=lambda: outcomes.append(Interpreter(body()).start()))
    thread.start()
    thread.join(5)
    assert isinstance(outcomes[0], Raised)
    assert isinstance(outcomes[0].error, KeyboardInterrupt)


def test_body_raising_a_workflow_definition_error_is_broken_not_raised() -> None:
    def body() -> Body:
        yield zart.parallel(step("a"), step("a"))

    outcome = Interpreter(body()).start()
    assert isinstance(outcome, Broken)
    assert isinstance(outcome.error, DuplicateStepName)


# -- captures -------------------------------------------------------------------------------


def test_capture_replays_the_recorded_value_without_calling_its_function() -> None:
    calls: list[int] = []

    def fresh() -> str:
        calls.append(1)
        return "fresh"

    def body() -> Body:
        value = yield zart.capture("id", fresh)
        return value

    record = Record(0, "capture", "id", value=serde.dumps(("recorded", 1)))
    assert Interpreter(body(), [record]).start() == Returned(["recorded", 1])
    assert calls == []


def test_now_is_recorded_once_and_decoded_to_the_same_aware_datetime_on_replay() -> None:
    def body() -> Body:
        started = yield zart.now("started")
        return started

    interpreter = Interpreter(body())
    pending = interpreter.start()
    assert isinstance(pending, Pending)
    with freeze_time("2024-05-17 12:30:00"):
        stored = serde.dumps(pending.command.fn())  # type: ignore[union-attr]
    record = Record(0, "capture", "started", value=stored)
    live = interpreter.resume([record])
    replay = Interpreter(body(), [record]).start()
    expected = datetime(2024, 5, 17, 12, 30, tzinfo=UTC)
    assert live == replay == Returned(expected)
    assert live.value.tzinfo is not None


# -- scale ----------------------------------------------------------------------------------


def test_replay_of_a_ten_thousand_step_history_returns_the_right_value() -> None:
    n = 10_000

    def body() -> Body:
        total = 0
        for i in range(n):
            total += yield step(f"s-{i}")
        return total

    history = [done(i, f"s-{i}", i) for i in range(n)]
    interpreter = Interpreter(body(), history)
    assert interpreter.start() == Returned(n * (n - 1) // 2)
    assert interpreter.position == n
