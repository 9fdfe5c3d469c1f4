"""An execution's history as a JSON document: what ``zart export ID`` writes and
:func:`zart.testing.replay` reads (a recorded history to replay in a unit test, without a
database)::

    {"zart_history": 1,
     "execution": {"id": "order-7", "workflow": "checkout", "status": "waiting",
                   "attempt": 1, "input": {...}},
     "history": [{"seq": 0, "kind": "step", "name": "charge", "status": "done", "ok": true,
                  "value": "txn-1", "error": null, "attempt": 1}, ...]}

Values and errors are stored as JSON, not as text, so the file reads (and diffs) well.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import orjson

from .. import serde
from ..interpreter import Record

__all__ = ["FORMAT_VERSION", "HistoryFile", "history_document", "read_history"]

FORMAT_VERSION = 1
"""The version of the document's layout, under the key ``zart_history``."""


@dataclass(frozen=True, slots=True)
class HistoryFile:
    """A history read back from its document."""

    execution_id: str
    workflow: str
    status: str
    input: Any
    history: list[Record]
    attempt: int = 1


def history_document(execution_id: str, workflow: str, status: str, input_text: str | None,
                     history: Sequence[Record], attempt: int = 1) -> dict[str, Any]:
    """The document of one execution's history (``attempt``: its body's)."""
    return {
        "zart_history": FORMAT_VERSION,
        "execution": {"id": execution_id, "workflow": workflow, "status": status,
                      "attempt": attempt, "input": serde.loads(input_text)},
        "history": [{"seq": r.seq, "kind": r.kind, "name": r.name, "status": r.status,
                     "ok": r.ok, "value": serde.loads(r.value), "error": r.error,
                     "attempt": r.attempt} for r in history],
    }


def read_history(source: str | os.PathLike[str] | IO[Any] | dict[str, Any]) -> HistoryFile:
    """A history from a file path, an open file or an already parsed document; ValueError
    naming what is wrong when it is not one."""
    where = "the history"
    if isinstance(source, dict):
        document: Any = source
    else:
        if isinstance(source, str | os.PathLike):
            where = f"history file {os.fspath(source)}"
            try:
                raw: Any = Path(source).read_bytes()
            except OSError as exc:
                raise ValueError(f"cannot read {where}: {exc.strerror or exc}") from None
        else:
            where = f"history file {getattr(source, 'name', source)!r}"
            raw = source.read()
        try:
            document = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"{where} is not JSON: {exc}") from None
    if not isinstance(document, dict) or "zart_history" not in document:
        raise ValueError(f"{where} is not a zart history (no \"zart_history\" key; write one "
                         f"with `zart export ID`)")
    if document["zart_history"] != FORMAT_VERSION:
        raise ValueError(f"{where} has layout version {document['zart_history']!r}; this zart "
                         f"reads version {FORMAT_VERSION}")
    execution = _field(document, "execution", dict, where)
    rows = _field(document, "history", list, where)
    records = [_record(row, index, where) for index, row in enumerate(rows)]
    attempt = execution.get("attempt", 1)
    if not isinstance(attempt, int) or isinstance(attempt, bool) or attempt < 1:
        raise ValueError(f"{where}: 'attempt' must be an integer >= 1, got {attempt!r}")
    return HistoryFile(_field(execution, "id", str, where),
                       _field(execution, "workflow", str, where),
                       _field(execution, "status", str, where), execution.get("input"),
                       records, attempt)


_KINDS = {dict: "an object", list: "a list", str: "a string", int: "an integer"}


def _field(container: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = container.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ValueError(f"{where}: {key!r} must be {_KINDS[kind]}, got {value!r}")
    return value


def _record(row: Any, index: int, where: str) -> Record:
    at = f"{where}, history[{index}]"
    if not isinstance(row, dict):
        raise ValueError(f"{at} must be an object, got {row!r}")
    seq = _field(row, "seq", int, at)
    kind = _field(row, "kind", str, at)
    name = _field(row, "name", str, at)
    status = row.get("status", "done")
    ok = row.get("ok", True)
    error = row.get("error")
    if error is not None and not isinstance(error, dict):
        raise ValueError(f"{at}: 'error' must be an object or null, got {error!r}")
    value = row.get("value")
    text = None if value is None and not ok else serde.dumps(value)
    return Record(seq, kind, name, str(status), ok, text, error, int(row.get("attempt", 0)))
