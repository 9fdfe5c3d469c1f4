"""The public surface: ``zart.__all__`` is exactly the documented names, each with a docstring."""

from __future__ import annotations

import ast
import inspect
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

import zart

EXPECTED_PUBLIC_NAMES = [
    "ActionRefused",
    "Capture",
    "ChildFailed",
    "ChildWorkflow",
    "Command",
    "ConfigurationError",
    "DatabaseUnavailable",
    "DuplicateStepName",
    "EventTimeout",
    "ExecutionConflict",
    "ExecutionContext",
    "ExecutionFinished",
    "ExecutionNotFound",
    "Handle",
    "InvalidCommand",
    "NonDeterminismError",
    "NonRetryableError",
    "Parallel",
    "Patch",
    "PauseRuleNotFound",
    "Queue",
    "ResultTimeout",
    "RetryAfter",
    "RetryPolicy",
    "Schedule",
    "ScheduleNotFound",
    "SerializationError",
    "Sleep",
    "Step",
    "StepFailed",
    "StepFunction",
    "StepTimeout",
    "WaitEvent",
    "Worker",
    "Workflow",
    "WorkflowDefinitionError",
    "WorkflowFailed",
    "WorkflowNotFound",
    "Zart",
    "ZartError",
    "__version__",
    "capture",
    "child",
    "context",
    "cron",
    "deprecate_patch",
    "exponential",
    "fixed",
    "linear",
    "now",
    "parallel",
    "patched",
    "sleep",
    "sleep_until",
    "step",
    "wait_for_event",
    "workflow",
]


def test_all_lists_exactly_the_public_names_in_sorted_order() -> None:
    assert list(zart.__all__) == EXPECTED_PUBLIC_NAMES
    assert list(zart.__all__) == sorted(zart.__all__)


def test_every_name_in_all_is_importable_from_the_package() -> None:
    namespace: dict[str, Any] = {}
    exec("from zart import *", namespace)
    missing = [name for name in zart.__all__ if name not in namespace]
    assert missing == []


def test_version_is_a_dotted_version_string() -> None:
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", zart.__version__)


def _attribute_docstrings() -> dict[str, str]:
    """Module-level ``NAME = ...`` assignments followed by a string literal, across zart."""
    found: dict[str, str] = {}
    for path in Path(zart.__file__).parent.glob("*.py"):
        body = ast.parse(path.read_text(encoding="utf-8")).body
        for node, following in itertools.pairwise(body):
            targets = (node.targets if isinstance(node, ast.Assign)
                       else [node.target] if isinstance(node, ast.AnnAssign) else [])
            if (isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                    and isinstance(following.value.value, str)):
                for target in targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = following.value.value
    return found


def _own_docstring(name: str, obj: Any) -> str:
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        if doc.startswith(f"{obj.__name__}("):  # the signature dataclasses write when missing
            return ""
        return doc
    if inspect.isroutine(obj):
        return obj.__doc__ or ""
    return _attribute_docstrings().get(name, "")  # e.g. the Command type alias


@pytest.mark.parametrize("name", [n for n in EXPECTED_PUBLIC_NAMES if n != "__version__"])
def test_every_public_name_has_its_own_docstring(name: str) -> None:
    assert _own_docstring(name, getattr(zart, name)).strip(), f"zart.{name} has no docstring"


def test_the_package_has_a_docstring() -> None:
    assert (zart.__doc__ or "").strip()
