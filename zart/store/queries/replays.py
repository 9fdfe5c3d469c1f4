"""What ``zart replay-check`` reads: which executions to replay, and their histories, a batch
at a time. Reads only, never on the hot path.

``{s}`` stands for the quoted schema name (validated before it is ever substituted); every
value is a bound parameter.
"""

from __future__ import annotations

from .common import TERMINAL

# Open executions of the workflows the new code defines, by id (the status index finds them
# among any number of finished ones).
OPEN_EXECUTIONS = """
SELECT id FROM {s}.executions
WHERE status NOT IN """ + TERMINAL + """ AND workflow = ANY(%(workflows)s)
ORDER BY id"""

# The last %(limit)s finished executions of those workflows (the finished_at index).
FINISHED_EXECUTIONS = """
SELECT id FROM {s}.executions
WHERE finished_at IS NOT NULL AND status IN """ + TERMINAL + """
  AND workflow = ANY(%(workflows)s)
ORDER BY finished_at DESC, id
LIMIT %(limit)s"""

# Open executions of workflows the new code does not define: not replayed, but counted.
OPEN_ELSEWHERE = """
SELECT workflow, count(*) FROM {s}.executions
WHERE status NOT IN """ + TERMINAL + """ AND workflow <> ALL(%(workflows)s)
GROUP BY workflow ORDER BY workflow"""

REPLAY_EXECUTIONS = """
SELECT id, workflow, status, input::text, attempt FROM {s}.executions WHERE id = ANY(%(ids)s)"""

# Only what a replay reads of each command; ::text keeps each value the JSON text the
# interpreter decodes itself (psycopg would parse it into Python objects first).
REPLAY_HISTORIES = """
SELECT execution_id, seq, kind, name, status, ok, value::text, error::text
FROM {s}.steps WHERE execution_id = ANY(%(ids)s)
ORDER BY execution_id, seq"""
