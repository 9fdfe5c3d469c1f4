"""Retry policies: delays per attempt, caps, jitter, and their stored JSON form."""

from __future__ import annotations

import random
from typing import Any

import pytest

import zart
from zart.retry import NO_RETRY, RetryPolicy, exponential, fixed, linear


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        (fixed(3, "2s"), [2.0, 2.0, 2.0]),
        (linear(4, "1s"), [1.0, 2.0, 3.0, 4.0]),
        (exponential(5, "1s", jitter=False), [1.0, 2.0, 4.0, 8.0, 16.0]),
        (exponential(5, "500ms", max_delay="3s", jitter=False), [0.5, 1.0, 2.0, 3.0, 3.0]),
        (RetryPolicy("linear", 3, 10.0, max_delay=15.0), [10.0, 15.0, 15.0]),
    ],
    ids=["fixed", "linear", "exponential", "exponential-capped", "linear-capped"],
)
def test_delay_before_each_retry_follows_the_policy(
    policy: RetryPolicy, delays: list[float]
) -> None:
    # Attempt 2 is the first retry; the last allowed attempt is retries + 1.
    assert [policy.delay_before(a) for a in range(2, policy.retries + 2)] == delays


@pytest.mark.parametrize(
    "policy",
    [fixed(3, "1s"), linear(3, "1s"), exponential(3, "1s"), NO_RETRY, fixed(0, "1s")],
    ids=["fixed", "linear", "exponential", "no-retry", "zero-retries"],
)
def test_delay_before_returns_none_once_retries_are_exhausted(policy: RetryPolicy) -> None:
    assert policy.delay_before(policy.retries + 2) is None
    assert policy.delay_before(policy.retries + 50) is None


def test_retries_count_after_the_first_attempt() -> None:
    policy = fixed(3, "1s")
    assert policy.max_attempts == 4
    assert policy.delay_before(4) == 1.0  # the third retry is the fourth attempt
    assert policy.delay_before(5) is None
    assert NO_RETRY.max_attempts == 1


def test_exponential_delay_of_a_late_retry_stays_finite_and_capped() -> None:
    policy = exponential(10_000, "1s", max_delay="1h", jitter=False)
    assert policy.delay_before(10_001) == 3600.0


@pytest.mark.parametrize("attempt", range(2, 9))
def test_jitter_draws_each_delay_between_half_and_all_of_its_nominal_value(attempt: int) -> None:
    jittered = exponential(8, "1s", max_delay="20s", jitter=True)
    nominal = exponential(8, "1s", max_delay="20s", jitter=False).delay_before(attempt)
    assert nominal is not None
    draws = [jittered.delay_before(attempt) for _ in range(200)]
    assert all(d is not None and nominal / 2 <= d <= nominal for d in draws)
    assert len(set(draws)) > 1  # it does spread


@pytest.mark.parametrize("bound", [0.0, 1.0])
def test_jitter_bounds_are_reached_at_the_extremes_of_the_draw(
    monkeypatch: pytest.MonkeyPatch, bound: float
) -> None:
    monkeypatch.setattr(random, "uniform", lambda a, b: a + (b - a) * bound)
    policy = exponential(3, "4s", jitter=True)
    assert policy.delay_before(3) == (4.0 if bound == 0.0 else 8.0)


def test_exponential_jitters_by_default() -> None:
    assert exponential(3, "1s").jitter is True
    assert fixed(3, "1s").jitter is False


@pytest.mark.parametrize(
    "policy",
    [
        NO_RETRY,
        fixed(3, "250ms"),
        linear(2, 7),
        exponential(6, "1s", max_delay="1m"),
        exponential(1, 0.5, jitter=False),
    ],
    ids=["none", "fixed", "linear", "exponential-capped", "exponential-plain"],
)
def test_to_json_and_from_json_roundtrip_to_an_equal_policy(policy: RetryPolicy) -> None:
    data = policy.to_json()
    assert set(data) == {"kind", "retries", "delay", "max_delay", "jitter"}
    assert RetryPolicy.from_json(data) == policy


def test_to_json_is_plain_json_data() -> None:
    assert exponential(2, "1s", max_delay="10s").to_json() == {
        "kind": "exponential", "retries": 2, "delay": 1.0, "max_delay": 10.0, "jitter": True,
    }


@pytest.mark.parametrize("data", [None, {}])
def test_from_json_of_nothing_means_no_retry(data: dict[str, object] | None) -> None:
    assert RetryPolicy.from_json(data) is NO_RETRY


@pytest.mark.parametrize(
    ("retries", "message"),
    [
        (-1, "between 0 and 10000"),
        (10_001, "between 0 and 10000"),
        (1.5, "must be an int"),
        ("3", "must be an int"),
        (None, "must be an int"),
        (True, "must be an int"),
    ],
)
def test_bad_retries_values_are_rejected(retries: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fixed(retries, "1s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=message):
        RetryPolicy.from_json({"kind": "fixed", "retries": retries, "delay": 1.0})


@pytest.mark.parametrize(
    "factory",
    [
        lambda: fixed(3, "-1s"),
        lambda: linear(3, "soon"),
        lambda: exponential(3, "1s", max_delay=-5),
        lambda: exponential(3, float("nan")),
    ],
    ids=["negative-delay", "garbage-delay", "negative-cap", "nan-initial"],
)
def test_bad_delays_are_rejected(factory: object) -> None:
    with pytest.raises(ValueError):
        factory()  # type: ignore[operator]


def test_policies_are_immutable() -> None:
    policy = fixed(3, "1s")
    with pytest.raises(AttributeError):
        policy.retries = 5  # type: ignore[misc]


class Declined(Exception):
    pass


class Stolen(Declined):
    pass


def test_non_retryable_types_and_their_subclasses_are_never_retried() -> None:
    policy = zart.fixed(3, "1s", non_retryable=(Declined,))
    assert policy.non_retryable == (f"{__name__}.Declined",)
    assert not policy.retries_error(Declined("no"))
    assert not policy.retries_error(Stolen("no"))
    assert policy.retries_error(ConnectionError("try again"))


def test_a_non_retryable_error_is_never_retried_whatever_the_policy() -> None:
    assert not zart.exponential(5, "1s").retries_error(zart.NonRetryableError("closed"))


def test_non_retryable_survives_the_stored_form_children_carry() -> None:
    policy = zart.linear(2, "1s", non_retryable=(Declined, KeyError))
    again = RetryPolicy.from_json(policy.to_json())
    assert again == policy
    assert not again.retries_error(Stolen("no"))


@pytest.mark.parametrize("bad", [["Declined"], [Declined("instance")], [int]])
def test_non_retryable_takes_exception_types_only(bad: list[Any]) -> None:
    with pytest.raises(TypeError, match="non_retryable takes exception types"):
        zart.fixed(1, 0, non_retryable=bad)
