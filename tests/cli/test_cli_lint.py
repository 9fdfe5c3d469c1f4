"""``zart lint`` as a user runs it: findings on stdout, exit code 1 when any; no database."""

from __future__ import annotations

import subprocess
import textwrap
from pathlib import Path

from tests.cli.conftest import ROOT, Ran, assert_refused, zart_command

FLOWS = textwrap.dedent('''
    import random
    from datetime import datetime

    import zart

    @zart.step("pick")
    def pick():
        return random.choice(["a", "b"])          # a step: fine

    @zart.workflow("draw")
    def draw(data):
        started = datetime.now()
        winner = random.choice(data["players"])
        legacy = random.random()  # zart: allow
        yield pick()
        return {"winner": winner, "started": started.isoformat()}
''')


def lint(*args: str) -> Ran:
    proc = subprocess.run([*zart_command(), "lint", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "NO_COLOR": "1"})
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def test_zart_lint_flags_workflow_bodies_and_exits_one(tmp_path: Path) -> None:
    flows = tmp_path / "flows.py"
    flows.write_text(FLOWS)
    ran = lint(str(flows))
    assert_refused(ran, "2 problem(s) in 1 workflow body(ies)")
    assert ran.out.splitlines() == [
        f"{flows}:13:15: clock: datetime.now in workflow 'draw' reads the wall clock: a replay "
        f'sees another time than the first run; use now = yield zart.now("name") (recorded '
        f"once, the same on every replay)",
        f"{flows}:14:14: random: random.choice in workflow 'draw' draws a new random value on "
        f'every run: a replay gets another one; use value = yield zart.capture("name", fn) '
        f"(recorded once)"]


def test_zart_lint_passes_clean_code_and_names_what_it_cannot_read(tmp_path: Path) -> None:
    clean, missing, broken_file = tmp_path / "clean.py", "nowhere/flows.py", tmp_path / "b.py"
    clean.write_text("import zart\n\n@zart.workflow('w')\ndef w():\n    yield zart.now('t')\n")
    broken_file.write_text("def broken(:\n")
    ok = lint(str(clean), "examples")
    assert ok.code == 0, ok
    assert "OK: nothing to flag in" in ok.out
    assert_refused(lint(missing), "no such file or directory: nowhere/flows.py")
    assert_refused(lint(str(broken_file)), f"cannot parse {broken_file}:1")
    usage = lint()
    assert usage.code == 2 and "Missing argument 'MODULE...'" in usage.err
