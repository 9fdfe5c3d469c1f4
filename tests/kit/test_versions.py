"""Two versions of the same workflows in one test (isolated_registry, load_workflows), and
replay()'s refusals of what it cannot replay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import zart
from zart.testing import isolated_registry, load_workflows, replay
from zart.workflow import registered_steps, registered_workflows

VERSIONS = Path(__file__).resolve().parents[2] / "examples" / "versioning"


def test_each_load_registers_its_version_in_the_current_registry() -> None:
    with isolated_registry():
        first = load_workflows(VERSIONS / "checkout_v1.py")
        assert registered_workflows()["checkout"].fn is first.checkout.fn
    with isolated_registry():
        again = load_workflows(VERSIONS / "checkout_v1.py")  # a new module, registered again
        assert again is not first
        assert registered_workflows()["checkout"].fn is again.checkout.fn
        assert "check-fraud" not in registered_steps()
    assert "checkout" not in registered_workflows()


def test_an_isolated_registry_restores_the_previous_one() -> None:
    before_workflows, before_steps = registered_workflows(), registered_steps()
    with isolated_registry():
        assert registered_workflows() == {}

        @zart.workflow("kit-isolated")
        def isolated() -> Any:
            yield zart.sleep("nap", 1)

        assert list(registered_workflows()) == ["kit-isolated"]
    assert registered_workflows() == before_workflows
    assert registered_steps() == before_steps


@pytest.mark.parametrize(("path", "fragment"), [
    ("nowhere/flows.py", "no such file: nowhere/flows.py"),
    (str(VERSIONS.parent / "README.md"), "takes a .py file"),
])
def test_load_workflows_names_what_it_cannot_load(path: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        load_workflows(path)


def test_replay_refuses_what_is_not_a_workflow_or_not_a_history(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"replay\(\) takes a @zart\.workflow or its name"):
        replay(42, {})  # type: ignore[arg-type]
    with pytest.raises(zart.WorkflowNotFound, match="no workflow is registered as 'nope'"):
        replay("nope", {})
    with isolated_registry():
        v1 = load_workflows(VERSIONS / "checkout_v1.py")
        with pytest.raises(ValueError, match="is not a zart history"):
            replay(v1.checkout, {"history": []})
        (tmp_path / "broken.json").write_text("{")
        with pytest.raises(ValueError, match=r"broken\.json is not JSON"):
            replay(v1.checkout, tmp_path / "broken.json")
