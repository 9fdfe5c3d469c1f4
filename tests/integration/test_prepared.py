"""The raw prepared statement of the checkpoint hot path (zart.store.prepared), on a real server:
prepared once per connection, inside the caller's transaction, errors as psycopg's own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

import zart
from zart.interpreter import Record
from zart.retry import NO_RETRY
from zart.store import Claim
from zart.store.prepared import PreparedStatement


@pytest.fixture
def table(app: zart.Zart, schema: str) -> Iterator[str]:
    name = f'"{schema}".prepared_rows'
    with app.store.connection() as conn:
        conn.execute(f"CREATE TABLE {name} (k text PRIMARY KEY, v json NOT NULL)")
    try:
        yield name
    finally:
        with app.store.connection() as conn:
            conn.execute(f"DROP TABLE {name}")


def _prepared_on(conn: psycopg.Connection[Any]) -> list[str]:
    return [r[0] for r in conn.execute("SELECT name FROM pg_prepared_statements "
                                       "WHERE name LIKE 'zart_%%'").fetchall()]


def test_a_statement_is_prepared_once_per_connection_and_equal_texts_share_it(
        dsn: str, table: str) -> None:
    insert = PreparedStatement(f"INSERT INTO {table} VALUES ($1, $2::json)".encode())
    same = PreparedStatement(f"INSERT INTO {table} VALUES ($1, $2::json)".encode())
    other = PreparedStatement(f"SELECT v::text FROM {table} WHERE k = $1".encode())
    assert insert.name == same.name != other.name
    with psycopg.connect(dsn, autocommit=True) as conn:
        insert.execute(conn, [b"a", b'{"n": 1}'])
        same.execute(conn, [b"b", b"2"])
        result = other.execute(conn, [b"a"])
        assert (result.ntuples, result.get_value(0, 0)) == (1, b'{"n": 1}')
        assert sorted(_prepared_on(conn)) == sorted([insert.name.decode(), other.name.decode()])
    with psycopg.connect(dsn, autocommit=True) as fresh:  # a new session prepares again
        assert other.execute(fresh, [b"b"]).get_value(0, 0) == b"2"


def test_an_error_is_psycopgs_own_exception_and_the_connection_stays_usable(
        dsn: str, table: str) -> None:
    insert = PreparedStatement(f"INSERT INTO {table} VALUES ($1, $2::json)".encode())
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(psycopg.errors.InvalidTextRepresentation, match="json"):
            insert.execute(conn, [b"bad", b"{not json"])
        insert.execute(conn, [b"dup", b"1"])
        with pytest.raises(psycopg.errors.UniqueViolation):
            insert.execute(conn, [b"dup", b"2"])
        assert conn.execute(f"SELECT count(*) FROM {table}").fetchone() == (1,)


def test_inside_the_callers_transaction_a_rollback_takes_the_write_with_it(
        dsn: str, table: str) -> None:
    insert = PreparedStatement(f"INSERT INTO {table} VALUES ($1, $2::json)".encode())
    with psycopg.connect(dsn, autocommit=True) as conn:
        with pytest.raises(RuntimeError), conn.transaction():
            insert.execute(conn, [b"rolled-back", b"1"])
            raise RuntimeError("the step failed after its write")
        with conn.transaction():
            insert.execute(conn, [b"kept", b"2"])
        keys = [r[0] for r in conn.execute(f"SELECT k FROM {table}").fetchall()]
    assert keys == ["kept"]


def test_a_checkpoint_on_a_lost_connection_is_database_unavailable_not_a_failure(
        app: zart.Zart, dsn: str) -> None:
    claim = Claim("prepared-lost", "w", None, uuid.uuid4(), 1, 1, NO_RETRY, 0, False, None)
    record = Record(0, "step", "s", value="1", attempt=1)
    with psycopg.connect(dsn, autocommit=True) as victim, \
            psycopg.connect(dsn, autocommit=True) as killer:
        assert not app.store.checkpoint(claim, record, victim, fresh=True)  # not held: False
        pid = victim.info.backend_pid
        killer.execute("SELECT pg_terminate_backend(%s)", (pid,))
        with pytest.raises(zart.DatabaseUnavailable):
            app.store.checkpoint(claim, record, victim, fresh=True)
