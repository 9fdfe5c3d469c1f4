"""The store's plumbing: its connection pool, its statements, and one translation of
psycopg's connection errors into :class:`zart.DatabaseUnavailable`, so callers can tell
infrastructure faults (retried) from everything else."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from types import TracebackType

import psycopg
import psycopg_pool
from psycopg.rows import TupleRow

from ..errors import ConfigurationError, DatabaseUnavailable
from .prepared import PreparedStatement
from .queries import MODULES

__all__ = ["Connection", "StoreBase", "translate_errors", "validate_schema"]

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
    """The statements of :mod:`zart.queries` with the schema filled in, encoded once.

    Bytes, not str: psycopg would otherwise encode (and hash) the text again on every
    execution, a measurable share of a step's client-side cost.
    """

    def __init__(self, schema: str) -> None:
        quoted = f'"{schema}"'
        for module in MODULES:
            for name in dir(module):
                text = getattr(module, name)
                if name.isupper() and isinstance(text, str):
                    setattr(self, name, text.replace("{s}", quoted).encode())

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


class StoreBase:
    """PostgreSQL access for one zart schema: the pool and the statements every part uses."""

    def __init__(self, dsn: str, schema: str = "zart", *, min_size: int = 1,
                 max_size: int = 4, name: str = "zart") -> None:
        self.dsn = dsn
        self.schema = validate_schema(schema)
        self.sql = _Statements(self.schema)
        self._checkpoint_new_ok = PreparedStatement(self.sql.CHECKPOINT_NEW_OK)
        self.channel_work = f"{self.schema}_work"
        self.channel_done = f"{self.schema}_done"
        self.pool: psycopg_pool.ConnectionPool[Connection] = psycopg_pool.ConnectionPool(
            dsn, min_size=min_size, max_size=max_size, open=False, name=name,
            kwargs={"autocommit": True, "application_name": name}, timeout=30.0)
        self.pool.open(wait=False)

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
        with translate_errors(), self.pool.connection() as pooled:
            yield pooled

    def acquire(self) -> Connection:
        """A pooled connection, held until :meth:`give_back` (a worker thread's lane)."""
        with translate_errors():
            return self.pool.getconn()

    def give_back(self, conn: Connection) -> None:
        """Return a connection taken with :meth:`acquire` (the pool drops a broken one)."""
        self.pool.putconn(conn)

    def purge_broken(self) -> None:
        """After a connection fault, drop the pooled connections that died with it, at once,
        rather than handing them out one failed attempt at a time."""
        with contextlib.suppress(Exception):  # still down: the pool keeps reconnecting
            self.pool.check()
