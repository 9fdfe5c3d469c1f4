"""Replaying recorded histories against today's code, without running any step: the deploy
gate ``zart replay-check``, ``zart export`` and :func:`zart.testing.replay`.

* :mod:`.check`: one history against one workflow: ok, or a :class:`Divergence`;
* :mod:`.diff`: a divergence as a diff of what the history recorded and what the code yields;
* :mod:`.history_file`: an execution's history as a JSON document;
* :mod:`.gate`: every open execution of a database (and the last finished ones), in batches.
"""

from __future__ import annotations

from .check import Checked, Divergence, check_history, describe
from .diff import render
from .gate import GateReport, Progress, export_history, replay_check
from .history_file import FORMAT_VERSION, HistoryFile, history_document, read_history

__all__ = ["FORMAT_VERSION", "Checked", "Divergence", "GateReport", "HistoryFile", "Progress",
           "check_history", "describe", "export_history", "history_document", "read_history",
           "render", "replay_check"]
