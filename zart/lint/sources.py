"""Which files ``zart lint MODULE...`` reads: a ``.py`` file, every ``.py`` file under a
directory, or a module or package by its dotted name (found, not imported... though finding
``a.b`` imports the package ``a``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

__all__ = ["SKIPPED_DIRECTORIES", "source_files"]

SKIPPED_DIRECTORIES = frozenset({".git", ".hg", ".venv", "venv", "__pycache__", "node_modules",
                                 "site-packages", ".tox", ".mypy_cache", ".ruff_cache"})
"""Directories never walked into."""


def source_files(spec: str) -> list[Path]:
    """The Python files ``spec`` stands for; ValueError naming it when it stands for none."""
    path = Path(spec)
    if path.is_file():
        return [path]
    if path.is_dir():
        return sorted(p for p in path.rglob("*.py")
                      if not SKIPPED_DIRECTORIES.intersection(p.relative_to(path).parts[:-1]))
    if spec.endswith(".py") or "/" in spec:
        raise ValueError(f"no such file or directory: {spec}")
    try:
        found = importlib.util.find_spec(spec)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise ValueError(f"no module named {spec!r} (not a file, a directory, or a module on "
                         f"the Python path)")
    if found.submodule_search_locations:
        return sorted({p for location in found.submodule_search_locations
                       for p in source_files(location)})
    if found.origin is None or not found.origin.endswith(".py"):
        raise ValueError(f"module {spec!r} has no Python source to read ({found.origin})")
    return [Path(found.origin)]
