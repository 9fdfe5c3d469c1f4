"""How long an idle dispatcher waits between claim rounds (zart.runtime.dispatcher.idle_wait)."""

from __future__ import annotations

import pytest

from zart.runtime.dispatcher import _RECHECK_LOCKED, _SEND_MARGIN, due_after_answer, idle_wait


@pytest.mark.parametrize(
    ("due", "expected"),
    [(None, 5.0), (30.0, 5.0), (0.25, 0.25), (0.0009, 0.0009), (0.00001, 0.0005)],
    ids=["nothing-known", "beyond-the-poll", "soon", "under-a-millisecond", "floor"],
)
def test_work_due_in_the_future_is_waited_for_exactly_however_soon(
        due: float | None, expected: float) -> None:
    assert idle_wait(5.0, due) == pytest.approx(expected)


@pytest.mark.parametrize("due", [0.0, -0.001, -30.0])
def test_work_already_due_but_unclaimed_is_looked_at_again_after_the_recheck_not_at_once(
        due: float) -> None:
    assert idle_wait(5.0, due) == _RECHECK_LOCKED > 0.01  # held locked elsewhere: no spin


def test_the_poll_interval_bounds_every_wait() -> None:
    assert idle_wait(0.01, 30.0) == 0.01
    assert idle_wait(0.01, -1.0) == 0.01


def test_a_due_time_is_counted_from_the_answer_not_from_the_statements_start() -> None:
    # The database measured 50 ms from when the look-up started; it answered 2 ms later.
    assert due_after_answer(0.050, 0.002) == pytest.approx(0.050 - 0.002 + _SEND_MARGIN)
    assert due_after_answer(0.050, 0.0001) == pytest.approx(0.050)  # within the margin


@pytest.mark.parametrize("due", [None, 0.0, -1.0])
def test_nothing_due_or_already_due_is_left_as_it_is(due: float | None) -> None:
    assert due_after_answer(due, 0.002) == due


def test_work_due_soon_stays_in_the_future_however_slow_the_answer() -> None:
    # Not taken for work that is already due and held elsewhere (which waits out a recheck).
    due = due_after_answer(0.001, 0.010)
    assert due is not None and due > 0
    assert idle_wait(5.0, due) < _RECHECK_LOCKED
