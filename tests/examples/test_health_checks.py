"""examples/health_checks.py: a parallel fan-out whose failed child comes back in the list,
its retry due when the clock moves."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType, SimpleNamespace

import pytest

import zart
from zart.testing import advance, run_until_idle

from .conftest import loaded


@pytest.fixture(scope="module")
def health() -> Iterator[ModuleType]:
    yield from loaded("health_checks")


def test_one_failed_check_does_not_stop_the_others(health: ModuleType, zart_app: zart.Zart,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # The probes' simulated 0.3 s of latency, skipped; everything else as written.
    monkeypatch.setattr(health, "time", SimpleNamespace(sleep=lambda seconds: None,
                                                        monotonic=lambda: 0.0))
    handle = zart_app.start(health.health_checks, health.SERVICES)
    run_until_idle(zart_app)
    assert handle.status() == "waiting"  # payments' retry is 200 ms away
    advance(zart_app, "200ms")
    run_until_idle(zart_app)
    result = handle.result(timeout=0)
    assert result["up"] == ["auth", "billing", "search", "email"]
    assert result["down"] == {"payments": "ConnectionError: payments: connection refused "
                                          "(2 attempts)"}
