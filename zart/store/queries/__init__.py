"""Every SQL statement zart runs, named, by the part of the store that runs it.

Statements that change an execution on behalf of a worker start with the *fence*
(:data:`common.FENCE`): they lock the execution row and act only while this claim's token still
owns it, its lease has not expired and it is still running, all in the same statement.
"""

from . import (
    admin,
    children,
    claims,
    clients,
    common,
    executions,
    family,
    reads,
    replays,
    schedules,
    schema,
)

MODULES = (common, schema, clients, claims, executions, children, reads, admin, family,
           schedules, replays)
"""Every module of statements: the store encodes each upper-case name of each once."""

__all__ = ["MODULES"]
