"""The replay check against real suspended executions in PostgreSQL: zart.replay.replay_check,
``zart replay-check`` and ``zart export`` (in subprocesses), and zart.testing.replay of an
exported history. The versions of the workflow are examples/versioning/checkout_v*.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

import zart
from tests.cli.conftest import ROOT, ZartCli, assert_refused
from zart.replay import export_history, replay_check
from zart.testing import isolated_registry, load_workflows, replay, run_until_idle
from zart.workflow import registered_workflows

VERSIONS = ROOT / "examples" / "versioning"
V1, NAIVE, PATCHED = (VERSIONS / f"checkout_{v}.py" for v in ("v1", "v2_naive", "v2"))


def start_under_v1(app: zart.Zart, *ids: str) -> None:
    """Start orders under version 1 and run them until they wait for "shipped"."""
    with isolated_registry():
        v1 = load_workflows(V1)
        for order_id in ids:
            app.start(v1.checkout, {"id": order_id}, id=order_id)
        run_until_idle(app)


@pytest.fixture
def waiting(zart_app: zart.Zart) -> Iterator[zart.Zart]:
    """Two orders waiting under version 1, and one that completed."""
    start_under_v1(zart_app, "o-1", "o-2", "o-3")
    with isolated_registry():
        load_workflows(V1)
        zart_app.send_event("o-3", "shipped", {"tracking": "T-3"})
        run_until_idle(zart_app)
    assert zart_app.handle("o-3").status() == "completed"
    yield zart_app


def test_the_naive_edit_breaks_every_open_execution_at_position_zero(
        waiting: zart.Zart) -> None:
    with isolated_registry():
        load_workflows(NAIVE)
        found = []
        report = replay_check(waiting, registered_workflows(), on_divergence=found.append)
        with_finished = replay_check(waiting, registered_workflows(), finished=10, batch=1)
    assert (report.open, report.finished) == (2, 0)
    assert [(d.execution_id, d.position, d.code) for d in report.divergences] == [
        ("o-1", 0, "step 'check-fraud'"), ("o-2", 0, "step 'check-fraud'")]
    assert found == report.divergences
    assert report.divergences[0].recorded == ((0, "step", "charge"), (1, "event", "shipped"))
    assert (with_finished.open, with_finished.finished) == (2, 1)
    assert {d.execution_id for d in with_finished.divergences} == {"o-1", "o-2", "o-3"}


def test_the_patched_edit_replays_every_open_and_finished_execution(
        waiting: zart.Zart) -> None:
    progress = []
    with isolated_registry():
        load_workflows(PATCHED)
        report = replay_check(waiting, registered_workflows(), finished=10, batch=2,
                              on_progress=progress.append)
    assert report.ok
    assert (report.open, report.finished, report.commands) == (2, 1, 2 + 2 + 3)
    assert [(p.executions, p.total) for p in progress] == [(2, 3), (3, 3)]
    assert report.rate > 0


def test_open_executions_of_other_workflows_are_counted_not_checked(
        waiting: zart.Zart) -> None:
    waiting.store.create_execution("b-1", "billing", "null", 1, zart.fixed(1, 0), None)
    with isolated_registry():
        load_workflows(PATCHED)
        report = replay_check(waiting, registered_workflows())
    assert report.elsewhere == {"billing": 1}
    assert report.open == 2


def test_bad_check_options_are_refused(zart_app: zart.Zart) -> None:
    with pytest.raises(ValueError, match="batch must be at least 1"):
        replay_check(zart_app, {}, batch=0)
    with pytest.raises(ValueError, match="finished must be 0 or more"):
        replay_check(zart_app, {}, finished=-1)


def test_an_exported_history_replays_in_a_unit_test(waiting: zart.Zart,
                                                    tmp_path: Path) -> None:
    path = tmp_path / "o-1.json"
    path.write_text(json.dumps(export_history(waiting, "o-1")))
    with isolated_registry():
        patched = load_workflows(PATCHED)
        replayed = replay(patched.checkout, path)
        assert (replayed.ended, replayed.next, replayed.commands) == \
            ("waits", "event 'shipped'", 2)
        completed = replay("checkout", export_history(waiting, "o-3"))
        assert completed.ended == "returned"
        assert completed.value == {"order": "o-3", "txn": "txn-o-3",
                                   "receipt": "receipt o-3: txn-o-3, T-3", "fraud_score": None}
    with isolated_registry():
        naive = load_workflows(NAIVE)
        with pytest.raises(zart.NonDeterminismError) as broken:
            replay(naive.checkout, path)
    assert "-      0  step 'charge'" in str(broken.value)
    assert "+      0  step 'check-fraud'" in str(broken.value)


def test_replaying_a_history_of_another_workflow_is_refused(waiting: zart.Zart) -> None:
    @zart.workflow("rc-other")
    def other() -> Iterator[None]:
        yield zart.sleep("nap", 1)

    with pytest.raises(ValueError, match="is of workflow 'checkout', not 'rc-other'"):
        replay(other, export_history(waiting, "o-1"))
    with pytest.raises(zart.ExecutionNotFound, match="no execution 'nope'"):
        export_history(waiting, "nope")


# -- the commands -------------------------------------------------------------------------------


def test_zart_replay_check_is_a_deploy_gate(waiting: zart.Zart, zart_dsn: str) -> None:
    cli = ZartCli(zart_dsn, waiting.schema)
    naive, quiet, patched = cli.many([
        ["replay-check", str(NAIVE.relative_to(ROOT))],
        ["replay-check", str(NAIVE.relative_to(ROOT)), "--quiet", "--finished", "5"],
        ["replay-check", "examples/versioning/checkout_v2.py", "--finished", "5"]])
    assert naive.code == 1, naive
    assert naive.err.splitlines()[-1].startswith(
        "zart: 2 execution(s) would break on this code (workflow checkout)"), naive
    assert "execution o-1 (workflow checkout, waiting): NonDeterminismError at position 0" \
        in naive.out
    assert "  -      0  step 'charge'\n  +      0  step 'check-fraud'\n" \
           "  -      1  event 'shipped'\n" in naive.out
    assert "execution o-2 (workflow checkout, waiting): NonDeterminismError at position 0, " \
           "the same as o-1" in naive.out
    assert "checked 2 open and 0 finished execution(s) of checkout: 0 recorded commands" \
        in naive.out
    assert "replay-check: 2/2 executions" in naive.err
    assert quiet.code == 1 and "replay-check:" not in quiet.err
    assert "checked 2 open and 1 finished execution(s)" in quiet.out
    assert patched.code == 0, patched
    assert "checked 2 open and 1 finished execution(s) of checkout: 7 recorded commands" \
        in patched.out
    assert "OK: every checked execution replays on this code" in patched.out


def test_zart_export_writes_the_history_as_json(waiting: zart.Zart, zart_dsn: str,
                                                tmp_path: Path) -> None:
    cli = ZartCli(zart_dsn, waiting.schema)
    target = tmp_path / "o-2.json"
    to_file, to_stdout, unknown = cli.many([["export", "o-2", "-o", str(target)],
                                            ["export", "o-3"], ["export", "nope"]])
    assert to_file.code == 0 and f"to {target}" in to_file.out
    document = json.loads(target.read_text())
    assert document["execution"] == {"id": "o-2", "workflow": "checkout", "status": "waiting",
                                     "attempt": 1, "input": {"id": "o-2"}}
    assert [(c["seq"], c["kind"], c["name"], c["status"]) for c in document["history"]] == [
        (0, "step", "charge", "done"), (1, "event", "shipped", "pending")]
    assert json.loads(to_stdout.out)["history"][-1]["value"] == "receipt o-3: txn-o-3, T-3"
    assert_refused(unknown, "no execution 'nope'")


def test_zart_replay_check_refuses_bad_modules(zart_app: zart.Zart, zart_dsn: str) -> None:
    cli = ZartCli(zart_dsn, zart_app.schema)
    none, missing = cli.many([["replay-check"], ["replay-check", "no_such_module_here"]])
    assert none.code == 2 and "Missing argument 'MODULE...'" in none.err
    assert_refused(missing, "no module named 'no_such_module_here'")
