"""The ``zart`` command group: global options, the application in the click context, and the
one place where library errors become exit code 1 with a one-line reason."""

from __future__ import annotations

import getpass
import socket
from collections.abc import Callable
from typing import IO, Any, TypeVar

import click

import zart

__all__ = ["EXIT_FAILED", "SECTIONS", "Failed", "State", "ZartGroup", "by_option", "cli",
           "default_by", "pass_state"]

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
"""The exit code of a refused or failed command (2 is click's, for usage errors)."""


class Failed(click.ClickException):
    """A refusal or failure: ``zart: <reason>`` on one line on stderr, exit code 1."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        # One line: a reason spread over lines (a server's multi-line error) would read as
        # several messages, and scripts take the first line of stderr.
        super().__init__(" ".join(message.split()))

    def show(self, file: IO[Any] | None = None) -> None:
        """Print ``zart: <reason>`` on stderr (not click's ``Error:`` prefix)."""
        click.echo(f"zart: {self.format_message()}", file=file, err=True)


class State:
    """What the global options chose; the :class:`zart.Zart` application, created on first
    use (so ``--help`` and usage errors never connect, and ``zart worker`` imports the user's
    modules before it connects)."""

    def __init__(self, dsn: str | None, schema: str) -> None:
        self.dsn = dsn
        self.schema = schema
        self._app: zart.Zart | None = None
        self.migrates = False
        """Whether the application may create or upgrade the schema (``worker``, ``start``,
        ``migrate``); inspecting and repairing commands refuse a missing or older one rather
        than create it in a database they were pointed at by mistake."""

    @property
    def app(self) -> zart.Zart:
        """The application: connects (and checks, or creates or upgrades, the schema) the
        first time."""
        if self._app is None:
            self._app = zart.Zart(self.dsn, schema=self.schema, migrate=self.migrates)
        return self._app

    def close(self) -> None:
        """Close the application's connections, if it was created."""
        if self._app is not None:
            self._app.close()
            self._app = None


SECTIONS = {
    "Run": ["worker", "start", "migrate", "serve"],
    "Inspect": ["list", "show", "stats", "workers"],
    "Repair one execution": ["send-event", "cancel", "retry", "restart", "rerun", "resume"],
    "Pause and purge": ["pause", "unpause", "pauses", "purge"],
    "Schedules": ["schedule"],
    "Deploy safely": ["replay-check", "export", "lint"],
}
"""``zart --help`` lists the commands by what an operator wants to do, not alphabetically."""


class ZartGroup(click.Group):
    """A click group whose commands' :class:`zart.ZartError` s end in :class:`Failed`, and
    whose help lists the commands in :data:`SECTIONS`."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands' one-line help, section by section."""
        listed = {name for names in SECTIONS.values() for name in names}
        sections = {**SECTIONS, "Other": [n for n in self.list_commands(ctx) if n not in listed]}
        width = max((len(n) for n in self.commands), default=0)
        for title, names in sections.items():
            rows = [(name.ljust(width), command.get_short_help_str(formatter.width - 6 - width))
                    for name in names
                    if (command := self.get_command(ctx, name)) is not None
                    and not command.hidden]
            if rows:
                with formatter.section(title):
                    formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a library error (refused, not found, unreachable database...) is
        an operator's answer, not a crash: one line and exit code 1, no traceback."""
        try:
            return super().invoke(ctx)
        except zart.ZartError as exc:
            raise Failed(str(exc) or type(exc).__name__) from exc


def default_by() -> str:
    """Who runs this command, for the audit trail: ``$USER@hostname``."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def by_option(fn: F) -> F:
    """The ``--by WHO`` option of every repair, recorded in the execution's audit trail."""
    return click.option("--by", "by", default=default_by, show_default="$USER@hostname",
                        metavar="WHO", help="Who did it, for the audit trail.")(fn)


pass_state = click.make_pass_decorator(State)
"""Pass the command the :class:`State` the group put in the context."""


@click.group(cls=ZartGroup, context_settings={"help_option_names": ["-h", "--help"],
                                              "max_content_width": 100})
@click.option("--dsn", envvar="ZART_DATABASE_URL", metavar="URL", show_envvar=True,
              help="PostgreSQL connection string. Without it, an embedded PostgreSQL is "
                   "started in ./.zart/pgdata (development only).")
@click.option("--schema", default="zart", show_default=True, envvar="ZART_SCHEMA",
              show_envvar=True, help="The PostgreSQL schema that holds zart's tables.")
@click.version_option(zart.__version__, "--version", prog_name="zart")
@click.pass_context
def cli(ctx: click.Context, dsn: str | None, schema: str) -> None:
    """Operate zart: run workers, start, inspect, repair, pause and purge executions.

    \b
    Examples:
      zart worker myapp.workflows --threads 8   run workers until SIGTERM or Ctrl-C
      zart start checkout --data '{"id": "o-1"}' --module myapp.workflows
      zart list --status failed --since 1d      failed in the last day
      zart show 3f2a9c...                       why it waits, its history, its errors
      zart retry 3f2a9c...                      carry on a failed execution after a fix
      zart pause --workflow checkout --reason "payment provider down"
      zart purge --older-than 30d --yes         delete old finished executions

    Exit codes: 0 success; 1 refused or failed (the reason on stderr, one line);
    2 usage error (a bad option, malformed JSON, duration or time).
    """
    state = State(dsn or None, schema)
    ctx.obj = state
    ctx.call_on_close(state.close)
