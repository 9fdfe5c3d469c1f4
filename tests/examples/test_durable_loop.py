"""examples/durable_loop.py: the body crashes mid-loop; its retry replays the pages already
fetched from their checkpoints, so each page is fetched exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType

import pytest

import zart
from zart.testing import advance, run_until_idle

from .conftest import loaded


@pytest.fixture(scope="module")
def loop() -> Iterator[ModuleType]:
    yield from loaded("durable_loop")


def test_every_page_is_fetched_once_across_the_bodys_crash(loop: ModuleType,
                                                           zart_app: zart.Zart) -> None:
    loop.fetches.clear()
    handle = zart_app.start(loop.import_pages, "https://api.example.com/reports")
    run_until_idle(zart_app)
    assert handle.status() == "pending"  # the body's retry, 300 ms away
    assert dict(loop.fetches) == {1: 1, 2: 1, 3: 1}
    advance(zart_app, "300ms")
    run_until_idle(zart_app)
    assert handle.result(timeout=0) == {"source": "https://api.example.com/reports",
                                        "pages": 5, "records": 150, "attempts": 2}
    assert dict(loop.fetches) == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}
