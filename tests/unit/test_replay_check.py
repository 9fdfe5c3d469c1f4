"""The replay check of one history (zart.replay.check), its diff, and the history file: pure,
no database."""

from __future__ import annotations

import io
import json
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

import zart
from zart import serde
from zart.constants import PATCH_MARKER
from zart.interpreter import Pending, Record, Returned
from zart.replay import check_history, describe, history_document, read_history, render
from zart.workflow import Workflow, isolated_registry

Body = Generator[Any, Any, Any]


def done(seq: int, name: str, value: Any = None, kind: str = "step") -> Record:
    return Record(seq, kind, name, value=serde.dumps(value))


def pending(seq: int, name: str, kind: str = "event") -> Record:
    return Record(seq, kind, name, status="pending", ok=None)


def failed(seq: int, name: str) -> Record:
    error = serde.encode_error(ValueError("no"), attempts=1)
    return Record(seq, "step", name, ok=False, error=error)


@pytest.fixture(scope="module")
def flows() -> Any:
    """v1 and the edits made to it, registered apart from the rest of the suite."""
    with isolated_registry():
        @zart.step("charge")
        def charge(order: Any) -> str: ...

        @zart.step("check-fraud")
        def check_fraud(order: Any) -> float: ...

        @zart.step("ship")
        def ship(order: Any) -> str: ...

        def make(name: str, body: Any) -> Workflow:
            return zart.workflow(name)(body)

        def v1(order: Any) -> Body:
            txn = yield charge(order)
            shipped = yield zart.wait_for_event("shipped")
            yield ship(order)
            return {"txn": txn, "shipped": shipped}

        def naive(order: Any) -> Body:
            yield check_fraud(order)
            txn = yield charge(order)
            shipped = yield zart.wait_for_event("shipped")
            yield ship(order)
            return {"txn": txn, "shipped": shipped}

        def patched(order: Any) -> Body:
            if (yield zart.patched("fraud-check")):
                yield check_fraud(order)
            txn = yield charge(order)
            shipped = yield zart.wait_for_event("shipped")
            yield ship(order)
            return {"txn": txn, "shipped": shipped}

        def shorter(order: Any) -> Body:
            txn = yield charge(order)
            return {"txn": txn}

        def raises(order: Any) -> Body:
            yield charge(order)
            raise RuntimeError("a new validation")

        def twice(order: Any) -> Body:
            yield charge(order)
            yield charge(order)

        def retried(order: Any) -> Body:
            # As examples/durable_loop.py: the body's first attempt fails after a step.
            yield charge(order)
            if zart.context().attempt == 1:
                raise RuntimeError("first attempt")
            yield ship(order)

        def stops(order: Any) -> Body:
            yield charge(order)
            yield zart.wait_for_event("approved")
            yield ship(order)

        yield {name: make(f"rc-{name}", body) for name, body in [
            ("v1", v1), ("naive", naive), ("patched", patched), ("shorter", shorter),
            ("raises", raises), ("twice", twice), ("stops", stops), ("retried", retried)]}


WAITING = [done(0, "charge", "txn-1"), pending(1, "shipped")]
COMPLETED = [done(0, "charge", "txn-1"), done(1, "shipped", {"t": 1}, "event"),
             done(2, "ship", "trk")]


def test_an_open_execution_that_replays_is_ok_and_counts_its_commands(flows: Any) -> None:
    checked = check_history(flows["v1"], "e-1", "waiting", {"id": 1}, WAITING)
    assert checked.divergence is None
    assert checked.commands == 2
    assert isinstance(checked.outcome, Pending)


def test_a_completed_execution_that_replays_to_its_return_is_ok(flows: Any) -> None:
    checked = check_history(flows["v1"], "e-1", "completed", {"id": 1}, COMPLETED)
    assert checked.divergence is None and checked.commands == 3
    assert checked.outcome == Returned({"txn": "txn-1", "shipped": {"t": 1}})


def test_the_naive_edit_diverges_at_position_zero_with_both_sides(flows: Any) -> None:
    checked = check_history(flows["naive"], "e-1", "waiting", {}, WAITING)
    d = checked.divergence
    assert d is not None
    assert (d.position, d.error, d.yielded) == (0, "NonDeterminismError",
                                                ("step", "check-fraud"))
    assert d.code == "step 'check-fraud'"
    assert checked.commands == 0
    lines = render(d)
    assert lines[0] == ("execution e-1 (workflow rc-naive, waiting): NonDeterminismError at "
                        "position 0")
    assert lines[2:] == ["  --- history (recorded)", "  +++ code (now)",
                         "  -      0  step 'charge'",
                         "  +      0  step 'check-fraud'",
                         "  -      1  event 'shipped'"]


def test_the_patched_edit_replays_the_old_history(flows: Any) -> None:
    assert check_history(flows["patched"], "e-1", "waiting", {}, WAITING).divergence is None
    assert check_history(flows["patched"], "e-1", "completed", {}, COMPLETED).divergence is None


def test_a_completed_execution_whose_code_now_yields_more_breaks(flows: Any) -> None:
    history = COMPLETED[:2]
    d = check_history(flows["v1"], "e-1", "completed", {}, history).divergence
    assert d is not None and d.position == 2 and d.code == "step 'ship'"
    assert "completed after 2 command(s), but the code now yields step 'ship'" in d.reason


def test_code_that_now_returns_early_breaks_where_the_history_goes_on(flows: Any) -> None:
    d = check_history(flows["shorter"], "e-1", "waiting", {}, WAITING).divergence
    assert d is not None and (d.position, d.code, d.yielded) == (1, "returns", None)
    assert "  +      1  returns" in render(d)


def test_code_that_now_raises_breaks_where_the_history_goes_on(flows: Any) -> None:
    d = check_history(flows["raises"], "e-1", "waiting", {}, WAITING).divergence
    assert d is not None and d.position == 1
    assert d.code == "raises RuntimeError: a new validation"


def test_a_completed_execution_whose_code_now_raises_breaks(flows: Any) -> None:
    d = check_history(flows["raises"], "e-1", "completed", {}, [done(0, "charge")]).divergence
    assert d is not None and d.code.startswith("raises RuntimeError")


def test_a_failed_execution_whose_code_raises_is_consistent(flows: Any) -> None:
    checked = check_history(flows["v1"], "e-1", "failed", {}, [failed(0, "charge")])
    assert checked.divergence is None


def test_code_that_stops_earlier_than_the_history_breaks_where_it_goes_on(flows: Any) -> None:
    history = [done(0, "charge"), done(1, "shipped", {}, "event"), pending(2, "ship", "step")]
    d = check_history(flows["stops"], "e-1", "waiting", {}, history).divergence
    assert d is not None and d.position == 1 and d.error == "NonDeterminismError"


def test_the_body_replays_at_the_attempt_the_execution_is_at(flows: Any) -> None:
    history = [done(0, "charge"), done(1, "ship")]
    assert check_history(flows["retried"], "e-1", "completed", {}, history,
                         attempt=2).divergence is None
    wrong = check_history(flows["retried"], "e-1", "completed", {}, history).divergence
    assert wrong is not None and wrong.code == "raises RuntimeError: first attempt"


def test_a_duplicate_name_is_reported_as_such(flows: Any) -> None:
    d = check_history(flows["twice"], "e-1", "waiting", {}, [done(0, "charge")]).divergence
    assert d is not None and d.error == "DuplicateStepName" and d.position == 1


def test_identical_breakages_share_a_signature_and_others_do_not(flows: Any) -> None:
    first = check_history(flows["naive"], "e-1", "waiting", {}, WAITING).divergence
    second = check_history(flows["naive"], "e-2", "waiting", {}, WAITING).divergence
    other = check_history(flows["naive"], "e-3", "completed", {}, COMPLETED).divergence
    assert first is not None and second is not None and other is not None
    assert first.signature == second.signature
    assert first.signature == other.signature  # same place, same commands: one diff for both
    shorter = check_history(flows["shorter"], "e-4", "waiting", {}, WAITING).divergence
    assert shorter is not None and shorter.signature != first.signature


def test_the_diff_shows_context_and_counts_what_it_leaves_out(flows: Any) -> None:
    history = [done(i, f"s-{i}") for i in range(10)]
    d = check_history(flows["naive"], "e-1", "waiting", {}, history).divergence
    assert d is not None
    lines = render(d, context=2)
    assert lines[-1] == "  -  ...    7 more recorded command(s)"
    marker = Record(0, "capture", PATCH_MARKER + "fraud-check", value="true")
    assert describe(marker.kind, marker.name) == "patch 'fraud-check'"


def test_the_diff_notes_the_commands_before_its_context(flows: Any) -> None:
    history = [*COMPLETED, done(3, "extra")]
    d = check_history(flows["v1"], "e-1", "completed", {}, history).divergence
    assert d is not None and d.position == 3
    lines = render(d, context=1)
    assert "     ... 2 earlier command(s), the same in both" in lines
    assert "     2  step 'ship'" in "\n".join(lines)


# -- the history file -------------------------------------------------------------------------


def test_a_history_document_reads_back_as_the_same_records(tmp_path: Path) -> None:
    history = [done(0, "charge", {"txn": "t-1"}), failed(1, "ship"), pending(2, "shipped")]
    document = history_document("e-1", "rc-v1", "waiting", '{"id": 1}', history, attempt=2)
    path = tmp_path / "e-1.json"
    path.write_text(json.dumps(document))
    for source in (path, str(path), io.BytesIO(path.read_bytes()), document):
        back = read_history(source)  # type: ignore[arg-type]
        assert (back.execution_id, back.workflow, back.status, back.input, back.attempt) == \
            ("e-1", "rc-v1", "waiting", {"id": 1}, 2)
        assert [(r.seq, r.kind, r.name, r.status, r.ok, r.error) for r in back.history] == \
            [(r.seq, r.kind, r.name, r.status, r.ok, r.error) for r in history]
        assert serde.loads(back.history[0].value) == {"txn": "t-1"}
        assert back.history[1].value is None and back.history[2].value is None


@pytest.mark.parametrize(("content", "fragment"), [
    (b"not json", "is not JSON"),
    (b"[]", "is not a zart history"),
    (b'{"history": []}', "is not a zart history"),
    (b'{"zart_history": 9, "execution": {}, "history": []}', "layout version 9"),
    (b'{"zart_history": 1, "history": []}', "'execution' must be an object"),
    (b'{"zart_history": 1, "execution": {"id": "e", "workflow": "w", "status": "s"}}',
     "'history' must be a list"),
    (b'{"zart_history": 1, "execution": {"workflow": "w", "status": "s"}, "history": []}',
     "'id' must be a string"),
    (b'{"zart_history": 1, "execution": {"id": "e", "workflow": "w", "status": "s"}, '
     b'"history": [{"kind": "step", "name": "a"}]}', r"history\[0\]: 'seq' must be an integer"),
    (b'{"zart_history": 1, "execution": {"id": "e", "workflow": "w", "status": "s"}, '
     b'"history": [7]}', r"history\[0\] must be an object"),
    (b'{"zart_history": 1, "execution": {"id": "e", "workflow": "w", "status": "s", '
     b'"attempt": 0}, "history": []}', "'attempt' must be an integer >= 1, got 0"),
])
def test_a_file_that_is_not_a_history_is_refused_naming_the_problem(
        tmp_path: Path, content: bytes, fragment: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=fragment):
        read_history(path)


def test_a_missing_history_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"cannot read history file .*missing\.json"):
        read_history(tmp_path / "missing.json")
