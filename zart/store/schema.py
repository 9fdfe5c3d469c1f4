"""Creating and upgrading zart's schema: numbered migrations, applied in order, each in its
own transaction, under an advisory lock, so that many processes may start at once."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from ..errors import ConfigurationError
from .base import Connection, StoreBase, translate_errors
from .queries import schema as queries

__all__ = ["SCHEMA_VERSION", "SchemaTransitions", "migrations", "schema_sql"]

SCHEMA_VERSION = 2
"""The schema version this code expects (recorded in ``<schema>.schema_version``)."""

_MIGRATION_FILE = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")


def migrations() -> list[tuple[int, str]]:
    """The numbered migrations in order: ``(version, sql)`` from ``zart/migrations/NNNN_*.sql``.

    Version 1 is the first released schema; each later file takes a database from the version
    before it to its own number.
    """
    found = []
    for entry in resources.files("zart.store").joinpath("migrations").iterdir():
        match = _MIGRATION_FILE.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), entry.read_text()))
    found.sort()
    numbers = [number for number, _ in found]
    if numbers != list(range(1, len(numbers) + 1)) or numbers[-1] != SCHEMA_VERSION:
        raise ConfigurationError(f"zart's migrations are numbered {numbers}; expected 1 to "
                                 f"{SCHEMA_VERSION} without gaps (a broken installation)")
    return found


def schema_sql() -> str:
    """The DDL from ``schema.sql`` (shipped inside the package, a copy of the top-level file)."""
    try:
        return resources.files("zart").joinpath("schema.sql").read_text()
    except (FileNotFoundError, OSError):  # a source tree without the symlink
        return (Path(__file__).resolve().parents[2] / "schema.sql").read_text()


class SchemaTransitions(StoreBase):
    """Creates the schema, or upgrades it through the numbered migrations."""

    def migrate(self) -> None:
        """Create the schema, or upgrade it through the numbered migrations; safe when many
        processes start at once. A schema newer than this code is refused."""
        key = {"key": f"zart-schema:{self.schema}"}
        with self.connect() as conn, translate_errors():  # fails fast with the server's reason
            if self._version(conn) == SCHEMA_VERSION:
                return
            # A session lock, so the re-check below runs in a transaction of its own: inside
            # the locking transaction the catalog could still hide a schema created meanwhile.
            conn.execute(queries.ADVISORY_LOCK, key)
            try:
                version = self._version(conn)
                if version is None:
                    self._apply(conn, schema_sql(), None)
                elif version > SCHEMA_VERSION:
                    raise ConfigurationError(
                        f"schema {self.schema!r} is at version {version}, newer than this "
                        f"zart ({SCHEMA_VERSION}); upgrade zart")
                else:
                    for number, text in migrations():
                        if version < number <= SCHEMA_VERSION:
                            self._apply(conn, text, number)
            finally:
                if not conn.broken:
                    conn.execute(queries.ADVISORY_UNLOCK, key)

    def check_schema(self) -> None:
        """Refuse, naming the fix, a schema that does not exist or is not at this zart's
        version (for tools that must not create or upgrade it)."""
        with self.connect() as conn, translate_errors():
            version = self._version(conn)
        if version is None:
            raise ConfigurationError(
                f"schema {self.schema!r} does not exist in this database (wrong --schema or "
                f"--dsn?); `zart migrate` creates it, as any worker does when it starts")
        if version > SCHEMA_VERSION:
            raise ConfigurationError(f"schema {self.schema!r} is at version {version}, newer "
                                     f"than this zart ({SCHEMA_VERSION}); upgrade zart")
        if version < SCHEMA_VERSION:
            raise ConfigurationError(f"schema {self.schema!r} is at version {version}; this "
                                     f"zart needs {SCHEMA_VERSION}: run `zart migrate`")

    def _apply(self, conn: Connection, sql: str, version: int | None) -> None:
        """Run ``sql`` in the schema, in one transaction; record ``version`` if given (the
        full schema records its own)."""
        with conn.transaction():
            conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            conn.execute(f'SET LOCAL search_path TO "{self.schema}"')
            conn.execute(sql.encode())
            if version is not None:
                conn.execute(self.sql.RECORD_VERSION, {"version": version})

    def _version(self, conn: Connection) -> int | None:
        exists = conn.execute(queries.SCHEMA_EXISTS,
                              {"table": f'"{self.schema}".schema_version'}).fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute(self.sql.SCHEMA_VERSION).fetchone()
        return None if row is None or row[0] is None else int(row[0])
