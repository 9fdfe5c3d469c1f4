"""Running a Python file as a module: what ``zart worker path/to/flows.py`` and the testing
kit's ``load_workflows`` both do."""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

__all__ = ["exec_file"]


def exec_file(name: str, path: str | os.PathLike[str]) -> ModuleType:
    """Run the ``.py`` file at ``path`` as the module ``name`` and return it; it is in
    ``sys.modules`` while it runs (dataclasses and pickle look it up there) and removed again
    if it raises. :class:`ImportError` if the file is not a Python module."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {os.fspath(path)}: not a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
