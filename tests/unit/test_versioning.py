"""zart.patched / zart.deprecate_patch on the pure interpreter, against hand-built histories.

The worked upgrade of the README in miniature: v1 charges then waits; v2 adds a fraud check at
the top behind a patch; v3 retires the patch; v4 drops the line. Each version replays the
histories the previous ones left, and the naive edit (the check added without a patch) does
not.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

import zart
from zart import serde
from zart.commands import Capture, Step
from zart.constants import PATCH_MARKER
from zart.errors import NonDeterminismError
from zart.interpreter import Broken, Interpreter, Outcome, Pending, Record, Returned

Body = Generator[Any, Any, Any]
PATCH = "fraud-check"
MARKER = PATCH_MARKER + PATCH


def work(*args: Any) -> None:
    """A step body; the interpreter never calls it."""


def step(name: str) -> Step:
    return Step(name, work)


def done(seq: int, name: str, value: Any = None, kind: str = "step") -> Record:
    return Record(seq, kind, name, value=serde.dumps(value))


def marker(seq: int, patch: str = PATCH) -> Record:
    """A patch marker as the worker records it (the capture of ``True``)."""
    return Record(seq, "capture", PATCH_MARKER + patch, value="true")


def waiting(seq: int, name: str = "shipped") -> Record:
    """An event wait recorded but not done: the execution is suspended on it."""
    return Record(seq, "event", name, status="pending", ok=None)


def v1(order: Any = None) -> Body:
    txn = yield step("charge")
    shipped = yield zart.wait_for_event("shipped")
    return {"txn": txn, "shipped": shipped, "checked": False}


def v2_naive(order: Any = None) -> Body:
    yield step("check-fraud")
    txn = yield step("charge")
    shipped = yield zart.wait_for_event("shipped")
    return {"txn": txn, "shipped": shipped, "checked": True}


def v2_patched(order: Any = None) -> Body:
    checked = False
    if (yield zart.patched(PATCH)):
        yield step("check-fraud")
        checked = True
    txn = yield step("charge")
    shipped = yield zart.wait_for_event("shipped")
    return {"txn": txn, "shipped": shipped, "checked": checked}


def v3_deprecated(order: Any = None) -> Body:
    received = yield zart.deprecate_patch(PATCH)
    assert received is None
    yield step("check-fraud")
    txn = yield step("charge")
    shipped = yield zart.wait_for_event("shipped")
    return {"txn": txn, "shipped": shipped, "checked": True}


def v4_removed(order: Any = None) -> Body:
    yield step("check-fraud")
    txn = yield step("charge")
    shipped = yield zart.wait_for_event("shipped")
    return {"txn": txn, "shipped": shipped, "checked": True}


def finish(interpreter: Interpreter, outcome: Outcome) -> Outcome:
    """Play the worker to the end: steps return "ok", the event brings {"to": "home"}, a
    marker is stored as the worker stores a capture."""
    while isinstance(outcome, Pending):
        command = outcome.command
        if isinstance(command, Capture):
            record = Record(outcome.seq, "capture", command.name,
                            value=serde.dumps(command.fn()))
        elif isinstance(command, Step):
            record = done(outcome.seq, command.name, "ok")
        else:
            record = done(outcome.seq, "shipped", {"to": "home"}, kind="event")
        outcome = interpreter.resume([record])
    return outcome


OLD_HISTORY = [done(0, "charge", "txn-1"), waiting(1)]
"""A v1 execution suspended on its event wait."""

PATCHED_HISTORY = [marker(0), done(1, "check-fraud", "ok"), done(2, "charge", "txn-2"),
                   waiting(3)]
"""An execution started under v2_patched, suspended on its event wait."""

DEPRECATED_HISTORY = [marker(0), done(1, "check-fraud", "ok"), done(2, "charge", "txn-3"),
                      waiting(3)]
"""An execution started under v3_deprecated (it records the marker too)."""


# -- the naive edit --------------------------------------------------------------------------


def test_the_naive_edit_breaks_a_suspended_execution_at_position_zero() -> None:
    outcome = Interpreter(v2_naive(), OLD_HISTORY).start()
    assert isinstance(outcome, Broken)
    assert isinstance(outcome.error, NonDeterminismError)
    assert (outcome.seq, outcome.yielded) == (0, ("step", "check-fraud"))
    assert "recorded step 'charge'" in str(outcome.error)


# -- patched() -------------------------------------------------------------------------------


def test_patched_on_a_new_execution_records_its_marker_and_takes_the_new_path() -> None:
    interpreter = Interpreter(v2_patched())
    outcome = interpreter.start()
    assert isinstance(outcome, Pending)
    assert outcome.seq == 0
    assert isinstance(outcome.command, Capture)
    assert outcome.command.name == MARKER
    outcome = interpreter.resume([marker(0)])
    assert outcome == Pending(step("check-fraud"), 1, [None])
    result = finish(interpreter, outcome)
    assert isinstance(result, Returned) and result.value["checked"] is True


def test_patched_replays_false_for_a_history_that_passed_the_point_before_the_patch() -> None:
    interpreter = Interpreter(v2_patched(), OLD_HISTORY)
    outcome = interpreter.start()
    assert outcome == Pending(zart.wait_for_event("shipped"), 1, [OLD_HISTORY[1]])
    result = finish(interpreter, outcome)
    assert isinstance(result, Returned)
    assert result.value == {"txn": "txn-1", "shipped": {"to": "home"}, "checked": False}


def test_patched_replays_true_where_its_marker_is_recorded() -> None:
    outcome = Interpreter(v2_patched(), PATCHED_HISTORY).start()
    assert isinstance(outcome, Pending)
    assert (outcome.seq, outcome.command) == (3, zart.wait_for_event("shipped"))


def test_an_execution_that_had_not_reached_the_patch_takes_the_new_path() -> None:
    # Crashed inside its first step (nothing recorded yet): the patch exists when it gets there.
    outcome = Interpreter(v2_patched(), []).start()
    assert isinstance(outcome, Pending) and outcome.command.name == MARKER


def test_a_patch_asked_again_gives_the_same_answer_without_taking_a_position() -> None:
    answers: list[Any] = []

    def body() -> Body:
        answers.append((yield zart.patched(PATCH)))
        yield step("a")
        answers.append((yield zart.patched(PATCH)))
        yield step("b")
        return answers

    assert Interpreter(body(), [marker(0), done(1, "a"), done(2, "b")]).start() == \
        Returned([True, True])
    answers.clear()
    assert Interpreter(body(), [done(0, "a"), done(1, "b")]).start() == Returned([False, False])


def test_a_patch_sees_the_old_path_across_a_hole_left_by_a_forgotten_failure() -> None:
    # A body retry forgets a failed child of a parallel at position 0: nothing is recorded
    # there, but the history goes on after it, so the execution passed this point already.
    def body() -> Body:
        if (yield zart.patched(PATCH)):
            return "new"
        yield zart.parallel(step("p-0"), step("p-1"))
        return "old"

    outcome = Interpreter(body(), [done(1, "p-1")]).start()
    assert isinstance(outcome, Pending) and outcome.command == zart.parallel(step("p-0"),
                                                                             step("p-1"))


# -- deprecate_patch() and removing the line ---------------------------------------------------


@pytest.mark.parametrize("history", [PATCHED_HISTORY, DEPRECATED_HISTORY],
                         ids=["recorded-by-patched", "recorded-by-deprecate"])
def test_deprecate_patch_replays_histories_with_the_marker(history: list[Record]) -> None:
    outcome = Interpreter(v3_deprecated(), history).start()
    assert isinstance(outcome, Pending) and outcome.seq == 3


def test_deprecate_patch_still_records_the_marker_for_a_rolling_deploy() -> None:
    interpreter = Interpreter(v3_deprecated())
    outcome = interpreter.start()
    assert isinstance(outcome, Pending) and outcome.command.name == MARKER
    result = finish(interpreter, interpreter.resume([marker(0)]))
    assert isinstance(result, Returned) and result.value["checked"] is True
    # ...and the previous version's workers, still running v2_patched, replay that history.
    assert isinstance(Interpreter(v2_patched(), DEPRECATED_HISTORY).start(), Pending)


def test_deprecate_patch_does_not_replay_an_execution_of_the_old_path() -> None:
    outcome = Interpreter(v3_deprecated(), OLD_HISTORY).start()
    assert isinstance(outcome, Broken)
    assert (outcome.seq, outcome.yielded) == (0, ("step", "check-fraud"))


@pytest.mark.parametrize("history", [PATCHED_HISTORY, DEPRECATED_HISTORY, []],
                         ids=["recorded-by-patched", "recorded-by-deprecate", "new"])
def test_removing_the_line_replays_every_history_the_patch_left(history: list[Record]) -> None:
    interpreter = Interpreter(v4_removed(), history)
    result = finish(interpreter, interpreter.start())
    assert isinstance(result, Returned) and result.value["checked"] is True


def test_a_marker_skipped_at_the_end_of_the_history_does_not_break_the_return() -> None:
    def before() -> Body:
        yield step("a")
        yield zart.deprecate_patch("tail")
        return "done"

    def after() -> Body:
        yield step("a")
        return "done"

    history = [done(0, "a"), marker(1, "tail")]
    assert Interpreter(before(), history).start() == Returned("done")
    assert Interpreter(after(), history).start() == Returned("done")


def test_a_skipped_marker_still_answers_its_patch_later_in_the_run() -> None:
    def body() -> Body:
        yield step("a")
        return (yield zart.patched(PATCH))

    assert Interpreter(body(), [marker(0), done(1, "a")]).start() == Returned(True)


def test_a_removed_patch_whose_old_path_came_back_is_still_a_divergence() -> None:
    # The history took the new path (marker, check-fraud); the code went back to v1.
    outcome = Interpreter(v1(), PATCHED_HISTORY).start()
    assert isinstance(outcome, Broken)
    assert isinstance(outcome.error, NonDeterminismError)
    assert (outcome.seq, outcome.yielded) == (1, ("step", "charge"))


def test_a_parallel_after_a_removed_patch_replays() -> None:
    def body() -> Body:
        return (yield zart.parallel(step("p-0"), step("p-1")))

    history = [marker(0), done(1, "p-0", 1), done(2, "p-1", 2)]
    assert Interpreter(body(), history).start() == Returned([1, 2])


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(("patch_id", "error", "fragment"), [
    ("", ValueError, "patch id must not be empty"),
    (None, TypeError, "patch id must be a str"),
    ("x" * 200, ValueError, "the limit is 200"),
    ("a\x00b", ValueError, "NUL"),
])
def test_a_bad_patch_id_is_refused_naming_the_problem(patch_id: Any, error: type[Exception],
                                                      fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        zart.patched(patch_id)
    with pytest.raises(error, match=fragment):
        zart.deprecate_patch(patch_id)


def test_a_capture_may_not_take_the_name_of_a_patch_marker() -> None:
    with pytest.raises(ValueError, match=r"keeps for the markers of zart\.patched"):
        zart.capture(MARKER, lambda: 1)
