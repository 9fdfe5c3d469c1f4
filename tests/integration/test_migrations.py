"""Versioned migrations: a v1 database upgraded through every migration ends with the same
catalog as a fresh install, under many processes at once, and a newer schema is refused."""

from __future__ import annotations

import os
import threading
from typing import Any

import psycopg
import pytest

import zart
from zart.store import SCHEMA_VERSION, migrations

from .conftest import drop_schema

CATALOG = {
    "tables": """
        SELECT c.relname, c.relkind, coalesce(c.reloptions, '{}')
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND c.relkind IN ('r', 'S', 'v') ORDER BY 1""",
    "columns": """
        SELECT c.relname, row_number() OVER (PARTITION BY c.relname ORDER BY a.attnum),
               a.attname, format_type(a.atttypid, a.atttypmod), a.attnotnull,
               pg_get_expr(d.adbin, d.adrelid)
        FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE n.nspname = %(schema)s AND c.relkind = 'r' AND a.attnum > 0
          AND NOT a.attisdropped ORDER BY 1, 2""",
    "constraints": """
        SELECT c.relname, k.conname, k.contype, pg_get_constraintdef(k.oid)
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s ORDER BY 1, 2""",
    "indexes": """
        SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = %(schema)s ORDER BY 1""",
    "triggers": """
        SELECT t.tgname, pg_get_triggerdef(t.oid) FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = %(schema)s AND NOT t.tgisinternal ORDER BY 1""",
    "functions": """
        SELECT p.proname, pg_get_functiondef(p.oid) FROM pg_proc p
        JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = %(schema)s ORDER BY 1""",
}


def catalog(dsn: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    """Everything a schema defines, with its own name replaced so two schemas compare."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        out = {}
        for what, query in CATALOG.items():
            rows = conn.execute(query, {"schema": schema}).fetchall()
            out[what] = [tuple(str(v).replace(f'"{schema}"', "S").replace(schema, "S")
                               for v in row) for row in rows]
    return out


def create_v1(dsn: str, schema: str) -> None:
    """A schema exactly as the released version 1 of zart created it."""
    [(version, v1)] = migrations()[:1]
    assert version == 1
    with psycopg.connect(dsn, autocommit=True) as conn, conn.transaction():
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET LOCAL search_path TO "{schema}"')
        conn.execute(v1.encode())


@pytest.fixture
def two_schemas(dsn: str) -> Any:
    names = [f"t_mig_fresh_{os.getpid()}", f"t_mig_upgraded_{os.getpid()}"]
    for name in names:
        drop_schema(dsn, name)
    yield names
    for name in names:
        drop_schema(dsn, name)


def test_the_migrations_are_numbered_from_one_to_the_current_version() -> None:
    assert [number for number, _ in migrations()] == list(range(1, SCHEMA_VERSION + 1))


def test_a_v1_schema_upgraded_through_every_migration_equals_a_fresh_install(
        dsn: str, two_schemas: list[str], sql: Any) -> None:
    fresh, upgraded = two_schemas
    zart.Zart(dsn, schema=fresh).close()
    create_v1(dsn, upgraded)
    assert sql(f'SELECT max(version) FROM "{upgraded}".schema_version') == [(1,)]
    zart.Zart(dsn, schema=upgraded).close()
    assert sql(f'SELECT max(version) FROM "{upgraded}".schema_version') == [(SCHEMA_VERSION,)]
    assert catalog(dsn, upgraded) == catalog(dsn, fresh)


def test_many_processes_upgrading_a_v1_schema_at_once_apply_each_migration_once(
        dsn: str, two_schemas: list[str], sql: Any) -> None:
    _, upgraded = two_schemas
    create_v1(dsn, upgraded)
    errors: list[BaseException] = []
    barrier = threading.Barrier(6)

    def upgrade() -> None:
        barrier.wait()
        try:
            zart.Zart(dsn, schema=upgraded).close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=upgrade) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sql(f'SELECT version FROM "{upgraded}".schema_version ORDER BY 1') == [
        (v,) for v in range(1, SCHEMA_VERSION + 1)]
