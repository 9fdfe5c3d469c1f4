"""``zart --help`` and every command's ``--help`` explain it with examples; usage errors exit 2;
without click, one line says how to install it. None of this touches a database."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .conftest import ROOT, Ran, zart_command

COMMANDS = ["worker", "start", "migrate", "list", "show", "stats", "workers", "send-event",
            "cancel", "retry", "restart", "rerun", "resume", "pause", "unpause", "pauses",
            "purge", "schedule", "serve"]


def run_all(argvs: list[list[str]], env: dict[str, str] | None = None) -> list[Ran]:
    """Run several ``zart`` commands at once (each is a Python start-up: in parallel they
    cost the time of one or two)."""
    env = env or {k: v for k, v in os.environ.items() if k != "ZART_DATABASE_URL"}
    procs = [subprocess.Popen([*zart_command(), *argv], cwd=ROOT, env=env, text=True,
                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for argv in argvs]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        results.append(Ran(proc.returncode, out, err))
    return results


def test_the_group_help_lists_every_command_by_task_with_examples_and_exit_codes() -> None:
    [ran, short] = run_all([["--help"], ["-h"]])
    assert ran.code == 0 and short.out == ran.out, ran
    for section in ("Run:", "Inspect:", "Repair one execution:", "Pause and purge:",
                    "Schedules:"):
        assert section in ran.out
    for command in COMMANDS:
        assert f"\n  {command} " in ran.out, command
    assert "Examples:" in ran.out and "zart list --status failed" in ran.out
    assert "Exit codes: 0 success; 1 refused or failed" in ran.out
    assert "ZART_DATABASE_URL" in ran.out and "--schema" in ran.out


def test_every_command_has_help_with_an_example() -> None:
    results = run_all([[command, "--help"] for command in COMMANDS])
    for command, ran in zip(COMMANDS, results, strict=True):
        assert ran.code == 0, (command, ran)
        assert ran.out.startswith(f"Usage: zart {command} "), (command, ran)
        assert "Example" in ran.out and f"zart {command}" in ran.out.split("Example", 1)[1], \
            (command, ran)


def test_usage_errors_exit_2_with_clicks_message() -> None:
    unknown, missing, version = run_all([["frobnicate"], ["show"], ["--version"]])
    assert unknown.code == 2 and "No such command 'frobnicate'" in unknown.err, unknown
    assert missing.code == 2 and "Missing argument 'ID'" in missing.err, missing
    assert version.code == 0 and version.out.startswith("zart, version "), version


def test_without_click_one_line_says_how_to_install_it(tmp_path: Path) -> None:
    # A `click` package that cannot be imported, ahead of the real one on the path: the
    # installed command behaves as it would where the extra is not installed.
    (tmp_path / "click").mkdir()
    (tmp_path / "click" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'click'\", name='click')\n")
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    [ran] = run_all([["list"]], env=env)
    assert ran.code == 2, ran
    assert ran.err.strip() == "zart: the zart command needs click: pip install 'zart[cli]'"
    assert ran.out == ""
