"""Raw prepared statements for the hottest path: psycopg's libpq layer, without a cursor.

``Cursor.execute`` costs about 70 us of client CPU per statement on the reference machine
(a cursor built, the query converted, every parameter adapted, the prepared-statement
bookkeeping); sending an already prepared statement with text parameters straight through the
same connection's libpq object costs about 35 us. Only the statement every step runs goes
this way (``Store.checkpoint`` for a first success); everything else uses ``Cursor.execute``.

The statement is prepared once per connection, under a name derived from its text, and runs on
the connection as psycopg knows it: inside the caller's transaction if one is open (a
transactional step), holding the connection's lock, with errors raised as psycopg's own
exceptions (so :func:`zart.store.translate_errors` treats them like any other).

Part of the store layer: only :mod:`zart.store` uses it, and it holds no SQL of its own (the
text comes from :mod:`zart.queries`).
"""

from __future__ import annotations

import hashlib
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import errors, generators, pq

__all__ = ["PreparedStatement"]

_OK = (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK)
_SQLSTATE = pq.DiagnosticField.SQLSTATE
_MISSING = b"26000"  # invalid_sql_statement_name: "prepared statement ... does not exist"

# The statements prepared on each live connection (a closed connection's entry goes with it).
_PREPARED: weakref.WeakKeyDictionary[psycopg.Connection[Any], set[bytes]] = (
    weakref.WeakKeyDictionary())
_LOCK = threading.Lock()


class PreparedStatement:
    """One SQL statement with ``$n`` placeholders, prepared lazily on each connection."""

    __slots__ = ("name", "sql")

    def __init__(self, sql: bytes) -> None:
        self.sql = sql
        # Derived from the text: two schemas' statements never share a name on one session,
        # and two objects for the same text share one preparation.
        self.name = b"zart_" + hashlib.sha1(sql, usedforsecurity=False).hexdigest()[:16].encode()

    def execute(self, conn: psycopg.Connection[Any],
                params: Sequence[bytes | None]) -> pq.abc.PGresult:
        """Run the statement with ``params`` (text format); its result, or psycopg's error.

        Outside a transaction, a statement the server no longer has (psycopg sends
        ``DEALLOCATE ALL`` after every rollback once it has prepared statements of its own) is
        prepared again and run once more: the failed attempt ran nothing. Inside one the error
        is raised: the transaction is aborted, and only its owner can decide what that means.
        """
        with conn.lock:
            pgconn = conn.pgconn
            if self.name not in _PREPARED.get(conn, ()):
                self._prepare(conn, pgconn)
            result = self._run(conn, pgconn, params)
            if (result.status not in _OK and result.error_field(_SQLSTATE) == _MISSING
                    and pgconn.transaction_status == pq.TransactionStatus.IDLE):
                self._prepare(conn, pgconn)
                result = self._run(conn, pgconn, params)
        if result.status not in _OK:
            if result.error_field(_SQLSTATE) == _MISSING:
                with _LOCK:
                    _PREPARED.get(conn, set()).discard(self.name)
            raise errors.error_from_result(result, encoding=conn.info.encoding)
        return result

    def _run(self, conn: psycopg.Connection[Any], pgconn: pq.abc.PGconn,
             params: Sequence[bytes | None]) -> pq.abc.PGresult:
        pgconn.send_query_prepared(self.name, params)
        result: pq.abc.PGresult = conn.wait(generators.execute(pgconn))[-1]
        return result

    def _prepare(self, conn: psycopg.Connection[Any], pgconn: pq.abc.PGconn) -> None:
        pgconn.send_prepare(self.name, self.sql)
        result = conn.wait(generators.execute(pgconn))[-1]
        if result.status not in _OK:
            error = errors.error_from_result(result, encoding=conn.info.encoding)
            if not isinstance(error, errors.DuplicatePreparedStatement):
                raise error
        with _LOCK:  # the mapping is shared by every worker thread
            _PREPARED.setdefault(conn, set()).add(self.name)
