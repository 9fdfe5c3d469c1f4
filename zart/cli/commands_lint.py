"""``zart lint``: flag what makes workflow bodies non-deterministic. Reads source files only:
it imports nothing of them and needs no database."""

from __future__ import annotations

from pathlib import Path

import click

from zart.lint import lint_files, source_files

from . import output
from .app import Failed, cli

__all__ = ["lint_command"]


@cli.command("lint", short_help="Flag non-deterministic code in workflow bodies.")
@click.argument("modules", nargs=-1, required=True, metavar="MODULE...")
def lint_command(modules: tuple[str, ...]) -> None:
    """Read MODULE... (.py files, directories, or dotted module names) and flag, in every
    @zart.workflow body, what a replay would not compute the same way: wall-clock reads,
    random numbers and uuid4, environment reads, network and file I/O, threads and blocking
    sleeps. Each finding gives the line, the reason and the zart alternative (zart.now,
    zart.capture, zart.sleep, a step). Steps are never flagged.

    A comment "# zart: allow" silences its line; "# zart: allow clock, io" only those rules
    (clock, sleep, random, environment, io, thread). Exits 1 if anything is flagged.

    \b
    Examples:
      zart lint myapp/workflows.py
      zart lint myapp.workflows src/
    """
    files: list[Path] = []
    for spec in modules:
        try:
            files.extend(source_files(spec))
        except ValueError as exc:
            raise Failed(str(exc)) from exc
    try:
        findings = lint_files(dict.fromkeys(files))
    except SyntaxError as exc:
        raise Failed(f"cannot parse {exc.filename}:{exc.lineno}: {exc.msg}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise Failed(f"cannot read a source file: {exc}") from exc
    for finding in findings:
        output.echo(str(finding))
    if findings:
        bodies = len({(f.path, f.workflow) for f in findings})
        raise Failed(f"{len(findings)} problem(s) in {bodies} workflow body(ies); move them "
                     f"into steps or zart.now/zart.capture, or mark a line '# zart: allow'")
    output.echo(output.colour(f"OK: nothing to flag in {len(files)} file(s)", fg="green"))
