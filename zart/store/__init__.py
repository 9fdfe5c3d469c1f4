"""The store: the only part of zart that speaks SQL.

One method per state transition, each one transaction (most of them one statement), grouped by
who asks for it: the schema's creation and upgrades (:mod:`.schema`), the application's client
(:mod:`.clients`), a worker's claims and leases (:mod:`.claims`), the hot path on a claimed
execution (:mod:`.executions`) and on a parallel child (:mod:`.children`). Every statement is
named in :mod:`.queries`. Every method takes an optional psycopg connection: workers pass the
one they hold for the whole run of an execution, the client lets the pool pick one.
"""

from __future__ import annotations

from .admin import AdminTransitions
from .base import Connection, translate_errors, validate_schema
from .children import ChildTransitions
from .claims import ClaimTransitions
from .clients import ClientTransitions
from .executions import ExecutionTransitions
from .reads import ReadModel
from .records import ChildClaim, ChildOutcome, Claim, ExecutionRow
from .replays import ReplayReads
from .schedules import ScheduleTransitions
from .schema import SCHEMA_VERSION, SchemaTransitions, migrations, schema_sql

__all__ = [
    "SCHEMA_VERSION",
    "ChildClaim",
    "ChildOutcome",
    "Claim",
    "Connection",
    "ExecutionRow",
    "Store",
    "migrations",
    "schema_sql",
    "translate_errors",
    "validate_schema",
]


class Store(SchemaTransitions, ScheduleTransitions, ClientTransitions, ClaimTransitions,
            ExecutionTransitions, ChildTransitions, ReadModel, AdminTransitions, ReplayReads):
    """PostgreSQL access for one zart schema: every transition zart makes."""
