"""A ledger of side effects: a table the kit's test steps insert into on their own connection,
so that a test counts real runs of a step (not the engine's view of them)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import psycopg

import zart

__all__ = ["Ledger"]


class Ledger:
    """The table ``<app's schema>.ledger``: one row per side effect, written in autocommit."""

    def __init__(self, app: zart.Zart) -> None:
        self.dsn = app.dsn
        self.table = f'"{app.schema}".ledger'
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            conn.execute(f"CREATE TABLE {self.table} (id serial PRIMARY KEY, effect text NOT "
                         "NULL, execution_id text)")

    def record(self, effect: str, conn: psycopg.Connection[Any] | None = None) -> None:
        """Write one side effect: on ``conn`` (a transactional step's), else committed at once
        on a connection of its own, as a call to another system would be."""
        execution_id = zart.context().execution_id
        query = f"INSERT INTO {self.table} (effect, execution_id) VALUES (%s, %s)"
        if conn is not None:
            conn.execute(query, (effect, execution_id))
            return
        with psycopg.connect(self.dsn, autocommit=True) as own:
            own.execute(query, (effect, execution_id))

    def counts(self) -> Counter[str]:
        """How often each effect happened."""
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            rows = conn.execute(f"SELECT effect, count(*) FROM {self.table} "
                                "GROUP BY effect").fetchall()
        return Counter({effect: int(n) for effect, n in rows})
