"""The store's plumbing: its connection pool, its statements, and one translation of
psycopg's connection errors into :class:`zart.DatabaseUnavailable`, so callers can tell
infrastructure faults (retried) from everything else."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType
from typing import TypeVar

import psycopg
import psycopg_pool
from psycopg.rows import TupleRow

from ..errors import ConfigurationError, DatabaseUnavailable, ZartError
from .prepared import PreparedStatement
from .queries import MODULES
from .queries.common import NOW

__all__ = ["Connection", "StoreBase", "translate_errors", "validate_schema"]

T = TypeVar("T")

_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,47}")

def validate_schema(schema: object) -> str:
    """Return ``schema`` if it is a safe PostgreSQL schema name, else raise ConfigurationError."""
    if not isinstance(schema, str) or not _SCHEMA_NAME.fullmatch(schema):
        raise ConfigurationError(
            f"schema name {schema!r} is not allowed: use 1-48 letters, digits or underscores, "
            f"starting with a letter or underscore")
    if schema.lower().startswith("pg_") or schema.lower() == "information_schema":
        raise ConfigurationError(f"schema name {schema!r} is reserved by PostgreSQL")
    return schema


Connection = psycopg.Connection[TupleRow]


class _Statements:
    """The statements of :mod:`zart.store.queries` with the database's clock and the schema
    filled in, encoded once.

    Bytes, not str: psycopg would otherwise encode (and hash) the text again on every
    execution, a measurable share of a step's client-side cost.
    """

    def __init__(self, schema: str) -> None:
        quoted = f'"{schema}"'
        for module in MODULES:
            for name in dir(module):
                text = getattr(module, name)
                if name.isupper() and isinstance(text, str):
                    setattr(self, name,
                            text.replace("{now}", NOW).replace("{s}", quoted).encode())

    def __getattr__(self, name: str) -> bytes:  # for the type checker: every attribute is SQL
        raise AttributeError(name)


_UNAVAILABLE = (psycopg.OperationalError, psycopg.errors.TransactionRollback,
                psycopg_pool.PoolTimeout)


class _TranslateErrors:
    """The context manager behind :func:`translate_errors` (stateless, so shared).

    A class rather than a ``@contextmanager`` generator: it wraps every statement of the hot
    path, and a generator-based context manager costs a few microseconds each time.
    """

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc is None:
            return
        if isinstance(exc, _UNAVAILABLE):
            raise DatabaseUnavailable(
                f"database unavailable: {type(exc).__name__}: {exc}") from exc
        if isinstance(exc, psycopg.InterfaceError):
            raise DatabaseUnavailable(f"database connection unusable: {exc}") from exc


class _Given:
    """``Store.connection(conn)`` for a connection the caller already holds."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def __enter__(self) -> Connection:
        return self.conn

    __exit__ = _TranslateErrors.__exit__


_TRANSLATE_ERRORS = _TranslateErrors()


def translate_errors() -> _TranslateErrors:
    """Turn psycopg's connection-level errors into :class:`DatabaseUnavailable`."""
    return _TRANSLATE_ERRORS


_CONNECT_TIMEOUT = 5
"""Seconds a direct connection may take to open before it is refused."""

# What the server answers when the settings are wrong (fix the URL), not when it is down. A
# refused connection carries no SQLSTATE, only the server's text.
_CONFIGURATION_REASONS = ("password authentication failed", "no password supplied",
                          "does not exist", "is not permitted to log in", "no pg_hba.conf entry",
                          "invalid connection option", "invalid dsn", "invalid uri")


def _connect_error(exc: psycopg.OperationalError) -> ZartError:
    reason = str(exc).strip()
    if any(text in reason.lower() for text in _CONFIGURATION_REASONS):
        return ConfigurationError(f"cannot connect to PostgreSQL: {reason}")
    return DatabaseUnavailable(f"cannot connect to PostgreSQL: {reason}")


class StoreBase:
    """PostgreSQL access for one zart schema: the pool and the statements every part uses."""

    def __init__(self, dsn: str, schema: str = "zart", *, min_size: int = 1,
                 max_size: int = 4, name: str = "zart", timeout: float = 30.0,
                 open_pool: bool = True) -> None:
        self.dsn = dsn
        self.schema = validate_schema(schema)
        self.name = name
        self.sql = _Statements(self.schema)
        self._checkpoint_new_ok = PreparedStatement(self.sql.CHECKPOINT_NEW_OK)
        self.channel_work = f"{self.schema}_work"
        self.channel_done = f"{self.schema}_done"
        self.channel_pause = f"{self.schema}_pause"
        self.pool: psycopg_pool.ConnectionPool[Connection] = psycopg_pool.ConnectionPool(
            dsn, min_size=min_size, max_size=max_size, open=False, name=name,
            kwargs={"autocommit": True, "application_name": name}, timeout=timeout)
        if open_pool:
            self.open()

    def open(self) -> None:
        """Start the pool's connections (in the background)."""
        self.pool.open(wait=False)

    def connect(self) -> Connection:
        """A connection of its own (not pooled), opened within a few seconds or refused with
        the server's reason: :class:`ConfigurationError` for what settings must fix (an
        unknown database or role, a wrong password), :class:`DatabaseUnavailable` else."""
        try:
            return psycopg.connect(self.dsn, autocommit=True, application_name=self.name,
                                   connect_timeout=_CONNECT_TIMEOUT)
        except psycopg.OperationalError as exc:
            raise _connect_error(exc) from None
        except psycopg.ProgrammingError as exc:  # a DSN psycopg cannot parse
            raise ConfigurationError(f"the database URL is not valid: {exc}") from None

    def idempotent(self, call: Callable[[Connection], T]) -> T:
        """Run ``call`` on a pooled connection; if that connection turns out dead (the server
        restarted, or the backend was terminated, while it sat in the pool), once more on a
        fresh one. Only for calls that may safely run twice."""
        try:
            with self.connection() as conn:
                return call(conn)
        except DatabaseUnavailable as exc:
            if not isinstance(exc.__cause__, psycopg.OperationalError):
                raise  # the pool itself timed out: a second try would wait again
            self.purge_broken()
        with self.connection() as conn:
            return call(conn)

    def close(self) -> None:
        """Close every pooled connection."""
        self.pool.close()

    def connection(self, conn: Connection | None = None
                   ) -> AbstractContextManager[Connection]:
        """``conn`` itself, or a pooled connection for the block; errors translated."""
        if conn is not None:
            return _Given(conn)
        return self._pooled()

    @contextmanager
    def _pooled(self) -> Iterator[Connection]:
        with translate_errors():
            try:
                pooled = self.pool.getconn()
            except psycopg_pool.PoolTimeout as exc:
                raise self._pool_timeout(exc) from exc
            try:
                yield pooled
            finally:
                self.pool.putconn(pooled)

    def acquire(self) -> Connection:
        """A pooled connection, held until :meth:`give_back` (a worker thread's lane)."""
        with translate_errors():
            try:
                return self.pool.getconn()
            except psycopg_pool.PoolTimeout as exc:
                raise self._pool_timeout(exc) from exc

    def _pool_timeout(self, exc: psycopg_pool.PoolTimeout) -> ZartError:
        """Why the pool gave no connection: when the database cannot be reached, the server's
        own reason (a pool only says it timed out), else the pool's exhaustion."""
        try:
            self.connect().close()
        except ZartError as reason:
            return reason
        return DatabaseUnavailable(
            f"no pooled connection within {self.pool.timeout}s: all "
            f"{self.pool.max_size} are in use ({exc}); raise the pool size")

    def give_back(self, conn: Connection) -> None:
        """Return a connection taken with :meth:`acquire` (the pool drops a broken one)."""
        self.pool.putconn(conn)

    def purge_broken(self) -> None:
        """After a connection fault, drop the pooled connections that died with it, at once,
        rather than handing them out one failed attempt at a time."""
        with contextlib.suppress(Exception):  # still down: the pool keeps reconnecting
            self.pool.check()
