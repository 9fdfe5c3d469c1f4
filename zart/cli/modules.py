"""Importing the user's modules so that their ``@zart.workflow`` decorators register the
workflows in this process (what ``zart worker`` runs and ``zart start --module`` starts)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

from zart.loading import exec_file
from zart.workflow import registered_workflows

from .app import Failed

__all__ = ["import_workflows"]


def _import_path(path: str) -> ModuleType:
    """Import a ``.py`` file as a module named after it, its directory on ``sys.path`` (so
    it imports its neighbours as it would when run as a script)."""
    full = os.path.abspath(path)
    if not os.path.isfile(full):
        raise Failed(f"no such file: {path}")
    name = os.path.splitext(os.path.basename(full))[0]
    existing = sys.modules.get(name)
    if existing is not None:
        if os.path.realpath(getattr(existing, "__file__", "") or "") == os.path.realpath(full):
            return existing
        raise Failed(f"cannot import {path} as module {name!r}: another module of that name "
                     f"is already imported ({getattr(existing, '__file__', 'built in')}); "
                     f"rename the file or give its dotted module name")
    folder = os.path.dirname(full)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    try:
        return exec_file(name, full)
    except ImportError as exc:
        if exc.name is None and str(exc).startswith("cannot import"):
            raise Failed(str(exc)) from None
        raise


def _import(spec: str) -> ModuleType:
    if spec.endswith(".py") or os.sep in spec or (os.altsep and os.altsep in spec):
        return _import_path(spec)
    try:
        return importlib.import_module(spec)
    except ModuleNotFoundError as exc:
        # The module itself (or its package) is missing: say where we looked. A module that
        # exists but imports something missing is the user's import error, reported as such.
        if exc.name is not None and (spec == exc.name or spec.startswith(f"{exc.name}.")):
            raise Failed(f"no module named {spec!r} (looked in the current directory "
                         f"{os.getcwd()} and on the Python path)") from exc
        raise


def import_workflows(specs: tuple[str, ...] | list[str]) -> dict[str, list[str]]:
    """Import each module (a dotted name, or a path to a ``.py`` file) and return, for each,
    the names of the workflows it registered; :class:`Failed` if one registers none (a
    worker with nothing to run is a typo, not a plan) or cannot be imported."""
    # The console script's sys.path starts with its own bin directory, not the current one:
    # put the project root first so `zart worker myapp.workflows` works from there.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)
    found: dict[str, list[str]] = {}
    for spec in specs:
        before = set(registered_workflows())
        try:
            module = _import(spec)
        except Failed:
            raise
        except Exception as exc:  # the user's module raised while importing
            # One line like every failure; the traceback is one command away.
            raise Failed(f"importing {spec!r} failed: {type(exc).__name__}: {exc} (python "
                         f"-c 'import ...' shows the traceback)") from exc
        # What this import added, and what the module defines itself (it may have been
        # imported already, by a module named before it).
        names = {name for name, definition in registered_workflows().items()
                 if name not in before
                 or getattr(definition.fn, "__module__", None) == module.__name__}
        if not names:
            raise Failed(f"no workflows registered by {spec!r}: it has no @zart.workflow "
                         f"(import the module that defines them)")
        found[spec] = sorted(names)
    return found
