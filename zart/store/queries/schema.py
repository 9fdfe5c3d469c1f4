"""Statements that create, version and upgrade the schema.

``{s}`` stands for the quoted schema name (validated before it is ever substituted); every
value is a bound parameter.
"""

from __future__ import annotations

SCHEMA_EXISTS = "SELECT to_regclass(%(table)s) IS NOT NULL"

SCHEMA_VERSION = "SELECT max(version) FROM {s}.schema_version"

RECORD_VERSION = """
INSERT INTO {s}.schema_version (version) VALUES (%(version)s) ON CONFLICT DO NOTHING"""

# Many processes may start at once: one of them creates or upgrades the schema, the others
# wait for it and find it current.
ADVISORY_LOCK = "SELECT pg_advisory_lock(hashtext(%(key)s))"

ADVISORY_UNLOCK = "SELECT pg_advisory_unlock(hashtext(%(key)s))"
