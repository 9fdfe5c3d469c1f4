"""``zart worker``: imports the modules, runs their workflows until SIGTERM, exits 0; refuses
a module that registers no workflow."""

from __future__ import annotations

import signal
import socket
import subprocess
import urllib.request
from pathlib import Path

import zart

from .conftest import ROOT, ZartCli, assert_refused, cli_env, wait_until, zart_command


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_worker_runs_started_executions_serves_metrics_and_exits_0_on_sigterm(
        app: zart.Zart, dsn: str, schema: str, tmp_path: Path) -> None:
    from tests.cli import cli_app  # registers the workflows in this process, to start them

    log = (tmp_path / "worker.log").open("w+")
    port = free_port()
    worker = subprocess.Popen(
        [*zart_command(), "--schema", schema, "worker", "tests.cli.cli_app", "--threads", "2",
         "--lease", "5s", "--poll", "500ms", "--metrics-port", str(port)],
        cwd=ROOT, env=cli_env(dsn), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        handle = app.start(cli_app.hello, {"name": "worker"})
        assert handle.result(timeout=20) == {"greeting": "hello worker"}
        wait_until(lambda: app.workers(), what="the worker's heartbeat")
        [seen] = app.workers()
        assert seen.pid == worker.pid and "cli-hello" in seen.workflows
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as page:
            metrics = page.read().decode()
        assert 'zart_step_attempts_total{outcome="ok",workflow="cli-hello"} 1.0' in metrics
        assert "zart_due_executions{schema=" in metrics and "zart_worker_threads{" in metrics
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    log.seek(0)
    text = log.read()
    assert "runs cli-approval, cli-hello, cli-order, cli-two-steps" in text, text
    assert "stopped" in text and "Traceback" not in text, text
    assert not app.workers()  # it said goodbye


def test_a_worker_given_a_file_path_runs_its_workflows(app: zart.Zart, dsn: str,
                                                       schema: str) -> None:
    from tests.cli import cli_app

    worker = subprocess.Popen(
        [*zart_command(), "--schema", schema, "worker", "tests/cli/cli_app.py",
         "--log-level", "warning"], cwd=ROOT, env=cli_env(dsn), stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        handle = app.start(cli_app.two_steps)
        assert handle.result(timeout=20) == 3
        worker.send_signal(signal.SIGINT)  # Ctrl-C: the same graceful stop
        out, err = worker.communicate(timeout=20)
        assert worker.returncode == 0, err
        assert out == "" and err == "", err  # --log-level warning: a quiet, clean stop
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()


def test_a_module_without_workflows_or_that_breaks_is_refused(zart_cli: ZartCli,
                                                             tmp_path: Path) -> None:
    broken = tmp_path / "broken_workflows.py"
    broken.write_text("raise RuntimeError('the config file is missing')\n")
    plain, missing, no_file, breaks = zart_cli.many([
        ["worker", "json"], ["worker", "tests.cli.nowhere"], ["worker", "tests/cli/nowhere.py"],
        ["worker", str(broken)]])
    assert_refused(plain, "no workflows registered by 'json'")
    assert_refused(missing, "no module named 'tests.cli.nowhere'")
    assert_refused(no_file, "no such file: tests/cli/nowhere.py")
    assert_refused(breaks, f"importing '{broken}' failed: RuntimeError: the config file is "
                           f"missing")
