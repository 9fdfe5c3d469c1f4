"""Fault-injection suite: real processes, real signals, a real database. The database fixtures
come from tests/conftest.py."""

import signal
import subprocess
from collections.abc import Sequence

from tests.conftest import drop_schema, wait_until

__all__ = ["drop_schema", "stop_processes", "wait_until"]


def stop_processes(processes: Sequence[subprocess.Popen[bytes]], timeout: float = 20) -> None:
    """SIGTERM every process still running, wait for each, SIGKILL what did not stop."""
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
