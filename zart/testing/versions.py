"""Loading one version of a project's workflows from a file, for tests of a deploy: the
workflows before a change and after it, each in its own :func:`zart.testing.isolated_registry`
block, in one test process."""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
from pathlib import Path
from types import ModuleType

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
    name = f"_zart_version_{next(_loads)}_{file.stem}"
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ValueError(f"cannot import {path!r}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # before running it: dataclasses and pickle look it up there
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
