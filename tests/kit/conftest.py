"""The kit's own tests use the kit: the plugin's ``zart_app`` and ``zart_worker`` fixtures,
and a ledger of side effects in the app's schema."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import zart

from . import steps
from .ledger import Ledger


@pytest.fixture
def ledger(zart_app: zart.Zart) -> Iterator[Ledger]:
    """The test app's ledger, which the steps of tests/kit/steps.py write to."""
    steps.LEDGER = Ledger(zart_app)
    yield steps.LEDGER
    steps.LEDGER = None
