"""Statuses and kinds are named once (zart.constants) and the schema's CHECK constraints list
exactly the same values."""

from __future__ import annotations

import re
from enum import StrEnum

import pytest

from zart.constants import CommandKind, ExecutionStatus, StepStatus, WaitKind
from zart.store import schema_sql


def checked_values(table: str, column: str) -> set[str]:
    """The values a CHECK (column IN (...)) of ``table`` in schema.sql allows."""
    body = re.search(rf"CREATE TABLE {table} \((.*?)\n\);", schema_sql(), re.S)
    assert body is not None, table
    check = re.search(rf"CHECK \({column} IN \(([^)]*)\)\)", body.group(1))
    assert check is not None, (table, column)
    return set(re.findall(r"'([a-z_]+)'", check.group(1)))


@pytest.mark.parametrize(("table", "column", "values"), [
    ("executions", "status", ExecutionStatus),
    ("executions", "wait_kind", WaitKind),
    ("steps", "status", StepStatus),
    ("steps", "kind", CommandKind),
])
def test_the_schema_allows_exactly_the_named_values(table: str, column: str,
                                                    values: type[StrEnum]) -> None:
    assert checked_values(table, column) == {v.value for v in values}
