"""zart.context(): what a running workflow body or step knows about itself."""

from __future__ import annotations

import contextvars

import pytest

import zart
from zart.context import ExecutionContext, bound, context
from zart.errors import ZartError

CTX = ExecutionContext(execution_id="order-42", workflow="checkout", data={"id": 42},
                       attempt=1, max_attempts=3)


def test_context_outside_a_body_or_step_raises_zart_error() -> None:
    with pytest.raises(ZartError, match="outside a workflow body or step"):
        context()


def test_bound_makes_the_context_current_and_resets_it_afterwards() -> None:
    with bound(CTX) as current:
        assert current is CTX
        assert zart.context() is CTX
    with pytest.raises(ZartError):
        context()


def test_bound_applies_changes_without_altering_the_original() -> None:
    with bound(CTX, step="charge", attempt=2) as current:
        assert context() == current
        assert (current.step, current.attempt, current.execution_id) == ("charge", 2, "order-42")
    assert (CTX.step, CTX.attempt) == (None, 1)


def test_nested_bound_restores_the_outer_context_on_exit() -> None:
    with bound(CTX):
        with bound(CTX, step="inner"):
            assert context().step == "inner"
        assert context() is CTX


def test_bound_resets_the_context_even_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError), bound(CTX):
        raise RuntimeError("boom")
    with pytest.raises(ZartError):
        context()


def test_a_bound_context_is_invisible_to_other_contexts() -> None:
    with bound(CTX):
        isolated = contextvars.Context()
        with pytest.raises(ZartError):
            isolated.run(context)


@pytest.mark.parametrize(("attempt", "is_retry"), [(1, False), (2, True), (5, True)])
def test_is_retry_is_true_from_the_second_attempt(attempt: int, is_retry: bool) -> None:
    with bound(CTX, attempt=attempt):
        assert context().is_retry is is_retry


def test_context_fields_default_to_no_step_and_no_connection() -> None:
    assert (CTX.step, CTX.connection) == (None, None)
    with pytest.raises(AttributeError):
        CTX.attempt = 2  # type: ignore[misc]
