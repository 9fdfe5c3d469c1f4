"""The ``zart`` console command: operate zart from a shell.

A thin layer over the library's public API (:class:`zart.Zart` and :mod:`zart.operations`);
it never speaks SQL. Install it with ``pip install 'zart[cli]'`` and run ``zart --help``::

    zart worker myapp.workflows --threads 8      # run workers until SIGTERM / Ctrl-C
    zart list --status failed                    # find what went wrong
    zart show 3f2a...                            # explain one execution, step by step
    zart retry 3f2a...                           # carry a failed execution on after a fix

Exit codes: 0 success, 1 refused or failed (one line ``zart: <reason>`` on stderr), 2 usage
errors (bad options, malformed JSON, durations or times).
"""

from __future__ import annotations

import sys

__all__ = ["main"]

INSTALL_HINT = "zart: the zart command needs click: pip install 'zart[cli]'"
"""What ``zart`` prints when click is not installed (click is an optional extra)."""


def main(argv: list[str] | None = None) -> None:
    """Run the ``zart`` command with ``argv`` (default: the process's arguments); exits."""
    try:
        import click  # noqa: F401  (only to learn whether the extra is installed)
    except ImportError:
        # click is the optional extra "cli": the library itself must not need it, so its
        # absence is a one-line hint and the usage exit code, not a traceback.
        print(INSTALL_HINT, file=sys.stderr)
        raise SystemExit(2) from None
    from . import (  # noqa: F401
        commands_lint,
        commands_pause,
        commands_read,
        commands_repair,
        commands_replay,
        commands_run,
    )
    from .app import cli

    cli.main(args=argv, prog_name="zart")
