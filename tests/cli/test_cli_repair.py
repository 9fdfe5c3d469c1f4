"""Changing executions: ``retry`` after a fix, ``send-event``, ``cancel`` / ``resume``,
``restart``, ``rerun``, ``pause`` / ``unpause`` / ``pauses`` and ``purge``. Every refusal
exits 1 with one line saying why."""

from __future__ import annotations

import os
import pty
import select
import subprocess
import time
from pathlib import Path

import pytest

import zart

from .conftest import (
    ROOT,
    ZartCli,
    assert_refused,
    assert_usage_error,
    cli_env,
    wait_until,
    zart_command,
)

pytestmark = pytest.mark.usefixtures("module_worker")

MODULE = ["--module", "tests.cli.cli_app"]

def settled(app: zart.Zart, execution_id: str, status: str) -> None:
    """Wait until the execution has ``status``."""
    wait_until(lambda: app.handle(execution_id).status() == status,
               what=f"{execution_id} to be {status}")


def waiting(zart_cli: ZartCli, app: zart.Zart, execution_id: str) -> str:
    """Start a cli-approval execution and wait until it waits for its event."""
    ran = zart_cli("start", "cli-approval", *MODULE, "--id", execution_id)
    assert ran.code == 0, ran
    settled(app, execution_id, "waiting")
    return execution_id


def test_a_failed_execution_is_retried_after_the_fix_and_completes(
        zart_cli: ZartCli, app: zart.Zart, tmp_path: Path) -> None:
    fix = tmp_path / "fixed"
    ran = zart_cli("start", "cli-order", *MODULE, "--id", "fix-1",
                   "--data", f'{{"id": "o-9", "fixed_if": "{fix}"}}')
    assert ran.code == 0, ran
    settled(app, "fix-1", "failed")
    assert_refused(zart_cli("resume", "fix-1"), "cannot resume execution 'fix-1'",
                   "it is failed")

    fix.touch()  # the deployed fix
    ran = zart_cli("retry", "fix-1", "--by", "alice")
    assert ran.code == 0, ran
    assert ran.out == "retrying fix-1 (run 1); runs again: cli-charge\n"
    settled(app, "fix-1", "completed")

    shown = zart_cli("show", "fix-1").out
    assert "  status    completed\n" in shown
    assert '"txn": "txn-o-9"' in shown.split("\nresult\n")[1]
    assert "retried: a fresh set of attempts" in shown
    [action] = shown.split("\nactions\n")[1].splitlines()[1:]
    assert action.split()[2:4] == ["retry", "alice"] and 'forgotten=["cli-charge"]' in action


def test_retry_of_a_completed_execution_is_refused(zart_cli: ZartCli, app: zart.Zart) -> None:
    zart_cli("start", "cli-two-steps", *MODULE, "--id", "done-1", "--wait", "20s")
    assert_refused(zart_cli("retry", "done-1"),
                   "cannot retry execution 'done-1': it is completed")
    assert_refused(zart_cli("retry", "nobody"), "no execution 'nobody'")


def test_send_event_delivers_once_and_refuses_a_finished_execution(zart_cli: ZartCli,
                                                                   app: zart.Zart) -> None:
    waiting(zart_cli, app, "event-1")
    early = zart_cli("send-event", "event-1", "later", "--data", '"kept"')
    assert early.code == 0 and early.out == "delivered 'later' to event-1\n", early
    duplicate = zart_cli("send-event", "event-1", "later", "--json")
    assert duplicate.code == 0, duplicate
    assert duplicate.json() == {"id": "event-1", "action": "send-event", "event": "later",
                                "delivered": False}
    ran = zart_cli("send-event", "event-1", "approved", "--data", '{"by": "carol"}')
    assert ran.code == 0, ran
    settled(app, "event-1", "completed")
    assert_refused(zart_cli("send-event", "event-1", "approved"),
                   "execution 'event-1' is completed", "not delivered")
    assert_usage_error(zart_cli("send-event", "event-1", "x", "--data", "{"), "--data")


def test_cancel_then_resume(zart_cli: ZartCli, app: zart.Zart) -> None:
    waiting(zart_cli, app, "cancel-1")
    ran = zart_cli("cancel", "cancel-1", "--by", "bob")
    assert ran.code == 0 and ran.out == "cancelled cancel-1\n", ran
    again = zart_cli("cancel", "cancel-1")
    assert again.code == 0 and again.out == "cancel-1 is already cancelled; nothing changed\n"
    resumed = zart_cli("resume", "cancel-1", "--json")
    assert resumed.code == 0, resumed
    assert resumed.json()["action"] == "resume"
    settled(app, "cancel-1", "waiting")
    assert_refused(zart_cli("resume", "cancel-1"), "only a cancelled execution is resumed")
    actions = [(a["action"], a["by"]) for a in zart_cli("show", "cancel-1", "--json").json()[
        "actions"]]
    assert actions[:1] == [("cancel", "bob")] and actions[-1][0] == "resume"
    assert actions[-1][1] and "@" in actions[-1][1]  # $USER@hostname by default


def test_restart_keeps_the_input_or_takes_a_new_one(zart_cli: ZartCli, app: zart.Zart) -> None:
    zart_cli("start", "cli-hello", *MODULE, "--id", "restart-1", "--data", '{"name": "a"}',
             "--wait", "20s")
    ran = zart_cli("restart", "restart-1")
    assert ran.code == 0 and ran.out == "restarted restart-1 as run 2\n", ran
    settled(app, "restart-1", "completed")
    assert app.handle("restart-1").result() == {"greeting": "hello a"}
    ran = zart_cli("restart", "restart-1", "--data", '{"name": "b"}')
    assert ran.out == "restarted restart-1 as run 3 with a new input\n", ran
    settled(app, "restart-1", "completed")
    assert app.handle("restart-1").result() == {"greeting": "hello b"}
    shown = zart_cli("show", "restart-1").out
    assert "\nrun 1 (an earlier run)\n" in shown and "\nrun 3\n" in shown
    assert "began by restart" in shown


def test_restart_of_an_open_execution_is_refused(zart_cli: ZartCli, app: zart.Zart) -> None:
    waiting(zart_cli, app, "restart-2")
    assert_refused(zart_cli("restart", "restart-2"), "cannot restart execution 'restart-2'",
                   "it is waiting")


def test_rerun_from_a_step_and_from_an_unknown_one(zart_cli: ZartCli, app: zart.Zart) -> None:
    zart_cli("start", "cli-two-steps", *MODULE, "--id", "rerun-1", "--wait", "20s")
    assert_refused(zart_cli("rerun", "rerun-1", "--from", "cli-third"),
                   "has no command 'cli-third'", "cli-first, cli-second")
    ran = zart_cli("rerun", "rerun-1", "--from", "cli-second", "--json")
    assert ran.code == 0, ran
    assert ran.json() == {
        "id": "rerun-1", "action": "rerun", "ended_run": 1, "run": 2,
        "from_step": "cli-second", "from_position": 1}
    settled(app, "rerun-1", "completed")
    assert "began by rerun from step 'cli-second'" in zart_cli("show", "rerun-1").out
    missing = zart_cli("rerun", "rerun-1")
    assert missing.code == 2 and "Missing option '--from'" in missing.err, missing


def test_pause_holds_a_workflow_until_unpaused(zart_cli: ZartCli, app: zart.Zart) -> None:
    ran = zart_cli("pause", "--workflow", "cli-hello", "--reason", "greeter down",
                   "--until", "2h", "--json")
    assert ran.code == 0, ran
    rule = ran.json()
    assert rule["workflow"] == "cli-hello" and rule["active"] is True and rule["until"]
    zart_cli("start", "cli-hello", *MODULE, "--id", "paused-1", "--data", '{"name": "p"}')
    shown = zart_cli("show", "paused-1").out
    assert f"paused by rule {rule['id']}: greeter down" in shown
    assert app.handle("paused-1").status() == "pending"

    listed = zart_cli("pauses")
    [row] = listed.out.splitlines()[1:]
    assert row.split()[:3] == [str(rule["id"]), "active", "workflow"]
    assert "greeter down" in row

    ran = zart_cli("unpause", str(rule["id"]))
    assert ran.code == 0, ran
    assert ran.out == f"lifted pause rule {rule['id']} (workflow cli-hello (not claimed))\n"
    settled(app, "paused-1", "completed")
    assert_refused(zart_cli("unpause", str(rule["id"])),
                   f"pause rule {rule['id']} is no longer active")
    assert_refused(zart_cli("unpause", "999999"), "no pause rule 999999")
    assert zart_cli("pauses").out == "no active pause rules\n"
    [lifted] = [r for r in zart_cli("pauses", "--all", "--json").json() if r["id"] == rule["id"]]
    assert lifted["active"] is False and lifted["lifted_by"]


def test_pause_in_front_of_a_step_prints_the_rule(zart_cli: ZartCli, app: zart.Zart) -> None:
    ran = zart_cli("pause", "--step", "cli-sec*", "--reason", "check the second step")
    assert ran.code == 0, ran
    first, hint = ran.out.splitlines()
    rule = first.split()[2].rstrip(":")
    assert first == (f"pause rule {rule}: holds every workflow, in front of steps matching "
                     f"'cli-sec*' until lifted")
    assert hint == f"lift it with: zart unpause {rule}"
    zart_cli("start", "cli-two-steps", *MODULE, "--id", "held-1")
    settled(app, "held-1", "waiting")
    assert "in front of step 'cli-second'" in zart_cli("show", "held-1").out
    assert zart_cli("unpause", rule).code == 0
    settled(app, "held-1", "completed")


def test_pause_needs_a_criterion_or_all_and_a_valid_until(zart_cli: ZartCli) -> None:
    nothing, later, zero = zart_cli.many([["pause"], ["pause", "--workflow", "w", "--until",
                                                     "later"], ["unpause", "zero"]])
    assert nothing.code == 2 and "--all to pause everything" in nothing.err, nothing
    assert_usage_error(later, "--until")
    assert_usage_error(zero, "RULE")


def test_purge_refuses_without_yes_when_no_terminal_can_ask(zart_cli: ZartCli,
                                                            app: zart.Zart) -> None:
    zart_cli("start", "cli-hello", *MODULE, "--id", "purge-1", "--data", '{"name": "x"}',
             "--wait", "20s")
    assert_refused(zart_cli("purge", "--older-than", "0s", "--workflow", "cli-hello"),
                   "pass --yes")
    assert app.handle("purge-1").status() == "completed"  # nothing deleted


def test_purge_with_yes_deletes_old_finished_executions(zart_cli: ZartCli, app: zart.Zart) -> None:
    for n in range(3):
        zart_cli("start", "cli-two-steps", *MODULE, "--id", f"purge-two-{n}", "--wait", "20s")
    waiting(zart_cli, app, "purge-open")  # open executions are never purged
    kept = zart_cli("purge", "--older-than", "30d", "--yes")
    assert kept.code == 0 and kept.out == "purged 0 execution(s) in 0 batch(es)\n", kept
    ran = zart_cli("purge", "--older-than", "0s", "--status", "completed", "--workflow",
                   "cli-two-steps", "--batch", "2", "--yes", "--json")
    assert ran.code == 0, ran
    result = ran.json()
    assert result["executions"] >= 3 and result["batches"] >= 2
    assert set(result["by_status"]) == {"completed"}
    assert_refused(zart_cli("show", "purge-two-0"), "no execution 'purge-two-0'")
    assert app.handle("purge-open").status() == "waiting"
    vague, open_status = zart_cli.many([["purge", "--older-than", "a while", "--yes"],
                                        ["purge", "--older-than", "1d", "--status", "waiting"]])
    assert_usage_error(vague, "--older-than")
    assert_usage_error(open_status, "--status")


def test_purge_asks_on_a_terminal_and_no_deletes_nothing(zart_cli: ZartCli,
                                                         app: zart.Zart) -> None:
    zart_cli("start", "cli-hello", *MODULE, "--id", "purge-asked", "--data", '{"name": "y"}',
             "--wait", "20s")
    main, secondary = pty.openpty()
    proc = subprocess.Popen(
        [*zart_command(), "--schema", zart_cli.schema, "purge", "--older-than", "0s",
         "--workflow", "cli-hello"], cwd=ROOT, env=cli_env(zart_cli.dsn), stdin=secondary,
        stdout=subprocess.PIPE, stderr=secondary)
    os.close(secondary)
    try:
        seen = b""
        deadline = time.monotonic() + 20
        while b"[y/N]" not in seen:  # the question, on the terminal
            assert time.monotonic() < deadline, seen
            if select.select([main], [], [], 0.5)[0]:
                seen += os.read(main, 1024)
        assert b"Delete every completed, failed, cancelled execution of workflow cli-hello" \
            in seen
        os.write(main, b"n\n")
        assert proc.wait(timeout=20) == 1  # click's Abort
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
        os.close(main)
    assert app.handle("purge-asked").status() == "completed"
