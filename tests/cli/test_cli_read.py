"""Starting and reading: ``zart start``, ``list``, ``show``, ``stats``, ``workers``,
``migrate``; text and ``--json``; colours only on a terminal; malformed options refused."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path
from typing import Any

import pytest

import zart
from zart.store import SCHEMA_VERSION

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

@pytest.fixture(scope="module")
def failed_order(zart_cli: ZartCli, tmp_path_factory: pytest.TempPathFactory) -> str:
    """An execution of cli-order that failed at its charge step (no fix made)."""
    never = tmp_path_factory.mktemp("fix") / "never"
    ran = zart_cli("start", "cli-order", *MODULE, "--id", "read-order",
                   "--data", f'{{"id": "o-1", "fixed_if": "{never}"}}', "--wait", "20s")
    assert_refused(ran, "execution 'read-order' failed", "PaymentError")
    assert ran.out.strip() == "read-order"  # the id comes first, so a failure says which
    return "read-order"


@pytest.fixture(scope="module")
def greeted(zart_cli: ZartCli) -> str:
    """A completed cli-hello execution."""
    ran = zart_cli("start", "cli-hello", *MODULE, "--id", "read-hello-1",
                   "--data", '{"name": "ann"}', "--wait", "20s")
    assert ran.code == 0, ran
    assert ran.out.splitlines()[0] == "read-hello-1"
    return "read-hello-1"


def test_start_prints_the_id_and_with_wait_the_result(zart_cli: ZartCli, greeted: str) -> None:
    ran = zart_cli("start", "cli-hello", *MODULE, "--data", '{"name": "bob"}', "--wait", "20s")
    assert ran.code == 0, ran
    execution_id, *result = ran.out.splitlines()
    assert len(execution_id) == 32
    assert "\n".join(result) == '{\n  "greeting": "hello bob"\n}'


def test_start_with_json_prints_id_and_status_and_is_idempotent_by_id(zart_cli: ZartCli) -> None:
    ran = zart_cli("start", "cli-approval", *MODULE, "--id", "read-wait-1", "--json")
    assert ran.code == 0, ran
    assert ran.json() == {"id": "read-wait-1", "status": "pending"}
    again = zart_cli("start", "cli-approval", *MODULE, "--id", "read-wait-1", "--json",
                     "--wait", "0.5s", "--data", "null")
    # The same id and input: the same execution, which waits for its event (no result yet).
    assert_refused(again, "execution 'read-wait-1' is still", "after 0.5s")
    assert again.json()["id"] == "read-wait-1"


def test_start_refuses_an_unregistered_workflow_and_a_conflicting_id(zart_cli: ZartCli,
                                                                    greeted: str) -> None:
    unregistered, conflict, nowhere = zart_cli.many([
        ["start", "cli-hello", "--data", "{}"],
        ["start", "cli-hello", *MODULE, "--id", greeted, "--data", '{"name": "someone else"}'],
        ["start", "cli-hello", "--module", "tests.cli.nowhere"]])
    assert_refused(unregistered, "no workflow is registered as 'cli-hello'", "--module")
    assert_refused(conflict, "different input")
    assert_refused(nowhere, "no module named 'tests.cli.nowhere'")


def test_list_prints_a_table_newest_first_and_json_pages(zart_cli: ZartCli, greeted: str,
                                                         failed_order: str) -> None:
    ran, first_page, paged = zart_cli.many([["list"], ["list", "--limit", "1", "--json"],
                                            ["list", "--limit", "1"]])
    assert ran.code == 0, ran
    header, *rows = ran.out.splitlines()
    assert header.split() == ["ID", "WORKFLOW", "STATUS", "CREATED", "UPDATED", "WAITING",
                              "ON"]
    by_id = {row.split()[0]: row.split() for row in rows}
    assert by_id[greeted][1:3] == ["cli-hello", "completed"]
    assert by_id[failed_order][1:3] == ["cli-order", "failed"]

    first = first_page.json()
    assert len(first["items"]) == 1 and first["cursor"]
    assert set(first["items"][0]) >= {"id", "workflow", "status", "created_at", "updated_at"}
    second = zart_cli("list", "--limit", "1", "--cursor", first["cursor"], "--json").json()
    assert second["items"][0]["id"] != first["items"][0]["id"]
    assert paged.out.splitlines()[-1] == f"more: zart list ... --cursor {first['cursor']}"


def test_list_filters_by_status_workflow_prefix_and_time(zart_cli: ZartCli, greeted: str,
                                                         failed_order: str) -> None:
    failed, several, none = zart_cli.many([
        ["list", "--status", "failed", "--json"],
        ["list", "--status", "failed", "--status", "completed", "--workflow", "cli-hello",
         "--prefix", "read-hello", "--since", "1h", "--json"],
        ["list", "--since", "2000-01-01T00:00:00Z", "--until", "2000-01-02T00:00:00+01:00"]])
    assert [item["id"] for item in failed.json()["items"]] == [failed_order]
    assert [item["id"] for item in several.json()["items"]] == [greeted]
    assert none.code == 0 and none.out == "no executions match\n", none


def test_list_shows_what_a_waiting_execution_waits_on(zart_cli: ZartCli, app: zart.Zart) -> None:
    zart_cli("start", "cli-approval", *MODULE, "--id", "read-wait-2")
    wait_until(lambda: app.handle("read-wait-2").status() == "waiting", what="the wait")
    [row] = zart_cli("list", "--prefix", "read-wait-2").out.splitlines()[1:]
    assert row.split()[1:3] == ["cli-approval", "waiting"]
    assert row.endswith("event approved")


def test_show_explains_a_failed_execution_step_by_step(zart_cli: ZartCli,
                                                       failed_order: str) -> None:
    ran = zart_cli("show", failed_order)
    assert ran.code == 0, ran
    text = ran.out
    assert text.startswith(f"execution {failed_order}\n")
    assert "  workflow  cli-order\n" in text and "  status    failed\n" in text
    assert "  why       failed at " in text and "waits on nothing" in text
    assert '"id": "o-1"' in text.split("\ninput\n")[1]
    error = text.split("\nerror\n")[1].split("\nrun 1\n")[0]
    assert "PaymentError: card processor rejected the API key" in error
    assert "in step 'cli-charge', after 3 attempt(s)" in error
    assert 'attributes: {"code": 401}' in error
    assert "Traceback (most recent call last):" in error and "cli_app.py" in error
    timeline = text.split("\nrun 1\n")[1].split("\nactions\n")[0]
    assert "began by start" in timeline
    reserve = next(line for line in timeline.splitlines() if "cli-reserve" in line)
    assert reserve.split()[2:5] == ["step", "cli-reserve", "ok"]
    assert '{"order":"o-1","items":2}' in reserve
    charge = next(line for line in timeline.splitlines() if " cli-charge " in line)
    assert " failed " in charge and " 3 " in charge and "PaymentError" in charge
    attempts = [line.split() for line in timeline.splitlines() if "attempt " in line]
    assert [a[:2] for a in attempts] == [["attempt", "1"], ["attempt", "2"], ["attempt", "3"]]
    assert "none: no operator has acted on it" in text.split("\nactions\n")[1]


def test_show_json_is_the_librarys_description(zart_cli: ZartCli, app: zart.Zart,
                                               failed_order: str) -> None:
    shown = zart_cli("show", failed_order, "--json").json()
    assert shown == app.handle(failed_order).describe().to_json()
    assert shown["waiting"]["state"] == "finished"
    assert shown["error"]["type"] == "PaymentError"


def test_show_says_why_a_waiting_execution_waits(zart_cli: ZartCli, app: zart.Zart) -> None:
    zart_cli("start", "cli-approval", *MODULE, "--id", "read-wait-3")
    wait_until(lambda: app.handle("read-wait-3").status() == "waiting", what="the wait")
    text = zart_cli("show", "read-wait-3").out
    assert "  why       waiting for event 'approved' (no deadline)\n" in text
    assert any(line.split()[2:5] == ["event", "approved", "pending"]
               for line in text.splitlines())


def test_show_of_an_unknown_id_is_refused_in_one_line(zart_cli: ZartCli) -> None:
    assert_refused(zart_cli("show", "no-such-execution"), "no execution 'no-such-execution'")


def test_stats_counts_by_status_and_workflow(zart_cli: ZartCli, app: zart.Zart, greeted: str,
                                             failed_order: str) -> None:
    ran, as_json = zart_cli.many([["stats"], ["stats", "--json"]])
    assert ran.code == 0, ran
    rows = {line.split()[0]: line.split()[1:] for line in ran.out.splitlines()[1:]
            if line.strip() and not line.startswith(("oldest", "live"))}
    header = ran.out.splitlines()[0].split()
    assert header == ["WORKFLOW", "PENDING", "RUNNING", "WAITING", "COMPLETED", "FAILED",
                      "CANCELLED", "TOTAL"]
    assert rows["cli-order"][header.index("FAILED") - 1] == "1"
    assert "live workers: 1" in ran.out  # the test process's worker
    data = as_json.json()
    assert data["by_workflow"]["cli-order"]["failed"] == 1
    assert data["live_workers"] == 1


def test_workers_lists_the_live_workers(zart_cli: ZartCli, module_worker: zart.Worker) -> None:
    ran, as_json = zart_cli.many([["workers"], ["workers", "--all", "--json"]])
    assert ran.code == 0, ran
    [row] = ran.out.splitlines()[1:]
    assert row.split()[0] == module_worker.name and " alive " in row
    assert "cli-hello" in row
    [data] = as_json.json()
    assert data["name"] == module_worker.name and data["alive"] is True
    assert data["pid"] == os.getpid()


def test_migrate_prints_the_schema_version(zart_cli: ZartCli, dsn: str, schema: str) -> None:
    ran = zart_cli("--dsn", dsn, "migrate")  # an explicit --dsn, too
    assert ran.code == 0, ran
    assert ran.out == f"schema {schema!r} is at version {SCHEMA_VERSION}\n"


def test_an_unreachable_database_is_one_line_and_exit_1(zart_cli: ZartCli) -> None:
    assert_refused(zart_cli("--dsn", "postgresql://nobody@127.0.0.1:1/none", "list"),
                   "cannot connect to PostgreSQL")


def test_malformed_options_are_usage_errors_naming_the_option(zart_cli: ZartCli) -> None:
    cases = [
        (["start", "cli-hello", *MODULE, "--data", "{bad"], "--data", "not valid JSON"),
        (["start", "cli-hello", *MODULE, "--data", "hello"], "--data", "keeps its quotes"),
        (["list", "--status", "finished"], "--status", "'finished' is not one of"),
        (["list", "--since", "yesterday"], "--since", "neither a duration"),
        (["list", "--until", "2026-01-01T00:00"], "--until", "has no timezone"),
        (["list", "--limit", "0"], "--limit", "0"),
        (["start", "cli-hello", *MODULE, "--wait", "soon"], "--wait", "is not understood"),
    ]
    results = zart_cli.many([args for args, _, _ in cases])
    for (_, option, fragment), ran in zip(cases, results, strict=True):
        assert_usage_error(ran, option, fragment)


def test_no_colours_in_a_pipe(zart_cli: ZartCli, failed_order: str) -> None:
    argvs = [["list"], ["show", failed_order], ["stats"], ["workers"], ["pauses", "--all"]]
    for args, ran in zip(argvs, zart_cli.many(argvs), strict=True):
        assert ran.code == 0, (args, ran)
        assert "\x1b[" not in ran.out + ran.err, (args, ran)


def test_colours_on_a_terminal(dsn: str, schema: str, failed_order: str) -> None:
    # The same command on a pseudo-terminal does colour: the pipe above is plain by choice.
    main, secondary = pty.openpty()
    done = subprocess.run([*zart_command(), "--schema", schema, "list", "--status", "failed"],
                          cwd=ROOT, env=cli_env(dsn), stdin=subprocess.DEVNULL,
                          stdout=secondary, stderr=subprocess.PIPE, timeout=60)
    os.close(secondary)
    chunks = []
    while True:
        try:
            chunk = os.read(main, 4096)
        except OSError:  # EIO: the terminal's other side is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    text = b"".join(chunks).decode()
    assert done.returncode == 0, done.stderr
    assert "\x1b[31mfailed\x1b[0m" in text  # red
    assert "\x1b[1mID\x1b[0m" in text  # bold headers


def test_a_module_given_as_a_path_registers_its_workflows(zart_cli: ZartCli,
                                                          tmp_path: Path) -> None:
    ran = zart_cli("start", "cli-hello", "--module", "tests/cli/cli_app.py",
                   "--data", '{"name": "path"}', "--wait", "20s", "--json")
    assert ran.code == 0, ran
    assert ran.json()["result"] == {"greeting": "hello path"}


def test_inspecting_a_schema_that_does_not_exist_is_refused_and_creates_nothing(
        dsn: str, sql: Any) -> None:
    missing = ZartCli(dsn, "no_such_zart_schema")
    for ran in missing.many([("list",), ("stats",), ("schedule", "list")]):
        assert_refused(ran, "schema 'no_such_zart_schema' does not exist", "zart migrate")
    assert sql("SELECT 1 FROM pg_namespace WHERE nspname = 'no_such_zart_schema'") == []
