"""The runtime: worker processes' threads and what they run.

The client (:mod:`zart.client`) never imports it: an application that only starts executions,
sends events and reads results loads none of this.
"""

from __future__ import annotations

from .executor import Executor
from .worker import Worker

__all__ = ["Executor", "Worker"]
