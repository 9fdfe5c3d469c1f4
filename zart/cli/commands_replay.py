"""Commands for a deploy: ``replay-check`` (would the new code break an open execution?) and
``export`` (an execution's history as JSON, to replay in a unit test)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click

from zart.replay import Divergence, Progress, export_history, render, replay_check
from zart.replay.gate import DEFAULT_BATCH
from zart.workflow import get_workflow

from . import output
from .app import Failed, State, cli, pass_state
from .modules import import_workflows

__all__ = ["export_command", "replay_check_command"]

_PROGRESS_EVERY = 1.0
"""Seconds between progress lines when stderr is not a terminal (a CI log)."""


class _Reporter:
    """Prints each divergence (the full diff once per distinct breakage) and the progress."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.first: dict[tuple[str, int, str, str], str] = {}
        self.printed = 0.0
        self.live = sys.stderr.isatty()

    def divergence(self, divergence: Divergence) -> None:
        same = self.first.get(divergence.signature)
        if same is not None:
            output.echo(f"execution {divergence.execution_id} (workflow {divergence.workflow}, "
                        f"{divergence.status}): {divergence.error} at position "
                        f"{divergence.position}, the same as {same}")
            return
        self.first[divergence.signature] = divergence.execution_id
        lines = render(divergence)
        output.echo(output.colour(lines[0], fg="red", bold=True))
        for line in lines[1:]:
            style = ({"fg": "red"} if line.startswith("  -") else
                     {"fg": "green"} if line.startswith("  +") else {})
            output.echo(output.colour(line, **style) if style else line)
        output.echo()

    def progress(self, progress: Progress) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        last = progress.executions == progress.total
        if not self.live and not last and now - self.printed < _PROGRESS_EVERY:
            return
        self.printed = now
        rate = progress.commands / progress.seconds if progress.seconds > 0 else 0.0
        text = (f"replay-check: {progress.executions:,}/{progress.total:,} executions, "
                f"{progress.commands:,} commands ({rate:,.0f}/s)")
        if self.live:
            click.echo("\r" + text, err=True, nl=last)
        else:
            click.echo(text, err=True)


@cli.command("replay-check", short_help="Replay open executions against new code (a deploy "
                                        "gate).")
@click.argument("modules", nargs=-1, required=True, metavar="MODULE...")
@click.option("--finished", type=click.IntRange(0, 10_000_000), default=0, show_default=True,
              metavar="N", help="Also replay the N most recently finished executions.")
@click.option("--batch", type=click.IntRange(1, 100_000), default=DEFAULT_BATCH,
              show_default=True, metavar="N", help="Executions read per batch.")
@click.option("--quiet", is_flag=True, help="No progress on stderr.")
@pass_state
def replay_check_command(state: State, modules: tuple[str, ...], finished: int, batch: int,
                         quiet: bool) -> None:
    """Load the workflows that MODULE... define (the code about to be deployed) and replay,
    without running any step, the history of every open execution of those workflows (and
    with --finished, of the last N finished ones) against them.

    Prints every divergence at its position with a diff of what the history recorded (-)
    and what the code now yields (+), and exits 1 if any execution would break: run it in
    CI before a deploy. Open executions of workflows the modules do not define are counted,
    not checked.

    \b
    Examples:
      zart replay-check myapp.workflows
      zart replay-check workflows/billing.py --finished 1000
      ZART_DATABASE_URL=postgresql://... zart replay-check myapp.workflows
    """
    found = import_workflows(modules)
    workflows = {name: get_workflow(name) for names in found.values() for name in names}
    reporter = _Reporter(quiet)
    report = replay_check(state.app, workflows, finished=finished, batch=batch,
                          on_progress=reporter.progress, on_divergence=reporter.divergence)
    rate = f" ({report.rate:,.0f} commands/s)" if report.commands else ""
    output.echo(f"checked {report.open:,} open and {report.finished:,} finished execution(s) "
                f"of {', '.join(sorted(workflows))}: {report.commands:,} recorded commands "
                f"replayed in {report.seconds:.2f}s{rate}")
    if report.elsewhere:
        counts = ", ".join(f"{name} ({count:,})" for name, count in report.elsewhere.items())
        output.echo(output.dim(f"not checked: open executions of workflows these modules do "
                               f"not define: {counts}"))
    if not report.ok:
        broken = sorted({d.workflow for d in report.divergences})
        raise Failed(f"{len(report.divergences):,} execution(s) would break on this code "
                     f"(workflow {', '.join(broken)}); guard the change with zart.patched() "
                     f"or let them finish first")
    output.echo(output.colour("OK: every checked execution replays on this code", fg="green"))


@cli.command("export", short_help="Write an execution's history as JSON.")
@click.argument("execution_id", metavar="ID")
@click.option("-o", "--output", "path", type=click.Path(dir_okay=False, writable=True,
                                                        path_type=Path),
              help="Write to this file instead of stdout.")
@pass_state
def export_command(state: State, execution_id: str, path: Path | None) -> None:
    """Write the history of execution ID (its current run) as JSON: what
    zart.testing.replay(workflow, FILE) replays in a unit test, without a database.

    \b
    Examples:
      zart export order-42 > tests/histories/order-42.json
      zart export order-42 -o tests/histories/order-42.json
    """
    text = json.dumps(export_history(state.app, execution_id), indent=2, ensure_ascii=False)
    if path is None:
        output.echo(text)
        return
    try:
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise Failed(f"cannot write {path}: {exc.strerror or exc}") from exc
    output.echo(f"wrote the history of {execution_id} to {path}")
