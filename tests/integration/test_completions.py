"""Group commit of parallel children's outcomes (zart.runtime.completions) on a real server:
outcomes of one parent that arrive while another thread commits are recorded together, every thread
gets its own answer, and the barrier opens exactly once."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

import zart
from zart.runtime.children import known_refs
from zart.runtime.completions import ChildCompletions
from zart.runtime.executor import Executor
from zart.store import ChildClaim, ChildOutcome

from .conftest import run_due, wait_until

Sql = Callable[..., list[tuple[Any, ...]]]
CHILDREN = 6


@zart.step("compl-child-{i}")
def compl_child(i: int) -> int:
    return i


@zart.workflow("compl-wf")
def compl_wf(data: Any) -> Any:
    return (yield zart.parallel(*[compl_child(i) for i in range(CHILDREN)]))


def _spawned(app: zart.Zart) -> tuple[zart.Handle, list[ChildClaim]]:
    """A compl-wf execution suspended on its children, and the children claimed."""
    handle = app.start(compl_wf, None)
    run_due(app, "compl-wf")
    children = app.store.claim_children(known_refs(), CHILDREN, 30)
    assert sorted(c.seq for c in children) == list(range(CHILDREN))
    return handle, children


def _gated(app: zart.Zart, monkeypatch: pytest.MonkeyPatch, completions: ChildCompletions,
           waiting: int, fault: Exception | None = None) -> list[int]:
    """Make the first complete_children call wait until ``waiting`` more outcomes queue up
    behind it (and every call raise ``fault``, if given); returns the list the batch sizes are
    recorded in."""
    sizes: list[int] = []
    original = app.store.complete_children

    def complete_children(execution_id: str, outcomes: Any, conn: Any,
                          **options: Any) -> Any:
        if not sizes:
            wait_until(lambda: len(completions._waiting.get(execution_id, [])) >= waiting,
                       what="the other threads' outcomes to queue up")
        sizes.append(len(outcomes))
        if fault is not None:
            raise fault
        return original(execution_id, outcomes, conn, **options)

    monkeypatch.setattr(app.store, "complete_children", complete_children)
    return sizes


def _complete_all(app: zart.Zart, completions: ChildCompletions,
                  children: list[ChildClaim]) -> list[Any]:
    answers: list[Any] = [None] * len(children)

    def complete(i: int, child: ChildClaim) -> None:
        # a connection of its own per thread, as each worker thread has
        with psycopg.connect(app.store.dsn, autocommit=True) as conn:
            try:
                accepted, following = completions.complete(
                    ChildOutcome(child, True, str(child.seq), None), conn)
                assert following is None  # nothing asked for
                answers[i] = accepted
            except Exception as exc:  # the answer under test
                answers[i] = exc

    threads = [threading.Thread(target=complete, args=(i, c)) for i, c in enumerate(children)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return answers


def test_outcomes_arriving_during_a_commit_are_recorded_together_and_open_the_barrier_once(
        app: zart.Zart, sql: Sql, schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    handle, children = _spawned(app)
    completions = ChildCompletions(app.store)
    sizes = _gated(app, monkeypatch, completions, CHILDREN - 1)
    answers = _complete_all(app, completions, children)
    assert answers == [True] * CHILDREN
    assert sizes == [1, CHILDREN - 1]  # one committer, then everyone who queued behind it
    assert sql(f'SELECT status, open_children FROM "{schema}".executions WHERE id = %s',
               handle.id) == [("pending", 0)]
    run_due(app, "compl-wf")
    assert handle.result(timeout=5) == list(range(CHILDREN))


def test_a_refused_outcome_in_a_batch_is_answered_false_and_counts_nothing(
        app: zart.Zart, sql: Sql, schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    handle, children = _spawned(app)
    stale = children[-1]
    sql(f'UPDATE "{schema}".steps SET owner = gen_random_uuid() '  # taken over meanwhile
        f"WHERE execution_id = %s AND seq = %s", handle.id, stale.seq)
    completions = ChildCompletions(app.store)
    _gated(app, monkeypatch, completions, CHILDREN - 1)
    answers = _complete_all(app, completions, children)
    assert answers == [True] * (CHILDREN - 1) + [False]
    assert sql(f'SELECT status, wait_kind, open_children FROM "{schema}".executions '
               f"WHERE id = %s", handle.id) == [("waiting", "children", 1)]


def test_a_database_fault_reaches_every_thread_whose_outcome_was_in_the_failed_batch(
        app: zart.Zart, sql: Sql, schema: str, monkeypatch: pytest.MonkeyPatch) -> None:
    handle, children = _spawned(app)
    completions = ChildCompletions(app.store)
    sizes = _gated(app, monkeypatch, completions, CHILDREN - 1,
                   zart.DatabaseUnavailable("database unavailable: the test's fault"))
    answers = _complete_all(app, completions, children)
    assert sizes == [1, CHILDREN - 1]
    assert all(isinstance(a, zart.DatabaseUnavailable) for a in answers), answers
    assert completions._waiting == {} and completions._committing == set()
    assert sql(f'SELECT count(*) FROM "{schema}".steps WHERE execution_id = %s '
               f"AND status = 'done'", handle.id) == [(0,)]


def test_a_completion_claims_due_siblings_in_the_same_commit_and_none_of_a_cancelled_parent(
        app: zart.Zart, sql: Sql, schema: str) -> None:
    handle, children = _spawned(app)
    first, rest = children[0], children[1:]
    for child in rest:  # hand the others back: due again, claimable
        app.store.release_child(child)
    with psycopg.connect(app.store.dsn, autocommit=True) as conn:
        accepted, claimed = app.store.complete_children(
            handle.id, [ChildOutcome(first, True, "0", None)], conn, claim=2, lease=30,
            steps=known_refs())
        assert accepted == {first.seq}
        assert len(claimed) == 2 and {c.seq for c in claimed} <= {c.seq for c in rest}
        assert all(c.execution_id == handle.id and c.workflow == "compl-wf" for c in claimed)
        rows = dict(sql(f'SELECT seq, owner FROM "{schema}".steps WHERE execution_id = %s '
                        f"AND status = 'running'", handle.id))
        assert rows == {c.seq: c.owner for c in claimed}  # running under the new claims
        app.cancel(handle.id)
        accepted, claimed = app.store.complete_children(
            handle.id, [ChildOutcome(claimed[0], True, "1", None)], conn, claim=3, lease=30,
            steps=known_refs())
        assert claimed == []  # nothing more is started for a cancelled parent


def test_a_worker_runs_the_children_of_a_parallel_mostly_on_siblings_claimed_with_completions(
        app: zart.Zart, monkeypatch: pytest.MonkeyPatch) -> None:
    worker = app.worker(threads=2, lease=30, poll_interval=0.5, workflows=["compl-wide"])
    rounds: list[int] = []
    original = worker.store.claim_children

    def claim_children(*args: Any, **kwargs: Any) -> list[ChildClaim]:
        claimed = original(*args, **kwargs)
        if claimed:
            rounds.append(len(claimed))
        return claimed

    monkeypatch.setattr(worker.store, "claim_children", claim_children)
    with worker:
        handle = app.start(compl_wide, None)
        assert handle.result(timeout=30) == list(range(WIDE))
    # Without siblings claimed by completions, every child (30) comes from a dispatcher claim
    # round, one or two at a time on two threads. With them, only the first few do.
    assert sum(rounds) <= 8, rounds


WIDE = 30


@zart.step("compl-wide-child-{i}")
def compl_wide_child(i: int) -> int:
    return i


@zart.workflow("compl-wide")
def compl_wide(data: Any) -> Any:
    return (yield zart.parallel(*[compl_wide_child(i) for i in range(WIDE)]))


def test_an_executor_driven_by_hand_or_stopping_claims_no_sibling(
        app: zart.Zart, sql: Sql, schema: str) -> None:
    handle, children = _spawned(app)
    for child in children[2:]:
        app.store.release_child(child)
    by_hand = Executor(app.store)  # claim_siblings off: nobody would run what it claimed
    stopping = Executor(app.store, claim_siblings=True, should_stop=lambda: True)
    with app.store.connection() as conn:
        assert by_hand.run_child(children[0], conn) is None
        assert stopping.run_child(children[1], conn) is None
    assert sql(f'SELECT count(*) FROM "{schema}".steps WHERE execution_id = %s '
               f"AND status = 'running'", handle.id) == [(0,)]
