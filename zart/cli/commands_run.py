"""Commands that run things: ``worker``, ``start`` and ``migrate``."""

from __future__ import annotations

import logging
from typing import Any

import click

import zart
from zart.store import SCHEMA_VERSION

from . import output
from .app import Failed, State, cli, pass_state
from .modules import import_workflows
from .params import duration, json_value

__all__ = ["migrate_command", "start_command", "worker_command"]

log = logging.getLogger("zart.cli")


@cli.command("worker", short_help="Run workers for MODULE's workflows until SIGTERM.")
@click.argument("modules", nargs=-1, required=True, metavar="MODULE...")
@click.option("--threads", type=click.IntRange(1, 10_000), default=8, show_default=True,
              help="How many executions run at once.")
@click.option("--lease", callback=duration, default="30s", metavar="DURATION",
              show_default=True,
              help="How long a crashed worker's executions wait before another takes them.")
@click.option("--poll", "poll_interval", callback=duration, default="5s", metavar="DURATION",
              show_default=True,
              help="Fallback polling period (new work normally wakes workers at once).")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]),
              default="info", show_default=True, help="What the worker logs on stderr.")
@click.option("--metrics-port", type=click.IntRange(1, 65535), metavar="PORT",
              help="Serve Prometheus metrics on http://0.0.0.0:PORT/metrics (needs "
                   "zart[prometheus]).")
@click.option("--trace", is_flag=True,
              help="Trace runs and step attempts with OpenTelemetry (needs zart[otel] and an "
                   "SDK configured, e.g. by opentelemetry-instrument).")
@pass_state
def worker_command(state: State, modules: tuple[str, ...], threads: int, lease: float,
                   poll_interval: float, log_level: str, metrics_port: int | None,
                   trace: bool) -> None:
    """Run worker threads for the workflows that MODULE... register, until SIGTERM or
    Ctrl-C: then in-flight steps finish and the rest is handed back to other workers. A
    second Ctrl-C stops at once (what is still held is handed back).

    Each MODULE is a dotted module name (found from the current directory too) or a path to
    a .py file; importing it must register at least one @zart.workflow.

    \b
    Examples:
      zart worker myapp.workflows --threads 16
      zart worker workflows/billing.py workflows/shipping.py --lease 60s
      ZART_DATABASE_URL=postgresql://... zart worker myapp.workflows
      zart worker myapp.workflows --metrics-port 9100
    """
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s "
                        "%(name)s: %(message)s")
    found = import_workflows(modules)
    names = sorted({name for names in found.values() for name in names})
    state.migrates = True
    if metrics_port is not None:
        from zart.contrib import prometheus

        prometheus.instrument(state.app)
        prometheus.start_http_server(metrics_port)
        log.info("Prometheus metrics on port %d (/metrics)", metrics_port)
    if trace:
        from zart.contrib import opentelemetry

        opentelemetry.instrument()
    worker = state.app.worker(threads=threads, lease=lease, poll_interval=poll_interval)
    log.info("zart worker on schema %r runs %s; SIGTERM or Ctrl-C stops it", state.schema,
             ", ".join(names))
    worker.run()


@cli.command("start", short_help='Start an execution of a workflow.')
@click.argument("workflow")
@click.option("--data", callback=json_value, metavar="JSON",
              help="The input, as JSON (default: null).")
@click.option("--id", "execution_id", metavar="ID",
              help="The execution's id (default: a new one). Starting an id again with the "
                   "same input returns the same execution; it never runs twice.")
@click.option("--module", "modules", multiple=True, metavar="MODULE",
              help="Import this module (dotted name or .py path) first, so that WORKFLOW is "
                   "registered. Repeatable.")
@click.option("--wait", callback=duration, metavar="DURATION",
              help="Wait this long for the result and print it (a worker must run it).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: id, status (and result).")
@pass_state
def start_command(state: State, workflow: str, data: Any, execution_id: str | None,
                  modules: tuple[str, ...], wait: float | None, as_json: bool) -> None:
    """Start the workflow WORKFLOW with --data as its input and print the execution's id.

    The workflow must be registered in this process (its timeout and retry policy come from
    its definition): name the module that defines it with --module.

    \b
    Examples:
      zart start checkout --module shop.workflows --data '{"id": "o-1", "amount": 9.5}'
      zart start checkout --module shop.workflows --id o-1 --data '{"id": "o-1"}' --wait 30s
    """
    if modules:
        import_workflows(modules)
    state.migrates = True
    try:
        handle = state.app.start(workflow, data, id=execution_id)
    except zart.WorkflowNotFound as exc:
        hint = "" if modules else " (zart start --module MODULE ...)"
        raise Failed(f"{exc}{hint}") from exc
    if wait is None:
        if as_json:
            output.emit_json({"id": handle.id, "status": handle.status()})
        else:
            output.echo(handle.id)
        return
    if not as_json:
        output.echo(handle.id)  # first, so a failure or a timeout still tells which one
    try:
        result = handle.result(timeout=wait)
    except zart.WorkflowFailed as exc:
        if as_json:
            output.emit_json({"id": handle.id, "status": exc.status, "error": exc.cause})
        raise Failed(str(exc)) from exc
    except zart.ResultTimeout as exc:
        if as_json:  # a script still learns which execution it started
            output.emit_json({"id": handle.id, "status": handle.status()})
        raise Failed(str(exc)) from exc
    if as_json:
        output.emit_json({"id": handle.id, "status": "completed", "result": result})
    else:
        output.emit_json(result)


@cli.command("migrate", short_help='Create or upgrade the schema; print its version.')
@pass_state
def migrate_command(state: State) -> None:
    """Create zart's schema, or upgrade it to this version of zart, and print its version.

    Every zart process does this when it starts (safely, many at once); run it on its own
    to upgrade before deploying, or to check which database --dsn reaches.

    \b
    Examples:
      zart migrate
      zart --dsn postgresql://app@db/prod --schema zart migrate
    """
    state.migrates = True
    app = state.app  # constructing the application creates or upgrades the schema
    output.echo(f"schema {app.schema!r} is at version {SCHEMA_VERSION}")
