"""The examples' workflows, tested with zart's own kit (zart.testing): each test module loads
its example's file into a registry of its own (two examples both define a step "charge"),
and drives it with run_until_idle, advance, crash_at, on the plugin's ``zart_app``.

(tests/integration/test_examples.py runs each example as the script a user runs.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

from zart.testing import isolated_registry, load_workflows

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def loaded(name: str) -> Iterator[ModuleType]:
    """The module of ``examples/<name>.py``, its workflows the only ones registered while
    the test module runs (use it in a module-scoped fixture)."""
    with isolated_registry():
        yield load_workflows(EXAMPLES / f"{name}.py")
