"""The commands an execution carries out without a step thread of their own: a parallel
fan-out (its children stored as claimable work, in one statement) and a capture (its function
run once, its value or error recorded)."""

from __future__ import annotations

from .. import serde
from ..commands import Capture, ChildWorkflow, Parallel
from ..interpreter import Record, is_user_interrupt
from ..store import Claim, Connection, Store
from .children import child_start, function_ref

__all__ = ["captured", "fan_out"]


def fan_out(store: Store, claim: Claim, command: Parallel, seq: int,
            conn: Connection) -> list[Record] | bool:
    """Store the fan-out's children (steps as claimable work, child workflows started) and
    its barrier: the children's records when all are done already, True when the parent
    must wait for them, False when the claim was lost."""
    children = []
    workflows = []
    for offset, child in enumerate(command.steps):
        if isinstance(child, ChildWorkflow):
            workflows.append((seq + offset, child_start(claim, child)))
            continue
        args = serde.dumps({"args": list(child.args), "kwargs": dict(child.kwargs)},
                           what=f"the arguments of parallel child {child.name!r}")
        children.append({
            "name": child.name, "fn": function_ref(child.fn), "args": args,
            "options": serde.dumps({"retry": child.retry.to_json(), "timeout": child.timeout,
                                    "timeout_scope": child.timeout_scope,
                                    "transactional": child.transactional})})
    done = store.spawn_children(claim, seq, children, conn, workflows)
    if done is None:
        return False
    if not done:
        return True
    by_seq = {r.seq: r for r in store.load_history(claim.execution_id, conn)}
    return [by_seq[seq + i] for i in range(len(children))]


def captured(command: Capture, seq: int) -> Record:
    """Run a capture's function once: its value, or its error, as the record to store."""
    try:
        value = serde.dumps(command.fn(), what=f"capture {command.name!r}")
    except BaseException as exc:
        if is_user_interrupt(exc):
            raise
        return Record(seq, "capture", command.name, ok=False, error=serde.encode_error(exc))
    return Record(seq, "capture", command.name, value=value)
