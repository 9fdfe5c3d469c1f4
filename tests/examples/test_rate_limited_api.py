"""examples/rate_limited_api.py: the queue's rate limit spreads the pushes over (moved) time,
and a 429 backs off durably without spending a retry attempt."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from types import ModuleType

import pytest

import zart
from zart.testing import advance, run_until_idle

from .conftest import loaded


@pytest.fixture(scope="module")
def example() -> Iterator[ModuleType]:
    yield from loaded("rate_limited_api")


def test_the_rate_limit_spreads_pushes_over_time_and_429s_back_off(
        example: ModuleType, zart_app: zart.Zart, monkeypatch: pytest.MonkeyPatch) -> None:
    api = example.FakePartnerApi()
    monkeypatch.setattr(example, "API", api)
    handles = [zart_app.start(example.push_contact_flow, c) for c in example.CONTACTS]
    began = time.monotonic()
    run_until_idle(zart_app)
    elapsed = time.monotonic() - began
    started = sum(h.status() != "pending" for h in handles)
    # the bucket holds 10 starts, and refills 10 a second of the time that really passed
    assert 10 <= started <= 10 + math.ceil(10 * elapsed)
    seconds = 0
    while not all(h.status() == "completed" for h in handles):
        assert seconds < 30, "the pushes did not all complete"
        advance(zart_app, "1s")
        seconds += 1
        run_until_idle(zart_app)
    assert seconds >= 1  # the rest had to wait for the clock to refill the bucket
    assert sorted(api.stored) == example.CONTACTS and set(api.stored.values()) == {1}
    assert len(api.throttled) == 6
    throttled = zart_app.handle(handles[0].id).describe().history[0]
    assert throttled.status == "done" and len(throttled.attempts) == 2  # the 429, then ok
