"""replace_step: a test double for a step's function, without touching the workflow."""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

import zart
from zart.testing import replace_step, reset_doubles, run_until_idle

from . import steps
from .ledger import Ledger

ORDER = {"id": "o-3"}


def fake_charge(order: dict[str, Any]) -> str:
    ctx = zart.context()
    return f"fake-{order['id']}-{ctx.step}-attempt-{ctx.attempt}"


def test_a_double_runs_instead_of_the_step_with_the_same_arguments_and_context(
        zart_app: zart.Zart, ledger: Ledger) -> None:
    replace_step(zart_app, steps.charge, fake_charge)
    handle = zart_app.start(steps.checkout, ORDER)
    run_until_idle(zart_app)
    assert ledger.counts() == {"reserve": 1}  # the real charge never ran
    detail = handle.describe()
    assert [c.name for c in detail.history] == ["kit-reserve", "kit-charge", "cool-off"]
    assert zart_app.store.load_history(handle.id)[1].value == \
        '"fake-o-3-kit-charge-attempt-1"'


def test_a_double_by_name_and_the_last_one_wins(zart_app: zart.Zart, ledger: Ledger) -> None:
    replace_step(zart_app, "kit-charge", lambda order: "first")
    replace_step(zart_app, "kit-charge", lambda order: "second")
    handle = zart_app.start(steps.checkout_in_transaction, ORDER)
    replace_step(zart_app, "kit-charge-in-tx", lambda order: "no charge")
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == "no charge"
    assert ledger.counts() == {"reserve": 1}


def test_a_double_by_template_covers_every_step_it_names(zart_app: zart.Zart,
                                                         ledger: Ledger) -> None:
    replace_step(zart_app, "kit-pack-{box}", lambda box: -box)
    handle = zart_app.start(steps.fan_out, {"boxes": 3})  # parallel children: by their name
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == [0, -1, -2]
    assert ledger.counts() == {"ship": 1}


def test_a_double_for_an_inline_step_defined_in_the_test(zart_app: zart.Zart) -> None:
    @zart.step("kit-local-quote")
    def quote(amount: int) -> int:
        raise AssertionError("the real quote service must not be called")

    @zart.workflow("kit-local-quoting")
    def quoting() -> Generator[Any, Any, Any]:
        return (yield quote(5))

    replace_step(zart_app, quote, lambda amount: amount * 2)
    handle = zart_app.start(quoting)
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == 10


def test_after_a_reset_the_real_step_runs_again(zart_app: zart.Zart, ledger: Ledger) -> None:
    replace_step(zart_app, steps.reserve, lambda order: "fake")
    reset_doubles()
    handle = zart_app.start(steps.checkout_in_transaction, ORDER)
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == "txn-o-3"
    assert ledger.counts() == {"reserve": 1, "charge": 1}


def test_a_double_that_raises_fails_the_step_like_the_real_one_would(
        zart_app: zart.Zart, ledger: Ledger) -> None:
    def declined(order: dict[str, Any]) -> str:
        raise zart.NonRetryableError("card declined")

    replace_step(zart_app, steps.charge_in_transaction, declined)
    handle = zart_app.start(steps.checkout_in_transaction, ORDER)
    run_until_idle(zart_app)
    with pytest.raises(zart.WorkflowFailed, match="card declined"):
        handle.result(timeout=0)


@pytest.mark.parametrize(("step", "fn", "error", "fragment"), [
    ("kit-charge", "not callable", TypeError, "must be callable, got 'not callable'"),
    ("", print, ValueError, "step name must not be empty"),
    (None, print, TypeError, "takes a @zart.step function or a step's name, got NoneType"),
])
def test_bad_doubles_are_refused_naming_the_problem(zart_app: zart.Zart, step: Any, fn: Any,
                                                    error: type[Exception],
                                                    fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        replace_step(zart_app, step, fn)
