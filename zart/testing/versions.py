"""Loading one version of a project's workflows from a file, for tests of a deploy: the
workflows before a change and after it, each in its own :func:`zart.testing.isolated_registry`
block, in one test process."""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from types import ModuleType

from ..loading import exec_file

__all__ = ["load_workflows"]

_loads = itertools.count(1)


def load_workflows(path: str | os.PathLike[str]) -> ModuleType:
    """Import the ``.py`` file at ``path`` as a new module every time (so its ``@zart.workflow``
    and ``@zart.step`` register again, in the current registry) and return it."""
    file = Path(path).resolve()
    if not file.is_file():
        raise ValueError(f"load_workflows(): no such file: {os.fspath(path)}")
    if file.suffix != ".py":
        raise ValueError(f"load_workflows() takes a .py file, got {os.fspath(path)}")
    return exec_file(f"_zart_version_{next(_loads)}_{file.stem}", file)
