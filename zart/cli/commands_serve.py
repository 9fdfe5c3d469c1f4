"""``zart serve``: the HTTP API and the dashboard (:mod:`zart.web`) on waitress."""

from __future__ import annotations

import ipaddress
import logging

import click

from zart.web import create_app

from . import output
from .app import Failed, State, cli, pass_state
from .modules import import_workflows
from .params import duration

__all__ = ["serve_command"]

log = logging.getLogger("zart.cli")

WAITRESS_HINT = "zart serve needs waitress: pip install 'zart[cli,web]'"


def is_loopback(host: str) -> bool:
    """Whether ``host`` is only reachable from this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@cli.command("serve", short_help="Serve the HTTP API and the dashboard.")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on. Anything but loopback needs API tokens.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="Port to listen on (0: any free one; the URL printed says which).")
@click.option("--prefix", default="", metavar="PATH",
              help="Serve under this path (e.g. /zart), as behind a proxy that keeps it.")
@click.option("--tokens", envvar="ZART_API_TOKENS", show_envvar=True, metavar="SPEC",
              help="API tokens: read:TOKEN,operate:TOKEN (each at least 16 characters).")
@click.option("--module", "modules", multiple=True, metavar="MODULE",
              help="Import this module first, so that POST /api/executions can start its "
                   "workflows. Repeatable.")
@click.option("--threads", type=click.IntRange(1, 1000), default=16, show_default=True,
              help="Requests served at once (a result long-poll holds one).")
@click.option("--max-result-wait", callback=duration, default="30s", show_default=True,
              metavar="DURATION", help="The longest a GET .../result?timeout= may wait.")
@pass_state
def serve_command(state: State, host: str, port: int, prefix: str, tokens: str | None,
                  modules: tuple[str, ...], threads: int, max_result_wait: float) -> None:
    """Serve the JSON API (under /api, described at /openapi.json) and the dashboard (at /)
    until Ctrl-C or SIGTERM.

    Without --tokens (or $ZART_API_TOKENS) it listens on loopback only and anyone on this
    machine may operate; it refuses another --host rather than expose that.

    \b
    Examples:
      zart serve                                   http://127.0.0.1:8080/, local only
      ZART_API_TOKENS=read:$READ,operate:$OP zart serve --host 0.0.0.0 --module shop
    """
    try:
        import waitress
    except ImportError:
        raise Failed(WAITRESS_HINT) from None
    if not tokens and not is_loopback(host):
        raise Failed(f"refusing to serve on {host} without API tokens: anyone who reaches it "
                     f"could operate zart. Set ZART_API_TOKENS=read:TOKEN,operate:TOKEN (or "
                     f"--tokens), or keep --host 127.0.0.1")
    if prefix and (not prefix.startswith("/") or prefix.endswith("/") or "//" in prefix):
        raise click.BadParameter("a path like /zart (a leading slash, no trailing one)",
                                 param_hint="'--prefix'")
    logging.basicConfig(level="INFO", format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if modules:
        import_workflows(modules)
    state.migrates = True  # it starts executions, as any client does: the schema is made
    application = create_app(state.app, tokens=tokens or "", max_result_wait=max_result_wait)
    server = waitress.create_server(application, host=host, port=port, threads=threads,
                                    url_prefix=prefix, ident="zart",
                                    clear_untrusted_proxy_headers=True)
    shown = f"[{host}]" if ":" in host else host
    output.echo(f"zart serve: http://{shown}:{server.effective_port}{prefix}/ "
                f"(API at {prefix}/api, OpenAPI at {prefix}/openapi.json)")
    if not tokens:
        log.warning("no API tokens: serving %s only, and anyone on this machine may operate; "
                    "set ZART_API_TOKENS=read:TOKEN,operate:TOKEN to require tokens", host)
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
